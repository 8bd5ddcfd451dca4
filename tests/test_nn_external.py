"""A score network trained elsewhere: evaluate_score_model and the ``score-model`` study kind."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

import fplab as fp
from fplab.cli import main
from fplab.nn.external import ExternalScore, evaluate_score_model, exact_model

SDE = fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)
P0 = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
GRID = fp.Grid.uniform(-10.0, 10.0, 512)


@pytest.mark.parametrize("kind", ["score", "eps", "x0", "v"])
def test_exact_model_in_any_parameterisation_has_round_off_score_error(kind):
    res = evaluate_score_model(
        exact_model(SDE, P0, kind),
        SDE,
        P0,
        parameterisation=kind,
        grid=GRID,
        times=[1e-3, 0.1, 0.5, 1.0],
        n_steps=[8],
        n_samples=300,
    )
    # the conversions are exact arithmetic: only round-off remains (x0/v divide by α_t ≈ 7e-5
    # at t = 1, which amplifies it to ~1e-12)
    assert np.max(res.curve.rel_l2) < 1e-9
    (run,) = res.budget
    assert run["score"] < 1e-9  # same x_T, same seed, same score: the same samples
    assert run["total"] == pytest.approx(run["total_exact_score"], abs=1e-9)


def test_constant_score_offset_gives_fisher_divergence_offset_squared():
    model = lambda x, t: fp.exact_score(SDE, P0)(x, t) + 0.1  # noqa: E731
    res = evaluate_score_model(
        model, SDE, P0, grid=GRID, times=[0.05, 0.5], n_steps=[8], n_samples=300
    )
    # weighted mean of |0.1|^2 over any region is 0.01 exactly
    np.testing.assert_allclose(res.curve.fisher, 0.01, rtol=1e-12)
    assert res.budget[0]["score"] > 0.01


class GaussianEps(torch.nn.Module):
    """ε-prediction of the exact VP score of N(m, v) in torch: ε = σ_t (x - α_t m)/(α_t² v + σ_t²)."""

    def __init__(self, m, v):
        super().__init__()
        self.m = torch.nn.Parameter(torch.tensor(m, dtype=torch.float64))
        self.v = v

    def forward(self, x, t):
        b0, b1 = 0.1, 20.0
        log_alpha = -(b0 * t + 0.5 * (b1 - b0) * t**2) / 2  # VP: α_t = exp(-½ ∫ β)
        alpha = torch.exp(log_alpha)[:, None]
        sigma2 = 1.0 - alpha**2
        return torch.sqrt(sigma2) * (x - alpha * self.m) / (alpha**2 * self.v + sigma2)


def test_torch_module_predicting_eps_is_converted_to_the_exact_score():
    p0 = fp.GaussianMixture([1.0], [[0.7]], [[[0.2]]])
    s = ExternalScore(GaussianEps(0.7, 0.2), SDE, "eps")
    x = np.linspace(-3, 3, 7).reshape(7, 1)
    for t in (0.01, 0.3, 1.0):
        np.testing.assert_allclose(s(x, t), fp.exact_score(SDE, p0)(x, t), rtol=1e-10, atol=1e-12)


MODEL_MODULE = """
import fplab as fp

def load():
    sde = fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)
    p0 = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
    score = fp.exact_score(sde, p0)
    return lambda x, t: score(x, t) * 1.05      # a 5% score error
"""

SPEC = """
# A network from elsewhere (here: the exact score, 5% too large).
kind = "score-model"

[problem]
sde = "vp"
params = { beta_min = 0.1, beta_max = 20.0, T = 1.0 }
p0 = { weights = [0.4, 0.6], means = [[-2.0], [1.5]], covs = [[[0.5]], [[0.3]]] }
grid = { lo = -10.0, hi = 10.0, n = 512 }

[options]
score_model = "REF"
parameterisation = "score"
n_steps = [10]
n_samples = 400
times = [0.01, 0.1, 1.0]
"""


def test_score_model_study_reports_score_error_and_w2_split(tmp_path, monkeypatch, capsys):
    (tmp_path / "ext_model.py").write_text(textwrap.dedent(MODEL_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "ext.toml"
    spec.write_text(SPEC.replace("REF", "ext_model:load"))
    assert main(["run", str(spec), "--workers", "1", "--cache", "c", "--out", "r", "--quiet"]) == 0
    meta = json.loads((tmp_path / "r" / "ext" / "meta.json").read_text())
    errors = meta["summary"]["errors"]
    # s_θ = 1.05 s: relative L2 error 0.05 exactly at every t
    for t in ("0.01", "0.1", "1"):
        assert errors[f"relL2 t={t}"] == pytest.approx(0.05, rel=1e-12)
    assert errors["W2 pf-ode-heun n=10"] > 0
    assert "W2 to p0 split" in (tmp_path / "r" / "ext" / "report.md").read_text()
    from fplab.report import collect
    from fplab.runner import ResultCache
    from fplab.study import load_study

    sr = collect(load_study(spec), "quick", ResultCache(tmp_path / "c"))
    (verdict,) = sr.spec.kind_obj.claims(sr.spec, sr.results, sr.summary())
    assert verdict.verdict == "pass" and 0.0 < verdict.measured <= 1.0
    spec.write_text(SPEC.replace("REF", "ext_model:nothing"))
    assert main(["run", str(spec), "--workers", "1", "--cache", "c", "--out", "r"]) == 2
    assert "options.score_model: cannot import 'ext_model:nothing'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["eps", "x0", "v"])
def test_ve_stand_in_models_convert_to_exactly_105_percent_of_the_score(kind):
    """The VE models of studies/score-model-ve-*.toml are written from Tweedie's formula, not
    from ``convert``: converted back, each is 1.05 times the exact score.  Tolerance: s_t is read
    as Var X_t - Var X_0 = 0.5 + 1e-6 - 0.5 at t = 1e-3, losing ~1e-16 * 0.5 / 1e-6 = 5e-11."""
    from fplab.nn.params import convert
    from fplab.testing import models

    p = models.VE_BIMODAL
    sde = fp.VE(**p["params"])
    p0 = fp.GaussianMixture(p["weights"], p["means"], p["covs"])
    model = getattr(models, f"ve_bimodal_{kind}_5pc")()
    score = fp.exact_score(sde, p0)
    x = np.linspace(-6.0, 6.0, 241)[:, None]
    for t in (1e-3, 0.1, 1.0):
        got = ExternalScore(model, sde, kind)(x, t)
        want = 1.05 * score(x, t)
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-9, (kind, t)
    # a plausible bug shows: sigma_t = sigma(t) instead of sqrt(sigma(t)^2 - sigma(0)^2), 10x
    # too large at t = 1e-3, moves the score by O(1) in every parameterisation
    t = 1e-3
    wrong = convert(model(x, t), kind, "score", x, 1.0, 0.01 * 200.0**t)
    want = 1.05 * score(x, t)
    assert np.linalg.norm(wrong - want) > 0.5 * np.linalg.norm(want)
