"""Reports: self-contained HTML, markdown, CSV and meta.json, every number from the cache."""

from __future__ import annotations

import csv
import json
import re

import pytest

from fplab.report import write_reports
from fplab.runner import ResultCache, run_cases
from fplab.study import load_study
from tests.test_study import GOOD


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    path = tmp_path / "studies" / "tiny.toml"
    path.parent.mkdir()
    path.write_text(GOOD.replace("quick = [4, 8, 16]", "quick = [4, 8, 16, 32, 64]"))
    spec = load_study(path)
    cache = ResultCache(tmp_path / "cache")
    cases = spec.cases("quick")
    run_cases(cases[:-1], cache=cache, progress=None)  # leave one case unrun on purpose
    index = write_reports(tmp_path / "out", [spec], "quick", cache)
    return spec, cache, cases, index, tmp_path / "out" / "tiny"


def test_study_folder_has_every_report_file(reported):
    _, _, _, index, folder = reported
    assert index.name == "index.html" and "tiny/index.html" in index.read_text()
    for name in ("index.html", "report.md", "results.csv", "meta.json", "fig-1.png"):
        assert (folder / name).is_file(), name


def test_html_is_self_contained_with_inline_figures(reported):
    page = (reported[4] / "index.html").read_text()
    assert "data:image/png;base64," in page
    # nothing fetched from elsewhere: every src is an inline data URI
    assert all(src.startswith("data:") for src in re.findall(r"src='([^']*)'", page))
    assert "http://" not in page and "https://" not in page
    assert "Observed orders" in page and "Configuration" in page


def test_numbers_come_from_the_stored_results(reported):
    _, cache, cases, _, folder = reported
    with open(folder / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["case"] for r in rows] == [c.label for c in cases[:-1]]
    for row, case in zip(rows, cases):
        stored = cache.get(case.key)["result"]["row"]["error"]
        assert float(row["error"]) == stored and row["cache key"] == case.key


def test_meta_states_version_commit_config_and_missing_cases(reported):
    spec, _, cases, _, folder = reported
    meta = json.loads((folder / "meta.json").read_text())
    for key in ("fplab_version", "code_version", "git_commit", "packages", "machine", "seed"):
        assert key in meta
    assert meta["config"] == spec.raw and meta["tier"] == "quick"
    assert meta["n_cases"] == len(cases) and meta["n_missing"] == 1
    assert f"missing (not run yet): {cases[-1].label}" in (folder / "report.md").read_text()


def test_orders_table_marks_agreement_with_theory(reported):
    md = (reported[4] / "report.md").read_text()
    line = next(l for l in md.splitlines() if l.startswith("| em-law |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    order, interval, theory, matches = float(cells[2]), cells[3], float(cells[4]), cells[5]
    lo, hi = (float(v) for v in interval.strip("[]").split(","))
    assert lo <= order <= hi and theory == 1.0
    assert matches == ("yes" if lo - 0.1 <= theory <= hi + 0.1 else "NO")


def test_unchanged_study_is_not_redrawn_and_changed_one_is(reported, tmp_path):
    spec, cache, cases, _, folder = reported
    stamp = (folder / "fig-1.png").stat().st_mtime_ns
    write_reports(folder.parent, [spec], "quick", cache)
    assert (folder / "fig-1.png").stat().st_mtime_ns == stamp  # nothing changed: kept
    run_cases(cases, cache=cache, progress=None)  # the missing case is now stored
    write_reports(folder.parent, [spec], "quick", cache)
    assert (folder / "fig-1.png").stat().st_mtime_ns != stamp
    assert json.loads((folder / "meta.json").read_text())["n_missing"] == 0
