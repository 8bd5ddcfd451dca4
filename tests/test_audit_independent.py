"""Independent audit of the numerics merged with issues 9–14 (samplers, grids, guidance, fv4, SDEs).

Every reference below is written from the papers, not from fplab: α_t, σ_t and their inverses in
closed form, the exact mixture score as a sum of Gaussians, and each sampler step as printed in
its paper.  Only the public API (``fp.sample_reverse``, ``fp.exact_score``, ...) is exercised.
Deterministic steps built from the same formulas agree to round-off; tolerances say where their
size comes from.
"""

from __future__ import annotations

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
