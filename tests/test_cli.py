"""``fplab run / report / check / list`` end to end on a tiny study (writes only to tmp_path)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fplab.cli import main
from tests.test_study import GOOD

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.toml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*argv):
    return main(list(argv))


def test_run_then_rerun_reuses_the_cache(repo, capsys):
    assert run("run", "--workers", "1", "--cache", "c", "--out", "r") == 0
    first = capsys.readouterr()
    assert "1 study, 3 cases (0 cached, 3 run, 0 failed)" in first.out
    assert "3/3 cases" in first.err  # progress bar on stderr
    assert (repo / "r" / "index.html").is_file() and (repo / "r" / "tiny" / "report.md").is_file()
    assert run("run", "tiny", "--workers", "1", "--cache", "c", "--out", "r") == 0
    assert "(3 cached, 0 run, 0 failed)" in capsys.readouterr().out


def test_full_tier_adds_cases_and_report_runs_nothing(repo, capsys):
    assert (
        run("run", "--tier", "full", "--workers", "1", "--cache", "c", "--out", "r", "--quiet") == 0
    )
    assert "4 cases (0 cached, 4 run" in capsys.readouterr().out
    shutil.rmtree(repo / "r")
    assert run("report", "--cache", "c", "--out", "r") == 0
    assert (repo / "r" / "tiny" / "index.html").is_file()
    assert run("report", "--cache", "empty", "--out", "r2") == 0
    assert "3 cases not run yet" in capsys.readouterr().out


def test_bad_spec_exits_2_before_anything_runs(repo, capsys):
    (repo / "studies" / "bad.toml").write_text(GOOD.replace("[sweep]", "[sweep]\nvaluse = 1"))
    assert run("run", "--cache", "c", "--out", "r") == 2
    err = capsys.readouterr().err
    assert "bad.toml: sweep.valuse: unknown key" in err and "allowed:" in err
    assert not (repo / "c").exists() and not (repo / "r").exists()
    assert run("run", "nosuch", "--cache", "c") == 2


def test_check_update_then_pass_then_name_each_regression(repo, capsys):
    args = ("check", "--workers", "1", "--cache", "c", "--baselines", "b", "--quiet")
    assert run(*args) == 1
    assert "no baseline" in capsys.readouterr().out
    assert run(*args, "--update") == 0
    baseline = json.loads((repo / "b" / "tiny.json").read_text())
    assert set(baseline["errors"]) == {"n_steps=4", "n_steps=8", "n_steps=16"}
    assert run(*args) == 0
    assert "0 regressions: ok" in capsys.readouterr().out
    # plant regressions: a worse error and a shifted order are both named
    baseline["errors"]["n_steps=8"] *= 0.9
    baseline["orders"]["em-law"] += 0.3
    (repo / "b" / "tiny.json").write_text(json.dumps(baseline))
    assert run(*args) == 1
    out = capsys.readouterr().out
    assert "REGRESSION: tiny: error of 'n_steps=8' grew" in out
    assert "REGRESSION: tiny: order of 'em-law'" in out
    # a shrunk error is a change too (a bug can shrink errors): it fails unless allowed
    baseline = json.loads((repo / "b" / "tiny.json").read_text())
    baseline["orders"]["em-law"] -= 0.3
    baseline["errors"]["n_steps=8"] /= 0.9 * 0.9
    (repo / "b" / "tiny.json").write_text(json.dumps(baseline))
    assert run(*args) == 1
    out = capsys.readouterr().out
    assert "CHANGED: tiny: error of 'n_steps=8' shrank" in out and "--allow-improvements" in out
    assert "REGRESSION" not in out and "0 regressions, 1 changed: FAILED" in out
    assert run(*args, "--allow-improvements") == 0
    assert "improved: tiny: error of 'n_steps=8' shrank" in capsys.readouterr().out
    # the order's interval is baselined as well
    baseline["order_cis"]["em-law"][0] -= 0.1
    (repo / "b" / "tiny.json").write_text(json.dumps(baseline))
    assert run(*args, "--allow-improvements") == 1
    assert "interval of the order of 'em-law'" in capsys.readouterr().out


def test_list_shows_kinds_studies_and_metrics(repo, capsys):
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "study kinds:" in out and "em-law" in out
    assert "studies/tiny.toml" in out and "A tiny em-law study" in out
    assert "metrics:" in out


def test_shipped_check_subset_matches_baselines(tmp_path, monkeypatch, capsys):
    """The accuracy regression check the suite runs: the fast shipped studies vs tests/baselines."""
    monkeypatch.chdir(ROOT)
    # the quick tiers that finish in seconds; `fplab check` with no names checks every study
    fast = [
        "em-law-ou-1d",
        "fd-time-ou-1d",
        "fd-space-ou-1d",
        "fd-space-gbm",
        "mc-strong-double-well",
    ]
    code = run("check", *fast, "--workers", "1", "--cache", str(tmp_path / "c"), "--quiet")
    assert code == 0, capsys.readouterr().out


def test_report_after_a_code_change_shows_stale_results_marked(repo, capsys, monkeypatch):
    assert run("run", "--workers", "1", "--cache", "c", "--out", "r", "--quiet") == 0
    import fplab.version

    monkeypatch.setattr(fplab.version, "code_version", lambda kind=None: "0.0.0+changed")
    assert run("report", "--cache", "c", "--out", "r") == 0
    assert "3 cases from an older code version" in capsys.readouterr().out
    md = (repo / "r" / "tiny" / "report.md").read_text()
    assert "3 cases come from an older code version" in md and "n_steps=16" in md
    assert run("report", "--cache", "c", "--out", "r3") == 0  # still drawn, from the stored numbers
    assert (repo / "r3" / "tiny" / "fig-1.png").is_file()


def test_killed_run_keeps_finished_cases_and_resumes(repo, capsys):
    """SIGKILL mid-run: every stored case is complete (atomic rename), the re-run resumes."""
    import subprocess
    import sys
    import time

    (repo / "studies" / "tiny.toml").write_text(
        GOOD.replace("quick = [4, 8, 16]", "quick = [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]")
    )
    cmd = [
        sys.executable,
        "-m",
        "fplab",
        "run",
        "--workers",
        "1",
        "--cache",
        "c",
        "--out",
        "r",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list((repo / "c").rglob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    stored = list((repo / "c").rglob("*.json"))
    assert stored
    for path in stored:
        json.loads(path.read_text())  # complete JSON, never torn
    # a kill during a write can leave a '.<key>.*.tmp' file behind: it is never read as a result
    assert run("run", "--workers", "1", "--cache", "c", "--out", "r", "--quiet") == 0
    out = capsys.readouterr().out
    assert f"({len(stored)} cached, {10 - len(stored)} run, 0 failed)" in out


# -- usage and file-type errors are exit 2 before anything runs (issue 13) --------------------
def _exit_code(argv):
    try:
        return run(*argv)
    except SystemExit as exc:  # argparse-style exits
        return exc.code


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("run", "--cache", "afile", "--out", "r"), "--cache afile: names a file"),
        (("run", "--cache", "c", "--out", "afile"), "--out afile: names a file"),
        (("run", "--cache", "c", "--out", "afile/sub"), "lies under the file afile"),
        (("report", "--cache", "c", "--out", "afile"), "--out afile: names a file"),
        (("run", "--cache", "c", "--out", "r", "--scheduler", "bogus"), "not an address"),
        (
            ("run", "--cache", "c", "--out", "r", "--scheduler", "tcp://127.0.0.1:1"),
            "cannot connect",
        ),
    ],
)
def test_bad_folder_or_scheduler_exits_2_before_any_case_runs(repo, capsys, argv, fragment):
    (repo / "afile").write_text("not a folder")
    assert _exit_code(argv) == 2
    assert fragment in capsys.readouterr().err
    assert not (repo / "c").exists(), "nothing may run (or be cached) before the check"


def test_non_utf8_spec_and_grid_files_exit_2(repo, capsys):
    (repo / "studies" / "bin.toml").write_bytes(b'kind = "em-law"\n\xff\xfe\n')
    assert _exit_code(("run", "bin", "--cache", "c", "--out", "r")) == 2
    assert "bin.toml: not UTF-8 text" in capsys.readouterr().err
    import fplab as fp

    grid = repo / "g.toml"
    grid.write_bytes(b"lo = 0\n\xff\n")
    with pytest.raises(fp.ConfigError, match=r"g\.toml: not UTF-8 text"):
        fp.load_grid(grid)
    with pytest.raises(TypeError, match=r"path must be a file path.*NoneType"):
        fp.load_grid(None)
    with pytest.raises(ValueError, match="not a usable file name"):
        fp.load_grid("a\x00b.toml")


@pytest.mark.slow
def test_study_name_with_mathtext_characters_still_gets_its_figures(repo, capsys):
    shutil.copy(repo / "studies" / "tiny.toml", repo / "studies" / "a$b\\q$c.toml")
    (repo / "studies" / "tiny.toml").unlink()
    assert run("run", "--workers", "1", "--cache", "c", "--out", "r") == 0
    assert list((repo / "r" / "a$b\\q$c").glob("fig-*.png"))


def test_planted_wrong_order_fails_the_run_after_writing_every_report(repo, capsys):
    # em-law has weak order 1; a spec that claims 2 must fail the run, with the page saying so
    (repo / "studies" / "wrong.toml").write_text(
        GOOD.replace("order = 1.0", "order = 2.0").replace("tiny em-law", "planted-wrong")
    )
    assert run("run", "--workers", "1", "--cache", "c", "--out", "r", "--quiet") == 1
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("claims: 2 checked, ") and " 1 failed" in last
    assert "(failed: wrong: order[em-law])" in last
    for name in ("tiny", "wrong"):  # both studies' reports were written before exiting
        assert (repo / "r" / name / "index.html").is_file()
    page = (repo / "r" / "wrong" / "index.html").read_text()
    row = next(r for r in page.split("<tr") if "order[em-law]" in r)
    assert "<td>fail</td>" in row and "excludes 2" in row
    md = (repo / "r" / "index.md").read_text()
    assert "1 failed" in md.splitlines()[2] and "fail: order[em-law]" in md
    # check judges the same claims and fails too, after comparing every study
    args = ("check", "--workers", "1", "--cache", "c", "--baselines", "b", "--quiet")
    assert run(*args, "--update") == 1
    out = capsys.readouterr().out
    assert "FAILED CLAIM: wrong: order[em-law]" in out and out.strip().endswith(
        "(failed: wrong: order[em-law])"
    )


def test_too_few_points_give_inconclusive_not_pass(repo, capsys):
    (repo / "studies" / "tiny.toml").write_text(
        GOOD.replace("quick = [4, 8, 16]", "quick = [4, 8]")
    )
    assert run("run", "--workers", "1", "--cache", "c", "--out", "r", "--quiet") == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "claims: 1 checked, 0 passed, 0 failed, 1 inconclusive"
    claims = json.loads((repo / "r" / "tiny" / "meta.json").read_text())["claims"]
    assert claims[0]["verdict"] == "inconclusive" and "usable levels" in claims[0]["note"]


def test_mistyped_study_name_gets_did_you_mean(repo, capsys):
    assert run("run", "tinny", "--cache", "c") == 2
    err = capsys.readouterr().err
    assert "tinny: no such study file (did you mean 'tiny'?)" in err


def test_list_is_plain_text_in_aligned_columns(repo, capsys):
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and "`" not in out
    section = out.split("metrics:\n", 1)[1].split(":\n", 1)[0].splitlines()[:-1]
    starts = {len(line) - len(line[2:].split(maxsplit=1)[1]) for line in section if " " in line[2:]}
    assert len(starts) == 1  # every description in the section starts in the same column
    with pytest.raises(SystemExit) as exc:  # removed: em-law-ou-1d is that check with a verdict
        run("demo")
    assert exc.value.code == 2
