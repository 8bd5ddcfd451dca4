"""fp.simulate / fp.simulate_coupled: contract, errors, random-number invariants, exact sampling."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from problems import GBM_LOGNORMAL, LINEAR_1D, LINEAR_2D

import fplab as fp
from fplab.errors import NumericalError
from fplab.mc import MC_METHODS, simulate, simulate_coupled

OU = fp.OU(theta=1.2, mu=0.4, sigma=0.7)
GRID_METHODS = [m for m in MC_METHODS.names() if m != "exact"]


def ou_as_custom(sde: fp.OU) -> fp.CustomSDE:
    """The same OU through the NumPy fallback (CustomSDE has no compiled coefficients)."""
    return fp.CustomSDE(lambda x, t: sde.theta * (sde.mu - x), sde.sigma)


# -- contract -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", MC_METHODS.names())
def test_simulate_returns_the_shape_convention_of_x0(method):
    x1 = simulate(OU, np.zeros(50), n_steps=4, method=method, seed=1)
    assert x1.shape == (50,) and x1.dtype == np.float64
    x2 = simulate(fp.OU(), np.zeros((50, 3)), n_steps=4, method=method, seed=1)
    assert x2.shape == (50, 3)
    xs = simulate(OU, np.zeros(50), n_steps=4, method=method, seed=1, save_at=[0.0, 0.5, 1.0])
    assert xs.shape == (3, 50)
    np.testing.assert_array_equal(xs[0], 0.0)
    np.testing.assert_array_equal(xs[-1], x1)


def test_save_at_keeps_the_users_order_and_splits_steps_for_off_grid_times():
    x0 = np.linspace(-1, 1, 20)
    xs = simulate(OU, x0, t0=0.5, t1=1.5, n_steps=8, seed=3, save_at=[1.5, 0.5, 1.0])
    np.testing.assert_array_equal(xs[1], x0)
    np.testing.assert_array_equal(xs[0], simulate(OU, x0, t0=0.5, t1=1.5, n_steps=8, seed=3))
    # 0.8 is off the 1/8 grid: the run gets one more step (and so another Brownian path)
    off = simulate(OU, x0, t0=0.5, t1=1.5, n_steps=8, seed=3, save_at=[0.8, 1.5], method="exact")
    assert off.shape == (2, 20) and np.all(np.isfinite(off))


def test_distribution_x0_with_n_paths_and_single_state_broadcast():
    p0 = fp.GaussianMixture([1.0], [[0.5, -0.5]], [np.eye(2) * 0.1])
    x = simulate(fp.OU(), p0, n_paths=300, n_steps=3, seed=2)
    assert x.shape == (300, 2)
    np.testing.assert_array_equal(x, simulate(fp.OU(), p0, n_paths=300, n_steps=3, seed=2))
    y = simulate(OU, 0.25, n_paths=40, n_steps=3, seed=2)
    np.testing.assert_array_equal(y, simulate(OU, np.full(40, 0.25), n_steps=3, seed=2))


@pytest.mark.parametrize("method", GRID_METHODS)
def test_custom_sde_fallback_matches_the_compiled_kernel_to_roundoff(method):
    # same per-path streams, same formulas: the NumPy fallback and the kernel agree to round-off
    x0 = np.linspace(-2.0, 2.0, 64)
    fast = simulate(OU, x0, n_steps=16, method=method, seed=11)
    slow = simulate(ou_as_custom(OU), x0, n_steps=16, method=method, seed=11)
    np.testing.assert_allclose(slow, fast, rtol=1e-12, atol=1e-12)
    forced = simulate(OU, x0, n_steps=16, method=method, seed=11, backend="numpy")
    np.testing.assert_allclose(forced, fast, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["euler-maruyama", "milstein", "heun"])
def test_numpy_backend_matches_kernel_for_multiplicative_noise(method):
    gbm = fp.GBM(mu=0.2, sigma=0.5)
    x0 = np.linspace(0.5, 1.5, 32)
    a = simulate(gbm, x0, n_steps=10, method=method, seed=5)
    b = simulate(gbm, x0, n_steps=10, method=method, seed=5, backend="numpy")
    np.testing.assert_allclose(a, b, rtol=1e-12)


# -- random numbers --------------------------------------------------------------------------------
def test_results_depend_on_the_seed_only_not_on_thread_count():
    x0 = np.linspace(-1, 1, 1500)  # several 256-path blocks, so two threads split the work
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = {m: simulate(OU, x0, n_steps=20, method=m, seed=9) for m in MC_METHODS.names()}
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = {m: simulate(OU, x0, n_steps=20, method=m, seed=9) for m in MC_METHODS.names()}
    finally:
        numba.set_num_threads(before)
    for m in one:
        np.testing.assert_array_equal(one[m], two[m])
    assert not np.array_equal(one["euler-maruyama"], simulate(OU, x0, n_steps=20, seed=10))


def test_path_streams_do_not_depend_on_how_many_paths_run():
    x0 = np.linspace(-1, 1, 700)
    np.testing.assert_array_equal(
        simulate(OU, x0[:300], n_steps=5, seed=4), simulate(OU, x0, n_steps=5, seed=4)[:300]
    )


def test_generator_seed_is_accepted_and_reproducible():
    a = simulate(OU, np.zeros(10), n_steps=3, seed=np.random.default_rng(1))
    b = simulate(OU, np.zeros(10), n_steps=3, seed=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


# -- coupling -----------------------------------------------------------------------------------------
def test_coupled_finest_level_equals_simulate_and_coarse_levels_share_the_path():
    x0 = np.linspace(0.5, 1.5, 100)
    gbm = fp.GBM(mu=0.1, sigma=0.3)
    res = simulate_coupled(gbm, x0, n_steps=[2, 8, 32], method=["euler-maruyama", "exact"], seed=6)
    assert res.x.shape == (2, 3, 100) and res.w.shape == (100,)
    np.testing.assert_array_equal(
        res.final(32, "euler-maruyama"), simulate(gbm, x0, n_steps=32, seed=6)
    )
    # the exact method on any level is GBM's pathwise solution at the shared W(t1)
    for lv in (2, 8, 32):
        np.testing.assert_allclose(
            res.final(lv, "exact"), gbm.exact_solution(x0, 1.0, res.w), rtol=1e-12
        )
    np.testing.assert_allclose(res.dt, [0.5, 0.125, 1 / 32])


def test_coupled_srk_assembles_coarse_iterated_integrals_like_the_numpy_path():
    x0 = np.linspace(-1, 1, 50)
    a = simulate_coupled(fp.DoubleWell(0.6), x0, n_steps=[3, 12], method="srk", seed=2)
    b = simulate_coupled(
        fp.DoubleWell(0.6), x0, n_steps=[3, 12], method="srk", seed=2, backend="numpy"
    )
    np.testing.assert_allclose(a.x, b.x, rtol=1e-12, atol=1e-12)
    # one coarse step of SRK on dX = dW (f = 0, g = 1) is exactly W: ΔZ enters as -ΔZ/h + ΔZ/h
    bm = simulate_coupled(fp.Heat(D=0.5), np.zeros(20), n_steps=[1, 4], method="srk", seed=2)
    np.testing.assert_allclose(bm.x[0], bm.w, atol=1e-14)


def test_coupled_coarse_iterated_integral_has_the_right_law():
    # a drift-only check: SRK on dX = -x dt + dW with one coarse step uses ΔZ; its moments
    # follow from Var ΔZ = h³/3, Cov(ΔW, ΔZ) = h²/2 if the fine pieces were assembled right
    n = 40_000
    ou = fp.OU(theta=1.0, mu=0.0, sigma=1.0)
    res = simulate_coupled(ou, np.zeros(n), n_steps=[1, 16], method="srk", seed=8)
    # one SRA1 step from 0 with f = -x: X = ΔW - ΔZ (h = 1); Var = 1 - 2·½ + 1/3 = 1/3
    x = res.final(1)
    assert abs(x.var() - 1 / 3) < 4 * (1 / 3) * math.sqrt(2 / n)  # k = 4 standard errors
    cov = np.mean(x * res.w)  # Cov(ΔW - ΔZ, ΔW) = 1 - 1/2
    assert abs(cov - 0.5) < 4 * math.sqrt(np.var(x * res.w) / n)


# -- exact sampling -------------------------------------------------------------------------------------
@pytest.mark.parametrize("problem", LINEAR_1D + LINEAR_2D[:2], ids=repr)
def test_exact_method_reproduces_exact_marginal_moments(problem):
    n = 20_000
    x = simulate(
        problem.sde, problem.p0, n_paths=n, t1=problem.t_final, n_steps=3, method="exact", seed=3
    )
    law = problem.exact()
    mean, cov = law.mean(), law.cov()
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(axis=0) - mean) < 4 * se)  # k = 4
    # variance: standard error from the sample's fourth moment
    xc = x - x.mean(axis=0)
    se_var = np.sqrt(np.var(xc**2, axis=0) / n)
    assert np.all(np.abs(np.var(x, axis=0) - np.diag(cov)) < 4 * se_var)


@pytest.mark.parametrize("method", ["exact", "heun"])
def test_nonzero_t0_uses_the_coefficients_of_the_shifted_interval(method):
    # VP is non-autonomous: starting at t0 = 0.3 must use β on [0.3, 0.8], not on [0, 0.5]
    sde = fp.VP(beta_min=0.1, beta_max=8.0, T=1.0)
    p0 = fp.GaussianMixture([1.0], [[1.5]], [[[0.2]]])
    n = 40_000
    x = simulate(sde, p0, n_paths=n, t0=0.3, t1=0.8, n_steps=50, method=method, seed=5)[:, 0]
    law = fp.exact_marginal(sde, p0, 0.8, t0=0.3)
    shifted = fp.exact_marginal(sde, p0, 0.5)  # what an unshifted run would target
    mean, var = float(law.mean()[0]), float(law.cov()[0, 0])
    assert abs(float(shifted.mean()[0]) - mean) > 0.1  # the check can tell the two apart
    # Heun's weak bias at h = 0.01 is ~1e-4 here, far below 4 standard errors (~8e-3)
    assert abs(x.mean() - mean) < 4 * math.sqrt(var / n)  # k = 4
    assert abs(x.var() - var) < 4 * var * math.sqrt(2.0 / n)


def test_exact_method_gbm_matches_lognormal_marginal():
    pr = GBM_LOGNORMAL
    n = 20_000
    x = simulate(pr.sde, pr.p0, n_paths=n, t1=pr.t_final, n_steps=1, method="exact", seed=4)
    law = pr.exact()
    lx = np.log(x[:, 0])
    assert abs(lx.mean() - law.mu[0]) < 4 * law.sigma[0] / math.sqrt(n)
    assert abs(lx.std() - law.sigma[0]) < 4 * law.sigma[0] / math.sqrt(2 * n)


# -- torch backend ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", MC_METHODS.names())
def test_torch_backend_on_cpu_is_statistically_identical(method):
    # the CUDA code path (same function, device="cuda") is exercised here on the CPU
    pytest.importorskip("torch")
    n = 20_000
    x0 = np.full(n, 0.3)
    a = simulate(OU, x0, n_steps=8, method=method, seed=1)
    b = simulate(OU, x0, n_steps=8, method=method, seed=1, backend="torch", device="cpu")
    assert b.shape == a.shape and not np.array_equal(a, b)
    se = math.sqrt((a.var() + b.var()) / n)
    assert abs(a.mean() - b.mean()) < 4 * se  # k = 4, two independent samples
    se_var = math.sqrt((np.var((a - a.mean()) ** 2) + np.var((b - b.mean()) ** 2)) / n)
    assert abs(a.var() - b.var()) < 4 * se_var
    b32 = simulate(OU, x0, n_steps=8, method=method, seed=1, backend="torch", dtype="float32")
    assert abs(b32.mean() - b.mean()) < 4 * se


@pytest.mark.gpu
def test_torch_backend_on_cuda_matches_cpu_moments():
    n = 200_000
    a = simulate(OU, np.zeros(n), n_steps=50, seed=1, backend="torch", device="cpu")
    b = simulate(OU, np.zeros(n), n_steps=50, seed=1, backend="torch", device="cuda")
    assert abs(a.mean() - b.mean()) < 4 * math.sqrt(2 * a.var() / n)


# -- errors -----------------------------------------------------------------------------------------
def test_unknown_method_lists_the_choices():
    with pytest.raises(ValueError, match=r"method 'milstien'.*did you mean 'milstein'"):
        simulate(OU, np.zeros(3), n_steps=2, method="milstien")


def test_milstein_without_diffusion_derivative_names_method_and_sde():
    sde = fp.CustomSDE(lambda x, t: -x, lambda x, t: 1.0 + 0.1 * x[:, 0] ** 2, name="quad-noise")
    with pytest.raises(ValueError, match=r"'milstein' needs ∂g/∂x.*quad-noise"):
        simulate(sde, np.zeros(3), n_steps=2, method="milstein")


def test_srk_rejects_multiplicative_noise_and_exact_rejects_nonlinear_sdes():
    with pytest.raises(ValueError, match=r"'srk'.*additive noise.*GBM"):
        simulate(fp.GBM(), np.ones(3), n_steps=2, method="srk")
    with pytest.raises(ValueError, match=r"'exact'.*DoubleWell"):
        simulate(fp.DoubleWell(), np.ones(3), n_steps=2, method="exact")


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_steps": 0}, ValueError, "n_steps must be >= 1"),
        ({"n_steps": 2.5}, TypeError, "n_steps must be an integer"),
        ({"n_steps": 2, "t1": 0.0}, ValueError, "t1 must be > t0"),
        ({"n_steps": 2, "seed": -1}, ValueError, "seed"),
        ({"n_steps": 2, "seed": 1.5}, TypeError, "seed"),
        ({"n_steps": 2, "save_at": [2.0]}, ValueError, "save_at"),
        ({"n_steps": 2, "backend": "jax"}, ValueError, "backend"),
        ({"n_steps": 2, "device": "cuda"}, ValueError, "device"),
        ({"n_steps": 2, "dtype": "float32"}, ValueError, "dtype"),
        ({"n_steps": 2, "n_paths": 5}, ValueError, "n_paths"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        simulate(OU, np.zeros(3), **kwargs)


def test_bad_x0_and_sde_raise_clear_errors():
    with pytest.raises(ValueError, match="x0 contains 1 non-finite"):
        simulate(OU, np.array([0.0, np.nan]), n_steps=2)
    with pytest.raises(
        ValueError, match=r"x0 has dimension 2 \(shape \(3, 2\)\) but 1 is required"
    ):
        simulate(fp.GBM(), np.ones((3, 2)), n_steps=2)
    with pytest.raises(TypeError, match="sde must be an fplab SDE"):
        simulate("ou", np.zeros(3), n_steps=2)
    with pytest.raises(ValueError, match="pass n_paths"):
        simulate(OU, fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]]), n_steps=2)
    with pytest.raises(ValueError, match="must divide the finest level 8"):
        simulate_coupled(OU, np.zeros(3), n_steps=[3, 8])


def test_blow_up_raises_numerical_error_not_silent_nan():
    # explicit Euler on x - x³ from x = 10 with h = 0.5 overflows
    with pytest.raises(NumericalError, match="raise n_steps"):
        simulate(fp.DoubleWell(0.5), np.full(4, 10.0), t1=3.0, n_steps=6)


def test_cosine_vp_refuses_steps_to_t_and_warns_when_steps_are_too_coarse():
    # β ~ 2/(T - t) near T: Euler–Maruyama to T = 1 gave variance 2.0 instead of 1 at any
    # n_steps, Heun 3e28; 'exact' reaches T itself
    vp = fp.VP(schedule="cosine")
    with pytest.raises(ValueError, match=r"t1=1 lies past the cosine schedule's usable end"):
        simulate(vp, np.zeros(10), n_steps=100)
    x = simulate(vp, np.zeros(20_000), n_steps=1, method="exact", seed=0)
    assert abs(x.var() - 1.0) < 0.05
    # up to t_max, 400 steps leave |a| h = β h / 2 = 1.25 on the last step: EM's variance came
    # out 1.34 against 1 - ᾱ(t_max) = 0.99999; the warning says so and how many steps are enough
    t_max = vp._schedule.t_max
    with pytest.warns(UserWarning, match=r"too coarse.*n_steps >= 998"):
        simulate(vp, np.zeros(10), t1=t_max, n_steps=400)
    x = simulate(vp, np.zeros(20_000), t1=t_max, n_steps=4000, seed=0)
    assert abs(x.var() - (1.0 - float(vp.alpha_bar(t_max)))) < 0.05


# -- divergence detection (issue 13) ----------------------------------------------------------
def test_double_well_blow_up_is_a_numerical_error_with_a_stable_step_count():
    # 4 Euler steps of h = 2.5 from x0 = 10 reach ~5.7e96 (finite, so the NaN check alone let it
    # through); the envelope is 10 e^{1·10} ≈ 2.2e5, the Jacobian bound 1 + 3·10² = 301 per unit time
    with pytest.raises(fp.NumericalError, match=r"diverged.*n_steps=4.*at least 3010"):
        fp.simulate(fp.DoubleWell(), 10 * np.ones(5), n_steps=4, t1=10.0, seed=0)
    # the suggested step count is stable: the paths settle in the wells at ±1 (within noise 0.8)
    x = fp.simulate(fp.DoubleWell(), 10 * np.ones(5), n_steps=3010, t1=10.0, seed=0)
    assert np.max(np.abs(x)) < 5.0


def test_divergence_bound_leaves_legitimately_large_solutions_alone():
    # VE with σ_max = 1e4 has std 1e4 at T, GBM with mu = 3 grows like e^{3·5} ≈ 3e6: both sit far
    # inside their envelopes (1e8 x), so no false alarm
    x = fp.simulate(fp.VE(sigma_min=0.01, sigma_max=1e4), np.zeros(200), n_steps=50, seed=1)
    assert 5e3 < np.std(x) < 2e4  # std 1e4, 200 samples: ±4 standard errors of ~5 %
    y = fp.simulate(fp.GBM(mu=3.0, sigma=0.2), np.ones(200), t1=5.0, n_steps=200, seed=1)
    assert np.all(np.isfinite(y)) and np.median(y) > 1e5


def test_blow_up_from_a_huge_start_is_a_numerical_error_not_an_overflow_error():
    # x0 = 1e200: the Jacobian bound 3 x0² overflows; a float ** 2 raised OverflowError
    with pytest.raises(fp.NumericalError, match="unstable at this step size"):
        fp.simulate(fp.DoubleWell(), np.array([1e200]), n_steps=3, seed=0)


def test_custom_sde_nan_coefficient_is_named_not_called_instability():
    nan_drift = fp.CustomSDE(lambda x, t: np.where(x > 0.5, np.nan, -x), lambda x, t: 0.3)
    with pytest.raises(
        fp.NumericalError, match=r"the drift of CustomSDE.*non-finite.*finite state"
    ):
        fp.simulate(nan_drift, 0.45 * np.ones(50), n_steps=10, seed=0)
    inf_noise = fp.CustomSDE(lambda x, t: -x, lambda x, t: np.inf)
    with pytest.raises(fp.NumericalError, match=r"the diffusion of CustomSDE"):
        fp.simulate(inf_noise, np.zeros(3), n_steps=2, seed=0)
    # a genuine blow-up of a custom SDE (x³ overflows) is still reported as an instability
    cubic = fp.CustomSDE(lambda x, t: -(x**3), lambda x, t: 0.3)
    with pytest.raises(fp.NumericalError, match=r"unstable at this step size"):
        fp.simulate(cubic, 100 * np.ones(5), n_steps=10, seed=0)


def test_torch_device_that_is_absent_or_malformed_is_a_value_error():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=r"device='cuda' is not available.*no CUDA device"):
        fp.simulate(fp.OU(), np.zeros(3), n_steps=2, backend="torch", device="cuda")
    with pytest.raises(ValueError, match="device='bogus' is not a torch device"):
        fp.simulate(fp.OU(), np.zeros(3), n_steps=2, backend="torch", device="bogus")


def test_huge_path_counts_are_refused_naming_n_paths():
    with pytest.raises(ValueError, match=r"n_paths=100000000000 needs about .* GiB.*lower n_paths"):
        fp.simulate(fp.OU(), np.zeros(1), n_paths=10**11, n_steps=2, seed=0)
    p0 = fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]])
    with pytest.raises(ValueError, match=r"n=100000000000 needs about"):
        p0.sample(10**11)
    # the time grid of 1e12 steps (7 TiB) was numpy's "Unable to allocate", naming nothing
    with pytest.raises(ValueError, match=r"n_steps=1000000000000 needs about .*lower n_steps"):
        fp.simulate(fp.OU(), np.zeros(3), n_steps=10**12, seed=0)
