"""The ``work-precision`` study kind on a tiny spec: rows, the cheapest-sampler table, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fplab.errors import ConfigError
from fplab.report import collect, write_reports
from fplab.runner import ResultCache, run_cases
from fplab.study import load_study
from fplab.studykinds.workprecision import cheapest

TINY = """# tiny work-precision study
kind = "work-precision"
seed = 0

[options]
samplers = ["pf-ode-euler", "pf-ode-rk4", "dpm-solver-3", "euler-maruyama", "adaptive-sde"]
time_grids = ["uniform", "karras"]
n_steps = [4, 16]
n_samples = 200
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "studies" / "wp.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.slow
def test_work_precision_kind_ranks_samplers_by_score_evaluations(tmp_path):
    spec = load_study(_write(tmp_path, TINY))
    cache = ResultCache(tmp_path / "cache")
    out = run_cases(spec.cases("quick"), cache=cache, progress=None)
    assert out.failures == {}
    ((_case, res),) = collect(spec, "quick", cache).results
    rows = res["rows"]
    assert len(rows) == 4 * 2 * 2 + 3  # adaptive-sde: one run per rtol (0.1, 1e-2, 1e-3)
    evals = {(r["sampler"], r["n_steps"]): r["n_score_evals"] for r in rows}
    assert evals[("pf-ode-rk4", 16)] == 64 and evals[("dpm-solver-3", 4)] == 12
    # rk4 at 16 steps on the uniform grid: W2 ~ 1e-3 (measured 1.0e-3 at n = 2000), far below euler
    err = {(r["sampler"], r["time_grid"], r["n_steps"]): r["error"] for r in rows}
    assert err[("pf-ode-rk4", "uniform", 16)] < 0.1 * err[("pf-ode-euler", "uniform", 16)]
    # a stochastic sampler's W2 counts only above twice the sampling floor (~0.4 at n = 200)
    floor = res["summary"]["floor_w2"]
    assert floor > 0.1
    for r in rows:
        stochastic = r["sampler"] in ("euler-maruyama", "adaptive-sde")
        assert r["resolved"] == (not stochastic or r["error"] > 2 * floor)
    adaptive = [r for r in rows if r["sampler"] == "adaptive-sde"]
    assert [r["setting"] for r in adaptive] == ["rtol0.1", "rtol0.01", "rtol0.001"]
    assert {r["time_grid"] for r in adaptive} == {"adaptive"}
    assert adaptive[0]["n_score_evals"] < adaptive[2]["n_score_evals"]
    best = cheapest(rows, 1e-2)
    assert best is not None and best["error"] <= 1e-2 and best["sampler"] != "euler-maruyama"
    assert all(
        r["n_score_evals"] >= best["n_score_evals"]
        for r in rows
        if r["resolved"] and r["error"] <= 1e-2
    )
    index = write_reports(tmp_path / "r", [spec], "quick", cache)
    report = (index.parent / "wp" / "report.md").read_text()
    assert "Cheapest sampler and time grid" in report and "floor" in report


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('"pf-ode-rk4"', '"pf-ode-rk5"', "unknown method 'pf-ode-rk5'"),
        ('"karras"', '"karas"', "unknown time_grid 'karas'"),
        ("n_samples = 200", 'sde = "double-well"', "linear SDE"),
        ("n_samples = 200", "etas = [1.5]", "etas"),
    ],
)
def test_bad_work_precision_options_are_config_errors(tmp_path, old, new, match):
    with pytest.raises(ConfigError, match=rf"wp.toml: options: .*{match}"):
        load_study(_write(tmp_path, TINY.replace(old, new)))
