"""fplab.claims: the decision rules, the exact scheme laws, the fields, and each claim's numbers.

Every claim is tested on its measured numbers against an independent answer (closed forms,
definitions, a second computation), with a tolerance from its uncertainty; a deliberate change of
the measured system (noise level, drift, rotation, score bias, data law) must change the verdict.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fplab as fp
from fplab.claims import (
    CLAIMS,
    ClaimResult,
    combine,
    decide_above,
    decide_value,
    ordered_ids,
    run_claim,
)
from fplab.claims import density_claims as dc
from fplab.claims import sampler_claims as sc
from fplab.claims import sde_claims as sd
from fplab.claims.fields import (
    linear_path_velocity,
    mixture_log_laplacian,
    pf_divergence,
    probability_flux,
    stationary_density_1d,
)
from fplab.claims.laws import forward_scheme_law, reverse_gaussian_law, w2_gaussian_1d
from fplab.grid import Grid
from fplab.mc import simulate
from fplab.reverse import sample_reverse
from fplab.sdes import BoundedSDE, RotatingOU

BIMODAL = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
VP20 = fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)

ISSUE_IDS = [
    "em-strong-half", "em-exact-linear", "sde-weak-sqrt-dt", "heun-frozen-g-weak-2",
    "pf-ode-divergence-free", "fisher-monotone", "entropy-integral", "kl-decay-fisher",
    "bounded-sde-range", "cubic-drift-multimodal", "stationary-ou-reverse-sign",
    "brownian-heat-limit", "backward-heat-infinite", "subvp-std", "ve-second-moment",
    "cosine-beta", "ode-vs-sde-steps", "sde-covers-modes", "pc-better", "w2-bound-rates",
    "ode-sde-same-law", "dsm-target", "score-vanishes", "stationary-zero-flux",
    "flow-matching-straight", "ddpm-chain-limit",
]  # fmt: skip


# -- catalogue and decision rules ------------------------------------------------------------
def test_the_catalogue_holds_the_issues_26_claims_in_order():
    assert ordered_ids() == ISSUE_IDS
    assert [CLAIMS.get(c).number for c in ISSUE_IDS] == list(range(1, 27))


def test_decide_value_uses_the_interval_plus_tolerance_and_a_margin():
    assert decide_value(0.515, 0.01, 0.5, 0.0) == "holds"  # 0.015 <= 1.96 * 0.01
    assert decide_value(0.55, 0.01, 0.5, 0.0) == "fails"  # 0.05 >= 2 * 0.0196
    assert decide_value(0.535, 0.01, 0.5, 0.0) == "undecided"
    assert decide_value(math.nan, 0.01, 0.5, 0.1) == "undecided"
    assert decide_above(1.0, 0.1, 0.5) == "holds" and decide_above(0.0, 0.1, 0.5) == "fails"
    assert decide_above(0.5, 0.1, 0.5) == "undecided"
    assert combine("fails", "holds") == "holds-when" and combine("holds", "holds") == "holds"
    assert combine("fails", "undecided") == "undecided"


def test_claim_result_checks_its_verdict_and_round_trips_json():
    with pytest.raises(ValueError, match="verdict"):
        ClaimResult("x", "s", "maybe", 1.0, 0.0, "d")
    with pytest.raises(ValueError, match="condition"):
        ClaimResult("x", "s", "holds-when", 1.0, 0.0, "d")
    r = ClaimResult("x", "s", "fails", math.nan, 0.1, "d", numbers={"a": 1.0})
    back = ClaimResult.from_json(r.to_json())
    assert math.isnan(back.value) and back.numbers == {"a": 1.0} and r.to_json()["value"] is None
    with pytest.raises(ValueError, match="tier"):
        run_claim("cosine-beta", tier="medium")
    with pytest.raises(ValueError, match="unknown claim"):
        run_claim("cosine-betaa")


# -- exact laws of schemes --------------------------------------------------------------------
def test_euler_law_equals_the_em_law_study_kind():
    from fplab.studykinds.em_law import euler_maruyama_law

    ou = fp.OU(theta=1.3, mu=0.4, sigma=0.8)
    a = forward_scheme_law(ou, BIMODAL, 0.0, 1.0, 16, "euler-maruyama")
    b = euler_maruyama_law(ou, BIMODAL, 0.0, 1.0, 16)
    np.testing.assert_allclose(a.means, b.means, rtol=1e-14)
    np.testing.assert_allclose(a.covs, b.covs, rtol=1e-14)


def test_monte_carlo_second_moment_matches_the_exact_law_of_the_scheme():
    # the law of each scheme (written from its formula) against the MC kernels: E[x²] after 8
    # steps on VP(β 0.1..4), k = 4 standard errors
    vp = fp.VP(beta_min=0.1, beta_max=4.0, T=1.0)
    n = 200_000
    for method in ("heun-frozen-g", "heun", "euler-maruyama"):
        x = simulate(vp, BIMODAL, n_paths=n, n_steps=8, method=method, seed=11)
        law = forward_scheme_law(vp, BIMODAL, 0.0, 1.0, 8, method)
        m2 = float(np.sum(law.weights * (law.means[:, 0] ** 2 + law.covs[:, 0, 0])))
        se = float(np.std(x**2) / math.sqrt(n))
        assert abs(float(np.mean(x**2)) - m2) < 4 * se, method


@pytest.mark.parametrize("scheme", ["pf-ode-euler", "pf-ode-heun"])
def test_reverse_ode_law_is_the_samplers_affine_map(scheme):
    # a deterministic sampler with a linear score maps x to A x + C: probe it at x = 0 and 1
    p0 = fp.GaussianMixture([1.0], [[0.5]], [[[0.2]]])
    out = sample_reverse(VP20, fp.exact_score(VP20, p0), np.array([0.0, 1.0]), t_start=1.0,
                         t_end=1e-3, n_steps=12, method=scheme)  # fmt: skip
    times = np.linspace(1.0, 1e-3, 13)
    c, _ = reverse_gaussian_law(VP20, 0.5, 0.2, times, scheme, start=(0.0, 0.0))
    a_plus_c, _ = reverse_gaussian_law(VP20, 0.5, 0.2, times, scheme, start=(1.0, 0.0))
    np.testing.assert_allclose(out, [c, a_plus_c], rtol=1e-10, atol=1e-12)


def test_reverse_em_law_matches_sample_moments():
    p0 = fp.GaussianMixture([1.0], [[0.5]], [[[0.2]]])
    n = 100_000
    x_t = fp.exact_marginal(VP20, p0, 1.0).sample(n, seed=1)
    x = sample_reverse(VP20, fp.exact_score(VP20, p0), x_t, t_start=1.0, t_end=1e-3, n_steps=20,
                       method="euler-maruyama", seed=2)  # fmt: skip
    m, v = reverse_gaussian_law(VP20, 0.5, 0.2, np.linspace(1.0, 1e-3, 21), "euler-maruyama")
    assert abs(x.mean() - m) < 4 * math.sqrt(v / n)  # k = 4
    assert abs(x.var() - v) < 4 * v * math.sqrt(2.0 / n)
    assert w2_gaussian_1d(0.0, 1.0, 3.0, 4.0) == pytest.approx(math.sqrt(10.0))


# -- fields ------------------------------------------------------------------------------------
def test_mixture_log_laplacian_matches_finite_differences_of_the_score(rng):
    p = fp.GaussianMixture([0.3, 0.7], [[-1.0, 0.5], [1.0, 0.0]],
                           [[[0.6, 0.1], [0.1, 0.4]], [[0.5, 0.0], [0.0, 0.9]]])  # fmt: skip
    x = rng.normal(size=(6, 2))
    h = 1e-5  # central differences: error ~h² |∂³ log p| ~ 1e-9
    lap = sum(
        (p.score(x + h * e)[:, i] - p.score(x - h * e)[:, i]) / (2 * h)
        for i, e in enumerate(np.eye(2))
    )
    np.testing.assert_allclose(mixture_log_laplacian(p, x), lap, atol=1e-7)


def test_pf_divergence_is_the_gaussian_closed_form():
    # p0 = N(0, s0²) under VP: p_t = N(0, v_t), ∇·v = β(t)/2 (1/v_t - 1) in 1-D
    p0 = fp.GaussianMixture([1.0], [[0.0]], [[[0.09]]])
    t = 0.3
    m, _, var = VP20.transition(0.0, t)
    v_t = m * m * 0.09 + var
    x = np.linspace(-2, 2, 5)[:, None]
    expected = 0.5 * float(VP20.beta(t)) * (1.0 / v_t - 1.0)
    np.testing.assert_allclose(pf_divergence(VP20, p0, x, t), expected, rtol=1e-12)


def test_stationary_density_and_flux_on_grids():
    grid = Grid.uniform(-6.0, 6.0, 2400)
    pts = grid.points()
    dw = fp.DoubleWell(sigma=0.8)
    # trapezoid potential: O(dx²) = 2.5e-5 relative
    np.testing.assert_allclose(
        stationary_density_1d(dw, grid), dw.stationary_pdf(pts), rtol=1e-4, atol=1e-9
    )
    b = BoundedSDE(sigma=1.3)
    ref = b.stationary_pdf(pts)  # heavy e^(-1.2|x|) tails: normalised on the box as the grid one
    np.testing.assert_allclose(stationary_density_1d(b, grid), ref / grid.integrate(ref), rtol=1e-4)
    rot = RotatingOU(omega=0.7)
    g2 = Grid.uniform((-5.0, -5.0), (5.0, 5.0), (201, 201))
    p = rot.stationary_pdf(g2.points()).reshape(g2.shape)
    j = probability_flux(rot, p, g2)
    exact = rot.stationary_flux(g2.points()).T.reshape(2, *g2.shape)
    assert np.max(np.abs(j - exact)) < 2e-3  # central differences at dx = 0.05: O(dx²) p''' ~ 1e-3


@pytest.mark.slow  # imports torch (~3 s)
def test_linear_path_velocity_matches_the_flow_module():
    pytest.importorskip("torch")
    from fplab.nn.flow import exact_velocity

    x = np.linspace(-3, 3, 7)[:, None]
    for t in (0.2, 0.7):
        np.testing.assert_allclose(
            linear_path_velocity(BIMODAL, x, t),
            exact_velocity(BIMODAL)(x, t),
            rtol=1e-10,
            atol=1e-12,
        )


# -- the claims' numbers ----------------------------------------------------------------------
def test_em_strong_orders_are_one_half_and_one():
    orders = sd.strong_orders(4000, 0)
    (pg, sg), (po, so) = orders["gbm"], orders["ou"]
    assert abs(pg - 0.5) < 0.1 + 1.96 * sg  # ORDER_TOL + interval
    assert abs(po - 1.0) < 0.1 + 1.96 * so


def test_em_law_on_ou_is_the_hand_written_recursion():
    # v_(k+1) = (1 - h)² v_k + 2 h, m_(k+1) = (1 - h) m_k against the exact e^(-2)v0 + 1 - e^(-2)
    r = run_claim("em-exact-linear")
    h, v, m = 0.1, 0.5, 2.0
    for _ in range(10):
        v, m = (1 - h) ** 2 * v + 2 * h, (1 - h) * m
    v_exact = math.exp(-2) * 0.5 + 1 - math.exp(-2)
    expected = max(abs(v / v_exact - 1), abs(m - 2 * math.exp(-1)))
    assert r.value == pytest.approx(expected, rel=1e-12)
    assert r.numbers["error_heat"] < 1e-14 and r.verdict == "fails"


def test_weak_orders_from_exact_laws():
    r = run_claim("sde-weak-sqrt-dt")
    assert abs(r.value - 1.0) < 0.1 + 1.96 * r.uncertainty
    assert abs(r.numbers["order_reverse_w2"] - 1.0) < 0.1
    r = run_claim("heun-frozen-g-weak-2")
    assert abs(r.numbers["order_frozen"] - 1.0) < 0.1 and abs(r.numbers["order_heun"] - 2.0) < 0.1
    assert abs(r.numbers["mc_z"]) < 4.0
    r = run_claim("ddpm-chain-limit")
    assert abs(r.value - 1.0) < 0.1 + 1.96 * r.uncertainty


def test_divergence_fisher_entropy_kl_numbers():
    r = run_claim("pf-ode-divergence-free")
    assert r.value > 0.5 and r.verdict == "fails"
    curves = dc.fisher_curves(n_times=9)
    t = np.array(curves["t"])
    v = 4 * np.exp(-2 * t) + 1 - np.exp(-2 * t)  # OU from N(0, 4): I = 1/v(t)
    np.testing.assert_allclose(curves["ou"], 1 / v, rtol=1e-9)
    assert np.all(np.diff(curves["heat"]) < 0)
    r = run_claim("entropy-integral")
    assert abs(r.numbers["delta_h"] - r.numbers["de_bruijn"]) < 1e-4  # de Bruijn holds
    assert r.value == pytest.approx(r.numbers["delta_h"] - 0.5, abs=1e-12)
    r = run_claim("kl-decay-fisher")
    n = r.numbers
    assert n["dkl_dt"] == pytest.approx(-n["relative_fisher"], rel=1e-6)  # the correct identity
    assert r.value == pytest.approx(n["relative_fisher"] / n["fisher"], rel=1e-6)


def test_entropy_and_fisher_quadrature_on_a_gaussian():
    g = dc._grid()
    law = fp.GaussianMixture([1.0], [[0.3]], [[[0.7]]])
    h, i = dc._info(law, g)
    assert h == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 0.7), abs=1e-10)
    assert i == pytest.approx(1 / 0.7, abs=1e-10)


def test_bounded_sde_mass_and_its_flips():
    r = run_claim("bounded-sde-range")
    assert abs(r.value - (1 - math.tanh(1.0))) < 1e-2 and r.verdict == "fails"
    # small noise: the stationary law concentrates inside [-1, 1] and the verdict flips
    assert dc.bounded_measurement(0.2).verdict == "holds"
    # the opposite drift sign pushes mass out: the measured mass grows
    assert dc.bounded_measurement(1.0, sign=-1.0).value > r.value + 0.3


def test_cubic_drift_is_unimodal_and_the_double_well_is_not():
    r = run_claim("cubic-drift-multimodal")
    assert r.value == 1.0 and r.verdict == "fails"
    assert dc.modes_measurement(fp.DoubleWell(sigma=1.0), "cubic-drift-multimodal").value == 2.0


def test_flux_of_the_rotating_ou_and_zero_rotation():
    r = run_claim("stationary-zero-flux")
    n = r.numbers
    assert abs(r.value - n["flux_2d_exact"]) < 1e-3 and n["flux_1d"] < 1e-4
    assert r.verdict == "holds-when"
    assert dc.flux_measurement(0.0, 481).verdict == "holds"  # gradient drift: zero flux


def test_score_at_large_t_and_backward_heat_rates():
    r = run_claim("score-vanishes")
    ve_var = 50.0**2 - 0.01**2  # VE adds σ(1)² - σ(0)²; the data variance is ~3
    assert r.numbers["fisher_ve"] == pytest.approx(1 / ve_var, rel=2e-3)
    assert r.value == pytest.approx(1.0, abs=1e-3)  # VP: p_1 ≈ N(0, 1), e^(-10) from it
    r = run_claim("backward-heat-infinite")
    assert r.value == pytest.approx(4 * 128**2 / (2 * math.pi) ** 2, rel=1e-6)
    assert r.numbers["rate_128"] / r.numbers["rate_64"] == pytest.approx(4.0, rel=0.05)


def test_reversed_stationary_ou_has_the_forward_drift():
    r = run_claim("stationary-ou-reverse-sign")
    assert abs(r.value + 1.0) < 4 * r.uncertainty  # -θ, k = 4
    assert abs(r.numbers["forward_slope"] + 1.0) < 4 * r.uncertainty


def test_brownian_and_sub_vp_numbers_and_flips():
    r = sd.brownian_measurement(1.0, 20_000, 0)
    assert abs(r.value - 0.5) < 4 * r.uncertainty and r.verdict == "fails"
    assert sd.brownian_measurement(2**0.5, 20_000, 0).verdict == "holds"  # g = √2: D = 1
    r = run_claim("subvp-std")
    assert abs(r.value - r.numbers["sub_vp_formula"]) < 4 * r.uncertainty + 1e-3
    assert r.verdict == "fails"
    assert sd.std_measurement(VP20, 40_000, 0).verdict == "holds"  # VP: the formula is VP's


def test_ve_offset_and_cosine_beta():
    r = run_claim("ve-second-moment")
    assert r.value == pytest.approx(-2 * 0.5**2, abs=1e-8) and r.verdict == "holds-when"
    r = run_claim("cosine-beta")
    assert r.numbers["pi-tan"] < 1e-9 and r.numbers["pi-sin-cos"] > 0.1
    # the derived β is fplab's cosine schedule
    sched = fp.VP(schedule="cosine", T=1.0)
    ts = np.linspace(0, 0.9, 7)
    np.testing.assert_allclose(sd.COSINE_BETAS["pi-tan"](ts), sched.beta(ts), rtol=1e-13)


def test_step_counts_are_the_smallest_meeting_the_target():
    for scheme in ("pf-ode-heun", "euler-maruyama"):
        n = sc.steps_needed(scheme, 1e-2)
        assert sc.sampler_w2(scheme, n) <= 1e-2 < sc.sampler_w2(scheme, n - 1)


def test_pushed_quantiles_reproduce_the_exact_gaussian_law_w2():
    # Gaussian data: W2 from 2000 pushed quantiles vs the closed-form law of the ODE sampler;
    # the midpoint rule in u (tails cut at u = 1/4000) agrees to ~1 %
    p0 = fp.GaussianMixture([1.0], [[sc.MU0]], [[[sc.V0]]])
    for n in (8, 32):
        assert sc.ode_w2_quantiles(p0, "pf-ode-heun", n) == pytest.approx(
            sc.sampler_w2("pf-ode-heun", n), rel=0.02
        )
    n = sc.ode_steps_bimodal("pf-ode-heun", 1e-2)
    p_b = sc._bimodal_modes()
    assert (
        sc.ode_w2_quantiles(p_b, "pf-ode-heun", n)
        <= 1e-2
        < sc.ode_w2_quantiles(p_b, "pf-ode-heun", n - 1)
    )


@pytest.mark.slow  # six 20000-sample reverse runs (~8 s)
def test_mode_weights_with_a_biased_and_an_exact_score():
    r = sc.modes_measurement(0.2, 0, 20_000)
    assert r.verdict == "holds" and r.numbers["w_ode"] < r.numbers["w_sde"] < 0.2
    r0 = sc.modes_measurement(0.0, 0, 20_000)  # exact score: no difference to detect
    assert abs(r0.numbers["w_sde"] - 0.2) < 4 * math.sqrt(0.16 / 20_000)
    assert abs(r0.numbers["w_ode"] - 0.2) < 4 * math.sqrt(0.16 / 20_000)
    assert r0.verdict != "holds"
    r2 = sc.modes_measurement(0.0, 0, 20_000, scale=1.2)  # an over-confident score
    assert r2.verdict == "holds" and r2.numbers["w_ode"] < r2.numbers["w_sde"] < 0.2


def test_pc_w2_and_bound_exponents():
    r = run_claim("pc-better")
    assert r.numbers["pc_10"] > r.numbers["em_10"] and r.verdict == "fails"
    r = run_claim("w2-bound-rates")
    n = r.numbers
    assert abs(n["q_eps"] - 0.5) < 0.02 and abs(n["q_dt"] - 1.0) < 0.1
    assert abs(n["q_tmin"] - 1.0) < 0.1 and abs(n["q_tmin_point"] - 0.5) < 0.1
    r = run_claim("ode-sde-same-law")
    assert abs(r.numbers["order"] - 1.0) < 0.1 and r.numbers["gap_bias_1024"] > 0.1


def test_dsm_minimiser_is_the_marginal_score():
    r = run_claim("dsm-target")
    n = r.numbers
    assert n["chi2_per_bin"] < 2.0 and r.value > 0.1 and r.verdict == "fails"


def test_flow_paths_are_straight_only_for_point_mass_data():
    r = run_claim("flow-matching-straight")
    assert r.value > 0.1 and r.numbers["excess_point"] < 1e-4
    assert r.verdict == "holds-when"


def test_fields_reject_what_their_formulas_do_not_cover():
    grid = Grid.uniform(-3.0, 3.0, 50)
    with pytest.raises(TypeError, match="p0 must be a GaussianMixture"):
        pf_divergence(VP20, np.zeros(3), np.zeros((2, 1)), 0.5)
    with pytest.raises(TypeError, match="sde must be a LinearSDE"):
        pf_divergence(fp.DoubleWell(), BIMODAL, np.zeros((2, 1)), 0.5)
    with pytest.raises(ValueError, match="t must be > 0"):
        pf_divergence(VP20, BIMODAL, np.zeros((2, 1)), 0.0)
    with pytest.raises(ValueError, match="additive noise"):
        stationary_density_1d(fp.GBM(), grid)
    with pytest.raises(ValueError, match="autonomous"):
        stationary_density_1d(VP20, grid)
    with pytest.raises(ValueError, match="grid's shape"):
        probability_flux(fp.OU(), np.zeros(7), grid)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        linear_path_velocity(BIMODAL, np.zeros((2, 1)), 1.5)
