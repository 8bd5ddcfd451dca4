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


def test_orders_table_carries_the_claims_verdict(reported):
    md = (reported[4] / "report.md").read_text()
    line = next(l for l in md.splitlines() if l.startswith("| em-law |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    order, interval, theory, verdict = float(cells[2]), cells[3], float(cells[4]), cells[5]
    lo, hi = (float(v) for v in interval.strip("[]").split(","))
    assert lo <= order <= hi and theory == 1.0
    # the fixture leaves one case unrun: a claim judged on incomplete data is never a pass
    assert verdict == "inconclusive"
    claims = json.loads((reported[4] / "meta.json").read_text())["claims"]
    assert [c["claim"] for c in claims] == ["order[em-law]"]
    assert claims[0]["verdict"] == "inconclusive" and "missing" in claims[0]["note"]


def test_page_opens_with_the_verdict_table_then_links_and_provenance(reported):
    page = (reported[4] / "index.html").read_text()
    body = page.split("<body>", 1)[1]
    # the first table on the page is the Verdict table; figures come after it
    first_table = body.split("<table>", 1)[1].split("</table>", 1)[0]
    assert "<th>Verdict</th>" in first_table and "order[em-law]" in first_table
    assert body.index("<th>Verdict</th>") < body.index("<figure>")
    assert "claims: 1 checked, 0 passed, 0 failed, 1 inconclusive" in body
    for name in ("results.csv", "meta.json", "report.md"):
        assert f"href='{name}'" in page
    for word in ("generated", "commit", "Python", "numpy", "numba", "torch", "CPU", "threads"):
        assert word in page
    md = (reported[4] / "report.md").read_text()
    assert md.index("| claim | measured | bound | Verdict | note |") < md.index("![")


def test_index_md_and_html_have_the_same_totals_line(reported):
    out = reported[3].parent
    html_line = re.search(r"claims: \d+ checked[^<]*", reported[3].read_text()).group(0)
    md = (out / "index.md").read_text()
    assert f"**{html_line}**" in md
    assert "[tiny](tiny/report.md)" in md and "inconclusive: order[em-law]" in md


def test_unchanged_study_is_not_redrawn_and_changed_one_is(reported, tmp_path):
    spec, cache, cases, _, folder = reported
    stamp = (folder / "fig-1.png").stat().st_mtime_ns
    write_reports(folder.parent, [spec], "quick", cache)
    assert (folder / "fig-1.png").stat().st_mtime_ns == stamp  # nothing changed: kept
    run_cases(cases, cache=cache, progress=None)  # the missing case is now stored
    write_reports(folder.parent, [spec], "quick", cache)
    assert (folder / "fig-1.png").stat().st_mtime_ns != stamp
    assert json.loads((folder / "meta.json").read_text())["n_missing"] == 0


def test_each_method_has_one_colour_and_marker_in_every_figure():
    from matplotlib.colors import to_hex

    from fplab.fd import SPACE_SCHEMES, TIME_SCHEMES
    from fplab.mc import MC_METHODS
    from fplab.records import Row
    from fplab.reverse import SAMPLERS
    from fplab.studykinds._common import fit_order, loglog_figure, order_row, style_map

    styles = style_map()
    registries = (SPACE_SCHEMES, TIME_SCHEMES, MC_METHODS, SAMPLERS)
    assert set(styles) == {n for reg in registries for n in reg.names()}  # nothing typed twice
    assert len(set(styles.values())) == len(styles)  # one (colour, marker) per method
    for reg in registries:  # methods that share a figure (one registry) differ in colour too
        assert len({styles[n][0] for n in reg.names()}) == len(reg)
    assert style_map() == styles  # stable between calls (and so between studies)

    rows = [Row.of(h=h, error=h) for h in (0.4, 0.2, 0.1)]  # rows as figures receive them
    fit = fit_order([r.h for r in rows], [r.error for r in rows])

    def drawn(order):
        groups = {n: rows for n in order}
        orders = [order_row(n, "e", fit, 1.0, 0.1) for n in order]
        _, fig = loglog_figure(groups, orders, "h", "e", "t")
        lines = fig.axes[0].get_lines()
        return {
            ln.get_label().split(":")[0]: (to_hex(ln.get_color()), ln.get_marker())
            for ln in lines
            if not ln.get_label().startswith("_")
        }

    # the same method first in one figure and last in another keeps its colour and marker
    a = drawn(["euler-maruyama", "ddim", "pf-ode-heun"])
    b = drawn(["pf-ode-heun", "heun", "euler-maruyama"])
    for name in ("euler-maruyama", "pf-ode-heun"):
        assert a[name] == b[name] == styles[name]


def test_convergence_page_has_a_work_precision_figure_from_stored_warm_timings(reported):
    _, cache, cases, _, folder = reported
    page = (folder / "index.html").read_text()
    assert re.search(r"<img alt='work-precision: [^']*compilation", page)
    # timings live beside the result in the cache (results stay a function of the seed) and
    # come back as columns of results.csv
    entry = cache.get(cases[0].key)
    assert "seconds_warm" not in entry["result"]["row"]
    assert entry["timing"]["row"]["seconds_warm"] > 0 and entry["timing"]["row"]["n_warm"] == 3
    with (folder / "results.csv").open() as fh:
        head = next(csv.reader(fh))
    assert {"seconds_warm", "compile_seconds"} <= set(head)


@pytest.mark.parametrize(("t0", "t1"), [(1.3e-3, 6.7e-3), (1e-4, 2e-1)])
def test_work_precision_time_axis_is_labelled_on_short_and_long_ranges(t0, t1):
    # under one decade of timings no decade tick is in view: the axis must still read (a page
    # showed an unlabelled time axis when minor labels were switched off everywhere)
    import numpy as np

    from fplab.records import Row
    from fplab.studykinds._common import work_precision_figure

    times = np.geomspace(t0, t1, 4)
    rows = [Row.of(h=1.0 / (k + 1), error=10.0 ** -(k + 2), seconds_warm=float(t))
            for k, t in enumerate(times)]  # fmt: skip
    _, fig = work_precision_figure({"fv4": rows}, "tv", "t")
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [
        t.get_text() for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
    ]
    lo, hi = ax.get_xlim()
    shown = [
        t
        for t, s in zip(list(ax.get_xticks()) + list(ax.get_xticks(minor=True)), labels)
        if s and lo <= t <= hi
    ]
    assert len(shown) >= 2, labels
