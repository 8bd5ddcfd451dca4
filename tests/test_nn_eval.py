"""fp.nn measurements: score-error curves, references, PF-ODE likelihood, flows, run_experiment."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fplab as fp
from tests.problems import BIMODAL_1D

torch = pytest.importorskip("torch")

from fplab.nn.evaluate import (  # noqa: E402
    convolution_reference,
    exact_reference,
    fd_reference,
    score_error_vs_t,
)
from fplab.nn.likelihood import ode_log_likelihood, pf_ode_log_likelihood  # noqa: E402

VP = fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)
LINE = fp.Grid.uniform(lo=-8.0, hi=8.0, n=400)
TINY = {"hidden": 32, "depth": 2, "batch_size": 256, "lr": 5e-3, "ema_decay": 0.99}
UNIMODAL = fp.GaussianMixture([1.0], [[0.8]], [[[0.3]]])


def _quantiles(law, n=4000):
    return law.ppf((np.arange(n) + 0.5) / n)


def _normal_quantiles(n):
    from scipy.stats import norm

    return norm.ppf((np.arange(n) + 0.5) / n).reshape(-1, 1)


def test_score_error_is_zero_for_the_exact_score_and_scales_with_a_perturbation():
    ref = exact_reference(VP, BIMODAL_1D, LINE)
    exact = fp.exact_score(VP, BIMODAL_1D)
    assert np.all(score_error_vs_t(exact, ref, [0.1, 0.5]).rel_l2 == 0.0)
    curve = score_error_vs_t(lambda x, t: 1.1 * exact(x, t), ref, [0.1, 0.5])
    np.testing.assert_allclose(curve.rel_l2, 0.1, rtol=1e-12)  # |0.1 s| / |s| by definition
    assert np.all(curve.fisher > 0)


def test_convolution_reference_reproduces_the_exact_score():
    conv = convolution_reference(VP, BIMODAL_1D.pdf, fp.Grid.uniform(lo=-8.0, hi=8.0, n=1600))
    curve = score_error_vs_t(conv.score, exact_reference(VP, BIMODAL_1D, LINE), [0.05, 0.3, 1.0])
    # midpoint quadrature of a Gaussian kernel with σ_t >= 17 dx: spectrally accurate
    assert np.all(curve.rel_l2 < 1e-8), curve.rel_l2


def test_fd_reference_agrees_with_the_exact_score():
    times = [0.2, 0.5]
    line = fp.Grid.uniform(lo=-8.0, hi=8.0, n=200)
    fd = fd_reference(VP, BIMODAL_1D, line, times)
    curve = score_error_vs_t(fd.score, exact_reference(VP, BIMODAL_1D, line), times)
    # second-order FD on dx = 0.08 and default dt; measured see assert; a sign slip gives ~1
    assert np.all(curve.rel_l2 < 2e-2), curve.rel_l2


def test_ode_likelihood_of_a_linear_flow_is_exact():
    # dx/dt = a x maps N(0, 1) at t=0 to N(0, e^{2a}) at t=1 with divergence a: exact to RK4 error
    a = -0.7
    x = np.linspace(-2, 2, 9)
    logp = ode_log_likelihood(
        lambda z, t: a * z,
        x,
        lambda z: -0.5 * z[:, 0] ** 2 * math.exp(-2 * a) - a - 0.5 * math.log(2 * math.pi),
        t0=0.0,
        t1=1.0,
        n_steps=20,
    )
    np.testing.assert_allclose(logp, -0.5 * x**2 - 0.5 * math.log(2 * math.pi), atol=1e-7)


def test_pf_ode_likelihood_with_the_exact_score_matches_the_exact_density():
    x = np.linspace(-3.5, 2.5, 9)
    p_tend = fp.exact_marginal(VP, BIMODAL_1D, 1e-3)
    res = pf_ode_log_likelihood(
        VP,
        fp.exact_score(VP, BIMODAL_1D),
        x,
        n_steps=30,
        exact=p_tend,
        prior=fp.exact_marginal(VP, BIMODAL_1D, 1.0),
    )
    # only the RK4 error remains (exact prior, exact score); measured 5e-6 at 60 steps, see assert
    assert res.max_abs_error < 1e-4, res.max_abs_error
    gauss = pf_ode_log_likelihood(VP, fp.exact_score(VP, BIMODAL_1D), x, n_steps=30, exact=p_tend)
    # the Gaussian prior N(0, σ_T²) misses p_T by O(α_T) = 7e-3: a visible, bounded prior mismatch
    assert 1e-4 < gauss.max_abs_error < 2e-2


def test_pf_ode_likelihood_of_a_learned_score_uses_autograd_divergence():
    model = fp.nn.train_score(VP, UNIMODAL, n_steps=400, **TINY)
    x = _quantiles(UNIMODAL, 50)
    res = pf_ode_log_likelihood(VP, model, x, n_steps=30, exact=UNIMODAL)
    flipped = pf_ode_log_likelihood(
        VP, lambda y, t: -model(y, t), x[:5], n_steps=30, exact=UNIMODAL
    )
    # measured nll gap ~1e-2 nats; a wrong-sign score or divergence gives O(1) or more
    assert abs(res.nll_gap) < 0.1, res.nll_gap
    assert flipped.max_abs_error > 1.0


def test_exact_velocity_forms_agree_and_transport_noise_to_the_data():
    v = fp.nn.exact_velocity(BIMODAL_1D)
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(v(x, 0.5 - 1e-12), v(x, 0.5), rtol=1e-8, atol=1e-9)
    # 1-D flows are monotone: normal quantiles go to the data quantiles, so W2 is the ODE error alone
    x1 = _normal_quantiles(2000)
    w2 = [
        fp.metrics.w2(
            fp.nn.sample_flow(v, x1, n_steps=n, method="pf-ode-rk4"), _quantiles(BIMODAL_1D, 2000)
        )
        for n in (10, 20, 40)
    ]
    # measured 1.8e-4, 1.4e-5, 9.0e-7: RK4's fourth order (ratios 13.6, 15)
    assert w2[2] < 5e-6 and w2[0] / w2[1] > 8 and w2[1] / w2[2] > 8, w2


def test_learned_flow_samples_and_round_trips(tmp_path):
    flow = fp.nn.train_flow(UNIMODAL, n_steps=400, **TINY)
    v = fp.nn.exact_velocity(UNIMODAL)
    x = np.linspace(-1.0, 2.5, 30)
    for t in (0.3, 0.7):
        rel = np.linalg.norm(flow(x, t) - v(x, t)) / np.linalg.norm(v(x, t))
        assert rel < 0.15, (t, rel)  # measured 0.02-0.05 after 400 steps
    x1 = _normal_quantiles(2000)
    target = _quantiles(UNIMODAL, 2000)
    # quantile inputs: W2 is model + ODE error; measured 0.052 after 400 steps (tiny model)
    assert fp.metrics.w2(fp.nn.sample_flow(flow, x1, n_steps=20), target) < 0.12
    assert fp.metrics.w2(fp.nn.sample_flow(lambda y, t: -flow(y, t), x1, n_steps=20), target) > 0.5
    flow.save(tmp_path / "f.pt")
    np.testing.assert_array_equal(fp.nn.load_checkpoint(tmp_path / "f.pt")(x, 0.4), flow(x, 0.4))
    with pytest.raises(ValueError, match="pf-ode"):
        fp.nn.sample_flow(flow, x1, n_steps=5, method="euler-maruyama")


def test_run_experiment_quick_rows_are_flat_and_json_able():
    res = fp.nn.run_experiment(
        {
            "train": {"n_steps": 30, "hidden": 16, "n_reference": 64},
            "methods": ["pf-ode-euler"],
            "n_steps": [5],
            "n_samples": 300,
            "budget_n_ref": 10,
            "likelihood_points": 5,
            "likelihood_steps": 4,
            "score_times": [0.5, 1.0],
        }
    )
    rows = res.rows()
    json.dumps(rows)
    assert {r["section"] for r in rows} == {
        "score-error",
        "samples",
        "budget",
        "likelihood",
        "training",
    }
    summary = res.summary()
    assert "w2_ratio[pf-ode-euler,5]" in summary and summary["reference"] == "exact"
    assert res.density_learned.shape == res.density_exact.shape == (800,)
    with pytest.raises(ValueError, match="unknown score-network option"):
        fp.nn.run_experiment({"n_step": 3})
    with pytest.raises(ValueError, match="problem"):
        fp.nn.run_experiment({"problem": "trimodal"})


def test_quantile_prior_removes_the_monte_carlo_floor_of_pf_ode_errors():
    from fplab.nn.evaluate import prior_samples, sample_error_table

    exact = fp.exact_score(VP, BIMODAL_1D)
    rows = sample_error_table(
        VP,
        {"exact": exact},
        BIMODAL_1D,
        methods=["pf-ode-rk4"],
        n_steps=[20],
        n_samples=2000,
        quantiles=True,
    )
    # what is left is the prior mismatch N(0, σ_T²) vs p_T (α_T = 6.6e-3): measured 3.9e-3, while
    # 2000 random prior samples give a Monte-Carlo floor ~0.03
    assert rows[0]["w2"] < 6e-3, rows
    with pytest.raises(ValueError, match="1-D"):
        prior_samples(VP, 2, 10, 0, quantiles=True)


def test_double_well_law_samples_its_stationary_density():
    from fplab.nn.experiment import DoubleWellLaw

    law = DoubleWellLaw(sigma=0.8)
    grid = fp.Grid.uniform(lo=-4.0, hi=4.0, n=800)
    assert grid.integrate(law.pdf(grid.axes[0])) == pytest.approx(1.0, abs=1e-9)
    x = law.sample(20000, seed=1)
    # k = 4 standard errors of the first two moments (mean 0 by symmetry)
    m2 = float(grid.integrate(grid.axes[0] ** 2 * law.pdf(grid.axes[0])))
    assert abs(x.mean()) < 4 * np.sqrt(m2 / 20000)
    assert abs(np.mean(x**2) - m2) < 4 * np.std(x**2) / np.sqrt(20000)


def test_per_sample_times_are_honoured_by_exact_velocity_and_convolution_reference():
    # both once evaluated every row at t[0]; each row must equal its own scalar-t call
    from fplab.nn.evaluate import convolution_reference
    from fplab.nn.flow import exact_velocity

    p0 = fp.GaussianMixture(
        [0.4, 0.6], [[-1.0, 0.5], [1.0, -0.2]],
        [[[0.5, 0.1], [0.1, 0.3]], [[0.3, -0.05], [-0.05, 0.4]]],
    )  # fmt: skip
    x = np.random.default_rng(0).normal(size=(6, 2))
    t = np.array([0.1, 0.3, 0.5, 0.6, 0.8, 0.95])
    v = exact_velocity(p0)
    rows = np.array([v(x[i : i + 1], t[i])[0] for i in range(6)])
    np.testing.assert_allclose(v(x, t), rows, rtol=0, atol=0)
    sde = fp.VP()
    q = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
    ref = convolution_reference(sde, q.pdf, fp.Grid.uniform(-10.0, 10.0, 2000))
    xx, tt = np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0.05, 0.2, 0.5, 0.9])
    # against the closed-form mixture score, row by row
    np.testing.assert_allclose(ref.score(xx, tt), fp.exact_score(sde, q)(xx, tt), rtol=1e-8)


def test_pf_ode_likelihood_on_the_cosine_vp_stops_at_t_max():
    # integrating to T (β(T) ~ 1e16) gave errors of tens to hundreds of nats, or a crash
    sde = fp.VP(schedule="cosine")
    q = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
    x = np.array([-2.0, 0.0, 1.5])
    t_max = sde._schedule.t_max
    res = fp.nn.pf_ode_log_likelihood(
        sde, fp.exact_score(sde, q), x, t_end=0.01, n_steps=200,
        exact=fp.exact_marginal(sde, q, 0.01), prior=fp.exact_marginal(sde, q, t_max),
    )  # fmt: skip
    # measured 1e-8 with the exact p_{t_max} as prior
    np.testing.assert_allclose(res.log_p, res.log_p_exact, atol=1e-6)
