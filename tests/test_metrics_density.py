"""Grid metrics against closed forms, quantile integration, axioms and the zero-density policy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from problems import BIMODAL_1D, BIMODAL_2D
from scipy import integrate, special

import fplab as fp
from fplab.convergence import observed_order
from fplab.metrics import METRICS, SupportWarning
from fplab.metrics import gaussian as cf

M = fp.metrics
LINE = fp.Grid.uniform(lo=-14.0, hi=14.0, n=2048)
SQUARE = fp.Grid.uniform(lo=(-9.0, -9.0), hi=(9.0, 9.0), n=(160, 160))

# pairs of Gaussians (m1, C1, m2, C2): 1-D and 2-D with full covariances
G1 = (np.array([0.3]), np.array([[1.0]]), np.array([-0.5]), np.array([[2.0]]))
G2 = (
    np.array([0.3, 0.0]),
    np.array([[1.0, 0.3], [0.3, 0.8]]),
    np.array([-0.5, 0.4]),
    np.array([[1.5, -0.2], [-0.2, 0.6]]),
)


def _on_grid(grid, m, c):
    return grid.sample_on(fp.GaussianMixture([1.0], [m], [c]).pdf)


def _pair(grid, g):
    m1, c1, m2, c2 = g
    return _on_grid(grid, m1, c1), _on_grid(grid, m2, c2)


# -- registry ---------------------------------------------------------------------------------


def test_every_metric_is_registered_with_kind_and_args():
    names = METRICS.names()
    for name in (
        "kl",
        "tv",
        "hellinger",
        "w2-density",
        "w1-density",
        "fisher-divergence",
        "score-rel-l2",
        "entropy",
        "fisher-information",
        "relative-fisher-information",
        "w2",
        "kl-from-samples",
        "mmd",
        "sliced-w2",
    ):
        assert name in names
    for _, fn in METRICS.items():
        assert fn.kind in ("density", "samples")
        assert isinstance(fn.args, tuple)
        assert fn.__doc__.strip()
    assert METRICS.get("kl") is M.kl
    with pytest.raises(ValueError, match="did you mean 'hellinger'"):
        METRICS.get("helinger")


# -- closed forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(("grid", "g"), [(LINE, G1), (SQUARE, G2)], ids=["1d", "2d"])
def test_kl_and_hellinger_match_gaussian_closed_forms(grid, g):
    p, q = _pair(grid, g)
    # Gaussians decay to < 1e-15 inside the box and the midpoint rule is spectrally accurate
    # for them; 1e-9 leaves room for the 160² grid (measured ~1e-12)
    assert M.kl(p, q, grid) == pytest.approx(cf.kl_gaussian(*g), abs=1e-9)
    assert M.kl(q, p, grid) == pytest.approx(cf.kl_gaussian(g[2], g[3], g[0], g[1]), abs=1e-9)
    assert M.hellinger(p, q, grid) == pytest.approx(cf.hellinger_gaussian(*g), abs=1e-9)


def test_tv_matches_equal_variance_closed_form():
    # TV(N(0, s²), N(d, s²)) = 2 Φ(d / (2 s)) - 1
    s, d = 0.7, 0.9
    p = _on_grid(LINE, [0.0], [[s * s]])
    q = _on_grid(LINE, [d], [[s * s]])
    exact = 2 * special.ndtr(d / (2 * s)) - 1
    # |p - q| has a kink where the densities cross: O(dx²) with dx = 0.014 → ~1e-5
    assert M.tv(p, q, LINE) == pytest.approx(exact, abs=2e-5)


def test_w2_density_matches_bures_in_1d_at_second_order():
    exact = cf.w2_gaussian(*G1)
    ns = [128, 256, 512, 1024]
    errs = []
    for n in ns:
        grid = fp.Grid.uniform(lo=-14.0, hi=14.0, n=n)
        p, q = _pair(grid, G1)
        errs.append(abs(M.w2_density(p, q, grid) - exact))
    fit = observed_order([28.0 / n for n in ns], errs)
    # piecewise-constant cells: W2 error O(dx²) (measured 2.00, error 3e-6 at n=1024)
    assert fit.contains(2.0, tol=0.05)
    assert errs[-1] < 1e-5


def test_w2_density_2d_matches_bures_at_second_order():
    exact = cf.w2_gaussian(*G2)
    ns = [12, 16, 24]
    errs = []
    for n in ns:
        grid = fp.Grid.uniform(lo=(-7.0, -7.0), hi=(7.0, 7.0), n=(n, n))
        errs.append(abs(M.w2_density(*_pair(grid, G2), grid) - exact))
    # point masses at cell centres: O(dx²) measured (local orders 2.0-2.2 at these sizes)
    fit = observed_order([14.0 / n for n in ns], errs)
    assert 1.7 < fit.order < 2.6
    assert errs[-1] < 0.08  # 0.05 measured at 24²


def _w2_quantile_integral(a, b, n=6401):
    """W2 = sqrt(∫_0^1 (Qa(u) - Qb(u))² du) with u = Φ(z): a smooth, Gaussian-decaying integrand
    in z on [-8, 8] (the tails beyond carry < 1e-14), trapezoid rule.  Converged to 1e-11:
    0.73533658454 at n = 6401 and 12801 for the pair below (3201 points give 2e-9)."""
    z = np.linspace(-8.0, 8.0, n)
    diff = a.ppf(special.ndtr(z)) - b.ppf(special.ndtr(z))
    return math.sqrt(
        integrate.trapezoid(diff * diff * np.exp(-0.5 * z * z), z) / math.sqrt(2 * math.pi)
    )


def test_w2_and_w1_density_between_mixtures_match_quantile_integration():
    other = fp.GaussianMixture([0.7, 0.3], [[0.5], [-3.0]], [[[1.2]], [[0.2]]])
    grid = fp.Grid.uniform(lo=-12.0, hi=12.0, n=4096)
    p, q = grid.sample_on(BIMODAL_1D.pdf), grid.sample_on(other.pdf)
    ref_w2 = _w2_quantile_integral(BIMODAL_1D, other)
    # O(dx²) with dx = 0.0059: measured error 7.9e-7 (C ≈ 0.023)
    assert M.w2_density(p, q, grid) == pytest.approx(ref_w2, abs=5e-6)
    ref_w1, _ = integrate.quad(
        lambda x: abs(BIMODAL_1D.cdf([x])[0] - other.cdf([x])[0]), -12, 12, limit=200
    )
    assert M.w1_density(p, q, grid) == pytest.approx(ref_w1, abs=5e-6)


@pytest.mark.parametrize(("grid", "g"), [(LINE, G1), (SQUARE, G2)], ids=["1d", "2d"])
def test_fisher_divergence_matches_gaussian_closed_form(grid, g):
    m1, c1, m2, c2 = g
    a = fp.GaussianMixture([1.0], [m1], [c1])
    b = fp.GaussianMixture([1.0], [m2], [c2])
    pts = grid.points()
    sa, sb = a.score(pts), b.score(pts)
    p = grid.sample_on(a.pdf)
    exact = cf.fisher_divergence_gaussian(m1, c1, m1, c1, m2, c2)
    # polynomial integrand against a Gaussian: midpoint rule is spectrally accurate
    assert M.fisher_divergence(sa, sb, p, grid) == pytest.approx(exact, rel=1e-9)
    # the documented score layouts are all accepted
    if grid.ndim == 1:
        assert M.fisher_divergence(sa[:, 0], sb[:, 0], p, grid) == pytest.approx(exact, rel=1e-9)
    else:
        shaped = (*grid.shape, 2)
        val = M.fisher_divergence(sa.reshape(shaped), sb.reshape(shaped), p, grid)
        assert val == pytest.approx(exact, rel=1e-9)


def test_score_rel_l2_is_the_relative_error_on_the_mass_region():
    pts = SQUARE.points()
    s = BIMODAL_2D.score(pts)
    p = SQUARE.sample_on(BIMODAL_2D.pdf)
    assert M.score_rel_l2(1.01 * s, s, p, SQUARE) == pytest.approx(0.01, rel=1e-12)
    assert M.score_rel_l2(s, s, p, SQUARE) == 0.0
    mask = M.hpd_mask(p, SQUARE, mass=0.9)
    assert SQUARE.integrate(np.where(mask, p, 0)) == pytest.approx(0.9, abs=2e-3)
    # an error only in the far tails (outside the 0.999 region) is not counted
    far = ~M.hpd_mask(p, SQUARE, mass=0.999).ravel()
    noisy = s.copy()
    noisy[far] += 100.0
    assert M.score_rel_l2(noisy, s, p, SQUARE) == 0.0
    assert M.score_rel_l2(noisy, s, p, SQUARE, mass=1.0) > 1.0
    with pytest.raises(ValueError, match="mass"):
        M.score_rel_l2(s, s, p, SQUARE, mass=1.5)


# -- axioms -----------------------------------------------------------------------------------

SMALL = fp.Grid.uniform(lo=-10.0, hi=10.0, n=200)


@st.composite
def mixtures(draw):
    k = draw(st.integers(1, 3))
    w = np.array(draw(st.lists(st.floats(0.1, 1.0), min_size=k, max_size=k)))
    m = draw(st.lists(st.floats(-3.0, 3.0), min_size=k, max_size=k))
    v = draw(st.lists(st.floats(0.3, 2.0), min_size=k, max_size=k))
    return fp.GaussianMixture(w / w.sum(), np.array(m).reshape(k, 1), np.array(v))


@settings(max_examples=25, deadline=None)
@given(a=mixtures(), b=mixtures(), c=mixtures())
def test_metric_axioms_on_random_mixtures(a, b, c):
    p, q, r = (SMALL.sample_on(d.pdf) for d in (a, b, c))
    assert M.kl(p, p, SMALL) == 0.0
    assert M.kl(p, q, SMALL) >= 0.0
    for dist in (M.tv, M.hellinger, M.w2_density, M.w1_density):
        d_pq, d_qp = dist(p, q, SMALL), dist(q, p, SMALL)
        assert d_pq == pytest.approx(d_qp, rel=1e-9, abs=1e-12)  # symmetry
        assert dist(p, p, SMALL) == pytest.approx(0.0, abs=1e-12)
        # triangle inequality (all four are metrics)
        assert d_pq <= dist(p, r, SMALL) + dist(r, q, SMALL) + 1e-12
    assert 0.0 <= M.tv(p, q, SMALL) <= 1.0
    assert 0.0 <= M.hellinger(p, q, SMALL) <= 1.0
    # Le Cam: H² <= TV <= sqrt(2) H
    h, t = M.hellinger(p, q, SMALL), M.tv(p, q, SMALL)
    assert h * h <= t + 1e-12
    assert t <= math.sqrt(2) * h + 1e-12
    # Pinsker: TV <= sqrt(KL / 2)
    assert t <= math.sqrt(M.kl(p, q, SMALL) / 2) + 1e-12


# -- zero / negative / normalisation policy ----------------------------------------------------


def test_kl_is_infinite_with_warning_when_q_misses_support():
    p = np.ones(SMALL.shape)
    q = np.where(SMALL.axes[0] > 0, 1.0, 0.0)
    with pytest.warns(SupportWarning, match="infinite"):
        assert M.kl(p, q, SMALL) == math.inf
    # the other direction is finite: q's support is inside p's
    assert M.kl(q, p, SMALL) == pytest.approx(math.log(2), rel=1e-12)


def test_kl_ignores_q_underflow_where_p_is_at_roundoff():
    grid = fp.Grid.uniform(lo=-40.0, hi=40.0, n=4000)
    p = _on_grid(grid, [0.0], [[4.0]])  # sd 2: p(±40) ~ 1e-88, far below 1e-12 max p
    q = _on_grid(grid, [0.0], [[1.0]])  # sd 1: q underflows to 0 beyond |x| ≈ 38.6
    assert np.any((q == 0) & (p > 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        val = M.kl(p, q, grid)
    assert val == pytest.approx(cf.kl_gaussian([0.0], [[4.0]], [0.0], [[1.0]]), abs=1e-9)


def test_zero_densities_never_give_nan():
    p = np.zeros(SMALL.shape)
    p[50:60] = 1.0
    q = np.zeros(SMALL.shape)
    q[100:120] = 1.0
    with pytest.warns(SupportWarning):
        assert M.kl(p, q, SMALL) == math.inf
    assert M.tv(p, q, SMALL) == pytest.approx(1.0)
    assert M.hellinger(p, q, SMALL) == pytest.approx(1.0)
    # disjoint supports: W2 between uniform blocks [-5, -4] and [0, 2] (quantile functions linear)
    u = np.linspace(0, 1, 200001)
    ref = math.sqrt(integrate.trapezoid(((-5 + u) - (0 + 2 * u)) ** 2, u))
    assert M.w2_density(p, q, SMALL) == pytest.approx(ref, rel=1e-6)
    assert M.entropy(p, SMALL) == pytest.approx(0.0, abs=1e-12)  # uniform on length 1


def test_negative_undershoot_is_clipped_and_large_negatives_rejected():
    p = SMALL.sample_on(BIMODAL_1D.pdf)
    dented = p.copy()
    dented[0] = -1e-9 * p.max()
    assert M.kl(dented, p, SMALL) == pytest.approx(0.0, abs=1e-12)
    dented[0] = -1e-3 * p.max()
    with pytest.raises(ValueError, match=r"p has negative entries.*np\.clip"):
        M.tv(dented, p, SMALL)


def test_normalize_flag():
    p = SMALL.sample_on(BIMODAL_1D.pdf)
    assert M.kl(2 * p, p, SMALL) == pytest.approx(0.0, abs=1e-12)
    # unnormalised: generalised KL ∫ 2p log 2 - 2p + p = 2 log 2 - 1
    assert M.kl(2 * p, p, SMALL, normalize=False) == pytest.approx(2 * math.log(2) - 1, rel=1e-9)
    assert M.tv(2 * p, p, SMALL, normalize=False) == pytest.approx(0.5, rel=1e-9)
    with pytest.raises(ValueError, match="different masses"):
        M.w2_density(2 * p, p, SMALL, normalize=False)


def test_density_argument_errors_name_the_argument():
    p = SMALL.sample_on(BIMODAL_1D.pdf)
    with pytest.raises(ValueError, match=r"q must have the grid's shape \(200,\)"):
        M.kl(p, p[:-1], SMALL)
    with pytest.raises(TypeError, match="grid must be a fplab Grid"):
        M.tv(p, p, (-10, 10, 200))
    with pytest.raises(ValueError, match="p contains 1 non-finite"):
        bad = p.copy()
        bad[3] = np.nan
        M.hellinger(bad, p, SMALL)
    with pytest.raises(ValueError, match="identically zero"):
        M.kl(np.zeros(200), p, SMALL)
    with pytest.raises(ValueError, match="1-D grid"):
        M.w1_density(*_pair(SQUARE, G2), SQUARE)


def test_distribution_objects_are_sampled_on_the_grid():
    p = SMALL.sample_on(BIMODAL_1D.pdf)
    assert M.hellinger(BIMODAL_1D, p, SMALL) == 0.0


def test_score_fields_may_be_non_finite_only_where_p_vanishes():
    p = np.zeros(SMALL.shape)
    p[80:120] = 1.0
    s = np.zeros(SMALL.shape)
    s_bad = s.copy()
    s_bad[0] = -np.inf  # outside the support: allowed
    assert M.fisher_divergence(s_bad, s, p, SMALL) == 0.0
    s_bad[100] = np.nan
    with pytest.raises(ValueError, match="s_a is non-finite in 1 cell"):
        M.fisher_divergence(s_bad, s, p, SMALL)
    with pytest.raises(ValueError, match="s_b must have shape"):
        M.fisher_divergence(s, s[:10], p, SMALL)


def test_w1_density_is_exact_for_cell_densities_with_a_crossing_inside_a_cell():
    # cell masses p = (0.6, 0, 0.4), q = (0.2, 0.8, 0) on [0, 3]: F_p - F_q at the edges is
    # (0, 0.4, -0.4, 0), linear in each cell, crossing zero mid-cell 1: ∫|F_p - F_q| = 3 * 0.2
    grid = fp.Grid.uniform(lo=0.0, hi=3.0, n=3)
    p, q = np.array([0.6, 0.0, 0.4]), np.array([0.2, 0.8, 0.0])
    assert M.w1_density(p, q, grid) == pytest.approx(0.6, rel=1e-12)
    # W2 of the same pair from fine uniform sub-samples of each cell (sorted matching, 1e5 points)
    u = (np.arange(100_000) + 0.5) / 100_000
    ref = math.sqrt(np.mean((_cell_quantile(p, u) - _cell_quantile(q, u)) ** 2))
    assert M.w2_density(p, q, grid) == pytest.approx(ref, rel=1e-6)


def _cell_quantile(m, u):
    """Quantile function of unit cells [i, i+1] with masses m, by brute force on u (sorted)."""
    cdf = np.concatenate(([0.0], np.cumsum(m)))
    k = np.searchsorted(cdf, u, side="right") - 1
    return k + (u - cdf[k]) / np.asarray(m)[k]


def test_kl_uses_logpdf_where_the_narrow_q_underflows():
    # KL(N(0, 9) || N(0, 0.09)) = log(0.1) + 9 / 0.18 - 1/2: q's pdf is 0.0 beyond |x| ~ 11.6,
    # where p still has mass 1e-4; through the objects' logpdf the sum stays finite
    g = fp.Grid.uniform(-40.0, 40.0, 4000)
    p = fp.GaussianMixture([1.0], [[0.0]], [[[9.0]]])
    q = fp.GaussianMixture([1.0], [[0.0]], [[[0.09]]])
    exact = np.log(0.1) + 9.0 / 0.18 - 0.5
    assert fp.metrics.kl(p, q, g) == pytest.approx(exact, rel=1e-9)
    # as arrays the information is gone: infinite, with the support warning
    with pytest.warns(fp.metrics.SupportWarning):
        assert fp.metrics.kl(g.sample_on(p.pdf), g.sample_on(q.pdf), g) == np.inf


def test_kl_of_objects_equals_kl_of_their_arrays_when_nothing_underflows():
    g = fp.Grid.uniform(-8.0, 8.0, 400)
    a = fp.GaussianMixture([1.0], [[0.5]], [[[1.3]]])
    b = fp.GaussianMixture([0.3, 0.7], [[0.0], [1.0]], [[[1.0]], [[0.5]]])
    for normalize in (True, False):
        objs = fp.metrics.kl(a, b, g, normalize=normalize)
        arrs = fp.metrics.kl(g.sample_on(a.pdf), g.sample_on(b.pdf), g, normalize=normalize)
        assert objs == pytest.approx(arrs, rel=1e-12)


def test_every_metric_declares_the_power_it_measures():
    # a scheme of order p is of order power * p in the metric (fd-space / fd-time claim
    # registry order * power without [expect] order); the declared power must be the measured
    # one: f(2e) - f(0) against f(e) - f(0) for a shift e of N(0, 1) is 2 for |e|, 4 for e^2
    from scipy import stats

    from fplab.studykinds.fd import measured_metric_power, metric_power

    grid = fp.Grid.uniform(-8.0, 8.0, 801)
    x = grid.axes[0]
    pdf = stats.norm.pdf(x)
    score = -x
    u = (np.arange(4000) + 0.5) / 4000
    quant = stats.norm.ppf(u)[:, None]

    def value(name, fn, e):
        shifted = stats.norm.pdf(x, loc=e)
        args = {
            ("p", "q", "grid"): (shifted, pdf, grid),
            ("s_a", "s_b", "p", "grid"): (score + e, score, pdf, grid),
            ("x", "y"): (quant + e, quant),
            ("x", "q", "grid"): (quant + e, pdf, grid),
        }
        return float(fn(*args[fn.args]))

    checked = []
    for name, fn in METRICS.items():
        if METRICS.origin(name) != "built-in" or fn.args == ("p", "grid"):
            # plugins registered by other tests; a functional of one density is no comparison
            continue
        f0 = value(name, fn, 0.0)
        ratio = (value(name, fn, 0.1) - f0) / (value(name, fn, 0.05) - f0)
        measured = 2 if ratio > 2.0**1.5 else 1
        assert fn.power == measured, (name, fn.power, ratio)
        assert metric_power(name) == fn.power
        if fn.args == ("p", "q", "grid"):
            assert measured_metric_power(name) == fn.power, name
        checked.append(name)
    assert {"kl", "tv", "mmd", "w2", "relative-fisher-information"} <= set(checked)


def test_metric_registration_refuses_a_power_other_than_one_or_two():
    from fplab.metrics._base import metric

    with pytest.raises(ValueError, match="metric power must be 1"):
        metric("bogus-power", "density", ("p", "q", "grid"), power=3)
    assert "bogus-power" not in METRICS.names()


def test_a_plugin_metric_declares_its_power_or_has_it_measured():
    from fplab.studykinds.fd import metric_power

    def squared_tv(p, q, grid):
        return float(M.tv(p, q, grid)) ** 2

    def plain_tv(p, q, grid):
        return float(M.tv(p, q, grid))

    with pytest.raises(ValueError, match="power must be 1"):
        fp.register_metric("x-power-three", power=3)
    fp.register_metric("x-squared-tv-measured")(squared_tv)
    fp.register_metric("x-tv-declared-two", power=2)(plain_tv)
    try:
        assert metric_power("x-squared-tv-measured") == 2  # measured: no declaration
        assert metric_power("x-tv-declared-two") == 2  # the declaration wins
        assert METRICS.get("x-tv-declared-two").power == 2
    finally:
        for name in ("x-squared-tv-measured", "x-tv-declared-two"):
            METRICS.remove(name)
