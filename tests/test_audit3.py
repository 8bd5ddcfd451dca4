"""Third independent audit of the public API: regressions for what it found.

Each reference here is computed independently of fplab's code: the Heun tableau written out,
exact cell averages from the normal CDF, the probability-flow ODE in the noise level written
from Karras et al. (2022) with the mixture's closed-form score.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import special

import fplab as fp
import fplab.testing as ft


# -- fplab.testing: an order test that cannot tell order 1 from 2 must not pass ----------------
def _heun_weights(b1: float):
    """Two-stage RK on the probability-flow ODE with weights (b1, 1 - b1) and c2 = 1.

    Order 2 only for b1 = 1/2 (b2 c2 = 1/2); any other b1 is first order.
    """

    def step(ctx, x, t, s, rng):
        h = t - s
        k1 = ctx.velocity(x, t)
        k2 = ctx.velocity(x - h * k1, s)
        return x - h * (b1 * k1 + (1.0 - b1) * k2)

    step.__name__ = f"rk2_b1_{b1}"
    return step


def test_check_sampler_refuses_a_first_order_heun_variant() -> None:
    # weights 0.45/0.55: first order with a tiny constant (0.05 h ∫ dv/dt), so over 8…64 steps
    # it fitted 2.00 [1.87, 2.13] and passed as order 2; over the default 32…256 it fits
    # 1.24 [0.36, 2.11] (local slopes drift towards 1), which max_width = 0.5 refuses
    with pytest.raises(AssertionError, match="inconclusive"):
        ft.check_sampler(_heun_weights(0.45), expected_order=2)
    # the correct tableau passes with a tight interval (measured 1.971 [1.943, 1.998])
    fit = ft.check_sampler(_heun_weights(0.5), expected_order=2)
    assert fit.ci[1] - fit.ci[0] < 0.2


def test_check_sampler_default_levels_are_tight_for_dpm_solver_3() -> None:
    # at the old default 8…64 DPM-Solver-3 fitted 3.39 [2.44, 4.35]: an interval that also held
    # 2.5 and 4.2; at 32…256 it is 2.93 [2.88, 2.99]
    fit = ft.check_sampler("dpm-solver-3")
    assert fit.h[0] == pytest.approx((1.0 - 1e-3) / 32)
    assert fit.ci[1] - fit.ci[0] < 0.2


def test_assert_order_max_width() -> None:
    h = np.array([0.1, 0.05, 0.025, 0.0125])
    clean = 0.3 * h**2
    assert ft.assert_order(h, clean, 2, max_width=0.1).order == pytest.approx(2.0)
    # slopes 1, 3, 1: the fit's interval holds 2 but is wide
    curved = np.array([1.0, 0.5, 0.0625, 0.03125])
    ft.assert_order(h, curved, 2)  # passes without a limit: the reason for max_width
    with pytest.raises(AssertionError, match=r"inconclusive.*max_width=0\.5"):
        ft.assert_order(h, curved, 2, max_width=0.5)
    with pytest.raises(ValueError, match="max_width must be > 0"):
        ft.assert_order(h, clean, 2, max_width=0.0)
    with pytest.raises(ValueError, match="max_width must be > 0"):
        ft.check_sampler("pf-ode-euler", max_width=-1.0)


# -- reverse samplers: why 'sigma-uniform' barely converges under VP --------------------------
_W = np.array([0.2, 0.5, 0.3])
_MU = np.array([-2.0, 0.3, 2.2])
_VAR = np.array([0.3, 0.05, 0.6])


def _smoothed_score(y: np.ndarray, level: float) -> np.ndarray:
    """∇ log p̃(y; ς): the data mixture convolved with N(0, ς²), written out (Karras et al. 2022)."""
    v = _VAR + level * level
    logc = np.log(_W) - 0.5 * (y[:, None] - _MU) ** 2 / v - 0.5 * np.log(v)
    r = np.exp(logc - logc.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    return np.sum(r * (_MU - y[:, None]) / v, axis=1)


def _vp_alpha_sigma(t: np.ndarray, sde) -> tuple[np.ndarray, np.ndarray]:
    """α_t, σ_t of VP from B(t) = ∫β: linear β_min t + (β_max - β_min) t²/2 (Song et al. 2021)."""
    b = sde.beta_min * t + 0.5 * (sde.beta_max - sde.beta_min) * t * t
    return np.exp(-0.5 * b), np.sqrt(-np.expm1(-b))


@pytest.mark.parametrize("time_grid", ["sigma-uniform", "karras", "uniform"])
def test_ddim_is_euler_in_the_noise_level_on_the_scaled_variable(time_grid: str) -> None:
    # DDIM (eta 0) on VP is explicit Euler of dy/dς = -ς ∇ log p̃(y; ς) for y = x/α, ς = σ/α, on
    # the grid's own ς nodes (Karras et al. 2022, §4): so on 'sigma-uniform' its steps are
    # uniform in ς, of size ς_max/N with ς_max = σ_1/α_1 ≈ 152, while the data structure lives
    # at ς ≲ 0.2: the grid, not the sampler, is why it barely converges under VP
    sde = fp.VP()
    p0 = fp.GaussianMixture(_W, _MU[:, None], _VAR)
    x_t = np.linspace(-4.0, 4.0, 41)
    out, info = fp.sample_reverse(
        sde,
        fp.exact_score(sde, p0),
        x_t,
        t_end=1e-3,
        n_steps=64,
        method="ddim",
        time_grid=time_grid,
        return_info=True,
    )
    alpha, sigma = _vp_alpha_sigma(info.times, sde)
    levels = sigma / alpha
    y = x_t / alpha[0]
    for a, b in itertools.pairwise(levels):
        y = y + (b - a) * (-a * _smoothed_score(y, a))
    # round-off: y is O(3) after 64 updates of O(1) terms and the two algebraic forms differ by
    # a few ulps per step (measured: below 1e-15); a node off by 1e-4 in ς gives 3e-3
    np.testing.assert_allclose(out, alpha[-1] * y, rtol=0, atol=1e-12)


def test_sigma_uniform_grid_steps_are_uniform_in_noise_level_under_vp() -> None:
    # the grid's steps are ς_max/N ≈ 152/N: at N = 256 the last step spans ς 0.61 -> 0.0105,
    # a jump of 4.1 in log-SNR, so Euler-type solvers are only asymptotic once ς_max/N is
    # below the data's scale (N ≳ 1000; docs/reverse.md)
    sde = fp.VP()
    p0 = fp.GaussianMixture(_W, _MU[:, None], _VAR)
    _, info = fp.sample_reverse(
        sde,
        fp.exact_score(sde, p0),
        np.zeros(1),
        t_end=1e-3,
        n_steps=256,
        method="ddim",
        time_grid="sigma-uniform",
        return_info=True,
    )
    alpha, sigma = _vp_alpha_sigma(info.times, sde)
    levels = sigma / alpha
    assert levels[0] == pytest.approx(152.17, rel=1e-4)
    np.testing.assert_allclose(np.diff(levels), (levels[-1] - levels[0]) / 256, rtol=1e-9)
    assert math.log(levels[-2] / levels[-1]) > 4.0


# -- fd: 3-point Gauss cell averages are sixth order --------------------------------------------
def test_gauss_cell_averages_are_sixth_order_against_exact_averages() -> None:
    # exact average of a 1-D mixture over a cell: (F(x + h/2) - F(x - h/2)) / h with the normal
    # CDF F; 3-point Gauss-Legendre integrates degree 5 exactly, so the error is O(h^6)
    # (docs/fd.md; measured slopes 5.78, 5.95, 5.96 over h = 0.25 ... 0.03125)
    w, mu, sd = np.array([0.4, 0.6]), np.array([-2.0, 1.5]), np.sqrt([0.5, 0.3])
    p0 = fp.GaussianMixture(w, mu[:, None], sd**2)
    h, err = [], []
    for n in (64, 128, 256, 512):
        grid = fp.Grid.uniform(lo=-8.0, hi=8.0, n=n)
        c = grid.axes[0]
        dx = float(grid.spacing[0])
        exact = (special.ndtr((c[:, None] + dx / 2 - mu) / sd) @ w) - (
            special.ndtr((c[:, None] - dx / 2 - mu) / sd) @ w
        )
        h.append(dx)
        err.append(float(np.max(np.abs(fp.fd.gauss_cell_averages(p0.pdf, grid) - exact / dx))))
    # finest error 1.1e-13 sits ~500 ulps of p above round-off, so the fit is clean
    ft.assert_order(h, err, 6, max_width=0.5, label="gauss_cell_averages")
    # the fourth-order map from centre values is the slower route the docs compare with
    grid = fp.Grid.uniform(lo=-8.0, hi=8.0, n=512)
    mapped = fp.fd.cell_averages(p0.pdf(grid.points()), grid)
    assert np.max(np.abs(mapped - fp.fd.gauss_cell_averages(p0.pdf, grid))) > 100 * err[-1]


# -- guidance: per-sample times and label types --------------------------------------------------
def _guidance_problem():
    p0 = fp.GaussianMixture(
        [0.2, 0.5, 0.3],
        [[-1.0, 0.5], [0.0, -0.5], [2.0, 1.0]],
        [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]], [[0.4, 0.0], [0.0, 0.1]]],
        labels=[0, 1, 0],
    )
    return fp.VP(schedule="cosine"), p0


def _mixture_score_2d(x: np.ndarray, w, means, covs) -> np.ndarray:
    """∇ log Σ w_k N(x; m_k, C_k) written out: Σ r_k C_k⁻¹ (m_k - x), r from log-sum-exp."""
    logc, grads = [], []
    for wk, mk, ck in zip(w, means, covs, strict=True):
        prec = np.linalg.inv(ck)
        d = x - mk
        logc.append(
            np.log(wk)
            - 0.5 * np.einsum("ij,jk,ik->i", d, prec, d)
            - 0.5 * np.log(np.linalg.det(ck))
        )
        grads.append(-d @ prec)
    logc = np.array(logc)
    r = np.exp(logc - logc.max(axis=0))
    r /= r.sum(axis=0)
    return sum(r[k][:, None] * grads[k] for k in range(len(grads)))


@pytest.mark.parametrize("kind", ["cfg", "classifier"])
def test_guided_score_takes_one_time_per_sample_like_exact_score(kind: str) -> None:
    # fp.exact_score takes t of shape (n,) (denoising score matching); the guided score raised
    # numpy's "only 0-dimensional arrays can be converted to Python scalars" for it
    sde, p0 = _guidance_problem()
    t0, w = 0.05, 2.5
    rng = np.random.default_rng(4)
    x = rng.normal(size=(12, 2))
    t = rng.uniform(0.1, 0.9, size=12)
    t[3] = t[7]  # a repeated time
    out = fp.guided_score(sde, p0, 0, w, kind=kind, t0=t0)(x, t)
    # independent: VP cosine marginal m = sqrt(abar_t/abar_t0), v = 1 - m² (Nichol & Dhariwal)
    f = lambda u: np.cos((u + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    sel = np.array([True, False, True])
    ref = np.empty_like(x)
    for i in range(x.shape[0]):
        m2 = f(t[i]) / f(t0)
        covs = m2 * p0.covs + (1.0 - m2) * np.eye(2)
        means = np.sqrt(m2) * p0.means
        s_u = _mixture_score_2d(x[i : i + 1], p0.weights, means, covs)
        s_c = _mixture_score_2d(x[i : i + 1], p0.weights[sel] / 0.5, means[sel], covs[sel])
        ref[i] = (s_u + w * (s_c - s_u))[0]
    # round-off of O(10) scores from two independent formulas: measured 1e-14
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="t has 3 times but x has 12 samples"):
        fp.guided_score(sde, p0, 0, w, kind=kind, t0=t0)(x, t[:3])


def test_guidance_labels_must_be_ints_or_strings() -> None:
    # True == 1 and 1.0 == 1 in Python, so label=True silently meant class 1
    sde, p0 = _guidance_problem()
    for bad in (True, 1.0):
        with pytest.raises(TypeError, match="label must be an int or a string"):
            fp.guided_score(sde, p0, bad, 1.0)
        with pytest.raises(TypeError, match="label must be an int or a string"):
            fp.exact_score(sde, p0, label=bad)
    assert fp.guided_score(sde, p0, np.int64(1), 1.0).label == 1


# -- fplab.testing: a strong-order check must see an inconsistent method -----------------------
def _em_drift_scaled(scale: float):
    """Euler–Maruyama with its drift multiplied by ``scale`` (1: the method; else inconsistent)."""

    def step(x, h, dw, dz, F, G, Gx):
        return x + scale * F(x, 0) * h + G(x, 0) * dw

    step.__name__ = f"em_drift_x{scale}"
    return step


@pytest.mark.parametrize(
    ("sde", "x0"), [(fp.DoubleWell(sigma=0.8), [0.5]), (fp.OU(theta=2.0, mu=0.5, sigma=0.8), [1.5])]
)
def test_check_mc_method_strong_refuses_an_inconsistent_method(sde, x0) -> None:
    # without a closed-form path the reference was the same method on 16x finer steps, so an
    # Euler step with its drift scaled by 1.2 (converging to the wrong SDE) fitted strong order
    # 1.16 [1.02, 1.30] on the double well and 1.08 [1.04, 1.12] on OU, and passed; the
    # reference is now an independent built-in method (srk, strong 1.5, for additive noise):
    # the errors level off (double well 0.14, 0.068, 0.045, 0.037), fitting 0.59 [0.08, 1.10]
    # (refused by max_width 0.5), OU 0.40 [0.06, 0.74] (refused by the interval)
    with pytest.raises(AssertionError, match=r"does not match the expected order 1|inconclusive"):
        ft.check_mc_method(_em_drift_scaled(1.2), expected_order=1.0, sde=sde, x0=x0, n_paths=4000)
    fit = ft.check_mc_method(
        _em_drift_scaled(1.0), expected_order=1.0, sde=sde, x0=x0, n_paths=4000
    )
    assert fit.ci[0] - 0.15 <= 1.0 <= fit.ci[1] + 0.15


def test_check_mc_method_refuses_the_exact_method_clearly() -> None:
    # 'exact' declares an infinite order; the message was "expected must be finite, got inf"
    with pytest.raises(ValueError, match="infinite strong order"):
        ft.check_mc_method("exact")
