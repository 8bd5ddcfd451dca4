"""Regression tests of the study-layer audit (branch audit5): each pins one defect found by
running `fplab run/report/check` as a new user and as a plugin author."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fplab.errors import ConfigError
from fplab.study import load_study

ROOT = Path(__file__).resolve().parent.parent


def _spec(tmp_path: Path, study: str, old: str, new: str) -> Path:
    text = (ROOT / "studies" / f"{study}.toml").read_text()
    assert old in text
    path = tmp_path / f"{study}-edited.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("study", "old", "new", "key", "fragment"),
    [
        # a repeated level ran, then the order fit raised "h must hold distinct step sizes"
        # at report time: a traceback and an empty report folder
        ("em-law-ou-1d", "quick = [8, 16,", "quick = [8, 16, 16,", "sweep.quick", "16 twice"),
        ("fd-time-ou-1d", "quick = [0.02,", "quick = [0.01, 0.02,", "sweep.quick", "0.01 twice"),
        # a compared name listed twice: every level twice in its fit, the same traceback
        (
            "fd-time-ou-1d",
            'compare = ["explicit", "implicit",',
            'compare = ["explicit", "explicit", "implicit",',
            "sweep.compare[1]",
            "'explicit' twice",
        ),
    ],
)
def test_repeated_sweep_value_or_compared_name_is_a_spec_error(
    tmp_path, study, old, new, key, fragment
):
    path = _spec(tmp_path, study, old, new)
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}:") and fragment in msg, msg


class _OddResult:
    """A stand-in study kind whose run_case returns what ``config["result"]`` builds."""

    def run_case(self, config):
        return config["make"]()


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        # a curve left as an array beside the row: json.dump raised in the main process at the
        # cache write, a traceback that stopped the whole run (no report for any study)
        (
            lambda: {"row": {"h": 0.5, "error": 0.1}, "curve": np.arange(3.0)},
            "result field 'curve' holds a numpy.ndarray",
        ),
        (
            lambda: {"row": {"h": 0.5, "error": 0.1}, "curves": {"t": [0.0, np.int64(2)]}},
            "result field 'curves.t[1]' holds a numpy.int64",
        ),
        (lambda: {"rows": [{"h": 0.5}], "meta": {1: "a"}}, "result field 'meta' has a key 1"),
    ],
)
def test_a_result_that_is_not_json_fails_its_case_naming_the_field(monkeypatch, make, fragment):
    from fplab import runner
    from fplab.studykinds.base import STUDY_KINDS

    monkeypatch.setattr(STUDY_KINDS, "get", lambda name: _OddResult)
    reply = runner.execute_case("odd", {"make": make})
    assert "error" in reply, reply
    assert reply["error"].startswith("TypeError: ") and fragment in reply["error"], reply["error"]


def test_a_json_ready_result_with_numpy_floats_is_stored_as_plain_floats(monkeypatch):
    from fplab import runner
    from fplab.studykinds.base import STUDY_KINDS

    monkeypatch.setattr(STUDY_KINDS, "get", lambda name: _OddResult)
    make = lambda: {"row": {"h": 0.5, "error": 0.1}, "curve": [np.float64(0.25), 1.0, None]}  # noqa: E731
    reply = runner.execute_case("odd", {"make": make})
    # stored as builtin floats (json.dump would write numpy.float64 alike; this pins the copy)
    assert reply["result"]["curve"] == [0.25, 1.0, None]
    assert type(reply["result"]["curve"][0]) is float
    assert json.loads(json.dumps(reply["result"])) == reply["result"]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        # numpy.bool_ is named 'bool' by numpy 2: "holds a bool (np.True_); allowed: ... bool"
        (np.bool_(True), "holds a numpy.bool"),
        (np.int64(3), "holds a numpy.int64"),
        ([1.0, np.arange(2)], "is a list holding a numpy.ndarray"),
    ],
)
def test_a_numpy_row_field_is_named_with_its_numpy_type(value, fragment):
    from fplab.records import Row

    with pytest.raises(TypeError, match=r"row field 'error' ") as info:
        Row.of(h=0.5, error=value)
    assert fragment in str(info.value), str(info.value)


def _tiny_spec(tmp_path):
    from tests.test_study import GOOD, write

    return load_study(write(tmp_path, GOOD.replace("quick = [4, 8, 16]", "quick = [4, 8]")))


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        # each passed the cache's shape check and then stopped `fplab run` and `fplab report`
        # with a traceback in the report (float('abc'), Row(seconds_warm={...}), from_json)
        (lambda e: e.update(seconds="abc"), "'seconds' is not a number"),
        (lambda e: e.update(timing={"row": {"seconds_warm": {"a": 1}}}), "timing"),
        (lambda e: e.update(timing=[1, 2]), "'timing' is not an object"),
        (lambda e: e.update(schema=99), "schema 99"),
        (lambda e: e.update(code_version=3), "'code_version' is missing or not a str"),
        # valid JSON rows, wrong for any reader: they used to fail the study's claim `report`
        # until the entry was deleted by hand, with a note that named no case
        (lambda e: e["result"]["row"].update(error="abc"), "row field 'error' is 'abc'"),
        (lambda e: e["result"]["row"].update(h=[0.1]), "row field 'h' is [0.1]"),
        (lambda e: e["result"]["row"].update(n_steps=2.5), "row field 'n_steps' is 2.5"),
    ],
)
def test_a_damaged_record_field_is_quarantined_and_recomputed(tmp_path, damage, fragment):
    from fplab.report import collect
    from fplab.runner import CacheWarning, ResultCache, run_cases

    spec = _tiny_spec(tmp_path)
    cache = ResultCache(tmp_path / "c")
    cases = spec.cases("quick")
    run_cases(cases, cache=cache, progress=None)
    before = collect(spec, "quick", cache).summary()
    entry = cache.get(cases[0].key)
    damage(entry)
    cache.put(cases[0].key, entry)  # with a valid checksum: the damage is in what was written
    with pytest.warns(CacheWarning, match="wrong shape") as info:
        again = run_cases(cases, cache=cache, progress=None)
    assert fragment in str(info[0].message), str(info[0].message)
    assert again.n_run == 1
    assert collect(spec, "quick", cache).summary() == before


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"not JSON (RFC 8259): {name}")

    return json.loads(text, parse_constant=refuse)


def test_meta_json_is_strict_json_when_a_fit_has_no_interval(tmp_path):
    from fplab.cli import main

    # two levels: the fit has no interval (-inf, inf), which json.dumps wrote as -Infinity,
    # Infinity: not JSON, refused by JSON.parse, jq and every strict parser
    path = tmp_path / "two.toml"
    path.write_text(
        (ROOT / "studies" / "em-law-ou-1d.toml")
        .read_text()
        .replace("quick = [8, 16, 32, 64, 128]", "quick = [8, 16]")
    )
    out, cache = tmp_path / "r", tmp_path / "c"
    argv = ["run", str(path), "--workers", "1", "--out", str(out), "--cache", str(cache)]
    assert main([*argv, "--quiet"]) == 0
    meta = _strict_json((out / "two" / "meta.json").read_text())
    (order,) = meta["summary"]["orders"]
    assert order["ci"] == [None, None]  # non-finite numbers are written as null
    (claim,) = meta["claims"]
    assert claim["verdict"] == "inconclusive"
    # the index re-reads the study from its meta.json: the same verdict
    assert "1 inconclusive" in (out / "index.md").read_text()


def test_a_kind_that_raises_while_drawing_fails_its_study_and_reports_the_others(
    tmp_path, monkeypatch, capsys
):
    from fplab.cli import main
    from fplab.studykinds.em_law import EulerLaw

    # a plugin kind's summarize reading a field its rows lack raised KeyError out of
    # report_all: a traceback, an empty folder, and no report or index for any other study
    summarize = EulerLaw.summarize

    def broken(self, spec, results):
        if spec.name == "broken":
            return {"x": [res["row"]["missing"] for _, res in results]}
        return summarize(self, spec, results)

    monkeypatch.setattr(EulerLaw, "summarize", broken)
    text = (ROOT / "studies" / "em-law-ou-1d.toml").read_text()
    text = text.replace("quick = [8, 16, 32, 64, 128]", "quick = [8, 16, 32]")
    for name in ("broken", "fine"):
        (tmp_path / f"{name}.toml").write_text(text)
    out, cache = tmp_path / "r", tmp_path / "c"
    argv = ["--workers", "1", "--out", str(out), "--cache", str(cache), "--quiet"]
    assert main(["run", str(tmp_path / "broken.toml"), str(tmp_path / "fine.toml"), *argv]) == 1
    captured = capsys.readouterr()
    assert "study 'broken': its report could not be drawn" in captured.err
    assert "KeyError" in captured.err and "Traceback" not in captured.err
    assert "claims: 2 checked, 1 passed, 1 failed" in captured.out
    assert (out / "fine" / "index.html").is_file()
    page = (out / "broken" / "report.md").read_text()
    assert page.index("## Verdict") < page.index("row has no field 'missing'")
    meta = _strict_json((out / "broken" / "meta.json").read_text())
    assert [c["verdict"] for c in meta["claims"]] == ["fail"]
    assert "claims: 2 checked, 1 passed, 1 failed" in (out / "index.md").read_text()
    assert "claims: 2 checked, 1 passed, 1 failed" in (out / "index.html").read_text()


@pytest.mark.parametrize("name", ["case", "case seconds", "cache key"])
def test_a_row_field_named_like_a_report_column_fails_its_case(monkeypatch, name):
    from fplab import runner
    from fplab.studykinds.base import STUDY_KINDS

    # results.csv got two columns of that name; csv.DictReader silently kept the last one
    monkeypatch.setattr(STUDY_KINDS, "get", lambda kind: _OddResult)
    make = lambda: {"rows": [{"h": 0.5, "error": 0.1}, {"h": 0.25, name: "x"}]}  # noqa: E731
    reply = runner.execute_case("odd", {"make": make})
    assert reply.get("error", "").startswith(f"ValueError: row field {name!r} "), reply
    assert "results.csv" in reply["error"]


def test_two_studies_of_one_name_are_refused_and_a_repeated_one_runs_once(tmp_path):
    from fplab.spec import find_studies

    # both wrote DIR/em-law-ou-1d/: the second page replaced the first and its claims were lost
    other = tmp_path / "em-law-ou-1d.toml"
    other.write_text((ROOT / "studies" / "em-law-ou-1d.toml").read_text())
    with pytest.raises(ConfigError) as info:
        find_studies(["em-law-ou-1d", str(other)])
    msg = str(info.value)
    assert msg.startswith(f"{other}: two studies named 'em-law-ou-1d'"), msg
    assert "em-law-ou-1d.toml" in msg.split(";")[0] and "rename" in msg
    # the same file named twice (by name and by path) is one study
    shipped = ROOT / "studies" / "em-law-ou-1d.toml"
    assert len(find_studies(["em-law-ou-1d", str(shipped)])) == 1


def test_a_report_interrupted_mid_write_is_redrawn_by_the_next_one(tmp_path, monkeypatch):
    from fplab import report
    from fplab.runner import ResultCache, run_cases

    # meta.json (holding the fingerprint that means "nothing to redraw") was written first; a
    # kill before index.html left the old page, and every later report kept it as current
    spec = _tiny_spec(tmp_path)
    cache = ResultCache(tmp_path / "c")
    run_cases(spec.cases("quick"), cache=cache, progress=None)
    out = tmp_path / "r"
    report.report_all(out, [spec], "quick", cache)
    path = spec.path
    path.write_text(path.read_text().replace('kind = "em-law"', 'kind = "em-law"\ntitle = "New"'))
    spec = load_study(path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(report, "_html_page", killed)
        with pytest.raises(KeyboardInterrupt):
            report.report_all(out, [spec], "quick", cache)
    report.report_all(out, [spec], "quick", cache)
    assert "<title>New</title>" in (out / spec.name / "index.html").read_text()


@pytest.mark.parametrize(
    ("planted", "why"),
    [
        (math.inf, "infinite"),
        (math.nan, "NaN"),
        (None, "not measured"),
        (-1e-3, "negative"),
    ],
)
def test_a_level_left_out_of_an_order_fit_is_named_and_keeps_the_claim_from_passing(
    tmp_path, monkeypatch, planted, why
):
    from fplab.report import collect
    from fplab.runner import ResultCache, run_cases
    from fplab.studykinds.em_law import EulerLaw

    # a diverged (inf), broken (NaN, negative) or unmeasured level was dropped from the fit
    # without a word, and the claim passed on the other levels
    run_case = EulerLaw.run_case

    def planted_run(self, config):
        out = run_case(self, config)
        if out["row"]["n_steps"] == 4:
            out["row"]["error"] = planted
        return out

    monkeypatch.setattr(EulerLaw, "run_case", planted_run)
    from tests.test_study import GOOD, write

    spec = load_study(write(tmp_path, GOOD.replace("quick = [4, 8, 16]", "quick = [4, 8, 16, 32]")))
    cache = ResultCache(tmp_path / "c")
    run_cases(spec.cases("quick"), cache=cache, progress=None)
    sr = collect(spec, "quick", cache)
    summary = sr.summary()
    (order,) = summary["orders"]
    assert order["n_points"] == 3 and [p["h"] for p in order["left_out"]] == [0.125]
    (verdict,) = sr.verdicts(summary)
    # EM's weak order on the other 3 levels is within the interval: the fit alone would pass
    assert verdict.verdict == "inconclusive", verdict
    assert "h=0.125" in verdict.note and why in verdict.note, verdict.note


def test_a_figure_that_cannot_be_drawn_fails_its_study_not_the_run(tmp_path, monkeypatch):
    from fplab import report
    from fplab.runner import ResultCache, run_cases
    from fplab.studykinds.em_law import EulerLaw

    # every level unmeasured: the log-log axes have no positive data and savefig raised
    # "Data cannot be log-scaled" out of report_all, after kind.figures had returned
    run_case = EulerLaw.run_case

    def unmeasured(self, config):
        out = run_case(self, config)
        out["row"]["error"] = None
        return out

    monkeypatch.setattr(EulerLaw, "run_case", unmeasured)
    spec = _tiny_spec(tmp_path)
    cache = ResultCache(tmp_path / "c")
    run_cases(spec.cases("quick"), cache=cache, progress=None)
    rep = report.report_all(tmp_path / "r", [spec], "quick", cache)
    assert rep.failed() == [f"{spec.name}: report"]
    assert "log-scaled" in (tmp_path / "r" / spec.name / "report.md").read_text()


def test_an_unreadable_meta_json_of_another_study_does_not_stop_the_report(tmp_path, capsys):
    from fplab import report
    from fplab.runner import ResultCache, run_cases

    # a study reported earlier stays in the index, re-read from its meta.json; one written by
    # another fplab version (a Verdict field more) raised TypeError out of every later report
    spec = _tiny_spec(tmp_path)
    cache = ResultCache(tmp_path / "c")
    run_cases(spec.cases("quick"), cache=cache, progress=None)
    out = tmp_path / "r"
    first = report.report_all(out, [spec], "quick", cache)
    other = out / "other"
    other.mkdir()
    meta = json.loads((out / spec.name / "meta.json").read_text())
    meta["study"] = "other"
    meta["claims"][0]["severity"] = "high"
    (other / "meta.json").write_text(json.dumps(meta))
    (out / spec.name / "meta.json").unlink()  # the current study is redrawn
    rep = report.report_all(out, [spec], "quick", cache)
    assert rep.all_verdicts == first.all_verdicts and len(first.all_verdicts) == 1
    err = capsys.readouterr().err
    assert f"{other / 'meta.json'}" in err and "left out of the index" in err
    assert "other" not in (out / "index.md").read_text()


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        # stored, then quarantined as "the wrong shape" on every later read and recomputed by
        # every run: the warning blamed the cache, never the kind
        ({"value": 1.0}, "returned no 'row'"),
        ({"rows": "abc"}, "'rows' is a str"),
        ({"rows": [{"h": 1.0}, 2.0]}, "a row must be a JSON object"),
    ],
)
def test_a_result_without_rows_fails_its_case_naming_the_kind(monkeypatch, result, fragment):
    from fplab import runner
    from fplab.studykinds.base import STUDY_KINDS

    monkeypatch.setattr(STUDY_KINDS, "get", lambda kind: _OddResult)
    reply = runner.execute_case("odd", {"make": lambda: result})
    assert fragment in reply.get("error", ""), reply


@pytest.mark.parametrize(
    ("study", "metric"),
    [("em-law-ou-1d", "w2"), ("em-law-ou-1d", "entropy"), ("fd-time-ou-1d", "score-rel-l2")],
)
def test_a_metric_of_the_wrong_signature_is_a_spec_error(tmp_path, study, metric):
    # every case ran and failed: TypeError: w2() takes 2 positional arguments but 3 were given
    path = _spec(tmp_path, study, 'metric = "tv"', f'metric = "{metric}"')
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: measure.metric: {metric!r} does not compare two densities")
    assert "'tv'" in msg and "'w2'" not in msg.split("allowed:")[1], msg


@pytest.mark.parametrize(
    "order", ["0", "-1", "{ explicit = 1, implicit = -1, crank-nicolson = 2 }"]
)
def test_a_declared_order_must_be_positive(tmp_path, order):
    # order = -1 was judged (a certain fail); registries refuse non-positive orders already
    old = "order = { explicit = 1, implicit = 1, crank-nicolson = 2 }"
    path = _spec(tmp_path, "fd-time-ou-1d", old, f"order = {order}")
    with pytest.raises(ConfigError, match=r"expect.order(\.implicit)?: must be > 0"):
        load_study(path)


def test_fplab_check_on_a_kind_that_raises_fails_its_claim_without_a_traceback(
    tmp_path, monkeypatch, capsys
):
    from fplab.cli import main
    from fplab.studykinds.em_law import EulerLaw

    # fplab check calls summarize itself: the KeyError went straight out of the command
    def broken(self, spec, results):
        return {"x": [res["row"]["missing"] for _, res in results]}

    spec = _tiny_spec(tmp_path)
    common = ["--workers", "1", "--cache", str(tmp_path / "c"), "--quiet"]
    assert (
        main(["check", str(spec.path), "--update", "--baselines", str(tmp_path / "b"), *common])
        == 0
    )
    monkeypatch.setattr(EulerLaw, "summarize", broken)
    assert main(["check", str(spec.path), "--baselines", str(tmp_path / "b"), *common]) == 1
    out = capsys.readouterr().out
    assert f"FAILED CLAIM: {spec.name}: report" in out


def test_index_links_to_a_study_whose_name_has_spaces_and_parentheses(tmp_path):
    from fplab import report
    from fplab.runner import ResultCache, run_cases
    from tests.test_study import GOOD, write

    # "[my study (v2)](my study (v2)/report.md)" is no Markdown link (the target ends at the
    # first space or ')'), so index.md's link went nowhere
    spec = load_study(write(tmp_path, GOOD, "my study (v2).toml"))
    cache = ResultCache(tmp_path / "c")
    run_cases(spec.cases("quick"), cache=cache, progress=None)
    report.report_all(tmp_path / "r", [spec], "quick", cache)
    target = "my%20study%20%28v2%29"
    assert f"]({target}/report.md)" in (tmp_path / "r" / "index.md").read_text()
    assert f"href='{target}/index.html'" in (tmp_path / "r" / "index.html").read_text()


def test_numpy_values_and_dataclasses_in_a_summary_reach_meta_json_as_json(tmp_path, monkeypatch):
    import fplab as fp
    from fplab import report
    from fplab.runner import ResultCache, run_cases
    from fplab.studykinds.em_law import EulerLaw

    # json_default wrote anything it did not know as str(): an array became "[0.5 0.25]", an
    # OrderFit "OrderFit(order=...)", a NumPy int "3" (a string)
    summarize = EulerLaw.summarize

    def with_numpy(self, spec, results):
        out = summarize(self, spec, results)
        fit = fp.observed_order([0.5, 0.25, 0.125], [0.1, 0.05, 0.025])
        return {**out, "arr": np.array([0.5, 0.25]), "count": np.int64(3), "fit": fit}

    monkeypatch.setattr(EulerLaw, "summarize", with_numpy)
    spec = _tiny_spec(tmp_path)
    cache = ResultCache(tmp_path / "c")
    run_cases(spec.cases("quick"), cache=cache, progress=None)
    report.report_all(tmp_path / "r", [spec], "quick", cache)
    summary = _strict_json((tmp_path / "r" / spec.name / "meta.json").read_text())["summary"]
    assert summary["arr"] == [0.5, 0.25] and summary["count"] == 3
    assert summary["fit"]["order"] == pytest.approx(1.0) and summary["fit"]["h"] == [
        0.5,
        0.25,
        0.125,
    ]


class _CasesKind:
    """A stand-in kind whose ``cases`` is set per test."""

    def __init__(self, cases):
        self._cases = cases

    def cases(self, spec, tier):
        return self._cases()

    def resources(self, config):
        return 0.0, 0.0


@pytest.mark.parametrize(
    ("cases", "fragment"),
    [
        # both raised out of load_study: a traceback before anything ran, naming no file
        (lambda: [("v=1", {"v": np.int64(1)})], "config field 'v' holds a numpy.int64"),
        (lambda: {}["no_such_option"], "could not list its cases (KeyError: 'no_such_option')"),
        (lambda: [(1, {"v": 1})], "case label 1 is a int, not a str"),
    ],
)
def test_a_kind_whose_cases_are_broken_is_a_spec_error_naming_the_kind(
    tmp_path, monkeypatch, cases, fragment
):
    from fplab.spec import StudySpec
    from tests.test_study import GOOD, write

    path = write(tmp_path, GOOD)
    monkeypatch.setattr(StudySpec, "kind_obj", property(lambda self: _CasesKind(cases)))
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: kind: study kind 'em-law'") and fragment in msg, msg


def test_a_kind_whose_validate_raises_is_a_spec_error_naming_the_kind(tmp_path, monkeypatch):
    from fplab.studykinds.em_law import EulerLaw
    from tests.test_study import GOOD, write

    # only TypeError/ValueError were turned into spec errors; a KeyError in a plugin kind's
    # validate went out of load_study as a traceback
    def validate(self, spec, err):
        return spec.options["no_such_option"]

    monkeypatch.setattr(EulerLaw, "validate", validate)
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: kind: study kind 'em-law' could not check the spec"), msg
    assert "KeyError: 'no_such_option'" in msg


def test_a_kind_whose_resource_estimate_raises_is_a_spec_error(tmp_path, monkeypatch):
    from fplab.studykinds.em_law import EulerLaw
    from tests.test_study import GOOD, write

    def resources(self, config):
        return config["grid_cells"] * 8, 0.0

    monkeypatch.setattr(EulerLaw, "resources", resources)
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: kind: study kind 'em-law' could not estimate"), msg
    assert "KeyError: 'grid_cells'" in msg


def test_sigterm_ends_a_command_as_ctrl_c_does(monkeypatch, capsys):
    import os
    import signal
    import time

    from fplab import cli

    # `kill PID` (SIGTERM) ended fplab run with no message, exit 143 and a resource_tracker
    # warning about leaked semaphores; Ctrl-C printed what was kept and exited 130
    def killed(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        return 0

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli, "_cmd_list", killed)
    assert cli.main(["list"]) == 128 + signal.SIGTERM
    assert "fplab: terminated; finished results are kept" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before


def test_check_update_refuses_to_baseline_a_study_whose_kind_raised(tmp_path, monkeypatch, capsys):
    from fplab.cli import main
    from fplab.studykinds.em_law import EulerLaw

    def broken(self, spec, results):
        raise KeyError("missing")

    spec = _tiny_spec(tmp_path)
    common = ["--workers", "1", "--cache", str(tmp_path / "c"), "--quiet"]
    monkeypatch.setattr(EulerLaw, "summarize", broken)
    code = main(["check", str(spec.path), "--update", "--baselines", str(tmp_path / "b"), *common])
    out = capsys.readouterr().out
    assert code == 1 and "not updated, the study kind raised" in out
    assert not (tmp_path / "b" / f"{spec.name}.json").exists()  # no empty baseline written


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not a JSON baseline"),
        ("[]", "a baseline is a JSON object, got a list"),
        ('{"errors": {"a": "x"}}', r"errors\['a'\] is 'x', not a number"),
        ('{"order_cis": {"a": [1]}}', r"order_cis\['a'\] is \[1\], not a number pair"),
    ],
)
def test_a_damaged_baseline_is_a_regression_naming_the_file(tmp_path, capsys, text, match):
    import re

    from fplab.cli import main

    spec = _tiny_spec(tmp_path)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / f"{spec.name}.json").write_text(text)
    common = ["--workers", "1", "--cache", str(tmp_path / "c"), "--quiet"]
    assert main(["check", str(spec.path), "--baselines", str(tmp_path / "b"), *common]) == 1
    out = capsys.readouterr().out
    assert f"{spec.name}.json" in out and re.search(match, out), out
