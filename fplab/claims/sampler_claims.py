"""Claims about reverse-time sampling, score matching and flow matching.

Where the data law is Gaussian the samplers' output laws are exact (``fplab.claims.laws``), so
step counts and W2 rates carry no sampling noise; where the claim is about modes or about
predictor–corrector (whose Langevin step size depends on the batch), ``fp.sample_reverse`` runs
on samples and the numbers carry Monte-Carlo standard errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fplab.claims.base import Z95, ClaimResult, claim, combine, decide_above, decide_value, result
from fplab.claims.laws import reverse_gaussian_law, w2_gaussian_1d

__all__: list[str] = []

#: the Gaussian data law N(MU0, V0) and the VP SDE of the sampler claims
MU0, V0 = 0.5, 0.2
T_END = 1e-3


def _vp() -> Any:
    import fplab as fp

    return fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)


def _target(sde: Any, t: float = T_END, mu0: float = MU0, v0: float = V0) -> tuple[float, float]:
    m, _, v = sde.transition(0.0, t)
    return m * mu0, m * m * v0 + v


def sampler_w2(scheme: str, n_steps: int, *, bias: float = 0.0, v0: float = V0) -> float:
    """W2 between the exact output law of ``scheme`` (n uniform steps 1 -> T_END) and p_{T_END}."""
    sde = _vp()
    times = np.linspace(1.0, T_END, n_steps + 1)
    m, v = reverse_gaussian_law(sde, MU0, v0, times, scheme, bias=bias)
    return w2_gaussian_1d(m, v, *_target(sde, v0=v0))


def _smallest_n(w2_of: Callable[[int], float], tol: float, start: int, n_max: int) -> int:
    """Smallest n >= start with ``w2_of(n) <= tol`` (doubling, then bisection; W2 decreases with
    n here), or -1 past ``n_max``."""
    hi = start
    while w2_of(hi) > tol:
        hi *= 2
        if hi > n_max:
            return -1
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if w2_of(mid) <= tol:
            hi = mid
        else:
            lo = mid
    return hi


def steps_needed(scheme: str, tol: float, n_max: int = 1 << 16) -> int:
    """Smallest n with W2 <= tol on the Gaussian problem (:func:`_smallest_n`)."""
    return _smallest_n(lambda n: sampler_w2(scheme, n), tol, 1, n_max)


@claim(
    11,
    "stationary-ou-reverse-sign",
    "For a stationary OU process dx = −θx dt + σ dW the reverse-time drift is +θx (the sign flips).",
)
def stationary_ou_reverse_sign(tier: str, seed: int) -> ClaimResult:
    import fplab as fp
    from fplab.mc import simulate

    theta, sigma = 1.0, 2**0.5
    ou = fp.OU(theta=theta, mu=0.0, sigma=sigma)
    n = 20_000 if tier == "quick" else 200_000
    times = np.linspace(0.0, 1.0, 21)
    p_inf = fp.GaussianMixture([1.0], [[0.0]], [[[sigma**2 / (2 * theta)]]])
    paths = simulate(ou, p_inf, n_paths=n, n_steps=20, method="exact", seed=seed, save_at=times)
    rev = paths[::-1]  # Y_τ = X_(1 - τ)
    slopes = {}
    for name, y in (("reversed", rev), ("forward", paths)):
        a, b = y[:-1].ravel(), y[1:].ravel()
        kappa = float(a @ b / (a @ a))  # E[Y_(τ+Δ) | Y_τ] = κ Y_τ
        resid = b - kappa * a
        se_kappa = float(np.sqrt(resid.var() / (a @ a)))
        dt = float(times[1] - times[0])
        # drift slope λ with κ = e^(λΔ); consecutive pairs share paths, so the se is widened by
        # √(number of steps) as for fully dependent pairs (a conservative bound)
        slopes[name] = (math.log(kappa) / dt, se_kappa / kappa / dt * math.sqrt(len(times) - 1))
    lam, se = slopes["reversed"]
    verdict = decide_value(lam, se, +theta, 0.1)
    if decide_value(lam, se, -theta, 0.1) != "holds":
        verdict = "undecided"
    return result(
        "stationary-ou-reverse-sign",
        verdict,
        lam,
        se,
        f"{n} stationary OU(θ = 1) paths, reversed in time: regression of Y_(τ+Δ) on Y_τ gives a "
        f"drift slope {lam:.3f} ± {Z95 * se:.3f} per unit of reversed time (forward "
        f"{slopes['forward'][0]:.3f}): −θx, not +θx. Anderson's f − g²∇log p = −θx + 2θx = +θx "
        "is written for dt < 0; per unit of reversed time it is −θx — a stationary OU is reversible",
        quantity="drift slope of the time-reversed process",
        numbers={"forward_slope": slopes["forward"][0]},
    )


def ode_w2_quantiles(p0: Any, scheme: str, n_steps: int, m: int = 2000) -> float:
    """W2 of a deterministic sampler's output to p_(T_END) for 1-D mixture data, without sampling.

    The sampler's map is monotone in 1-D, so pushing the quantiles F_T⁻¹(u_i) of the exact p_1
    (u_i = (i + ½)/m) through it gives the quantiles of its output; W2² is the midpoint rule of
    ∫ (F_out⁻¹ - F_target⁻¹)² du against the exact quantiles of p_(T_END).
    """
    import fplab as fp
    from fplab.exact import exact_marginal
    from fplab.reverse import sample_reverse

    sde = _vp()
    u = (np.arange(m) + 0.5) / m
    x_t = exact_marginal(sde, p0, 1.0).ppf(u)
    out = sample_reverse(sde, fp.exact_score(sde, p0), x_t, t_start=1.0, t_end=T_END,
                         n_steps=n_steps, method=scheme)  # fmt: skip
    target = exact_marginal(sde, p0, T_END).ppf(u)
    return float(np.sqrt(np.mean((np.sort(out) - target) ** 2)))


def ode_steps_bimodal(scheme: str, tol: float, n_max: int = 4096) -> int:
    """Smallest n with :func:`ode_w2_quantiles` <= tol for the bimodal data (:func:`_smallest_n`)."""
    p0 = _bimodal_modes()
    return _smallest_n(lambda n: ode_w2_quantiles(p0, scheme, n), tol, 2, n_max)


@claim(
    17,
    "ode-vs-sde-steps",
    "Probability-flow samplers need 10–20 steps and reverse-SDE samplers 100–1000 for the same quality.",
)
def ode_vs_sde_steps(tier: str, seed: int) -> ClaimResult:
    schemes = ("pf-ode-heun", "pf-ode-euler", "euler-maruyama")
    counts = {
        (scheme, tol): steps_needed(scheme, tol) for scheme in schemes for tol in (1e-2, 1e-3)
    }
    grid = np.unique(np.geomspace(2, 2048, 34).astype(int))
    # bimodal data (weights 0.2/0.8 at ∓2, variance 0.25): the ODE's W2 from pushed quantiles
    bimodal = {tol: ode_steps_bimodal("pf-ode-heun", tol) for tol in (1e-2, 1e-3)}
    ode, sde = counts[("pf-ode-heun", 1e-2)], counts[("euler-maruyama", 1e-2)]
    # the claim's ranges are rough: allow a factor 1.5 either way
    ode_ok = 0 < ode <= 30
    sde_ok = 67 <= sde <= 1500
    verdict = "holds" if ode_ok and sde_ok else "fails"
    table = ", ".join(
        f"{s} {counts[(s, 1e-2)]}/{counts[(s, 1e-3)]}"
        for s in ("pf-ode-heun", "pf-ode-euler", "euler-maruyama")
    )
    return result(
        "ode-vs-sde-steps",
        verdict,
        float(sde) / float(ode),
        0.0,
        f"exact output laws, VP(β 0.1..20), Gaussian data N(0.5, 0.2), exact score, uniform steps "
        f"1 → 1e-3; steps for W2 ≤ 1e-2 / 1e-3: {table} (Heun: 2 scores per step). The ODE "
        f"needs {ode} (range 10–20 claimed), the SDE {sde} (100–1000 claimed). Bimodal data "
        f"(0.2/0.8 at ∓2): PF-ODE Heun needs {bimodal[1e-2]}/{bimodal[1e-3]} steps (W2 from pushed "
        "quantiles, no sampling)",
        quantity="SDE steps / ODE (Heun) steps at W2 ≤ 1e-2",
        numbers={f"{s}@{t:g}": c for (s, t), c in counts.items()}
        | {f"pf-ode-heun-bimodal@{t:g}": c for t, c in bimodal.items()},
        figure={"kind": "curves", "x": grid.tolist(), "xlabel": "steps", "ylabel": "W2 to p(1e-3)",
                "curves": {s: [sampler_w2(s, int(n)) for n in grid] for s in schemes},
                "xscale": "log", "yscale": "log", "hlines": [1e-2, 1e-3]},
    )  # fmt: skip


def _bimodal_modes() -> Any:
    from fplab.distributions import GaussianMixture

    return GaussianMixture([0.2, 0.8], [[-2.0], [2.0]], [[[0.25]], [[0.25]]])


@claim(
    18,
    "sde-covers-modes",
    "Reverse-SDE sampling recovers mode weights better than the probability-flow ODE when the "
    "score is imperfect.",
)
def sde_covers_modes(tier: str, seed: int) -> ClaimResult:
    n = 20_000 if tier == "quick" else 200_000
    biased = modes_measurement(0.2, seed, n)
    scaled = modes_measurement(0.0, seed, n, scale=1.2)
    return result(
        "sde-covers-modes",
        combine(biased.verdict, scaled.verdict),
        biased.value,
        biased.uncertainty,
        f"{biased.detail}; score 1.2 s instead: SDE {scaled.numbers['w_sde']:.4f}, ODE "
        f"{scaled.numbers['w_ode']:.4f}",
        condition="one of the two score errors (bias 0.2, scale 1.2) only",
        quantity=biased.quantity,
        numbers=biased.numbers
        | {"w_sde_scaled": scaled.numbers["w_sde"], "w_ode_scaled": scaled.numbers["w_ode"]},
    )


def modes_measurement(bias: float, seed: int, n: int, scale: float = 1.0) -> ClaimResult:
    """Left-mode weight (true 0.2) from reverse EM and PF-ODE Heun with score ``scale`` s + ``bias``."""
    import fplab as fp
    from fplab.exact import exact_marginal
    from fplab.reverse import sample_reverse

    sde = _vp()
    p0 = _bimodal_modes()
    exact = fp.exact_score(sde, p0)

    def score(x: Any, t: float) -> Any:
        return scale * exact(x, t) + bias

    x_t = exact_marginal(sde, p0, 1.0).sample(n, seed=seed)
    w = {}
    for method, steps in (("euler-maruyama", 400), ("pf-ode-heun", 100)):
        x = sample_reverse(
            sde, score, x_t, t_start=1.0, t_end=T_END, n_steps=steps, method=method, seed=seed + 1
        )
        frac = float(np.mean(x < 0.0))
        w[method] = (frac, math.sqrt(frac * (1 - frac) / n))
    err_sde = abs(w["euler-maruyama"][0] - 0.2)
    err_ode = abs(w["pf-ode-heun"][0] - 0.2)
    se = math.hypot(w["euler-maruyama"][1], w["pf-ode-heun"][1])
    verdict = decide_above(err_ode - err_sde, se, 0.0)
    return result(
        "sde-covers-modes",
        verdict,
        err_ode - err_sde,
        se,
        f"bimodal data (weights 0.2/0.8 at ∓2), VP, score {scale:g} s + {bias:g}, {n} samples: "
        f"left-mode weight SDE (EM, 400 steps) {w['euler-maruyama'][0]:.4f}, ODE (Heun, 100 "
        f"steps) {w['pf-ode-heun'][0]:.4f} (true 0.2; ± {Z95 * w['pf-ode-heun'][1]:.4f})",
        quantity="ODE weight error − SDE weight error",
        numbers={"w_sde": w["euler-maruyama"][0], "w_ode": w["pf-ode-heun"][0], "bias": bias,
                 "scale": scale},
    )  # fmt: skip


@claim(19, "pc-better", "Predictor–corrector beats the predictor alone at equal score evaluations.")
def pc_better(tier: str, seed: int) -> ClaimResult:
    from fplab.distributions import GaussianMixture
    from fplab.exact import exact_marginal, exact_score
    from fplab.reverse import sample_reverse

    sde = _vp()
    p0 = GaussianMixture([1.0], [[MU0]], [[[V0]]])
    n = 200_000 if tier == "quick" else 2_000_000
    x_t = exact_marginal(sde, p0, 1.0).sample(n, seed=seed)
    mt, vt = _target(sde)
    rows = {}
    for n_pc in (10, 25):
        x = sample_reverse(sde, exact_score(sde, p0), x_t, t_start=1.0, t_end=T_END,
                           n_steps=n_pc, method="predictor-corrector", seed=seed + 1)  # fmt: skip
        dm, ds = float(x.mean() - mt), float(x.std() - math.sqrt(vt))
        # remove the sampling bias of dm² and ds² (v/n and v/(2n)) before the root
        w2_pc = math.sqrt(max(dm * dm - vt / n + ds * ds - vt / (2 * n), 0.0))
        se = math.hypot(dm * math.sqrt(vt / n), ds * math.sqrt(vt / (2 * n))) / max(w2_pc, 1e-300)
        times = np.linspace(1.0, T_END, 2 * n_pc + 1)  # EM at the same 2 scores per PC step
        w2_em = w2_gaussian_1d(*reverse_gaussian_law(sde, MU0, V0, times, "euler-maruyama"), mt, vt)
        rows[n_pc] = (w2_pc, se, w2_em)
    verdicts = [decide_above(em - pc, se, 0.0) for pc, se, em in rows.values()]
    verdict = combine(verdicts[0], verdicts[1])
    w2_pc, se, w2_em = rows[25]
    return result(
        "pc-better",
        verdict,
        w2_pc / w2_em,
        se / w2_em,
        f"VP, Gaussian data, exact score, W2 to p_(1e-3) at equal score evaluations: PC (1 corrector, "
        f"snr 0.16, {n} samples) vs EM with twice the steps (exact law): 20 evals {rows[10][0]:.4f} "
        f"vs {rows[10][2]:.4f}; 50 evals {w2_pc:.4f} ± {Z95 * se:.4f} vs {w2_em:.4f}",
        condition="coarse budgets, where the corrector's pull towards p_t outweighs its fixed-snr "
        "Langevin bias",
        quantity="W2(PC) / W2(EM) at 50 score evaluations",
        numbers={f"pc_{k}": v[0] for k, v in rows.items()}
        | {f"em_{k}": v[2] for k, v in rows.items()},
    )


@claim(
    20,
    "w2-bound-rates",
    "The sampling error in W2 is bounded by C₁√ε_score + C₂√Δt + C₃ t_min.",
)
def w2_bound_rates(tier: str, seed: int) -> ClaimResult:
    from fplab.claims.sde_claims import _fit

    sde = _vp()
    times = np.linspace(1.0, T_END, 1025)
    base = reverse_gaussian_law(sde, MU0, V0, times, "euler-maruyama")
    biases = [0.005, 0.01, 0.02, 0.04]
    w_eps = [
        w2_gaussian_1d(*reverse_gaussian_law(sde, MU0, V0, times, "euler-maruyama", bias=b), *base)
        for b in biases
    ]
    q_eps, se_eps = _fit(np.array(biases) ** 2, w_eps)
    levels = [64, 128, 256, 512, 1024]
    w_dt = [sampler_w2("euler-maruyama", n) for n in levels]
    q_dt, se_dt = _fit(1.0 / np.array(levels), w_dt)
    t_mins = [1e-4, 3e-4, 1e-3, 3e-3]
    w_t = [w2_gaussian_1d(*_target(sde, t), MU0, V0) for t in t_mins]
    q_t, se_t = _fit(t_mins, w_t)
    w_pt = [w2_gaussian_1d(*_target(sde, t, v0=0.0), MU0, 0.0) for t in t_mins]
    q_pt, se_pt = _fit(t_mins, w_pt)
    tol = 0.05
    # a term bounds the error when the measured exponent is at least the claimed one
    eps_ok = decide_value(q_eps, se_eps, 0.5, tol)
    dt_ok = decide_above(q_dt, se_dt, 0.5 - tol)
    t_ok = decide_above(q_t, se_t, 1.0 - tol)
    pt_ok = decide_above(q_pt, se_pt, 1.0 - tol)
    density = "holds" if (eps_ok, dt_ok, t_ok) == ("holds",) * 3 else "fails"
    verdict = (
        combine(pt_ok, density) if "undecided" not in (eps_ok, dt_ok, t_ok, pt_ok) else "undecided"
    )
    return result(
        "w2-bound-rates",
        verdict,
        q_dt,
        se_dt,
        f"exact laws, VP, Gaussian data N(0.5, 0.2), reverse EM: W2 ∝ ε^{q_eps:.3f} in the score "
        f"error (claimed 0.5), ∝ Δt^{q_dt:.3f} (claimed 0.5: a valid but loose bound), ∝ "
        f"t_min^{q_t:.3f} (claimed 1); for point-mass data W2(p_(t_min), p_0) ∝ t_min^{q_pt:.3f}",
        condition="the data law has a density (for point-mass data the t_min term is √t_min); "
        "the √Δt term is an upper bound, the measured rate is Δt¹",
        quantity="measured Δt exponent of W2",
        numbers={"q_eps": q_eps, "q_dt": q_dt, "q_tmin": q_t, "q_tmin_point": q_pt},
    )  # fmt: skip


@claim(
    21,
    "ode-sde-same-law",
    "The probability-flow ODE and the reverse SDE give the same distribution at every t.",
)
def ode_sde_same_law(tier: str, seed: int) -> ClaimResult:
    from fplab.claims.sde_claims import _fit

    sde = _vp()
    levels = [32, 64, 128, 256, 512, 1024]
    gaps, gaps_bias, gaps_mid = [], [], []
    for n in levels:
        times = np.linspace(1.0, T_END, n + 1)
        laws = [
            reverse_gaussian_law(sde, MU0, V0, times, s) for s in ("euler-maruyama", "pf-ode-heun")
        ]
        gaps.append(w2_gaussian_1d(*laws[0], *laws[1]))
        laws_b = [
            reverse_gaussian_law(sde, MU0, V0, times, s, bias=0.1)
            for s in ("euler-maruyama", "pf-ode-heun")
        ]
        gaps_bias.append(w2_gaussian_1d(*laws_b[0], *laws_b[1]))
        half = np.linspace(1.0, 0.5, n // 2 + 1)  # at an intermediate time t = 0.5
        laws_m = [
            reverse_gaussian_law(sde, MU0, V0, half, s) for s in ("euler-maruyama", "pf-ode-heun")
        ]
        gaps_mid.append(w2_gaussian_1d(*laws_m[0], *laws_m[1]))
    q, se = _fit(1.0 / np.array(levels), gaps)
    q_mid, _ = _fit(1.0 / np.array(levels), gaps_mid)
    q_b, _ = _fit(1.0 / np.array(levels), gaps_bias)
    exact_limit = decide_above(q, se, 0.5)  # the gap vanishes with Δt
    biased_stays = gaps_bias[-1] > 10 * gaps[-1] and abs(q_b) < 0.5
    verdict = "holds-when" if exact_limit == "holds" and biased_stays else "undecided"
    return result(
        "ode-sde-same-law",
        verdict,
        gaps[-1],
        0.0,
        f"exact laws, VP, Gaussian data: W2(SDE-EM, ODE-Heun) at 1024 steps {gaps[-1]:.2e}, falling "
        f"as Δt^{q:.2f} (at t = 0.5: Δt^{q_mid:.2f}); with score error 0.1 the gap stays "
        f"{gaps_bias[-1]:.3f} (slope {q_b:.2f}): same marginals only for the exact score and Δt → 0",
        condition="exact score and Δt → 0 (then both have the marginals p_t at every t); at finite "
        "steps the gap is O(Δt), with a score error it is O(ε) and does not vanish",
        quantity="W2 gap at 1024 steps, exact score",
        numbers={"order": q, "gap_bias_1024": gaps_bias[-1], "gaps": gaps},
    )  # fmt: skip


@claim(22, "dsm-target", "Denoising score matching learns ∇log p(x_t | x_0).")
def dsm_target(tier: str, seed: int) -> ClaimResult:
    from fplab.exact import exact_score

    sde = _vp()
    p0 = _bimodal_modes()
    t = 0.3
    n = 200_000 if tier == "quick" else 2_000_000
    rng = np.random.default_rng(seed)
    x0 = p0.sample(n, seed=seed)
    alpha, _, var = sde.transition(0.0, t)
    z = rng.standard_normal(x0.shape)
    xt = alpha * x0 + math.sqrt(var) * z
    y = (-(xt - alpha * x0) / var)[:, 0]  # the DSM target ∇ log p(x_t | x_0)
    s = exact_score(sde, p0)(xt, t)[:, 0]
    # the DSM minimiser is E[y | x_t]: binned means of y against binned means of the marginal score
    edges = np.quantile(xt[:, 0], np.linspace(0.005, 0.995, 41))
    idx = np.digitize(xt[:, 0], edges) - 1
    zs = []
    for b in range(40):
        sel = idx == b
        yb, sb = y[sel], s[sel]
        zs.append((yb.mean() - sb.mean()) / (np.std(yb - sb) / math.sqrt(sel.sum())))
    chi2 = float(np.mean(np.square(zs)))  # ≈ 1 when E[y | bin] equals the marginal score
    resid = float(np.mean((y - s) ** 2))  # what no function of x_t can fit
    resid_se = float(np.std((y - s) ** 2) / math.sqrt(n))
    matches_marginal = chi2 < 2.0
    verdict = decide_above(resid, resid_se, 0.0) if matches_marginal else "undecided"
    verdict = {"holds": "fails", "fails": "holds"}.get(verdict, verdict)
    return result(
        "dsm-target",
        verdict,
        resid / float(np.mean(y**2)),
        resid_se / float(np.mean(y**2)),
        f"VP at t = {t}, bimodal data, {n} pairs: binned E[∇log p(x_t|x_0) | x_t] equals the "
        f"marginal score ∇log p_t (40 bins, mean z² = {chi2:.2f}); the conditional target keeps "
        f"E|y − ∇log p_t|² = {resid:.3f} of E|y|² = {float(np.mean(y**2)):.3f}, which no function of "
        "x_t fits: DSM learns the marginal score E[∇log p(x_t|x_0) | x_t]",
        quantity="fraction of E|DSM target|² no function of x_t can fit",
        numbers={"chi2_per_bin": chi2, "residual": resid},
    )


@claim(
    25,
    "flow-matching-straight",
    "Rectified-flow / flow-matching marginal paths are straight lines.",
)
def flow_matching_straight(tier: str, seed: int) -> ClaimResult:
    from fplab.distributions import GaussianMixture

    n = 2000 if tier == "quick" else 20000
    excess = {}
    for name, p0 in (
        ("bimodal", GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.05]], [[0.05]]])),
        ("point", GaussianMixture([1.0], [[1.5]], [[[1e-10]]])),
    ):
        excess[name] = path_excess(p0, n, seed)
    tol = 1e-3  # RK4 with 400 steps: path lengths to ~1e-6
    bim = decide_value(excess["bimodal"][0], excess["bimodal"][1], 0.0, tol)
    tr = decide_value(excess["point"][0], excess["point"][1], 0.0, tol)
    return result(
        "flow-matching-straight",
        combine(bim, tr),
        excess["bimodal"][0],
        excess["bimodal"][1],
        f"ODE dx/dt = v(x, t) of the exact marginal velocity on x_t = (1−t)x_0 + t z, integrated "
        f"from {n} noise samples (RK4, 400 steps): mean path length / chord − 1 = "
        f"{excess['bimodal'][0]:.4f} for bimodal data, {excess['point'][0]:.1e} for point-mass "
        "data; the conditional paths are straight by construction, the marginal ones bend "
        "towards the modes",
        condition="conditional paths (given x_0, z) always; marginal paths only when x_0 is "
        "determined by z (point-mass data, or a deterministic coupling after rectification)",
        quantity="mean relative excess length of marginal paths (bimodal data)",
        numbers={"excess_point": excess["point"][0]},
    )


def path_excess(p0: Any, n: int, seed: int, n_steps: int = 400) -> tuple[float, float]:
    """(mean, se) of path length / chord - 1 for the marginal flow from z ~ N(0, 1) at t = 1 to t = 0."""
    from fplab.claims.fields import linear_path_velocity

    x = np.random.default_rng(seed).standard_normal((n, 1))
    start = x.copy()
    length = np.zeros(n)
    h = 1.0 / n_steps
    for k in range(n_steps):
        t = 1.0 - k * h

        def v(y: Any, s: float) -> Any:
            return linear_path_velocity(p0, y, s)

        t_mid, t_end = t - 0.5 * h, max(t - h, 0.0)  # no round-off step below t = 0
        k1 = v(x, t)
        k2 = v(x - 0.5 * h * k1, t_mid)
        k3 = v(x - 0.5 * h * k2, t_mid)
        k4 = v(x - h * k3, t_end)
        step = h * (k1 + 2 * k2 + 2 * k3 + k4) / 6.0
        x = x - step
        length += np.abs(step[:, 0])
    chord = np.abs(x - start)[:, 0]
    # ratio of means (path lengths over chords): per-path ratios are heavy-tailed for short chords
    excess = float((length - chord).mean() / chord.mean())
    return excess, float((length - chord).std() / math.sqrt(n) / chord.mean())
