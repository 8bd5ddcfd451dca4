"""The 'heun-frozen-g' MC method: pinned one-step update, declared and measured weak orders."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fplab as fp
from fplab.convergence import weak_error
from fplab.mc import MC_METHODS, simulate_coupled

VP = fp.VP(beta_min=0.1, beta_max=4.0, T=1.0)


def _frozen_step(sde, x, t, h, dw):
    """One step written from the definition: Ῡ = x + f h + g(x, t) ΔW,
    x' = x + ½ (f(x, t) + f(Ῡ, t + h)) h + g(x, t) ΔW."""
    f0 = sde.drift(x, t)
    g0 = sde.diffusion(x, t)[:, None]
    ybar = x + f0 * h + g0 * dw
    return x + 0.5 * (f0 + sde.drift(ybar, t + h)) * h + g0 * dw


@pytest.mark.parametrize(
    "sde",
    [VP, fp.DoubleWell(sigma=0.8), fp.CustomSDE(lambda x, t: -np.sin(x) * (1 + t), 0.6)],
    ids=["vp-kernel", "double-well-kernel", "custom-numpy"],
)
def test_pinned_mc_heun_frozen_g(sde):
    # one step of 0.1 from t0 = 0.3 at fixed states; ΔW is the path's W(t1) - W(t0), returned by
    # simulate_coupled; compiled (VP, double well) and NumPy (custom) paths both
    x0 = np.array([[-1.5, 0.2], [0.0, 0.7], [1.1, -2.0], [2.5, 0.05]])
    res = simulate_coupled(sde, x0, t0=0.3, t1=0.4, n_steps=[1], method="heun-frozen-g", seed=7)
    expected = _frozen_step(sde, x0, 0.3, 0.1, res.w)
    np.testing.assert_allclose(res.x[0], expected, rtol=1e-13, atol=1e-14)


def test_frozen_g_differs_from_heun_by_the_noise_average_only():
    # same path, additive noise: the predictors agree, so heun - frozen = ½(g(t + h) - g(t)) ΔW
    x0 = np.array([[0.4], [-1.2]])
    r = simulate_coupled(
        VP, x0, t0=0.2, t1=0.45, n_steps=[1], method=["heun", "heun-frozen-g"], seed=3
    )
    g0, g1 = math.sqrt(VP.g2(0.2)), math.sqrt(VP.g2(0.45))
    diff = 0.5 * (g1 - g0) * r.w
    np.testing.assert_allclose(r.x[0, 0] - r.x[1, 0], diff, rtol=1e-12, atol=1e-15)


def test_declared_orders_depend_on_whether_g_varies_in_time():
    m = MC_METHODS.get("heun-frozen-g")
    assert m.order(VP, "weak") == 1.0
    assert m.order(fp.OU(), "weak") == 2.0
    assert m.order(VP, "strong") == 1.0
    assert m.order(fp.GBM(), "strong") == 0.5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sde", "declared"), [(VP, 1.0), (fp.OU(theta=2.0, mu=0.5, sigma=1.0), 2.0)], ids=["vp", "ou"]
)
def test_measured_weak_order_of_heun_frozen_g(sde, declared):
    # common random numbers against the exact method (as tests/test_mc_orders.py); second moment
    # of a component started at 0; the declared order lies in the interval widened by 0.1
    n = 150_000
    x0 = np.tile([2.0, 0.0], (n, 1))
    res = simulate_coupled(
        sde, x0, n_steps=[8, 16, 32, 64], method=["heun-frozen-g", "exact"], seed=4
    )
    pairs = [
        weak_error(res.x[0, j, :, 1] ** 2, 0.0, fx_ref=res.x[1, j, :, 1] ** 2) for j in range(4)
    ]
    err, se = np.array(pairs).T
    assert np.all(err > 4 * se)
    fit = fp.observed_order(res.dt, err, err_stderr=se)
    print(f"heun-frozen-g weak on {sde!r}: {fit.order:.3f} {fit.ci}")
    assert fit.contains(declared, 0.1)
    assert MC_METHODS.get("heun-frozen-g").order(sde, "weak") == declared
