"""The SDE catalogue: coefficients, closed-form transitions vs quadrature, compiled form, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import fplab as fp
from fplab.sdes import SCHEDULES, SDES, LinearSDE, build_sde

LINEAR_SDES = [
    fp.OU(theta=1.3, mu=0.4, sigma=0.9),
    fp.OU(theta=0.0, mu=0.0, sigma=1.1),
    fp.Heat(D=0.7),
    fp.VP(beta_min=0.1, beta_max=20.0, T=1.0),
    fp.VP(beta_min=0.1, beta_max=20.0, T=2.0, schedule="cosine"),
    fp.VP(beta_min=0.5, beta_max=10.0, T=1.0, schedule="quadratic"),
    fp.SubVP(beta_min=0.1, beta_max=20.0, T=1.0),
    fp.SubVP(beta_min=0.1, beta_max=20.0, T=1.0, schedule="cosine"),
    fp.VE(sigma_min=0.01, sigma_max=50.0, T=1.0),
]
ALL_SDES = [*LINEAR_SDES, fp.GBM(mu=0.05, sigma=0.4), fp.DoubleWell(sigma=0.8)]


def test_registry_holds_the_catalogue():
    # every registered SDE is public API (fp.<ClassName>) and every public SDE class is registered
    registered = {cls.__name__ for _, cls in SDES.items()}
    public = {
        n
        for n in fp.__all__
        if isinstance(getattr(fp, n), type) and issubclass(getattr(fp, n), fp.SDE)
    }
    assert registered == public - {"SDE", "LinearSDE", "CustomSDE"}
    assert isinstance(build_sde("ou", theta=2.0), fp.OU)
    with pytest.raises(ValueError, match="did you mean 'vp'"):
        SDES.get("vpp")


@pytest.mark.parametrize("sde", LINEAR_SDES, ids=repr)
@pytest.mark.parametrize(("s", "t"), [(0.0, 0.3), (0.2, 0.9), (0.5, 0.5001)])
def test_closed_form_transition_matches_quadrature_of_coefficients(sde, s, t):
    # LinearSDE.transition integrates a(t), b(t), g²(t) numerically: an independent route
    m, c, v = sde.transition(s, t)
    mq, cq, vq = LinearSDE.transition(sde, s, t)
    assert m == pytest.approx(mq, rel=1e-12)
    assert v == pytest.approx(vq, rel=1e-9, abs=1e-15)
    np.testing.assert_allclose(np.broadcast_to(c, cq.shape), cq, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("sde", LINEAR_SDES, ids=repr)
def test_transitions_compose(sde):
    # X_t = m2 (m1 X_0 + c1 + √v1 Z1) + c2 + √v2 Z2 gives the 0 -> t transition
    m1, c1, v1 = sde.transition(0.0, 0.35)
    m2, c2, v2 = sde.transition(0.35, 0.8)
    m, c, v = sde.transition(0.0, 0.8)
    assert m == pytest.approx(m1 * m2, rel=1e-13)
    assert v == pytest.approx(m2**2 * v1 + v2, rel=1e-12)
    np.testing.assert_allclose(c, m2 * c1 + c2, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_schedule_integral_is_exact(name):
    sch = SCHEDULES.get(name)(0.1, 20.0, 1.5)
    # the cosine schedule's β blows up at T (ᾱ(T) = 0): check up to 0.95 T
    for t in (0.0, 0.4, 1.1, 0.95 * 1.5):
        quad = integrate.quad(lambda u: float(sch.beta(u)), 0.0, t, epsrel=1e-13)[0]
        assert float(sch.integral(t)) == pytest.approx(quad, rel=1e-11, abs=1e-14)
    assert np.all(np.asarray(sch.beta(np.linspace(0, 1.5, 50))) > 0)
    assert np.isfinite(sch.beta(1.5))


def test_cosine_schedule_is_nichol_dhariwal_alpha_bar():
    vp = fp.VP(T=2.0, schedule="cosine")
    t = np.array([0.0, 0.5, 1.3, 1.9])
    f = lambda u: np.cos((u / 2.0 + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    np.testing.assert_allclose(vp.alpha_bar(t), f(t) / f(0.0), rtol=1e-12)


def test_linear_schedule_end_points():
    vp = fp.VP(beta_min=0.1, beta_max=20.0, T=2.0)
    assert float(vp.beta(0.0)) == pytest.approx(0.1)
    assert float(vp.beta(2.0)) == pytest.approx(20.0)
    assert float(vp.alpha_bar(2.0)) == pytest.approx(math.exp(-(0.1 * 2 + 0.5 * 19.9 * 2)))


def test_ve_adds_sigma_t_squared_minus_sigma_min_squared():
    ve = fp.VE(sigma_min=0.5, sigma_max=10.0, T=1.0)
    _, _, v = ve.transition(0.0, 0.6)
    assert v == pytest.approx(float(ve.sigma(0.6)) ** 2 - 0.25, rel=1e-13)


def test_subvp_variance_from_zero_is_squared_vp_variance():
    sub = fp.SubVP()
    vp = fp.VP()
    _, _, v_sub = sub.transition(0.0, 0.4)
    _, _, v_vp = vp.transition(0.0, 0.4)
    assert v_sub == pytest.approx(v_vp**2, rel=1e-13)


@pytest.mark.parametrize("sde", ALL_SDES, ids=repr)
@pytest.mark.parametrize("d", [1, 2])
def test_poly_coefficients_reproduce_drift_and_diffusion(sde, d, rng):
    if sde.dim is not None and sde.dim != d:
        pytest.skip("fixed-dimension SDE")
    times = np.array([0.0, 0.13, 0.71])
    pc = sde.poly_coefficients(times, d)
    x = rng.uniform(0.1, 2.0, size=(10, d))
    for j, t in enumerate(times):
        f = pc.a[j] * x + pc.b[j] + pc.c[j] * x**3
        g = pc.g0[j] + pc.g1[j] * x[:, 0]
        np.testing.assert_allclose(f, sde.drift(x, t), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(g, sde.diffusion(x, t), rtol=1e-13)
        if sde.additive:
            assert pc.additive


@pytest.mark.parametrize("sde", ALL_SDES, ids=repr)
def test_shapes_follow_the_samples_convention(sde):
    x2 = np.full((5, 1), 0.7)
    assert sde.drift(x2, 0.2).shape == (5, 1)
    assert sde.diffusion(x2, 0.2).shape == (5,)
    assert sde.drift(x2[:, 0], 0.2).shape == (5,)
    assert sde.diffusion_dx(x2, 0.2).shape == (5, 1)


def test_gbm_diffusion_derivative_and_dimension():
    gbm = fp.GBM(mu=0.1, sigma=0.3)
    np.testing.assert_allclose(gbm.diffusion_dx(np.array([1.0, 2.0]), 0.0), [0.3, 0.3])
    with pytest.raises(ValueError, match="1-dimensional"):
        gbm.drift(np.zeros((3, 2)), 0.0)


def test_double_well_stationary_density_is_normalised_and_stationary():
    dw = fp.DoubleWell(sigma=0.8)
    g = fp.Grid.uniform(-4.0, 4.0, 4000)
    p = g.sample_on(dw.stationary_pdf)
    assert g.integrate(p) == pytest.approx(1.0, abs=1e-10)
    # zero probability flux: f p - ½σ² p' = 0  <=>  score = 2 f / σ²
    x = g.points()
    lp = dw.stationary_logpdf(x)
    dlp = np.gradient(lp, g.dx)
    # np.gradient errs by h²/6 |(log p)'''| <= (2e-3)²/6 * (2/σ²) * 6 * 4 ≈ 5e-5 at |x| = 4
    np.testing.assert_allclose(dlp[5:-5], 2 * dw.drift(x, 0.0)[5:-5, 0] / 0.64, rtol=0, atol=1e-4)


def test_custom_sde_wraps_callables():
    sde = fp.CustomSDE(lambda x, t: -x * (1 + t), 0.5)
    x = np.ones((4, 2))
    np.testing.assert_allclose(sde.drift(x, 1.0), -2 * x)
    np.testing.assert_allclose(sde.diffusion(x, 1.0), 0.5)
    assert sde.additive and sde.poly_coefficients([0.0]) is None
    bad = fp.CustomSDE(lambda x, t: x[:, :1], 1.0)
    with pytest.raises(ValueError, match="drift returned shape"):
        bad.drift(np.ones((4, 2)), 0.0)
    with pytest.raises(TypeError, match="drift must be a callable"):
        fp.CustomSDE(3.0, 1.0)


@pytest.mark.parametrize(
    ("ctor", "match"),
    [
        (lambda: fp.OU(theta=-1.0), "theta must be >= 0"),
        (lambda: fp.OU(sigma=0.0), "sigma must be > 0"),
        (lambda: fp.Heat(D=float("nan")), "D must be finite"),
        (lambda: fp.VP(beta_min=5.0, beta_max=1.0), "beta_max must be >= beta_min"),
        (lambda: fp.VP(schedule="cosin"), "did you mean 'cosine'"),
        (lambda: fp.VE(sigma_min=2.0, sigma_max=1.0), "sigma_max must be > sigma_min"),
        (lambda: fp.GBM(sigma="big"), "sigma must be a real number"),
    ],
)
def test_bad_parameters_are_named(ctor, match):
    with pytest.raises((TypeError, ValueError), match=match):
        ctor()


def test_transition_rejects_backward_times():
    with pytest.raises(ValueError, match="s <= t"):
        fp.OU().transition(1.0, 0.5)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "quadratic"])
def test_subvp_transition_variance_keeps_its_digits_near_zero(schedule):
    # v(0 -> t) = (1 - e^{-B_t})² ~ B_t² ~ 1e-18 at t = 1e-8: the old three-exponential sum lost
    # every digit below t ~ 1e-7 (and then refused to build the marginal)
    sde = fp.SubVP(schedule=schedule)
    for t in (1e-8, 1e-6, 1e-4, 0.3):
        b_t = float(sde.int_beta(0.0, t))
        _, _, v = sde.transition(0.0, t)
        assert v == pytest.approx(math.expm1(-b_t) ** 2, rel=1e-12)
        assert fp.exact_marginal(sde, 0.3, t).covs[0, 0, 0] == pytest.approx(v, rel=1e-12)
    # and from s > 0 the product form equals the documented sum where the sum is well conditioned
    bs, bt = float(sde.int_beta(0.0, 0.2)), float(sde.int_beta(0.0, 0.7))
    v_sum = 1 - math.exp(-(bt - bs)) - math.exp(-(bt + bs)) + math.exp(-2 * bt)
    assert sde.transition(0.2, 0.7)[2] == pytest.approx(v_sum, rel=1e-12)


def test_zero_dimensional_array_times_are_accepted():
    p0 = fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]])
    a = fp.exact_marginal(fp.VP(), p0, np.array(0.5))
    b = fp.exact_marginal(fp.VP(), p0, 0.5)
    assert np.array_equal(a.covs, b.covs) and np.array_equal(a.means, b.means)


def test_cosine_schedule_refuses_times_past_t_with_the_range():
    vp = fp.VP(schedule="cosine", T=2.0)
    # β(t_max) = 999 / T by definition of t_max
    assert float(vp.beta(vp._schedule.t_max)) == pytest.approx(999.0 / 2.0, rel=1e-9)
    with pytest.raises(
        ValueError, match=r"cosine schedule is defined for t in \[0, T\] = \[0, 2\]"
    ):
        vp.drift(np.array([[1.0]]), 2.1)
    with pytest.raises(ValueError, match=r"got t = 2\.1"):
        fp.exact_marginal(vp, 0.3, 2.1)
