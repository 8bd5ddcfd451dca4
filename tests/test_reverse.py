"""Reverse-time samplers and the grid score: contract, errors, exact answers, invariants.

Order tests (observed vs declared) live in tests/test_reverse_orders.py (marked slow).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from problems import BIMODAL_1D, BIMODAL_2D, LINE, LINEAR_1D, SQUARE

import fplab as fp
from fplab.errors import NumericalError
from fplab.reverse import SAMPLERS, grid_score, sample_reverse
from fplab.reverse.sample import ScoreValueError

VP = fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)
VE = fp.VE(sigma_min=0.01, sigma_max=2.0, T=1.0)
OU = fp.OU(theta=1.0, mu=0.0, sigma=2**0.5)
T0, T1 = 1.0, 1e-3


def _fixed_kwargs(method: str) -> dict:
    return {} if SAMPLERS.get(method).adaptive else {"n_steps": 16}


def _x_T(sde, p0, n, seed=1, t=T0):
    return fp.exact_marginal(sde, p0, t).sample(n, seed=seed)


def _quantile_nodes(n):
    return (np.arange(n) + 0.5) / n


def _w2_to_law(x, law):
    """W2 between 1-D samples and an exact 1-D law: sorted samples against its quantiles at
    (i + 1/2)/n (the 1-D optimal coupling)."""
    x = np.asarray(x).reshape(-1)
    return float(fp.metrics.w2(x, law.ppf(_quantile_nodes(x.shape[0]))))


# -- registry and contract ----------------------------------------------------------------------
def test_registry_holds_every_sampler_with_declared_properties():
    expected = {
        "euler-maruyama",
        "pf-ode-euler",
        "pf-ode-heun",
        "pf-ode-rk4",
        "pf-ode-adaptive",
        "predictor-corrector",
        "ddpm",
        "ddim",
        "dpm-solver-2",
    }
    assert expected <= set(SAMPLERS.names())
    for name, s in SAMPLERS.items():
        assert isinstance(s.order, int) and s.order >= 1, name
        assert isinstance(s.deterministic, bool) and isinstance(s.adaptive, bool), name
        assert (s.__doc__ or "").strip(), name
    assert [SAMPLERS.get(m).order for m in ("pf-ode-euler", "pf-ode-heun", "pf-ode-rk4")] == [
        1,
        2,
        4,
    ]
    assert SAMPLERS.get("dpm-solver-2").order == 2
    assert fp.reverse.SAMPLERS is SAMPLERS
    assert fp.sample_reverse is sample_reverse


@pytest.mark.parametrize("method", SAMPLERS.names())
@pytest.mark.parametrize("flat", [False, True])
def test_sampler_returns_float64_samples_in_the_shape_of_x_T(method, flat):
    score = fp.exact_score(VP, BIMODAL_1D)
    x_T = _x_T(VP, BIMODAL_1D, 50)
    if flat:
        x_T = x_T[:, 0]
    x = sample_reverse(VP, score, x_T, method=method, **_fixed_kwargs(method))
    assert x.shape == x_T.shape and x.dtype == np.float64
    assert np.all(np.isfinite(x))


@pytest.mark.parametrize("method", SAMPLERS.names())
def test_result_depends_on_the_seed_alone(method):
    score = fp.exact_score(VP, BIMODAL_2D)
    x_T = _x_T(VP, BIMODAL_2D, 40)
    kw = _fixed_kwargs(method)
    a = sample_reverse(VP, score, x_T, method=method, seed=7, **kw)
    b = sample_reverse(VP, score, x_T, method=method, seed=7, **kw)
    c = sample_reverse(VP, score, x_T, method=method, seed=np.random.default_rng(8), **kw)
    assert a.shape == (40, 2)
    np.testing.assert_array_equal(a, b)
    if SAMPLERS.get(method).deterministic:
        np.testing.assert_array_equal(a, c)
    else:
        assert np.max(np.abs(a - c)) > 1e-3


def test_save_at_returns_samples_at_the_requested_times_in_order():
    score = fp.exact_score(OU, BIMODAL_1D)
    x_T = _x_T(OU, BIMODAL_1D, 30)[:, 0]
    kw = {"n_steps": 20, "method": "pf-ode-heun", "t_start": 1.0, "t_end": 0.0}  # nodes k/20
    final = sample_reverse(OU, score, x_T, **kw)
    path = sample_reverse(OU, score, x_T, save_at=[0.0, 0.5, 1.0, 0.333], **kw)
    assert path.shape == (4, 30)
    np.testing.assert_array_equal(path[2], x_T)  # t_start: the input itself
    # 0.333 is not a node: it is inserted, which changes the steps after it slightly (O(h²))
    assert 0 < np.max(np.abs(path[0] - final)) < 1e-3
    same_grid = sample_reverse(OU, score, x_T, save_at=[0.5, 0.0], **kw)
    np.testing.assert_array_equal(same_grid[1], final)
    half = sample_reverse(OU, score, x_T, **{**kw, "n_steps": 10, "t_end": 0.5})
    np.testing.assert_array_equal(same_grid[0], half)


def test_return_info_counts_score_evaluations():
    score = fp.exact_score(VP, BIMODAL_1D)
    x_T = _x_T(VP, BIMODAL_1D, 20)
    _, info = sample_reverse(VP, score, x_T, n_steps=10, method="pf-ode-rk4", return_info=True)
    assert (info.n_score_evals, info.n_steps, info.n_rejected) == (40, 10, 0)
    assert info.times.shape == (11,) and info.times[0] == T0 and info.times[-1] == T1
    _, info = sample_reverse(VP, score, x_T, method="pf-ode-adaptive", rtol=1e-8, return_info=True)
    # Dormand–Prince with first-same-as-last: 6 new evaluations per tried step, plus the first
    assert info.n_score_evals == 6 * (info.n_steps + info.n_rejected) + 1
    _, info = sample_reverse(
        VP, score, x_T, n_steps=5, method="predictor-corrector", n_corrector=2, return_info=True
    )
    assert info.n_score_evals == 5 * 3


# -- bad input ----------------------------------------------------------------------------------
def _score():
    return fp.exact_score(VP, BIMODAL_1D)


def test_unknown_method_lists_choices_and_close_match():
    with pytest.raises(ValueError, match=r"unknown method 'pf-ode-rk5'.*'pf-ode-rk4'"):
        sample_reverse(VP, _score(), np.zeros(3), n_steps=4, method="pf-ode-rk5")


@pytest.mark.parametrize("method", [m for m, s in SAMPLERS.items() if "vp-family" in s.requires])
@pytest.mark.parametrize("sde", [VE, OU, fp.Heat(D=0.5)], ids=["ve", "ou", "heat"])
def test_vp_only_methods_reject_other_sdes_naming_method_and_sde(method, sde):
    with pytest.raises(
        ValueError,
        match=rf"method '{method}' needs a variance-preserving SDE.*{type(sde).__name__}",
    ):
        sample_reverse(sde, fp.exact_score(sde, BIMODAL_1D), np.zeros(3), n_steps=4, method=method)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"x_T": np.array([0.0, np.nan])}, ValueError, "x_T contains 1 non-finite"),
        ({"x_T": np.array([0.0, np.inf])}, ValueError, "x_T"),
        ({"n_steps": 0}, ValueError, "n_steps must be >= 1"),
        ({"n_steps": 2.5}, TypeError, "n_steps must be an integer"),
        ({"n_steps": None}, TypeError, "n_steps is required"),
        ({"t_end": 1.0}, ValueError, "t_end must be < t_start"),
        ({"t_start": 0.5, "t_end": 0.7}, ValueError, "t_end must be < t_start"),
        ({"t_end": 0.0}, ValueError, "t_end must be > 0"),
        ({"t_start": 2.0}, ValueError, "horizon"),
        ({"save_at": [0.5, 1.5]}, ValueError, r"save_at times must lie in \[t_end, t_start\]"),
        ({"eta": 1.5}, ValueError, "eta must lie in"),
        ({"snr": 0.0}, ValueError, "snr must be > 0"),
        ({"score": "not a function"}, TypeError, "score must be a callable"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, exc, match):
    call = {"score": _score(), "x_T": np.zeros(3), "n_steps": 4}
    call.update(kwargs)
    score, x_T = call.pop("score"), call.pop("x_T")
    with pytest.raises(exc, match=match):
        sample_reverse(VP, score, x_T, **call)


def test_t_end_may_be_zero_for_sdes_without_a_horizon_but_not_negative():
    score = fp.exact_score(OU, BIMODAL_1D)
    x = sample_reverse(OU, score, np.zeros(4), n_steps=4, t_start=1.0, t_end=0.0)
    assert x.shape == (4,)
    with pytest.raises(ValueError, match="t_end must be >= 0"):
        sample_reverse(OU, score, np.zeros(4), n_steps=4, t_start=1.0, t_end=-0.1)


def test_score_of_wrong_shape_or_nan_is_reported():
    with pytest.raises(ValueError, match=r"score returned shape \(3, 2\) for x of shape \(3, 1\)"):
        sample_reverse(VP, lambda x, t: np.zeros((x.shape[0], 2)), np.zeros(3), n_steps=2)
    with pytest.raises(ScoreValueError, match="score returned 3 non-finite") as info:
        sample_reverse(VP, lambda x, t: np.full_like(x, np.nan), np.zeros(3), n_steps=2)
    assert isinstance(info.value, ValueError) and isinstance(info.value, NumericalError)
    # (n,) is accepted from a 1-D score
    x = sample_reverse(VP, lambda x, t: -x[:, 0], np.zeros(3), n_steps=2, method="pf-ode-euler")
    np.testing.assert_array_equal(x, np.zeros(3))


def test_exploding_samples_raise_numerical_error():
    # reverse Euler on dx = -1e4 x dt multiplies x by (1 + 1e4 h) ≈ 11 per step: inf after ~300
    sde = fp.CustomSDE(lambda x, t: -1e4 * x, 1.0)
    with pytest.raises(NumericalError, match="non-finite samples"), np.errstate(all="ignore"):
        sample_reverse(sde, lambda x, t: 0.0 * x, np.ones(3), n_steps=1000, method="pf-ode-euler")


def test_samples_of_the_wrong_dimension_are_rejected():
    with pytest.raises(ValueError, match="x_T"):
        sample_reverse(fp.GBM(), lambda x, t: -x, np.ones((3, 2)), n_steps=2, t_end=0.5)


def test_state_dependent_noise_needs_the_diffusion_derivative():
    sde = fp.CustomSDE(lambda x, t: 0.0 * x, lambda x, t: 1.0 + 0.1 * x[:, 0] ** 2, dim=1)
    with pytest.raises(ValueError, match="needs ∂g/∂x"):
        sample_reverse(sde, lambda x, t: -x, np.zeros(3), n_steps=2)


# -- exact answers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "problem", [p for p in LINEAR_1D if p.name in ("vp-1d", "ve-1d", "ou-1d")], ids=lambda p: p.name
)
def test_probability_flow_transports_exact_quantiles_at_every_saved_time(problem):
    """In 1-D the probability-flow map is the monotone transport p_{t_start} -> p_t, so starting
    from the exact quantiles F_T^{-1}(u_i) the samples at each saved time must be F_t^{-1}(u_i)."""
    sde, p0 = problem.sde, problem.p0
    u = np.linspace(0.02, 0.98, 25)
    x_T = fp.exact_marginal(sde, p0, T0).ppf(u)
    save = [0.6, 0.2, 0.05, T1]
    score = fp.exact_score(sde, p0)
    path = sample_reverse(sde, score, x_T, n_steps=64, method="pf-ode-rk4", save_at=save)
    for t, x in zip(save, path, strict=True):
        err = np.max(np.abs(x - fp.exact_marginal(sde, p0, t).ppf(u)))
        # RK4 at h = 1/64: measured max error 2.0e-6 (vp), 6.2e-7 (ve), 2.7e-7 (ou), i.e.
        # C h^4 with C <= 34; the bound is 100 h^4 = 6e-6
        assert err < 100 * (1 / 64) ** 4, (t, err)
    ref = sample_reverse(sde, score, x_T, method="pf-ode-adaptive", rtol=1e-9, atol=1e-12)
    # adaptive at rtol 1e-9: measured <= 1.7e-10; bound 10 x rtol
    assert np.max(np.abs(ref - fp.exact_marginal(sde, p0, T1).ppf(u))) < 1e-8


def test_probability_flow_with_multiplicative_noise_uses_the_g_grad_g_term():
    """GBM: dx/dt = μx - σ² x - ½σ²x² s.  Without the ∇·(g²) correction the map misses the exact
    log-normal quantiles by O(1)."""
    sde, p0 = fp.GBM(mu=0.05, sigma=0.4), fp.LogNormal(0.0, 0.25)
    u = np.linspace(0.05, 0.95, 19)
    law = lambda t: fp.exact_marginal(sde, p0, t)  # noqa: E731
    x_T = _lognormal_ppf(law(1.0), u)
    x = sample_reverse(
        sde, fp.exact_score(sde, p0), x_T, t_end=0.0, n_steps=40, method="pf-ode-rk4"
    )
    assert (
        np.max(np.abs(x - _lognormal_ppf(law(0.0), u))) < 1e-6
    )  # measured 9.6e-9 (0.16 without g∇g)


def _lognormal_ppf(law, u):
    from scipy import stats

    return np.exp(float(law.mu[0]) + float(law.sigma[0]) * stats.norm.ppf(u))


def test_euler_maruyama_is_the_reverse_sde_formula_with_the_seeded_normals():
    """x_s = x_t - h [f - g² s] + g √h z, z drawn in order from default_rng(seed)."""
    score = fp.exact_score(VP, BIMODAL_2D)
    x_T = _x_T(VP, BIMODAL_2D, 25)
    got = sample_reverse(VP, score, x_T, n_steps=7, seed=13)
    rng, x = np.random.default_rng(13), x_T.copy()
    ts = np.linspace(T0, T1, 8)
    for t, s in itertools.pairwise(ts):
        b, h = float(VP.beta(t)), t - s
        x = x - h * (-0.5 * b * x - b * score(x, t)) + np.sqrt(b * h) * rng.standard_normal(x.shape)
    np.testing.assert_allclose(got, x, rtol=1e-13, atol=1e-13)


def test_ddpm_step_equals_the_classic_vp_formula():
    """One DDPM step on VP is (x + β_ts s)/√(1 - β_ts) + √β̃ z with 1 - β_ts = ᾱ_s... ᾱ_t/ᾱ_s."""
    score = fp.exact_score(VP, BIMODAL_1D)
    x_T = _x_T(VP, BIMODAL_1D, 30)
    t, s = 0.4, 0.3
    got = sample_reverse(VP, score, x_T, t_start=t, t_end=s, n_steps=1, method="ddpm", seed=3)
    ab_t, ab_s = float(VP.alpha_bar(t)), float(VP.alpha_bar(s))
    beta = 1.0 - ab_t / ab_s
    var = (1.0 - ab_s) / (1.0 - ab_t) * beta
    z = np.random.default_rng(3).standard_normal(x_T.shape)
    want = (x_T + beta * score(x_T, t)) / np.sqrt(1.0 - beta) + np.sqrt(var) * z
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sde", [VP, fp.SubVP(beta_min=0.1, beta_max=20.0)], ids=["vp", "subvp"])
def test_ddim_with_eta_one_is_ddpm(sde):
    """The DDIM family at eta = 1 has the DDPM posterior's mean and variance (Song et al. 2021)."""
    score = fp.exact_score(sde, BIMODAL_2D)
    x_T = _x_T(sde, BIMODAL_2D, 30)
    a = sample_reverse(sde, score, x_T, n_steps=12, method="ddim", eta=1.0, seed=5)
    b = sample_reverse(sde, score, x_T, n_steps=12, method="ddpm", seed=5)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sde", [VP, fp.SubVP(beta_min=0.1, beta_max=20.0)], ids=["vp", "subvp"])
def test_ddim_converges_to_its_probability_flow_limit(sde):
    score = fp.exact_score(sde, BIMODAL_1D)
    x_T = _x_T(sde, BIMODAL_1D, 40)
    ref = sample_reverse(sde, score, x_T, method="pf-ode-adaptive", rtol=1e-10, atol=1e-12)
    errs = [
        np.max(np.abs(sample_reverse(sde, score, x_T, n_steps=n, method="ddim") - ref))
        for n in (64, 512)
    ]
    # first order: err(512)/err(64) ~ 1/8; measured 0.057 -> 0.0070 (vp), 0.077 -> 0.0097 (subvp)
    assert errs[1] < errs[0] / 6 and errs[1] < 0.1, errs


# -- the sample law ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["euler-maruyama", "predictor-corrector", "ddpm"])
def test_stochastic_sampler_law_approaches_p0_as_steps_grow(method):
    n = 4000
    score = fp.exact_score(VP, BIMODAL_1D)
    x_T = _x_T(VP, BIMODAL_1D, n)[:, 0]
    target = fp.exact_marginal(VP, BIMODAL_1D, T1)
    w2 = [
        _w2_to_law(sample_reverse(VP, score, x_T, n_steps=k, method=method, seed=2), target)
        for k in (4, 16, 64)
    ]
    # W2 of n = 4000 exact samples to the law itself, 8 seeds: 0.028-0.070 (the bimodal quantile
    # function is steep between the modes, so the sampling noise of W2 is large).  The bias
    # dominates at 4 steps (measured W2 0.53-0.60) and is below that floor from 64 steps on.
    assert w2[0] > 3 * w2[1], w2
    assert w2[2] < 0.1, w2  # 1.4 x the largest floor seen


def test_langevin_corrector_keeps_the_marginal_up_to_its_snr_bias():
    """One tiny predictor step, then 30 corrector steps at t = 0.2999: the Langevin chain started in
    p_t must stay there up to the unadjusted-Langevin bias, which grows like snr² (measured
    variance ratio 1.012, 1.020, 1.068 at snr 0.05, 0.16, 0.3; a corrector with the wrong noise
    √(3ε) drifts to ~1.5)."""
    n = 20000
    score = fp.exact_score(VP, BIMODAL_1D)
    x_T = _x_T(VP, BIMODAL_1D, n, t=0.3)[:, 0]
    law = fp.exact_marginal(VP, BIMODAL_1D, 0.2999)
    q = law.ppf(_quantile_nodes(n))
    kw = {"t_start": 0.3, "t_end": 0.2999, "n_steps": 1, "method": "predictor-corrector"}
    w2 = {}
    for snr in (0.05, 0.3):
        x = sample_reverse(VP, score, x_T, snr=snr, n_corrector=30, seed=2, **kw)
        ratio = x.var() / law.cov()[0, 0]
        # k = 4 standard errors of the variance ratio (√(2/n) × 1.5 for the bimodal kurtosis)
        # + the ULA bias 0.75 snr² fitted to the measurements above
        assert abs(ratio - 1.0) < 4 * 1.5 * np.sqrt(2.0 / n) + 0.75 * snr**2, (snr, ratio)
        w2[snr] = float(fp.metrics.w2(x, q))
    assert w2[0.3] > 2 * w2[0.05], w2  # measured 0.071 vs 0.012


def test_reverse_sde_marginals_at_intermediate_times_match_the_exact_marginals():
    n = 20000
    score = fp.exact_score(VP, BIMODAL_1D)
    x_T = _x_T(VP, BIMODAL_1D, n)[:, 0]
    save = [0.5, 0.2, 0.05]
    path = sample_reverse(VP, score, x_T, n_steps=200, save_at=save, seed=4)
    for t, x in zip(save, path, strict=True):
        law = fp.exact_marginal(VP, BIMODAL_1D, t)
        mean, var = float(law.mean()[0]), float(law.cov()[0, 0])
        # k = 4 standard errors + 0.01 for the O(h) bias at h = 1/200, which this n does not
        # resolve: measured deviations <= 1.0 SE (mean) and <= 1.3 SE (variance)
        se_mean = np.sqrt(var / n)
        se_var = var * np.sqrt(2.0 / n) * 1.5  # 1.5: bimodal kurtosis exceeds the Gaussian one
        assert abs(x.mean() - mean) < 4 * se_mean + 0.01, (t, x.mean(), mean)
        assert abs(x.var() - var) < 4 * se_var + 0.01, (t, x.var(), var)


def test_reverse_sde_in_2d_reproduces_mean_and_covariance_of_p0():
    n = 8000
    sde = fp.VP()
    score = fp.exact_score(sde, BIMODAL_2D)
    x = sample_reverse(sde, score, _x_T(sde, BIMODAL_2D, n), n_steps=100, seed=11)
    law = fp.exact_marginal(sde, BIMODAL_2D, T1)
    cov = law.cov()
    se = np.sqrt(np.diag(cov) / n)
    # k = 4 standard errors + 0.02 / 0.03 for the O(h) bias at h = 1/100; measured deviations
    # 0.9 SE (mean) and 0.018 (covariance entries)
    assert np.all(np.abs(x.mean(axis=0) - law.mean()) < 4 * se + 0.02)
    assert np.max(np.abs(np.cov(x.T) - cov)) < 4 * np.max(np.diag(cov)) * np.sqrt(2.0 / n) + 0.03


# -- grid score ---------------------------------------------------------------------------------
class _FakeSolution:
    """An FPSolution-like object holding exact marginal densities on a grid."""

    def __init__(self, sde, p0, grid, times):
        self.grid = grid
        self.times = np.asarray(times, dtype=float)
        self.densities = np.stack(
            [grid.sample_on(fp.exact_marginal(sde, p0, t).pdf) for t in self.times]
        )


def _score_error(gs, exact, pts, t):
    return float(np.max(np.abs(gs(pts, t) - exact(pts, t))))


def test_grid_score_is_second_order_in_space():
    from fplab.convergence import observed_order

    t = 0.3
    pts = np.linspace(-3.5, 3.5, 301)
    exact = fp.exact_score(OU, BIMODAL_1D)
    hs, errs = [], []
    for n in (128, 256, 512, 1024):
        grid = fp.Grid.uniform(lo=-8.0, hi=8.0, n=n)
        gs = grid_score(_FakeSolution(OU, BIMODAL_1D, grid, [t]))
        hs.append(grid.dx)
        errs.append(_score_error(gs, exact, pts, t))
    fit = observed_order(hs, errs)
    # central differences of log p plus linear interpolation: both O(dx²)
    assert fit.contains(2.0, tol=0.1), str(fit)
    cubic = grid_score(
        _FakeSolution(OU, BIMODAL_1D, fp.Grid.uniform(-8.0, 8.0, 512), [t]), interpolation="cubic"
    )
    assert (
        _score_error(cubic, exact, pts, t) < errs[2]
    )  # cubic interpolation leaves only the FD error


def test_grid_score_is_second_order_in_time_between_saved_times():
    from fplab.convergence import observed_order

    pts = np.linspace(-3.0, 3.0, 101)
    exact = fp.exact_score(VP, BIMODAL_1D)
    grid = fp.Grid.uniform(lo=-8.0, hi=8.0, n=2048)
    hs, errs = [], []
    for m in (3, 5, 9, 17):
        times = np.linspace(0.2, 0.4, m)
        gs = grid_score(_FakeSolution(VP, BIMODAL_1D, grid, times))
        mids = 0.5 * (times[:-1] + times[1:])
        hs.append(times[1] - times[0])
        errs.append(max(_score_error(gs, exact, pts, tm) for tm in mids))
    fit = observed_order(hs, errs)
    assert fit.contains(2.0, tol=0.15), str(fit)  # linear in t: O(Δt²) at the interval midpoints


def test_grid_score_in_2d_matches_the_exact_score():
    t = 0.4
    exact = fp.exact_score(OU, BIMODAL_2D)
    grid = fp.Grid.uniform(lo=(-6.0, -6.0), hi=(6.0, 6.0), n=(128, 128))
    gs = grid_score(_FakeSolution(OU, BIMODAL_2D, grid, [0.2, t, 0.6]))
    pts = fp.exact_marginal(OU, BIMODAL_2D, t).sample(500, seed=3)
    err = np.max(np.abs(gs(pts, t) - exact(pts, t)))
    # dx = 0.094: C dx² with C ~ 2 from the 1-D study above; measured 4.5e-3
    assert err < 2e-2, err
    per_sample_t = gs(pts, np.full(500, t))
    np.testing.assert_allclose(per_sample_t, gs(pts, t))


def test_grid_score_outside_the_box_and_outside_the_saved_times():
    sol = _FakeSolution(OU, BIMODAL_1D, LINE, [0.2, 0.5])
    far = np.array([[-20.0], [0.0], [30.0]])
    gs = grid_score(sol)
    out = gs(far, 0.5)
    law = fp.exact_marginal(OU, BIMODAL_1D, 0.5)
    gauss = -(far[[0, 2], 0] - law.mean()[0]) / law.cov()[0, 0]
    np.testing.assert_allclose(out[[0, 2], 0], gauss, rtol=1e-3)  # moment-matched Gaussian tail
    clamp = grid_score(sol, outside="clamp")
    np.testing.assert_allclose(clamp(far, 0.5)[2], clamp(np.array([[LINE.hi[0]]]), 0.5)[0])
    with pytest.raises(ValueError, match="outside the grid box"):
        grid_score(sol, outside="raise")(far, 0.5)
    with pytest.raises(ValueError, match=r"t=0.6 lies outside the saved times \[0.2, 0.5\]"):
        gs(far, 0.6)
    with pytest.raises(ValueError, match="unknown outside 'zero'"):
        grid_score(sol, outside="zero")
    with pytest.raises(ValueError, match="unknown interpolation"):
        grid_score(sol, interpolation="quintic")
    with pytest.raises(TypeError, match="sol must be a Fokker–Planck solution"):
        grid_score(object())


def test_samplers_driven_by_the_grid_score_match_the_exact_score():
    times = np.linspace(0.0, 1.0, 201)
    sol = _FakeSolution(OU, BIMODAL_1D, LINE, times)
    u = np.linspace(0.05, 0.95, 19)
    x_T = fp.exact_marginal(OU, BIMODAL_1D, 1.0).ppf(u)
    x = sample_reverse(OU, grid_score(sol), x_T, t_end=0.0, n_steps=50, method="pf-ode-heun")
    exact = BIMODAL_1D.ppf(u)
    # dx = 1/16, Δt_save = 1/200: score error <= 0.08 on [-3.5, 3.5]; measured 1.6e-2 (the
    # exact score gives 1.9e-3 with the same 50 Heun steps)
    assert np.max(np.abs(x - exact)) < 3e-2, np.max(np.abs(x - exact))


def test_grid_score_of_the_square_problem_grid_is_usable():
    sol = _FakeSolution(VP, BIMODAL_2D, SQUARE, [0.5, 1.0])
    x = sample_reverse(
        VP, grid_score(sol), _x_T(VP, BIMODAL_2D, 200), t_start=1.0, t_end=0.5, n_steps=10
    )
    assert x.shape == (200, 2) and np.all(np.isfinite(x))


def test_double_well_reverse_flow_driven_by_the_fd_grid_score_recovers_p0():
    """No closed form: the forward law comes from the FD solver, the score from ``grid_score``.
    In 1-D the probability-flow map is monotone, so the quantiles of p_T (from the grid CDF) must
    return to the quantiles of p0; the error falls as the grid and the saved times are refined."""
    sde = fp.DoubleWell(sigma=0.8)
    u = np.linspace(0.05, 0.95, 19)
    errs = []
    for n, m in ((256, 101), (512, 201)):
        grid = fp.Grid.uniform(lo=-6.0, hi=6.0, n=n)
        times = np.linspace(0.0, 1.0, m)
        sol = fp.solve_fokker_planck(sde, BIMODAL_1D, grid, 1.0, save_at=times, dt=0.25 / m)
        cdf = np.concatenate([[0.0], np.cumsum(sol.densities[-1])])
        x_T = np.interp(u, cdf / cdf[-1], grid.edges[0])
        x = sample_reverse(
            sde, grid_score(sol), x_T, t_start=1.0, t_end=0.0, n_steps=100, method="pf-ode-heun"
        )
        errs.append(float(np.max(np.abs(x - BIMODAL_1D.ppf(u)))))
    # measured 2.3e-2 (dx = 0.047) and 4.4e-3 (dx = 0.023): the FD, interpolation and quantile errors
    # are all O(dx²) (+ O(Δt²)), so a halving must cut the error by well over 2
    assert errs[1] < errs[0] / 3 and errs[1] < 1e-2, errs


@pytest.mark.parametrize("grid", [LINE, SQUARE], ids=["1d", "2d"])
def test_grid_score_of_a_gaussian_is_exact_to_round_off(grid):
    """log p is quadratic, so central (and one-sided second-order) differences are exact and the
    score is linear, which multilinear interpolation reproduces: only round-off remains."""
    d = grid.ndim
    mean, cov = np.array([0.3, -0.2])[:d], np.array([[0.8, 0.3], [0.3, 0.6]])[:d, :d]
    law = fp.GaussianMixture([1.0], [mean], [cov])
    sol = _FakeSolution(fp.Heat(D=1.0), law, grid, [0.0])  # t = 0: the law itself
    pts = law.sample(400, seed=4)
    got = grid_score(sol)(pts, 0.0)
    want = law.score(pts)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8 * np.max(np.abs(want)))


@pytest.mark.parametrize("method", SAMPLERS.names())
def test_empty_batch_returns_empty_samples_without_calling_the_score(method):
    def score(x, t):
        raise AssertionError("score called on an empty batch")

    x = sample_reverse(VP, score, np.zeros((0, 2)), method=method, **_fixed_kwargs(method))
    assert x.shape == (0, 2)
    path = sample_reverse(VP, score, np.zeros(0), save_at=[0.5, T1], method=method, n_steps=4)
    assert path.shape == (2, 0)


def test_cosine_vp_refuses_t_start_past_its_usable_end():
    # β(T) = ∞: starting at T gave variances of 5e8 (euler-maruyama) and 4e26 (dpm-solver-2);
    # the default start is t_max
    vp = fp.VP(schedule="cosine")
    with pytest.raises(ValueError, match=r"t_start=1 lies past the cosine schedule's usable end"):
        fp.sample_reverse(vp, lambda x, t: -x, np.zeros(10), t_start=1.0, n_steps=10)


def test_huge_step_count_is_refused_naming_n_steps():
    sde = fp.VP()
    p0 = fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]])
    with pytest.raises(ValueError, match=r"n_steps=1000000000000 needs about .* GiB"):
        fp.sample_reverse(sde, fp.exact_score(sde, p0), np.zeros(4), n_steps=10**12)
