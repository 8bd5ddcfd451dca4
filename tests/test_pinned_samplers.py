"""Pinned one-step tests of every reverse sampler: one step against its paper's update.

Each test takes one step (or a few) of ``sample_reverse`` from a fixed state on the linear VP SDE,
whose coefficients depend on t, with a fixed noise draw (the normals of ``default_rng(seed)`` in
the order the algorithm uses them), and compares the result with the update written out here
from the method's paper: stage times, coefficients and step-size rules spelled out, with VP's
schedule written independently of ``fplab.sdes`` (β(t) = β_min + (β_max - β_min) t / T,
B(t) = ∫_0^t β, ᾱ_t = e^{-B(t)}, α_t = √ᾱ_t, σ_t = √(1 - ᾱ_t)).  The score is a fixed,
nonlinear, time-dependent function (it need not be a true score: a step is a formula in it), so
an evaluation at a shifted time or state changes the result at O(1).

Tolerance: every comparison is to round-off.  The updates are O(1) sums of a few O(1) terms,
so the two evaluation orders differ by a few ulps times the condition of the sum;
``RTOL = ATOL = 1e-12`` leaves a factor ~1e3 of headroom over float64's 2.2e-16 and is ~1e9 times
below the effect of any change of stage time or coefficient (>= 1e-3 here).

Test names follow ``test_pinned_sampler_<registry key with - replaced by _>``;
``tests/test_registry_completeness.py`` checks that every SAMPLERS entry has one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fplab as fp
from fplab.reverse import sample_reverse

BETA_MIN, BETA_MAX, T = 0.1, 20.0, 1.0
SDE = fp.VP(beta_min=BETA_MIN, beta_max=BETA_MAX, T=T)
# a step where β changes by 15 % and where ½(s + t) and the log-SNR midpoint differ by 5e-3
T_HI, T_LO = 0.7, 0.55
SEED = 11
RTOL = ATOL = 1e-12  # round-off; see the module docstring


def beta(t: float) -> float:
    """Linear VP schedule (Song et al. 2021, eq. 33 with β̄_min = 0.1, β̄_max = 20)."""
    return BETA_MIN + (BETA_MAX - BETA_MIN) * t / T


def big_b(t: float) -> float:
    """B(t) = ∫_0^t β(u) du."""
    return BETA_MIN * t + 0.5 * (BETA_MAX - BETA_MIN) * t * t / T


def alpha_bar(t: float) -> float:
    return math.exp(-big_b(t))


def alpha(t: float) -> float:
    return math.sqrt(alpha_bar(t))


def sigma(t: float) -> float:
    return math.sqrt(1.0 - alpha_bar(t))


def log_snr(t: float) -> float:
    """λ_t = log(α_t / σ_t) (Lu et al. 2022)."""
    return math.log(alpha(t) / sigma(t))


def time_of_log_snr(lam: float) -> float:
    """Inverse of λ for the linear schedule: ᾱ = 1/(1 + e^{-2λ}), then solve B(t) = -log ᾱ."""
    b_target = math.log1p(math.exp(-2.0 * lam))
    qa, qb = 0.5 * (BETA_MAX - BETA_MIN) / T, BETA_MIN
    return (-qb + math.sqrt(qb * qb + 4.0 * qa * b_target)) / (2.0 * qa)


def score(x: np.ndarray, t: float) -> np.ndarray:
    """A fixed nonlinear, time-dependent stand-in for ∇log p_t, shape (n, d)."""
    return -x / (0.2 + t) + 0.4 * np.sin(2.0 * x + t) * (1.0 + t)


def velocity(x: np.ndarray, t: float) -> np.ndarray:
    """Probability-flow ODE on VP: dx/dt = f - ½ g² s = -½ β(t) (x + s(x, t))."""
    return -0.5 * beta(t) * (x + score(x, t))


def eps_hat(x: np.ndarray, t: float) -> np.ndarray:
    """Noise prediction ε̂ = -σ_t s(x, t) (Ho et al. 2020; Song et al. 2021)."""
    return -sigma(t) * score(x, t)


@pytest.fixture
def x_t() -> np.ndarray:
    return np.random.default_rng(5).normal(0.0, 1.3, size=(6, 2))


def _one_step(method: str, x: np.ndarray, **kw) -> np.ndarray:
    return sample_reverse(
        SDE, score, x, t_start=T_HI, t_end=T_LO, n_steps=1, method=method, seed=SEED, **kw
    )


def _close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_the_written_out_schedule_is_the_one_fplab_uses():
    # guards the helpers above (not the samplers): same VP, same α, σ, λ
    for t in (0.05, T_LO, 0.6, T_HI):
        a, s = SDE.marginal_coefficients(t)
        assert math.isclose(float(a), alpha(t), rel_tol=1e-13)
        assert math.isclose(float(s), sigma(t), rel_tol=1e-13)
        assert math.isclose(float(SDE.beta(t)), beta(t), rel_tol=1e-13)
        assert math.isclose(log_snr(time_of_log_snr(log_snr(t))), log_snr(t), rel_tol=1e-12)


# -- reverse SDE ----------------------------------------------------------------------------------
def test_pinned_sampler_euler_maruyama(x_t):
    """Song et al. 2021, eq. 6 discretised by Euler–Maruyama, evaluated at the step's start t:
    x_s = x_t - h [f(x_t, t) - g(t)² s(x_t, t)] + g(t) √h z,  f = -½ β x,  g² = β."""
    h, b = T_HI - T_LO, beta(T_HI)
    z = np.random.default_rng(SEED).standard_normal(x_t.shape)
    want = x_t - h * (-0.5 * b * x_t - b * score(x_t, T_HI)) + math.sqrt(b * h) * z
    _close(_one_step("euler-maruyama", x_t), want)


@pytest.mark.parametrize("snr, n_corrector", [(0.16, 1), (0.3, 2)])
def test_pinned_sampler_predictor_corrector(x_t, snr, n_corrector):
    """Song et al. 2021, Algorithms 2 and 5 (VP): reverse-diffusion (EM) predictor with noise z₁,
    then per corrector step at time s with fresh z:
        ε = 2 α (snr ‖z‖ / ‖∇log p‖)²,  x <- x + ε ∇log p(x, s) + √(2ε) z,
    α = ᾱ_t/ᾱ_s = exp(-∫_s^t β), the one-step retention (the authors' α_i = 1 - β_i), norms
    per-sample Euclidean norms averaged over the batch (the authors' code)."""
    h, b = T_HI - T_LO, beta(T_HI)
    rng = np.random.default_rng(SEED)
    x = x_t - h * (-0.5 * b * x_t - b * score(x_t, T_HI))
    x = x + math.sqrt(b * h) * rng.standard_normal(x.shape)
    a_i = math.exp(-(big_b(T_HI) - big_b(T_LO)))
    for _ in range(n_corrector):
        grad = score(x, T_LO)
        z = rng.standard_normal(x.shape)
        z_norm = np.mean(np.sqrt(np.sum(z * z, axis=1)))
        g_norm = np.mean(np.sqrt(np.sum(grad * grad, axis=1)))
        step = 2.0 * a_i * (snr * z_norm / g_norm) ** 2
        x = x + step * grad + math.sqrt(2.0 * step) * z
    got = _one_step("predictor-corrector", x_t, snr=snr, n_corrector=n_corrector)
    _close(got, x)


# -- probability-flow ODE -------------------------------------------------------------------------
def test_pinned_sampler_pf_ode_euler(x_t):
    """Explicit Euler backwards in time: x_s = x_t - h v(x_t, t)."""
    _close(_one_step("pf-ode-euler", x_t), x_t - (T_HI - T_LO) * velocity(x_t, T_HI))


def test_pinned_sampler_pf_ode_heun(x_t):
    """Heun / explicit trapezoid (Karras et al. 2022, Alg. 1 without churn):
    k1 = v(x_t, t), k2 = v(x_t - h k1, s), x_s = x_t - h (k1 + k2)/2."""
    h = T_HI - T_LO
    k1 = velocity(x_t, T_HI)
    k2 = velocity(x_t - h * k1, T_LO)
    _close(_one_step("pf-ode-heun", x_t), x_t - 0.5 * h * (k1 + k2))


def test_pinned_sampler_pf_ode_rk4(x_t):
    """Classical RK4 (Kutta 1901) in τ = -t, stages at t, t - h/2, t - h/2, s."""
    h = T_HI - T_LO
    mid = T_HI - 0.5 * h
    k1 = velocity(x_t, T_HI)
    k2 = velocity(x_t - 0.5 * h * k1, mid)
    k3 = velocity(x_t - 0.5 * h * k2, mid)
    k4 = velocity(x_t - h * k3, T_LO)
    _close(_one_step("pf-ode-rk4", x_t), x_t - h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4))


def test_pinned_sampler_pf_ode_adaptive(x_t):
    """One accepted Dormand–Prince RK5(4)7M step (Dormand & Prince 1980, the 5th-order weights):
    with tolerances so loose that the first trial step h = t - s is accepted, the result is the
    single 5th-order step; the trial step is (t_start - t_end)/n_steps."""
    c = [0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0]
    a = [
        [],
        [1 / 5],
        [3 / 40, 9 / 40],
        [44 / 45, -56 / 15, 32 / 9],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    ]
    b = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
    h = T_HI - T_LO
    ks: list[np.ndarray] = []
    for i in range(6):
        y = x_t - h * sum((aij * kj for aij, kj in zip(a[i], ks, strict=False)), np.zeros_like(x_t))
        ks.append(velocity(y, T_HI - c[i] * h))
    want = x_t - h * sum(bi * ki for bi, ki in zip(b, ks, strict=True))
    got, info = sample_reverse(
        SDE, score, x_t, t_start=T_HI, t_end=T_LO, n_steps=1, method="pf-ode-adaptive",
        rtol=1e6, atol=1e6, return_info=True,
    )  # fmt: skip
    assert info.n_rejected == 0
    _close(got, want)


# -- VP family ------------------------------------------------------------------------------------
def test_pinned_sampler_ddpm(x_t):
    """Ho et al. 2020, Algorithm 2 line 4 on the step t -> s with β_ts = 1 - ᾱ_t/ᾱ_s:
    x_s = (x_t - β_ts/√(1 - ᾱ_t) ε̂)/√(1 - β_ts) + σ z,  σ² = β̃ = (1 - ᾱ_s)/(1 - ᾱ_t) β_ts."""
    ab_t, ab_s = alpha_bar(T_HI), alpha_bar(T_LO)
    beta_ts = 1.0 - ab_t / ab_s
    var = (1.0 - ab_s) / (1.0 - ab_t) * beta_ts
    z = np.random.default_rng(SEED).standard_normal(x_t.shape)
    mean = (x_t - beta_ts / math.sqrt(1.0 - ab_t) * eps_hat(x_t, T_HI)) / math.sqrt(1.0 - beta_ts)
    _close(_one_step("ddpm", x_t), mean + math.sqrt(var) * z)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_pinned_sampler_ddim(x_t, eta):
    """Song, Meng & Ermon 2021, eq. 12 with eq. 16's σ(η):
    x_s = √ᾱ_s x̂_0 + √(1 - ᾱ_s - σ²) ε̂ + σ z,  x̂_0 = (x_t - √(1 - ᾱ_t) ε̂)/√ᾱ_t,
    σ = η √((1 - ᾱ_s)/(1 - ᾱ_t)) √(1 - ᾱ_t/ᾱ_s)."""
    ab_t, ab_s = alpha_bar(T_HI), alpha_bar(T_LO)
    e = eps_hat(x_t, T_HI)
    x0 = (x_t - math.sqrt(1.0 - ab_t) * e) / math.sqrt(ab_t)
    sd = eta * math.sqrt((1.0 - ab_s) / (1.0 - ab_t)) * math.sqrt(1.0 - ab_t / ab_s)
    want = math.sqrt(ab_s) * x0 + math.sqrt(1.0 - ab_s - sd * sd) * e
    if eta > 0.0:
        want = want + sd * np.random.default_rng(SEED).standard_normal(x_t.shape)
    _close(_one_step("ddim", x_t, eta=eta), want)


def test_pinned_sampler_dpm_solver_2(x_t):
    """Lu et al. 2022, Algorithm 1 (DPM-Solver-2, r₁ = ½): h = λ_s - λ_t, the intermediate time
    u = t_λ(λ_t + h/2) (the log-SNR midpoint, *not* ½(s + t)),
        x_u = (α_u/α_t) x_t - σ_u (e^{h/2} - 1) ε̂(x_t, t),
        x_s = (α_s/α_t) x_t - σ_s (e^h - 1) ε̂(x_u, u)."""
    lam_t, lam_s = log_snr(T_HI), log_snr(T_LO)
    h = lam_s - lam_t
    u = time_of_log_snr(lam_t + 0.5 * h)
    assert abs(u - 0.5 * (T_HI + T_LO)) > 1e-3  # the two midpoints are told apart
    x_u = alpha(u) / alpha(T_HI) * x_t - sigma(u) * math.expm1(0.5 * h) * eps_hat(x_t, T_HI)
    want = alpha(T_LO) / alpha(T_HI) * x_t - sigma(T_LO) * math.expm1(h) * eps_hat(x_u, u)
    _close(_one_step("dpm-solver-2", x_t), want)


def test_pinned_sampler_predictor_corrector_outside_the_vp_family():
    """On VE (Song et al. 2021, Algorithm 4) the corrector's step has no retention factor:
    ε = 2 (snr ‖z‖ / ‖∇log p‖)², after the EM predictor of dx = g² s dt̄ + g dW̄,
    g(t)² = dσ²/dt = 2 σ(t)² log(σ_max/σ_min)/T, σ(t) = σ_min (σ_max/σ_min)^{t/T}."""
    s_min, s_max, t_end = 0.01, 2.0, 1.0
    ve = fp.VE(sigma_min=s_min, sigma_max=s_max, T=t_end)
    x_t = np.random.default_rng(5).normal(0.0, 1.3, size=(6, 2))
    g2 = 2.0 * (s_min * (s_max / s_min) ** (T_HI / t_end)) ** 2 * math.log(s_max / s_min) / t_end
    h, snr = T_HI - T_LO, 0.2
    rng = np.random.default_rng(SEED)
    x = x_t + h * g2 * score(x_t, T_HI) + math.sqrt(g2 * h) * rng.standard_normal(x_t.shape)
    grad = score(x, T_LO)
    z = rng.standard_normal(x.shape)
    step = (
        2.0
        * (snr * np.mean(np.linalg.norm(z, axis=1)) / np.mean(np.linalg.norm(grad, axis=1))) ** 2
    )
    want = x + step * grad + math.sqrt(2.0 * step) * z
    got = sample_reverse(
        ve, score, x_t, t_start=T_HI, t_end=T_LO, n_steps=1, method="predictor-corrector",
        seed=SEED, snr=snr,
    )  # fmt: skip
    _close(got, want)
