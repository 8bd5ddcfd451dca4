"""Exact marginals and scores: they solve their Fokker–Planck equation, match Monte Carlo, compose."""

from __future__ import annotations

import numpy as np
import pytest

import fplab as fp
from tests.problems import ALL_LINEAR, BIMODAL_1D, BIMODAL_2D, GBM_LOGNORMAL, Problem

EXTRA = [
    Problem("vp-cosine-1d", fp.VP(T=1.0, schedule="cosine"), BIMODAL_1D, 0.6, None),
    Problem("vp-quadratic-2d", fp.VP(T=1.0, schedule="quadratic"), BIMODAL_2D, 0.4, None),
    Problem("subvp-2d", fp.SubVP(), BIMODAL_2D, 0.25, None),
    Problem(
        "ou-vector-mean-2d", fp.OU(theta=0.7, mu=[1.0, -0.5], sigma=0.8), BIMODAL_2D, 0.9, None
    ),
]


def _fp_residual(problem, x, t, h):
    """∂p/∂t + ∇·(f p) - ½ Δ(g² p) by central differences of step h in x and t; x (n, d)."""
    sde = problem.sde

    def p(y, s):
        return problem.exact(s).pdf(y)

    d = x.shape[1]
    dpdt = (p(x, t + h) - p(x, t - h)) / (2 * h)
    div = np.zeros(x.shape[0])
    lap = np.zeros(x.shape[0])
    g2p = lambda y: sde.diffusion(y, t) ** 2 * p(y, t)  # noqa: E731
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        div += (
            sde.drift(x + e, t)[:, i] * p(x + e, t) - sde.drift(x - e, t)[:, i] * p(x - e, t)
        ) / (2 * h)
        lap += (g2p(x + e) - 2 * g2p(x) + g2p(x - e)) / h**2
    scale = np.abs(dpdt) + np.abs(div) + 0.5 * np.abs(lap)
    return dpdt + div - 0.5 * lap, scale


@pytest.mark.parametrize("problem", [*ALL_LINEAR, *EXTRA, GBM_LOGNORMAL], ids=repr)
def test_exact_marginal_solves_its_fokker_planck_equation(problem, rng):
    # The residual of an exact solution is pure truncation error O(h²): halving h divides it
    # by ~4.  A wrong mean/variance map leaves an O(1) residual that does not shrink.
    d = getattr(problem.p0, "dim", 1)
    if isinstance(problem.sde, fp.GBM):
        x = rng.uniform(0.4, 2.5, size=(40, 1))
    else:
        x = problem.exact().sample(40, seed=rng)
    t = float(rng.uniform(0.3, 1.0)) * problem.t_final
    r1, scale = _fp_residual(problem, x, t, 1e-2)
    r2, _ = _fp_residual(problem, x, t, 5e-3)
    ref = float(np.max(scale))
    assert np.max(np.abs(r2)) < 1e-3 * ref, f"residual {np.max(np.abs(r2)):.2e} vs scale {ref:.2e}"
    assert np.max(np.abs(r2)) < 0.35 * np.max(np.abs(r1))  # O(h²): ratio ~1/4
    assert d == x.shape[1]


@pytest.mark.parametrize("problem", ALL_LINEAR, ids=repr)
def test_marginal_at_t0_is_p0(problem):
    p = fp.exact_marginal(problem.sde, problem.p0, 0.0)
    np.testing.assert_allclose(p.means, problem.p0.means, rtol=1e-15)
    np.testing.assert_allclose(p.covs, problem.p0.covs, rtol=1e-15)


def test_ou_moments_in_closed_form():
    sde = fp.OU(theta=2.0, mu=0.5, sigma=0.7)
    p0 = fp.GaussianMixture([1.0], [[1.5]], [[[0.2]]])
    t = 0.8
    p = fp.exact_marginal(sde, p0, t)
    e = np.exp(-2.0 * t)
    assert p.mean()[0] == pytest.approx(1.5 * e + 0.5 * (1 - e), rel=1e-14)
    assert p.cov()[0, 0] == pytest.approx(0.2 * e**2 + 0.49 / 4.0 * (1 - e**2), rel=1e-14)


@pytest.mark.parametrize("problem", [ALL_LINEAR[2], ALL_LINEAR[7]], ids=repr)
def test_euler_maruyama_moments_converge_to_exact_marginal(problem):
    # Independent route: simulate with the SDE's own drift/diffusion (EM, weak order 1).
    # Bias ~ C dt with dt = 1e-3 (C = O(β_max) ≈ 20 -> bias ≲ 2e-2 * |moment|); the statistical
    # error is 4 standard errors.  Both bounds are written into the tolerance.
    n, n_steps = 100_000, 300
    rng = np.random.default_rng(11)
    x = problem.p0.sample(n, seed=rng)
    dt = problem.t_final / n_steps
    for k in range(n_steps):
        t = k * dt
        x = (
            x
            + problem.sde.drift(x, t) * dt
            + problem.sde.diffusion(x, t)[:, None] * np.sqrt(dt) * rng.standard_normal(x.shape)
        )
    exact = problem.exact()
    se = np.sqrt(np.diag(exact.cov()) / n)
    bias = 20.0 * dt * (np.abs(exact.mean()) + np.sqrt(np.diag(exact.cov())))
    assert np.all(np.abs(x.mean(axis=0) - exact.mean()) < 4 * se + bias)
    var_se = np.sqrt(2.0 / n) * np.diag(exact.cov()) * 2  # kurtosis of a bimodal mixture <= ~3
    assert np.all(np.abs(x.var(axis=0) - np.diag(exact.cov())) < 4 * var_se + bias)


def test_gbm_lognormal_marginal_matches_pathwise_solution():
    prob = GBM_LOGNORMAL
    n = 200_000
    rng = np.random.default_rng(5)
    x0 = prob.p0.sample(n, seed=rng)
    w = rng.standard_normal((n, 1)) * np.sqrt(prob.t_final)
    xt = prob.sde.exact_solution(x0, prob.t_final, w)
    exact = prob.exact()
    se = np.sqrt(exact.cov()[0, 0] / n)
    assert abs(xt.mean() - exact.mean()[0]) < 4 * se
    qs = np.quantile(xt, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(exact.cdf(qs), [0.1, 0.5, 0.9], atol=4 * np.sqrt(0.25 / n))


@pytest.mark.parametrize("problem", ALL_LINEAR, ids=repr)
def test_exact_score_is_the_marginal_score_and_accepts_per_sample_times(problem, rng):
    s = fp.exact_score(problem.sde, problem.p0)
    x = problem.exact().sample(30, seed=rng)
    t = rng.uniform(0.05, problem.t_final, size=30)
    per_sample = s(x, t)
    loop = np.stack([s(x[i : i + 1], float(t[i]))[0] for i in range(30)])
    np.testing.assert_allclose(per_sample, loop, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        s(x, problem.t_final), problem.exact().score(x), rtol=1e-12, atol=1e-14
    )


def test_unsupported_pairs_point_to_the_grid_solver():
    with pytest.raises(TypeError, match="solve_fokker_planck"):
        fp.exact_marginal(fp.DoubleWell(), BIMODAL_1D, 1.0)
    with pytest.raises(TypeError, match="LogNormalMixture"):
        fp.exact_marginal(fp.GBM(), BIMODAL_1D, 1.0)
    with pytest.raises(ValueError, match="t must be >= t0"):
        fp.exact_marginal(fp.OU(), BIMODAL_1D, 0.5, t0=1.0)
    with pytest.raises(ValueError, match="dimensional"):
        fp.exact_marginal(fp.OU(mu=[0.0, 1.0]), BIMODAL_1D, 0.5)


def test_point_and_scipy_initial_laws():
    from scipy import stats

    ou = fp.OU(theta=1.0, mu=0.0, sigma=1.0)
    p = fp.exact_marginal(ou, 2.0, 0.5)
    assert p.mean()[0] == pytest.approx(2.0 * np.exp(-0.5), rel=1e-14)
    assert p.cov()[0, 0] == pytest.approx(0.5 * (1 - np.exp(-1.0)), rel=1e-14)
    q = fp.exact_marginal(ou, stats.norm(1.0, 0.5), 0.5)
    assert q.cov()[0, 0] == pytest.approx(0.25 * np.exp(-1.0) + 0.5 * (1 - np.exp(-1.0)), rel=1e-14)
    gbm = fp.GBM(mu=0.1, sigma=0.3)
    ln = fp.exact_marginal(gbm, stats.lognorm(0.2, scale=np.exp(0.4)), 2.0)
    assert ln.mu[0] == pytest.approx(0.4 + (0.1 - 0.045) * 2.0)
    assert ln.sigma[0] == pytest.approx(np.sqrt(0.04 + 0.09 * 2.0))
    pt = fp.exact_marginal(gbm, 1.5, 1.0)
    assert pt.mean()[0] == pytest.approx(1.5 * np.exp(0.1), rel=1e-13)
    with pytest.raises(ValueError, match="t > t0"):
        fp.exact_marginal(ou, 2.0, 0.0)


def test_exact_law_that_overflows_float64_is_a_numerical_error():
    # Heat from N(0, 1) at t = 1e308: variance 1 + 2 t overflows; it was a ValueError naming covs
    p0 = fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]])
    for start in (p0, 0.5):
        with pytest.raises(fp.NumericalError, match=r"law at t=1e\+308 overflows float64"):
            fp.exact_marginal(fp.Heat(), start, 1e308)
