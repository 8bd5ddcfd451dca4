"""Independent audit of the numerics merged with issues 9–14 (samplers, grids, guidance, fv4, SDEs).

Every reference below is written from the papers, not from fplab: α_t, σ_t and their inverses in
closed form, the exact mixture score as a sum of Gaussians, and each sampler step as printed in
its paper.  Only the public API (``fp.sample_reverse``, ``fp.exact_score``, ...) is exercised.
Deterministic steps built from the same formulas agree to round-off; tolerances say where their
size comes from.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import fplab as fp

# -- independent closed forms -------------------------------------------------------------------
B0, B1 = 0.1, 20.0  # VP / sub-VP defaults: β(t) = B0 + t (B1 - B0), T = 1
SMIN, SMAX = 0.01, 50.0  # VE defaults: σ(t) = SMIN (SMAX/SMIN)^t
COS_S = 0.008  # Nichol & Dhariwal's offset


def _int_beta(kind: str, t: float) -> float:
    """∫_0^t β for the linear or cosine schedule (cosine: -log ᾱ(t))."""
    if kind == "cosine":
        f = lambda u: math.cos((u + COS_S) / (1 + COS_S) * math.pi / 2) ** 2  # noqa: E731
        return -math.log(f(t) / f(0.0))
    return B0 * t + 0.5 * (B1 - B0) * t * t


def alpha_sigma(name: str, t: float) -> tuple[float, float]:
    """(α_t, σ_t) of X_t = α_t X_0 + σ_t Z, written out (Song et al. 2021, App. B)."""
    if name == "ve":
        return 1.0, SMIN * math.sqrt((SMAX / SMIN) ** (2 * t) - 1.0)
    sched = "cosine" if name == "vp-cosine" else "linear"
    a2 = math.exp(-_int_beta(sched, t))
    if name == "subvp":
        return math.sqrt(a2), 1.0 - a2
    return math.sqrt(a2), math.sqrt(1.0 - a2)


def vp_time_of_lambda(lam: float) -> float:
    """Inverse of λ(t) = log(α/σ) for the linear VP schedule: ∫β = log(1 + e^{-2λ}), a quadratic."""
    big = math.log1p(math.exp(-2.0 * lam))
    db = B1 - B0
    return (-B0 + math.sqrt(B0 * B0 + 2.0 * db * big)) / db


def ve_time_of_level(level: float) -> float:
    """Inverse of ς(t) = σ_t for VE: σ_min² (r^{2t} - 1) = ς²."""
    return math.log1p((level / SMIN) ** 2) / (2.0 * math.log(SMAX / SMIN))


W = np.array([0.4, 0.6])
M = np.array([-2.0, 1.5])
C = np.array([0.5, 0.3])


def p0_1d(labels=None) -> fp.GaussianMixture:
    return fp.GaussianMixture(W, M[:, None], C[:, None, None], labels=labels)


def mixture_score(x: np.ndarray, a: float, sig: float, w=W, m=M, c=C) -> np.ndarray:
    """∇ log Σ w_k N(x; a m_k, a² c_k + σ²) in 1-D, x of shape (n,)."""
    var = a * a * c + sig * sig
    z = x[:, None] - a * m[None, :]
    logn = np.log(w) - 0.5 * np.log(2 * np.pi * var) - 0.5 * z * z / var
    r = np.exp(logn - logn.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    return np.sum(r * (-z / var), axis=1)


def score_of(name: str):
    return lambda x, t: mixture_score(x, *alpha_sigma(name, t))


X = np.linspace(-3.0, 3.0, 7)


def sde_of(name: str):
    return {
        "vp": fp.VP(),
        "vp-cosine": fp.VP(schedule="cosine"),
        "subvp": fp.SubVP(),
        "ve": fp.VE(),
    }[name]


# -- samplers: one step against the paper's formula -----------------------------------------------
def _one_step(method: str, name: str, t: float, s: float, seed: int = 0, **kw) -> np.ndarray:
    sde = sde_of(name)
    score = fp.exact_score(sde, p0_1d())
    return fp.sample_reverse(sde, score, X.copy(), times=[t, s], method=method, seed=seed, **kw)


@pytest.mark.parametrize(("t", "s"), [(0.5, 0.3), (0.05, 0.01), (0.9, 0.8)])
def test_audit_dpm_solver_3_step_is_lu_et_al_algorithm(t: float, s: float) -> None:
    """Lu et al. (2022), DPM-Solver-3 with r₁ = 1/3, r₂ = 2/3, written with ε = -σ ∇log p."""
    sc = score_of("vp")

    def eps(x, u):
        return -alpha_sigma("vp", u)[1] * sc(x, u)

    lam = lambda u: math.log(alpha_sigma("vp", u)[0] / alpha_sigma("vp", u)[1])  # noqa: E731
    h = lam(s) - lam(t)
    r1, r2 = 1 / 3, 2 / 3
    s1, s2 = vp_time_of_lambda(lam(t) + r1 * h), vp_time_of_lambda(lam(t) + r2 * h)
    (a0, _), (a1, g1), (a2, g2), (a3, g3) = (alpha_sigma("vp", u) for u in (t, s1, s2, s))
    e0 = eps(X, t)
    u1 = a1 / a0 * X - g1 * (math.exp(r1 * h) - 1) * e0
    d1 = eps(u1, s1) - e0
    u2 = (
        a2 / a0 * X
        - g2 * (math.exp(r2 * h) - 1) * e0
        - g2 * r2 / r1 * ((math.exp(r2 * h) - 1) / (r2 * h) - 1) * d1
    )
    d2 = eps(u2, s2) - e0
    ref = a3 / a0 * X - g3 * (math.exp(h) - 1) * e0 - g3 / r2 * ((math.exp(h) - 1) / h - 1) * d2
    got = _one_step("dpm-solver-3", "vp", t, s)
    # same formula, two roots found to 1e-15 in t: agreement to round-off of |x| ~ 3
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name", ["vp", "subvp", "vp-cosine"])
def test_audit_dpm_solver_pp_2m_trajectory_is_algorithm_2(name: str) -> None:
    """DPM-Solver++(2M) (Lu et al. 2022b, Alg. 2): first step first order, then the r_i blend."""
    sde = sde_of(name)
    times = [0.8, 0.5, 0.31, 0.2, 0.07, 0.01]  # uneven steps: r_i ≠ 1
    sc = score_of(name)
    lam = lambda u: math.log(alpha_sigma(name, u)[0] / alpha_sigma(name, u)[1])  # noqa: E731

    def x0(x, u):
        a, g = alpha_sigma(name, u)
        return (x + g * g * sc(x, u)) / a

    x = X.copy()
    prev = None
    for i in range(1, len(times)):
        t, s = times[i - 1], times[i]
        h = lam(s) - lam(t)
        a_s, g_s = alpha_sigma(name, s)
        g_t = alpha_sigma(name, t)[1]
        cur = x0(x, t)
        if prev is None:
            d = cur
        else:
            r = prev[1] / h
            d = (1 + 1 / (2 * r)) * cur - 1 / (2 * r) * prev[0]
        prev = (cur, h)
        x = g_s / g_t * x - a_s * (math.exp(-h) - 1) * d
    got = fp.sample_reverse(
        sde, fp.exact_score(sde, p0_1d()), X.copy(), times=times, method="dpm-solver-pp-2m"
    )
    np.testing.assert_allclose(got, x, rtol=0, atol=1e-11)


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_audit_eta_family_step(eta: float) -> None:
    """EM on dx = [f - ½(1 + η²) g² s] dt + η g dW̄ for VP (f = -½βx, g² = β)."""
    t, s = 0.6, 0.55
    beta = B0 + t * (B1 - B0)
    z = np.random.default_rng(3).standard_normal((X.size, 1))[:, 0]
    drift = -0.5 * beta * X - 0.5 * (1 + eta * eta) * beta * score_of("vp")(X, t)
    ref = X - (t - s) * drift + eta * math.sqrt(beta * (t - s)) * z
    got = _one_step("eta-family", "vp", t, s, seed=3, eta=eta)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def _edm_reference(x, times, n, seed, s_churn=40.0, s_tmin=0.05, s_tmax=50.0, s_noise=1.0):
    """Karras et al. (2022) Alg. 2 on VE (α = 1, c = 0, σ = ς), D(x; σ) = x + σ² ∇log p."""
    rng = np.random.default_rng(seed)
    sig = lambda u: alpha_sigma("ve", u)[1]  # noqa: E731
    for i in range(len(times) - 1):
        si, sn = sig(times[i]), sig(times[i + 1])
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= si <= s_tmax else 0.0
        shat = si + gamma * si
        eps = s_noise * rng.standard_normal((x.size, 1))[:, 0] if gamma > 0 else 0.0
        xh = x + math.sqrt(shat**2 - si**2) * eps
        d = -shat * mixture_score(xh, 1.0, shat)  # (x - D)/σ
        xn = xh + (sn - shat) * d
        d2 = -sn * mixture_score(xn, 1.0, sn)
        x = xh + (sn - shat) * (0.5 * d + 0.5 * d2)
    return x


@pytest.mark.parametrize(("times", "churn"), [([0.5, 0.3], 40.0), ([0.6, 0.4, 0.25], 0.3)])
def test_audit_edm_stochastic_is_karras_algorithm_2(times, churn) -> None:
    sde = fp.VE()
    got = fp.sample_reverse(
        sde,
        fp.exact_score(sde, p0_1d()),
        X.copy(),
        times=times,
        method="edm-stochastic",
        seed=5,
        s_churn=churn,
    )
    ref = _edm_reference(X.copy(), times, len(times) - 1, 5, s_churn=churn)
    # ς̂ is found by root finding in fplab, in closed form here: 1e-10 absorbs the brentq xtol
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_audit_edm_stochastic_ve_time_of_level_is_closed_form() -> None:
    """Sanity of the reference itself: ς(t(ς)) = ς."""
    for lev in (0.07, 1.0, 20.0):
        assert alpha_sigma("ve", ve_time_of_level(lev))[1] == pytest.approx(lev, rel=1e-12)


def test_audit_ddpm_chain_step_is_ho_algorithm_2() -> None:
    """x_{k-1} = (x_k - β_k/√(1-ᾱ_k) ε)/√(1-β_k) + √β_k z, ε = -σ s, β_k = β(t_k) Δt."""
    t, s = 0.4, 0.37
    beta = (B0 + t * (B1 - B0)) * (t - s)
    _, g = alpha_sigma("vp", t)
    eps = -g * score_of("vp")(X, t)
    z = np.random.default_rng(11).standard_normal((X.size, 1))[:, 0]
    ref = (X - beta / g * eps) / math.sqrt(1 - beta) + math.sqrt(beta) * z
    got = _one_step("ddpm-chain", "vp", t, s, seed=11)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


# -- time grids -----------------------------------------------------------------------------------
def _nodes(name: str, grid: str, n: int, t_start: float, t_end: float, **opts) -> np.ndarray:
    sde = sde_of(name)
    kw = {"grid_options": opts} if opts else {}
    _, info = fp.sample_reverse(
        sde,
        fp.exact_score(sde, p0_1d()),
        X[:2].copy(),
        method="pf-ode-euler",
        t_start=t_start,
        t_end=t_end,
        n_steps=n,
        time_grid=grid,
        return_info=True,
        **kw,
    )
    return np.asarray(info.times)


def _level(name: str, t: float) -> float:
    a, g = alpha_sigma(name, t)
    return g / a


GRID_CASES = [("vp", 1.0, 1e-3), ("vp-cosine", 0.99, 1e-3), ("subvp", 1.0, 1e-3), ("ve", 1.0, 1e-3)]


@pytest.mark.parametrize(("name", "t_start", "t_end"), GRID_CASES)
@pytest.mark.parametrize("rho", [7.0, 3.0])
def test_audit_karras_grid_is_uniform_in_sigma_to_the_one_over_rho(
    name, t_start, t_end, rho
) -> None:
    """Karras et al. eq. 5: ς_i^{1/ρ} = ς_max^{1/ρ} + i/N (ς_min^{1/ρ} - ς_max^{1/ρ}), ς = σ/α."""
    n = 12
    nodes = _nodes(name, "karras", n, t_start, t_end, rho=rho)
    assert nodes[0] == t_start and nodes[-1] == t_end and np.all(np.diff(nodes) < 0)
    hi, lo = _level(name, t_start) ** (1 / rho), _level(name, t_end) ** (1 / rho)
    want = (hi + np.arange(n + 1) / n * (lo - hi)) ** rho
    got = np.array([_level(name, float(u)) for u in nodes])
    # nodes are brentq roots in t to 1e-15: relative level error ~ |dlogς/dt| · 1e-15 ≪ 1e-9
    np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize(("name", "t_start", "t_end"), GRID_CASES)
def test_audit_log_snr_grid_is_uniform_in_lambda(name, t_start, t_end) -> None:
    n = 10
    nodes = _nodes(name, "log-snr", n, t_start, t_end)
    assert nodes[0] == t_start and nodes[-1] == t_end and np.all(np.diff(nodes) < 0)
    lam = np.array([-math.log(_level(name, float(u))) for u in nodes])
    np.testing.assert_allclose(np.diff(lam), (lam[-1] - lam[0]) / n, rtol=1e-8)


@pytest.mark.parametrize(("name", "t_start", "t_end"), GRID_CASES)
def test_audit_sigma_uniform_and_quadratic_grids(name, t_start, t_end) -> None:
    n = 8
    nodes = _nodes(name, "sigma-uniform", n, t_start, t_end)
    lev = np.array([_level(name, float(u)) for u in nodes])
    assert nodes[0] == t_start and nodes[-1] == t_end and np.all(np.diff(nodes) < 0)
    np.testing.assert_allclose(np.diff(lev), (lev[-1] - lev[0]) / n, rtol=1e-8)
    quad = _nodes(name, "quadratic", n, t_start, t_end)
    want = (
        math.sqrt(t_start) + np.arange(n + 1) / n * (math.sqrt(t_end) - math.sqrt(t_start))
    ) ** 2
    np.testing.assert_allclose(quad, want, rtol=1e-14)


def test_audit_karras_rho_one_is_sigma_uniform() -> None:
    np.testing.assert_allclose(
        _nodes("vp", "karras", 6, 1.0, 1e-3, rho=1.0),
        _nodes("vp", "sigma-uniform", 6, 1.0, 1e-3),
        rtol=1e-12,
    )


def test_audit_explicit_times_equal_n_steps_for_dpm_solver_3() -> None:
    sde = fp.VP()
    score = fp.exact_score(sde, p0_1d())
    a = fp.sample_reverse(sde, score, X.copy(), n_steps=5, method="dpm-solver-3")
    b = fp.sample_reverse(
        sde, score, X.copy(), times=np.linspace(1.0, 1e-3, 6), method="dpm-solver-3"
    )
    np.testing.assert_array_equal(a, b)


# -- guidance -------------------------------------------------------------------------------------
W3 = np.array([0.2, 0.5, 0.3])
M3 = np.array([[-2.0, 0.5], [1.5, -1.0], [0.5, 2.0]])
C3 = np.array([[[0.5, 0.1], [0.1, 0.4]], [[0.3, 0.0], [0.0, 0.6]], [[0.8, -0.2], [-0.2, 0.3]]])
LAB3 = ["cat", "dog", "cat"]


def _gm_score_2d(x, a, sig, w, m, c):
    """∇ log Σ w_k N(x; a m_k, a² C_k + σ² I), x (n, 2), written out."""
    logs, grads = [], []
    for wk, mk, ck in zip(w, m, c, strict=True):
        cov = a * a * ck + sig * sig * np.eye(2)
        prec = np.linalg.inv(cov)
        z = x - a * mk
        logs.append(
            math.log(wk)
            - 0.5 * math.log(np.linalg.det(2 * np.pi * cov))
            - 0.5 * np.einsum("ni,ij,nj->n", z, prec, z)
        )
        grads.append(-z @ prec)
    lg = np.array(logs).T
    r = np.exp(lg - lg.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    return np.einsum("nk,kni->ni", r, np.array(grads))


XY = np.random.default_rng(7).normal(0.0, 1.8, (40, 2))


@pytest.mark.parametrize("name", ["vp", "ve", "subvp"])
@pytest.mark.parametrize("t", [0.05, 0.4])
def test_audit_label_and_guided_scores(name: str, t: float) -> None:
    sde = sde_of(name)
    p0 = fp.GaussianMixture(W3, M3, C3, labels=LAB3)
    a, sig = alpha_sigma(name, t)
    uncond = _gm_score_2d(XY, a, sig, W3, M3, C3)
    keep = np.array([lab == "cat" for lab in LAB3])
    cond = _gm_score_2d(XY, a, sig, W3[keep] / W3[keep].sum(), M3[keep], C3[keep])
    # the renormalised weights must not matter: a single-label score is a sub-mixture's score
    np.testing.assert_allclose(
        fp.exact_score(sde, p0, label="cat")(XY, t), cond, rtol=1e-10, atol=1e-10
    )
    np.testing.assert_allclose(fp.exact_score(sde, p0)(XY, t), uncond, rtol=1e-10, atol=1e-10)
    for kind in ("cfg", "classifier"):
        for w in (0.0, 1.0, 2.5):
            got = fp.guided_score(sde, p0, "cat", w, kind=kind)(XY, t)
            # round-off of exp/log of the responsibilities on |x| ≲ 6: ~1e-12 relative
            np.testing.assert_allclose(got, uncond + w * (cond - uncond), rtol=1e-9, atol=1e-9)


def test_audit_label_of_a_single_component_is_its_gaussian_score() -> None:
    sde = fp.VP()
    p0 = fp.GaussianMixture(W3, M3, C3, labels=LAB3)
    a, sig = alpha_sigma("vp", 0.3)
    cov = a * a * C3[1] + sig * sig * np.eye(2)
    want = -(XY - a * M3[1]) @ np.linalg.inv(cov)
    np.testing.assert_allclose(
        fp.exact_score(sde, p0, label="dog")(XY, 0.3), want, rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0, 3.0])
def test_audit_tilted_density_is_normalised_product(w: float) -> None:
    grid = fp.Grid.uniform((-7.0, -7.0), (7.0, 7.0), (120, 110))
    p0 = fp.GaussianMixture(W3, M3, C3, labels=LAB3)
    pts = grid.points()
    from scipy.stats import multivariate_normal as mvn

    comps = np.array([wk * mvn(mk, ck).pdf(pts) for wk, mk, ck in zip(W3, M3, C3, strict=True)])
    p = comps.sum(axis=0)
    p_cond = (comps[0] + comps[2]) / (W3[0] + W3[2])
    q = (p_cond**w * p ** (1 - w)).reshape(grid.shape)
    dx = 14.0 / 120 * 14.0 / 110
    q /= q.sum() * dx
    got = fp.tilted_density(p0, "cat", w, grid)
    assert got.sum() * dx == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(got, q, rtol=1e-8, atol=1e-12 * q.max())


def _edm_reference_y(levels, y, n, seed, s_churn=40.0, s_tmin=0.05, s_tmax=50.0, s_noise=1.0):
    """Karras Alg. 2 in y = (x - c)/α, where p̃(y; ς) = Σ w N(m, C + ς²) whatever the SDE."""
    rng = np.random.default_rng(seed)
    for i in range(len(levels) - 1):
        si, sn = levels[i], levels[i + 1]
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= si <= s_tmax else 0.0
        sh = si * (1 + gamma)
        eps = s_noise * rng.standard_normal((y.size, 1))[:, 0] if gamma > 0 else 0.0
        yh = y + math.sqrt(sh**2 - si**2) * eps
        d = -sh * mixture_score(yh, 1.0, sh)
        yn = yh + (sn - sh) * d
        d2 = -sn * mixture_score(yn, 1.0, sn)
        y = yh + (sn - sh) * 0.5 * (d + d2)
    return y


def _ou_coefficients(theta, mu, sigma, t):
    a = math.exp(-theta * t)
    return a, (1 - a) * mu, sigma * math.sqrt((1 - a * a) / (2 * theta))


@pytest.mark.parametrize(
    ("label", "times", "kw"),
    [
        ("vp", [0.5, 0.3, 0.1], {}),
        ("vp-cosine", [0.6, 0.4, 0.05], {"s_tmax": 2.0, "s_noise": 1.1}),
        ("subvp", [0.5, 0.3, 0.1], {"s_churn": 0.5}),
        ("ou-mu", [1.0, 0.6, 0.2], {"s_tmin": 0.5}),
    ],
)
def test_audit_edm_stochastic_in_scaled_variable(label, times, kw) -> None:
    """EDM on SDEs with α ≠ 1 and c ≠ 0: the y-trajectory is Alg. 2 on Σ w N(m, C + ς²)."""
    if label == "ou-mu":
        sde = fp.OU(theta=1.3, mu=0.7, sigma=0.9)
        coef = lambda t: _ou_coefficients(1.3, 0.7, 0.9, t)  # noqa: E731
    else:
        sde = sde_of(label)
        coef = lambda t: (alpha_sigma(label, t)[0], 0.0, alpha_sigma(label, t)[1])  # noqa: E731
    got = fp.sample_reverse(
        sde,
        fp.exact_score(sde, p0_1d()),
        X.copy(),
        times=times,
        method="edm-stochastic",
        seed=9,
        **kw,
    )
    levels = [coef(t)[2] / coef(t)[0] for t in times]
    (a0, c0, _), (an, cn, _) = coef(times[0]), coef(times[-1])
    y = _edm_reference_y(levels, (X - c0) / a0, len(times) - 1, 9, **kw)
    np.testing.assert_allclose(got, an * y + cn, rtol=0, atol=1e-12)


# -- bad inputs -----------------------------------------------------------------------------------
def _bad_calls():
    p0 = p0_1d(labels=["a", "b"])
    vp, ve = fp.VP(), fp.VE()
    sc, scve = fp.exact_score(vp, p0), fp.exact_score(ve, p0)
    x = np.zeros(3)
    rev = fp.sample_reverse
    return [
        ("time_grid", lambda: rev(vp, sc, x, n_steps=3, time_grid="karas")),
        ("rho", lambda: rev(vp, sc, x, n_steps=3, time_grid="karras", grid_options={"rho": 0})),
        ("rho", lambda: rev(vp, sc, x, n_steps=3, time_grid="karras", grid_options={"rho": -1.0})),
        ("decreasing", lambda: rev(vp, sc, x, times=[0.1, 0.5])),
        ("decreasing", lambda: rev(vp, sc, x, times=[0.5, 0.5, 0.1])),
        ("horizon", lambda: rev(vp, sc, x, times=[1.5, 0.5])),
        ("t_end", lambda: rev(vp, sc, x, times=[0.5, 0.0])),
        ("finite", lambda: rev(vp, sc, x, times=[0.5, float("nan")])),
        ("eta", lambda: rev(vp, sc, x, n_steps=2, method="eta-family", eta=1.5)),
        ("eta", lambda: rev(vp, sc, x, n_steps=2, method="eta-family", eta=-0.1)),
        ("dpm-solver-3", lambda: rev(ve, scve, x, n_steps=2, method="dpm-solver-3")),
        ("dpm-solver-pp-2m", lambda: rev(ve, scve, x, n_steps=2, method="dpm-solver-pp-2m")),
        ("ddpm-chain", lambda: rev(fp.SubVP(), sc, x, n_steps=2, method="ddpm-chain")),
        ("s_churn", lambda: rev(ve, scve, x, n_steps=2, method="edm-stochastic", s_churn=-1)),
        ("label", lambda: fp.guided_score(vp, p0, "c", 1.0)),
        ("label", lambda: fp.exact_score(vp, p0, label="c")),
        ("w must be", lambda: fp.guided_score(vp, p0, "a", -0.5)),
        ("kind", lambda: fp.guided_score(vp, p0, "a", 1.0, kind="cgf")),
        ("threads", lambda: fp.simulate(fp.OU(), x, n_steps=2, threads=0)),
        (
            "threads",
            lambda: fp.solve_fokker_planck(
                fp.OU(), p0, fp.Grid.uniform(-5.0, 5.0, 50), 0.1, threads=0
            ),
        ),
        (
            "6 cells",
            lambda: fp.solve_fokker_planck(
                fp.Heat(), p0, fp.Grid.uniform(-5.0, 5.0, 5), 0.1, space_scheme="fv4"
            ),
        ),
        (
            "bc",
            lambda: fp.solve_fokker_planck(
                fp.Heat(),
                p0,
                fp.Grid.uniform(-5.0, 5.0, 50),
                0.1,
                space_scheme="fv4",
                bc="dirichlet",
            ),
        ),
        (
            "bc",
            lambda: fp.solve_fokker_planck(
                fp.Heat(),
                p0,
                fp.Grid.uniform(-5.0, 5.0, 50),
                0.1,
                space_scheme="fv4",
                bc="periodic",
            ),
        ),
    ]


@pytest.mark.parametrize("k", range(len(_bad_calls())))
def test_audit_bad_inputs_raise_clear_errors(k: int) -> None:
    match, call = _bad_calls()[k]
    with pytest.raises(ValueError, match=match):
        call()


# -- fv4, sdirk4, cell averages, grid score -------------------------------------------------------
def _exact_1d(name: str, t: float):
    """(α², added variance) of the 1-D OU (θ = 1, σ = √2) and VP marginals."""
    if name == "ou":
        a = math.exp(-t)
        return a, 1 - a * a
    a = alpha_sigma("vp", t)[0]
    return a, 1 - a * a


def _mix_pdf(x, a, s2, d2=False):
    from scipy.stats import norm

    out = 0.0
    for w, m, c in zip(W, M, C, strict=True):
        v = a * a * c + s2
        z = x - a * m
        pdf = w * norm.pdf(x, a * m, math.sqrt(v))
        out = out + (pdf * (z * z / v**2 - 1 / v) if d2 else pdf)
    return out


@pytest.mark.parametrize(("name", "t_final"), [("ou", 1.0), ("vp", 0.5)])
def test_audit_fv4_point_values_converge_at_fourth_order(name: str, t_final: float) -> None:
    """fv4 + sdirk4 (dt = T/200: time error ~1e-11, below the finest space error 3e-8)."""
    sde = fp.OU() if name == "ou" else fp.VP()
    hs, errs = [], []
    for n in (64, 128, 256, 512):
        grid = fp.Grid.uniform(-8.0, 8.0, n)
        sol = fp.solve_fokker_planck(
            sde, p0_1d(), grid, t_final, dt=t_final / 200, space_scheme="fv4", time_scheme="sdirk4"
        )
        h = 16.0 / n
        exact = _mix_pdf(grid.axes[0], *_exact_1d(name, t_final))
        errs.append(np.sum(np.abs(sol.density - exact)) * h)
        hs.append(h)
        # zero flux: mass is conserved up to the round-off of the banded solves; measured drifts
        # have random sign, 1e-14 … 5e-12 over n = 128 … 2048 and 50 … 800 steps
        assert np.all(np.abs(np.asarray(sol.mass()) - sol.mass()[0]) < 2e-11)
        # averages minus point values = h²/24 p'' + O(h⁴): relative misfit O(h²) (1.6e-2 at n = 64)
        pred = h * h / 24 * _mix_pdf(grid.axes[0], *_exact_1d(name, t_final), d2=True)
        diff = sol.cell_averages[-1] - sol.density
        assert np.sum(np.abs(diff - pred)) / np.sum(np.abs(pred)) < 1.2 * (h / 0.25) ** 2 * 1.6e-2
    fit = fp.observed_order(hs, errs)
    # measured 3.983 [3.952, 4.015] (OU) and 3.992 [3.983, 4.001] (VP); 4 must be in reach
    assert fit.ci[0] - 0.1 <= 4.0 <= fit.ci[1] + 0.1, fit


SDIRK4_A = np.array(
    [
        [1 / 4, 0, 0, 0, 0],
        [1 / 2, 1 / 4, 0, 0, 0],
        [17 / 50, -1 / 25, 1 / 4, 0, 0],
        [371 / 1360, -137 / 2720, 15 / 544, 1 / 4, 0],
        [25 / 24, -49 / 48, 125 / 16, -85 / 12, 1 / 4],
    ]
)  # Hairer & Wanner II, Table IV.6.5; stiffly accurate (b = last row)


def _sdirk4_r(z: float) -> float:
    """Stability function R(z) = 1 + z bᵀ (I - zA)⁻¹ 1."""
    return 1 + z * SDIRK4_A[-1] @ np.linalg.solve(np.eye(5) - z * SDIRK4_A, np.ones(5))


@pytest.mark.parametrize("dt", [0.01, 0.1])
def test_audit_sdirk4_step_multiplies_each_heat_mode_by_its_stability_function(dt: float) -> None:
    """Central differences + Dirichlet: sin(kπx) on [0, 1] are eigenvectors, λ = -4D/h² sin²(kπ/2n)."""
    d_coef, n = 0.5, 40
    grid = fp.Grid.uniform(0.0, 1.0, n)
    x = grid.axes[0]
    modes = {k: np.sin(k * np.pi * x) for k in (1, 3, 10)}
    amp = {1: 3.0, 3: 1.0, 10: 0.5}  # positive sum (p0 must be a density)
    p0 = sum(amp[k] * modes[k] for k in modes)
    sol = fp.solve_fokker_planck(
        fp.Heat(d_coef),
        p0,
        grid,
        dt,
        dt=dt,
        space_scheme="central",
        time_scheme="sdirk4",
        bc="dirichlet",
    )
    lam = {k: -4 * d_coef * n * n * math.sin(k * math.pi / (2 * n)) ** 2 for k in modes}
    want = sum(amp[k] * _sdirk4_r(dt * lam[k]) * modes[k] for k in modes)
    np.testing.assert_allclose(sol.density, want, rtol=0, atol=1e-13)


def test_audit_sdirk4_time_order_on_vp() -> None:
    """Measured 3.938 [3.890, 3.985] (errors 1.2e-4 … 3.2e-8) against dt = T/256."""
    grid = fp.Grid.uniform(-8.0, 8.0, 256)
    kw = {"space_scheme": "fv4", "time_scheme": "sdirk4"}
    ref = fp.solve_fokker_planck(fp.VP(), p0_1d(), grid, 0.5, dt=0.5 / 256, **kw).density
    dts, errs = [], []
    for k in (4, 8, 16, 32):
        p = fp.solve_fokker_planck(fp.VP(), p0_1d(), grid, 0.5, dt=0.5 / k, **kw).density
        errs.append(np.sum(np.abs(p - ref)) * 16 / 256)
        dts.append(0.5 / k)
    fit = fp.observed_order(dts, errs)
    assert fit.ci[0] - 0.15 <= 4.0 <= fit.ci[1] + 0.15, fit


def test_audit_grid_score_of_fv4_is_fourth_order_at_and_between_saves() -> None:
    """Max error on |x| <= 3 at a save (t = 0.5) and midway (0.55): 3.3e-3 … 8e-7, slopes ≈ 4."""
    xq = np.linspace(-3, 3, 61)
    hs, node, mid = [], [], []
    for n in (64, 128, 256, 512):
        grid = fp.Grid.uniform(-8.0, 8.0, n)
        sol = fp.solve_fokker_planck(
            fp.OU(),
            p0_1d(),
            grid,
            1.0,
            dt=0.01,
            space_scheme="fv4",
            time_scheme="sdirk4",
            save_at=np.linspace(0.2, 1.0, 9),
        )
        gs = fp.grid_score(sol)
        for t, out in ((0.5, node), (0.55, mid)):
            a, s2 = _exact_1d("ou", t)
            out.append(
                np.max(np.abs(gs(xq[:, None], t)[:, 0] - mixture_score(xq, a, math.sqrt(s2))))
            )
        hs.append(16.0 / n)
    for errs in (node, mid):
        fit = fp.observed_order(hs, errs)
        assert fit.ci[0] - 0.2 <= 4.0 <= fit.ci[1] + 0.2, fit


def test_audit_richardson_estimate_matches_true_error_of_averages() -> None:
    from scipy.stats import norm

    kw = {"space_scheme": "fv4", "time_scheme": "sdirk4", "dt": 0.01}
    s1 = fp.solve_fokker_planck(fp.OU(), p0_1d(), fp.Grid.uniform(-8.0, 8.0, 64), 1.0, **kw)
    g2 = fp.Grid.uniform(-8.0, 8.0, 128)
    s2 = fp.solve_fokker_planck(fp.OU(), p0_1d(), g2, 1.0, **kw)
    a, v = _exact_1d("ou", 1.0)
    h = 16 / 128
    x = g2.axes[0]
    cdf = lambda u: sum(  # noqa: E731
        w * norm.cdf(u, a * m, math.sqrt(a * a * c + v)) for w, m, c in zip(W, M, C, strict=True)
    )
    true = np.sum(np.abs(s2.cell_averages[-1] - (cdf(x + h / 2) - cdf(x - h / 2)) / h)) * h
    est = fp.fd.richardson_estimate(s1, s2).error
    # measured 1.049e-5 against 1.074e-5: an asymptotic estimate at 64/128 cells, within 10%
    assert est == pytest.approx(true, rel=0.1)


# -- new SDEs and MC method -----------------------------------------------------------------------
def test_audit_bounded_sde_stationary_law_is_half_sech_squared() -> None:
    sde = fp.BoundedSDE()
    xx = np.linspace(-6, 6, 25)
    np.testing.assert_allclose(sde.stationary_pdf(xx), 0.5 / np.cosh(xx) ** 2, rtol=1e-13)
    assert sde.stationary_mass_outside(1.0) == pytest.approx(1 - math.tanh(1.0), abs=1e-12)
    # the fv4 solve relaxes to it from N(2, 0.2): L1 8.1e-7 at t = 30 on 480 cells of [-12, 12]
    grid = fp.Grid.uniform(-12.0, 12.0, 480)
    p0 = fp.GaussianMixture([1.0], [[2.0]], [[[0.2]]])
    sol = fp.solve_fokker_planck(
        sde, p0, grid, 30.0, dt=0.05, space_scheme="fv4", time_scheme="sdirk4"
    )
    x = grid.axes[0]
    assert np.sum(np.abs(sol.density - 0.5 / np.cosh(x) ** 2)) * 0.05 < 5e-6
    # ±1 are cell faces, so the sum of cell averages is the exact integral over |x| > 1
    outside = np.sum(sol.cell_averages[-1][np.abs(x) > 1]) * 0.05
    assert outside == pytest.approx(1 - math.tanh(1.0), abs=5e-6)


@pytest.mark.parametrize("sigma", [0.7, 1.5])
def test_audit_bounded_sde_normalisation_for_other_noise(sigma: float) -> None:
    from scipy import integrate

    z = integrate.quad(lambda u: math.exp(-2 / sigma**2 * math.log(math.cosh(u))), -40, 40)[0]
    got = fp.BoundedSDE(sigma).stationary_pdf(np.array([0.3, -1.7]))
    np.testing.assert_allclose(got * z, np.cosh([0.3, -1.7]) ** (-2 / sigma**2), rtol=1e-9)


def test_audit_rotating_ou_flux_and_rotating_mean() -> None:
    th, om, sg = 1.0, 2.0, 1.0
    sde = fp.RotatingOU(th, om, sg)
    xs = np.array([[0.3, -0.7], [1.2, 0.4]])
    p, e = sde.stationary_pdf, 1e-6
    ex, ey = np.array([e, 0.0]), np.array([0.0, e])
    grad = np.stack([(p(xs + ex) - p(xs - ex)) / (2 * e), (p(xs + ey) - p(xs - ey)) / (2 * e)], 1)
    f = -th * xs + om * np.stack([-xs[:, 1], xs[:, 0]], 1)
    # central difference of p: O(e²) truncation + 1e-16/e round-off ≈ 1e-10
    np.testing.assert_allclose(
        sde.stationary_flux(xs), f * p(xs)[:, None] - 0.5 * sg**2 * grad, atol=1e-9
    )
    assert np.max(np.abs(sde.stationary_flux(xs))) > 0.05
    # MC: E X_t = e^{-θt} R(ωt) m0 (Heun bias O(h²) ~ 1e-4, far below the standard error 6e-3)
    t1, m0, n = 0.7, np.array([2.0, 0.0]), 10_000
    x = fp.simulate(sde, np.tile(m0, (n, 1)), t1=t1, n_steps=100, method="heun", seed=3)
    rot = np.array(
        [[math.cos(om * t1), -math.sin(om * t1)], [math.sin(om * t1), math.cos(om * t1)]]
    )
    se = math.sqrt(sg**2 / (2 * th) * (1 - math.exp(-2 * th * t1)) / n)
    np.testing.assert_allclose(x.mean(0), math.exp(-th * t1) * rot @ m0, atol=4 * se)


@pytest.mark.parametrize("label", ["vp", "bounded"])
def test_audit_heun_frozen_g_step_with_noise_backed_out_of_euler(label: str) -> None:
    """Same seed, same ΔW: recover ΔW from one EM step, then X' = X + ½(f(X) + f(Ῡ))h + g(t_n)ΔW."""
    x0, t0, h = np.linspace(-2, 2, 9), 0.3, 0.05
    if label == "vp":
        sde, g = fp.VP(), math.sqrt(B0 + t0 * (B1 - B0))
        f = lambda x, t: -0.5 * (B0 + t * (B1 - B0)) * x  # noqa: E731
    else:
        sde, g = fp.BoundedSDE(0.8), 0.8
        f = lambda x, t: -np.tanh(x)  # noqa: E731
    kw = {"t0": t0, "t1": t0 + h, "n_steps": 1, "seed": 4}
    em = fp.simulate(sde, x0, method="euler-maruyama", **kw)
    dw = (em - x0 - f(x0, t0) * h) / g
    got = fp.simulate(sde, x0, method="heun-frozen-g", **kw)
    ybar = x0 + f(x0, t0) * h + g * dw
    np.testing.assert_allclose(
        got, x0 + 0.5 * (f(x0, t0) + f(ybar, t0 + h)) * h + g * dw, rtol=0, atol=1e-14
    )


@pytest.mark.parametrize("name", ["vp", "ve", "ou"])
def test_audit_classifier_guidance_is_finite_where_the_label_underflows(name: str) -> None:
    """Regression: narrow components at small t made every r_k of the label underflow to 0, and
    the classifier direction normalised 0/0 = NaN (VP, VE, OU at t = 1e-3; OU also at 1e-2)."""
    sde = fp.OU() if name == "ou" else sde_of(name)
    p0 = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[1e-3]], [[1e-3]]], labels=["a", "b"])
    x = np.array([[-2.0], [1.5], [1.4]])
    for t in (1e-3, 1e-2):
        cfg = fp.guided_score(sde, p0, "a", 2.0, kind="cfg")(x, t)
        clf = fp.guided_score(sde, p0, "a", 2.0, kind="classifier")(x, t)
        assert np.all(np.isfinite(clf))
        # scores reach 7e3 here: relative round-off of the two routes ~1e-15 · |s|
        np.testing.assert_allclose(clf, cfg, rtol=1e-12, atol=1e-9)


def test_audit_zero_weight_label_is_refused_by_tilted_density() -> None:
    """Regression: a label of total weight 0 gave an all-NaN tilted density (even at w = 0)."""
    p0 = fp.GaussianMixture([1.0, 0.0], [[-2.0], [1.5]], [[[0.5]], [[0.3]]], labels=["a", "b"])
    grid = fp.Grid.uniform(-6.0, 6.0, 50)
    for w in (0.0, 0.5):
        with pytest.raises(ValueError, match="label='b' has zero total weight"):
            fp.tilted_density(p0, "b", w, grid)
    assert np.all(np.isfinite(fp.tilted_density(p0, "a", 0.5, grid)))


def test_audit_new_samplers_in_two_dimensions() -> None:
    """dpm-solver-pp-2m and edm-stochastic on a 2-D VP mixture: the same formulas per sample."""
    sde = fp.VP()
    p0 = fp.GaussianMixture(W3, M3, C3)
    x_t = XY[:10].copy()
    times = [0.7, 0.45, 0.2, 0.05]

    def sc(x, u):
        return _gm_score_2d(x, *alpha_sigma("vp", u), W3, M3, C3)

    lam = lambda u: math.log(alpha_sigma("vp", u)[0] / alpha_sigma("vp", u)[1])  # noqa: E731
    x, prev = x_t.copy(), None
    for t, s in itertools.pairwise(times):
        (a_t, g_t), (a_s, g_s) = alpha_sigma("vp", t), alpha_sigma("vp", s)
        h = lam(s) - lam(t)
        cur = (x + g_t**2 * sc(x, t)) / a_t
        d = cur if prev is None else (1 + h / (2 * prev[1])) * cur - h / (2 * prev[1]) * prev[0]
        prev = (cur, h)
        x = g_s / g_t * x - a_s * math.expm1(-h) * d
    got = fp.sample_reverse(
        sde, fp.exact_score(sde, p0), x_t, times=times, method="dpm-solver-pp-2m"
    )
    np.testing.assert_allclose(got, x, rtol=0, atol=1e-11)

    rng = np.random.default_rng(2)
    a0 = alpha_sigma("vp", times[0])[0]
    lev = [alpha_sigma("vp", u)[1] / alpha_sigma("vp", u)[0] for u in times]
    y = x_t / a0
    for si, sn in itertools.pairwise(lev):
        sh = si * math.sqrt(2)  # γ = min(40/3, √2 - 1)
        yh = y + math.sqrt(sh**2 - si**2) * rng.standard_normal(y.shape)
        d = -sh * _gm_score_2d(yh, 1.0, sh, W3, M3, C3)
        yn = yh + (sn - sh) * d
        y = yh + (sn - sh) * 0.5 * (d - sn * _gm_score_2d(yn, 1.0, sn, W3, M3, C3))
    got = fp.sample_reverse(
        sde, fp.exact_score(sde, p0), x_t, times=times, method="edm-stochastic", seed=2
    )
    np.testing.assert_allclose(got, alpha_sigma("vp", times[-1])[0] * y, rtol=0, atol=1e-11)


def test_audit_adaptive_sde_accepted_step_is_stochastic_improved_euler() -> None:
    """Jolicoeur-Martineau et al. (2021) Alg. 1: x'' = ½(x' + x̃); loose tolerances accept the first
    trial step, which spans [t_end, t_start] when n_steps = 1."""
    t, s = 0.5, 0.45
    sde = fp.VP()
    z = np.random.default_rng(8).standard_normal((X.size, 1))[:, 0]
    sc = score_of("vp")

    def rev(x, u):  # reverse drift f - g² s, and g, for VP
        beta = B0 + u * (B1 - B0)
        return -0.5 * beta * x - beta * sc(x, u), math.sqrt(beta)

    h = t - s
    b1, g1 = rev(X, t)
    x1 = X - h * b1 + math.sqrt(h) * g1 * z
    b2, g2 = rev(x1, s)
    ref = 0.5 * (x1 + X - h * b2 + math.sqrt(h) * g2 * z)
    got, info = fp.sample_reverse(
        sde,
        fp.exact_score(sde, p0_1d()),
        X.copy(),
        t_start=t,
        t_end=s,
        n_steps=1,
        method="adaptive-sde",
        rtol=10.0,
        atol=10.0,
        seed=8,
        return_info=True,
    )
    assert info.n_rejected == 0 and info.n_steps == 1
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["vp", "ve"])
def test_audit_karras_grid_with_small_rho_does_not_overflow(name: str) -> None:
    """Regression: ς_max^{1/ρ} overflowed (OverflowError) for ρ = 1e-3; eq. 5 with ς_max factored
    out is the same grid and stays finite."""
    n, rho = 8, 1e-3
    nodes = _nodes(name, "karras", n, 1.0, 1e-3, rho=rho)
    assert nodes[0] == 1.0 and nodes[-1] == 1e-3 and np.all(np.diff(nodes) < 0)
    top, bottom = _level(name, 1.0), _level(name, 1e-3)
    u = np.arange(1, n) / n
    want = top * ((1 - u) + u * (bottom / top) ** (1 / rho)) ** rho
    got = np.array([_level(name, float(t)) for t in nodes[1:-1]])
    np.testing.assert_allclose(got, want, rtol=1e-9)
