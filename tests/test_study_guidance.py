"""The ``guidance`` study kind on a tiny spec: runs, reports, and states the exact facts at w = 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from fplab.errors import ConfigError
from fplab.report import collect, write_reports
from fplab.runner import ResultCache, run_cases
from fplab.study import load_study

TINY = """# tiny guidance study
kind = "guidance"
seed = 0

[options]
w = [0.0, 1.0, 3.0]
n_samples = 400
n_steps_sde = 50
rtol = 1e-6
n = [260]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "studies" / "g.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.slow
def test_guidance_kind_measures_the_gap_to_the_tilted_target(tmp_path):
    spec = load_study(_write(tmp_path, TINY))
    cache = ResultCache(tmp_path / "cache")
    out = run_cases(spec.cases("quick"), cache=cache, progress=None)
    assert out.failures == {}
    values = collect(spec, "quick", cache).summary()["values"]
    # w = 1: the guided score is the exact conditional score and the tilted target is p(x|y);
    # the converged PF-ODE from the stratified quantiles of p_T(x|y) lands on p(x|y) up to the
    # t_end blur and the grid quantiles (measured 1.3e-4 at n = 4000; 400 points: < 2e-3)
    # (the two grid densities agree to round-off)
    assert values["w2_tilted_pf-ode_w1"] == pytest.approx(values["w2_cond_pf-ode_w1"], rel=1e-9)
    assert values["w2_cond_pf-ode_w1"] < 5e-3
    # w = 3: guidance does not sample the tilted law (measured 0.6 to 1.2 at w = 2 to 4)
    assert values["w2_tilted_pf-ode_w3"] > 100 * values["w2_cond_pf-ode_w1"]
    index = write_reports(tmp_path / "r", [spec], "quick", cache)
    report = (index.parent / "g" / "report.md").read_text()
    assert "W2 to tilted" in report and (index.parent / "g" / "fig-1.png").exists()
    # the kind's two claims: w = 1 reproduces p(x|y), other w do not sample the tilted law
    assert "claims: 2 checked, 2 passed, 0 failed" in report


@pytest.mark.parametrize(
    ("line", "match"),
    [("label = 7", "label=7 is not a label"), ("w = [-1.0]", "w must be"), ("wts = 1", "wts")],
)
def test_bad_guidance_options_are_config_errors(tmp_path, line, match):
    text = TINY.replace("w = [0.0, 1.0, 3.0]", line)
    with pytest.raises(ConfigError, match=rf"g.toml: options: .*{match}"):
        load_study(_write(tmp_path, text))
