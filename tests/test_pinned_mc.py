"""Pinned one-step tests of every Monte-Carlo method: each step against the textbook update.

``simulate`` runs three steps from t0 = 0.2 to t1 = 0.5 (saving every grid time) on the linear VP
SDE, whose drift -½ β(t) x and noise √β(t) both depend on t, so a coefficient taken at a shifted
stage time (t + h instead of t, or a stage of the neighbouring step) changes a step by
O(h β'(t)) ≈ 2 % — nine orders of magnitude above the round-off tolerance.  The methods with a
multiplicative form (Milstein, Heun, exact) are pinned on GBM as well.  The noise is the fixed
draw the kernels use: path p, component j owns the ΔW stream and the ΔZ stream
(``_kernels.init_streams``), read back here with ``_kernels.fill_normals``; ΔW = √h z and
ΔZ = h^{3/2} (z/2 + z_v/(2√3)) (so Var ΔZ = h³/3, Cov(ΔW, ΔZ) = h²/2).  Each step is then
written out from its source: Kloeden & Platen (1992) for Euler–Maruyama (eq. 10.2.1), Milstein
(10.3.1) and the weak order-2 Heun-type scheme (15.1.1); Rößler (2010) Table 6.2 for SRA1; the
closed-form transitions for ``exact``.  VP's schedule is written independently of ``fplab.sdes``.

Both backends that share these numbers are pinned: the compiled kernel ('numba') and the NumPy
stepping of ``Method.step`` ('numpy').  Tolerance ``RTOL = ATOL = 1e-12``: each step is a sum of a
few O(1) terms evaluated in a different order (round-off ~1e-15), and three steps compound it.

Test names follow ``test_pinned_mc_<registry key with - replaced by _>``;
``tests/test_registry_completeness.py`` checks that every MC_METHODS entry has one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fplab as fp
from fplab.mc import _kernels, simulate

BETA_MIN, BETA_MAX = 0.1, 20.0
VP = fp.VP(beta_min=BETA_MIN, beta_max=BETA_MAX, T=1.0)
MU, SIG = 0.3, 0.7
GBM = fp.GBM(mu=MU, sigma=SIG)
T0, T1, N_STEPS = 0.2, 0.5, 3
SEED = 7
RTOL = ATOL = 1e-12  # round-off; see the module docstring
BACKENDS = ["numba", "numpy"]


def beta(t: float) -> float:
    return BETA_MIN + (BETA_MAX - BETA_MIN) * t


def big_b(t: float) -> float:
    """∫_0^t β."""
    return BETA_MIN * t + 0.5 * (BETA_MAX - BETA_MIN) * t * t


def vp_f(x: np.ndarray, t: float) -> np.ndarray:
    return -0.5 * beta(t) * x


def vp_g(t: float) -> float:
    return math.sqrt(beta(t))


def _x0_vp() -> np.ndarray:
    # 5 paths: the kernel steps paths in pairs and the odd one alone; both loops are pinned
    return np.random.default_rng(3).normal(0.5, 1.0, size=(5, 2))


def _x0_gbm() -> np.ndarray:
    return np.random.default_rng(4).uniform(0.5, 2.0, size=(5, 1))


def _noise(x0: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """(ΔW, ΔZ) of each step, shapes (N_STEPS, n, d), from the kernels' per-path streams."""
    n, d = x0.shape
    sw = np.empty((n, d, 2), dtype=np.uint64)
    sv = np.empty((n, d, 2), dtype=np.uint64)
    with np.errstate(over="ignore"):  # the generator's integer wrap-around (uncompiled runs)
        _kernels.init_streams(np.uint64(SEED), 0, sw, sv)
        zw = np.empty((n * d, N_STEPS))
        zv = np.empty((n * d, N_STEPS))
        _kernels.fill_normals(sw.reshape(n * d, 2), zw)
        _kernels.fill_normals(sv.reshape(n * d, 2), zv)
    zw = zw.reshape(n, d, N_STEPS).transpose(2, 0, 1)
    zv = zv.reshape(n, d, N_STEPS).transpose(2, 0, 1)
    dw = math.sqrt(h) * zw
    dz = h**1.5 * (0.5 * zw + zv / (2.0 * math.sqrt(3.0)))
    return dw, dz


def _run(sde, x0: np.ndarray, method: str, backend: str) -> np.ndarray:
    """States at the N_STEPS + 1 grid times, shape (N_STEPS + 1, n, d)."""
    times = T0 + (T1 - T0) * np.arange(N_STEPS + 1) / N_STEPS
    return simulate(
        sde, x0, t0=T0, t1=T1, n_steps=N_STEPS, method=method, seed=SEED, save_at=times,
        backend=backend,
    )  # fmt: skip


def _check_steps(sde, x0: np.ndarray, method: str, backend: str, step) -> None:
    """Every step of the run equals ``step(x, t, h, dw, dz)`` from the previous saved state."""
    h = (T1 - T0) / N_STEPS
    xs = _run(sde, x0, method, backend)
    dw, dz = _noise(x0, h)
    np.testing.assert_array_equal(xs[0], x0)
    for k in range(N_STEPS):
        want = step(xs[k], T0 + k * h, h, dw[k], dz[k])
        np.testing.assert_allclose(xs[k + 1], want, rtol=RTOL, atol=ATOL, err_msg=f"step {k}")


def test_the_stream_read_back_is_the_brownian_path_simulate_uses():
    # guards _noise: the summed ΔW equals simulate_coupled's W(t1) - W(t0)
    x0 = _x0_vp()
    res = fp.simulate_coupled(VP, x0, t0=T0, t1=T1, n_steps=[N_STEPS], seed=SEED)
    dw, _ = _noise(x0, (T1 - T0) / N_STEPS)
    np.testing.assert_allclose(dw.sum(axis=0), res.w, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinned_mc_euler_maruyama(backend):
    """Kloeden & Platen (10.2.1): X' = X + f(X, t) h + g(X, t) ΔW, coefficients at the step's start."""

    def vp_step(x, t, h, dw, dz):
        return x + vp_f(x, t) * h + vp_g(t) * dw

    def gbm_step(x, t, h, dw, dz):
        return x + MU * x * h + SIG * x * dw

    _check_steps(VP, _x0_vp(), "euler-maruyama", backend, vp_step)
    _check_steps(GBM, _x0_gbm(), "euler-maruyama", backend, gbm_step)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinned_mc_milstein(backend):
    """Kloeden & Platen (10.3.1): X' = X + f h + g ΔW + ½ g ∂g/∂x (ΔW² - h), all at (X, t);
    on VP ∂g/∂x = 0 (EM), on GBM g = σ x and ½ σ² x (ΔW² - h)."""

    def vp_step(x, t, h, dw, dz):
        return x + vp_f(x, t) * h + vp_g(t) * dw

    def gbm_step(x, t, h, dw, dz):
        return x + MU * x * h + SIG * x * dw + 0.5 * SIG * SIG * x * (dw * dw - h)

    _check_steps(VP, _x0_vp(), "milstein", backend, vp_step)
    _check_steps(GBM, _x0_gbm(), "milstein", backend, gbm_step)


def _heun(f, g, x, t, h, dw):
    """Kloeden & Platen (15.1.1), non-autonomous form: Ῡ = X + f h + g ΔW, Υ± = X + f h ± g √h,
    X' = X + ½ (f(Ῡ, t + h) + f(X, t)) h + ¼ (g(Υ+, t + h) + g(Υ-, t + h) + 2 g(X, t)) ΔW
           + ¼ (g(Υ+, t + h) - g(Υ-, t + h)) (ΔW² - h)/√h."""
    f0, g0 = f(x, t), g(x, t)
    y_bar = x + f0 * h + g0 * dw
    y_p = x + f0 * h + g0 * math.sqrt(h)
    y_m = x + f0 * h - g0 * math.sqrt(h)
    gp, gm = g(y_p, t + h), g(y_m, t + h)
    return (
        x
        + 0.5 * (f(y_bar, t + h) + f0) * h
        + 0.25 * (gp + gm + 2.0 * g0) * dw
        + 0.25 * (gp - gm) * (dw * dw - h) / math.sqrt(h)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinned_mc_heun(backend):
    def vp_step(x, t, h, dw, dz):
        return _heun(vp_f, lambda y, u: vp_g(u), x, t, h, dw)

    def gbm_step(x, t, h, dw, dz):
        return _heun(lambda y, u: MU * y, lambda y, u: SIG * y, x, t, h, dw)

    _check_steps(VP, _x0_vp(), "heun", backend, vp_step)
    _check_steps(GBM, _x0_gbm(), "heun", backend, gbm_step)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinned_mc_srk(backend):
    """Rößler (2010) SRA1 (Table 6.2) for additive noise b(t):
    H₁ = X,  H₂ = X + A₂₁ f(t + c₁⁰h, H₁) h + B₂₁ b(t + c₁¹h) I₁₀/h,
    X' = X + Σ αᵢ f(t + cᵢ⁰h, Hᵢ) h + Σ (βᵢ¹ I₁ + βᵢ² I₁₀/h) b(t + cᵢ¹h)
    with c⁰ = (0, ¾), c¹ = (1, 0), A₂₁ = ¾, B₂₁ = 3/2, α = (⅓, ⅔), β¹ = (1, 0), β² = (-1, 1),
    I₁ = ΔW, I₁₀ = ΔZ = ∫∫ dW ds."""
    c0, c1 = (0.0, 0.75), (1.0, 0.0)
    a21, b21 = 0.75, 1.5
    al, b1, b2 = (1 / 3, 2 / 3), (1.0, 0.0), (-1.0, 1.0)

    def vp_step(x, t, h, dw, dz):
        h1 = x
        h2 = x + a21 * vp_f(h1, t + c0[0] * h) * h + b21 * vp_g(t + c1[0] * h) * dz / h
        drift = al[0] * vp_f(h1, t + c0[0] * h) + al[1] * vp_f(h2, t + c0[1] * h)
        noise = sum((b1[i] * dw + b2[i] * dz / h) * vp_g(t + c1[i] * h) for i in range(2))
        return x + drift * h + noise

    _check_steps(VP, _x0_vp(), "srk", backend, vp_step)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pinned_mc_exact(backend):
    """Closed-form transitions.  VP: X' = e^{-½∫β} X + √(1 - e^{-∫β}) z over [t, t + h]
    (Song et al. 2021, eq. 29); GBM: X' = X exp((μ - σ²/2) h + σ ΔW) (Itô's formula)."""

    def vp_step(x, t, h, dw, dz):
        ib = big_b(t + h) - big_b(t)
        return math.exp(-0.5 * ib) * x + math.sqrt(-math.expm1(-ib)) * dw / math.sqrt(h)

    def gbm_step(x, t, h, dw, dz):
        return x * np.exp((MU - 0.5 * SIG * SIG) * h + SIG * dw)

    _check_steps(VP, _x0_vp(), "exact", backend, vp_step)
    _check_steps(GBM, _x0_gbm(), "exact", backend, gbm_step)
