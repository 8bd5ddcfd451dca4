"""observed_order, richardson and weak_error: planted orders recovered, interval coverage, flags."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fplab as fp
from fplab.convergence import OrderFit, observed_order, richardson, weak_error
from fplab.errors import NumericalError

H = 2.0 ** -np.arange(2, 8)  # 6 levels, 1/4 .. 1/128


# -- contract -------------------------------------------------------------------------------


def test_exported_from_package():
    assert fp.observed_order is observed_order
    assert fp.richardson is richardson
    assert fp.OrderFit is OrderFit


def test_orderfit_fields_and_sorting():
    e = 0.7 * H**2
    fit = observed_order(H[::-1], e[::-1])  # fine-to-coarse input is sorted coarse-to-fine
    assert fit.h == tuple(H)
    assert fit.n_points == 6
    assert len(fit.local_orders) == 5
    assert len(fit.flags) == 6
    assert fit.order == pytest.approx(2.0, abs=1e-12)
    assert fit.constant == pytest.approx(0.7, rel=1e-12)
    assert fit.predict(0.5) == pytest.approx(0.7 * 0.25, rel=1e-12)
    assert fit.asymptotic
    assert "order 2.000" in str(fit)
    with pytest.raises(AttributeError):
        fit.order = 3.0  # frozen


def test_exact_power_law_interval_contains_planted_order():
    # the interval is floored at 1e-10 relative so an exact power law still contains p
    for p in (0.5, 1.0, 2.0, 4.0):
        fit = observed_order(H, 3.0 * H**p)
        assert fit.contains(p)
        assert not fit.contains(p + 1e-6)
        assert fit.contains(p + 1e-6, tol=1e-5)


@pytest.mark.parametrize(
    ("h", "err", "match"),
    [
        ([0.1, 0.05, 0.025], [1.0, 0.5], "same length"),
        ([0.1], [1.0], "at least 2"),
        ([0.1, 0.05, 0.05], [1.0, 0.5, 0.4], "distinct"),
        ([0.1, -0.05, 0.025], [1.0, 0.5, 0.2], "h must be > 0"),
        ([0.1, 0.05, 0.025], [1.0, 0.0, 0.2], "err must be > 0"),
        ([0.1, 0.05, 0.025], [1.0, np.nan, 0.2], "err must be finite"),
        ([[0.1, 0.05]], [[1.0, 0.5]], "1-D"),
    ],
)
def test_bad_input_is_rejected_with_named_argument(h, err, match):
    with pytest.raises(ValueError, match=match):
        observed_order(h, err)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="confidence"):
        observed_order(H, H**2, confidence=1.5)
    with pytest.raises(ValueError, match="method"):
        observed_order(H, H**2, method="robust")
    with pytest.raises(ValueError, match="err_stderr"):
        observed_order(H, H**2, method="wls")
    with pytest.raises(ValueError, match="err_stderr"):
        observed_order(H, H**2, err_stderr=[0.1] * 3)
    with pytest.raises(TypeError, match="h must be"):
        observed_order(["a", "b"], [1.0, 2.0])


def test_two_points_give_slope_and_infinite_interval():
    fit = observed_order([0.1, 0.05], [0.04, 0.01])
    assert fit.order == pytest.approx(2.0)
    assert fit.ci == (-math.inf, math.inf)
    assert fit.stderr == math.inf
    assert not any(math.isnan(v) for v in (*fit.ci, fit.stderr, fit.order))


# -- planted orders with noise -------------------------------------------------------------


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 3.0])
def test_planted_order_with_multiplicative_noise_is_recovered(p):
    gen = np.random.default_rng(7 + int(4 * p))
    e = 0.4 * H**p * np.exp(0.05 * gen.standard_normal(H.size))
    # 99.9% interval: a miss is a 1-in-1000 event per case (coverage itself is tested below)
    fit = observed_order(H, e, confidence=0.999)
    assert fit.contains(p)
    # se of the slope for 5% log-noise over 5 octaves: 0.05 / sqrt(Σ(x - x̄)²) ≈ 0.012; 4 se
    assert abs(fit.order - p) < 4 * 0.05 / math.sqrt(np.sum((np.log(H) - np.log(H).mean()) ** 2))


def test_ols_interval_coverage_is_nominal():
    # log-normal noise is exactly the OLS model, so the t interval has exact 95% coverage;
    # 2000 replicates: binomial sd of the coverage = sqrt(.95 * .05 / 2000) ≈ 0.0049, k = 4
    gen = np.random.default_rng(11)
    n_rep, hits = 2000, 0
    for _ in range(n_rep):
        e = 2.0 * H**1.5 * np.exp(0.1 * gen.standard_normal(H.size))
        hits += observed_order(H, e).contains(1.5)
    assert abs(hits / n_rep - 0.95) < 4 * 0.0049


def test_wls_interval_coverage_with_additive_mc_noise():
    # weak errors: err_i = C h^p + σ_i ξ_i with σ_i ≪ C h^p (delta method regime); 1000 reps,
    # binomial sd ≈ 0.0069; the delta-method interval is approximate, so allow k = 4 plus 0.01
    gen = np.random.default_rng(12)
    h = 2.0 ** -np.arange(1, 6)
    true = 0.5 * h
    sd = 0.03 * true
    n_rep, hits = 1000, 0
    for _ in range(n_rep):
        e = true + sd * gen.standard_normal(h.size)
        hits += observed_order(h, e, err_stderr=sd).contains(1.0)
    assert abs(hits / n_rep - 0.95) < 4 * 0.0069 + 0.01


def test_wls_interval_reflects_noise_and_bootstrap_agrees():
    h = 2.0 ** -np.arange(1, 6)
    true = 0.5 * h
    sd = 0.05 * true
    e = true * np.array([1.03, 0.97, 1.02, 0.99, 1.01])
    wls = observed_order(h, e, err_stderr=sd)
    boot = observed_order(h, e, err_stderr=sd, method="bootstrap", n_bootstrap=4000, seed=3)
    # delta-method se of the slope: sqrt(2 * 0.05²) / ... ; the two widths agree within 15%
    w_wls = wls.ci[1] - wls.ci[0]
    w_boot = boot.ci[1] - boot.ci[0]
    assert w_boot == pytest.approx(w_wls, rel=0.15)
    assert wls.contains(1.0) and boot.contains(1.0)
    assert boot.method == "bootstrap" and wls.method == "wls"
    # same seed, same answer
    again = observed_order(h, e, err_stderr=sd, method="bootstrap", n_bootstrap=4000, seed=3)
    assert again.ci == boot.ci


def test_wls_inflates_interval_when_scatter_exceeds_noise():
    h = 2.0 ** -np.arange(1, 6)
    e = 0.5 * h * np.array([1.3, 0.7, 1.3, 0.7, 1.3])  # scatter ≫ the stated 1% noise
    tight = observed_order(h, e, err_stderr=0.01 * e)
    # reduced chi² ≫ 1 → the interval is the OLS-like one, not the 1% noise one
    ols = observed_order(h, e)
    assert tight.stderr == pytest.approx(ols.stderr, rel=0.3)


# -- flags ------------------------------------------------------------------------------------


def test_preasymptotic_coarse_points_are_flagged():
    e = H**2 * (1.0 + 30.0 * H)  # strong h³ term: coarse local slopes ≈ 2.8
    fit = observed_order(H, e)
    assert fit.pre_asymptotic[0]
    assert not fit.pre_asymptotic[-1]
    assert not fit.asymptotic


def test_roundoff_plateau_at_fine_end_is_flagged():
    h = 2.0 ** -np.arange(1, 9)
    e = np.maximum(h**4, 3e-9)  # plateau at 3e-9 from h = 2^-7 on
    fit = observed_order(h, e)
    assert fit.roundoff[-1]
    assert not fit.roundoff[0]
    clean = observed_order(h, e, drop_flagged=True)
    assert clean.contains(4.0)
    assert clean.n_points < h.size


def test_errors_below_roundoff_floor_are_flagged():
    e = np.array([1e-2, 1e-6, 1e-10, 1e-15])
    fit = observed_order([1.0, 0.1, 0.01, 0.001], e, scale=1.0)
    assert fit.flags[-1] == "round-off"


def test_noise_dominated_points_are_flagged():
    h = 2.0 ** -np.arange(1, 6)
    e = 0.5 * h
    sd = np.full(h.size, 0.02)  # the two finest errors (0.031, 0.016) are < 2 sd
    fit = observed_order(h, e, err_stderr=sd)
    assert fit.noise_dominated == (False, False, False, True, True)


@settings(max_examples=30, deadline=None)
@given(
    p=st.floats(0.25, 5.0),
    c=st.floats(1e-3, 1e3),
    ratio=st.floats(1.5, 4.0),
)
def test_any_exact_power_law_is_recovered_and_unflagged(p, c, ratio):
    h = ratio ** -np.arange(5, dtype=float)
    e = c * h**p
    if e.min() < 1e-250:
        return
    fit = observed_order(h, e)
    assert fit.order == pytest.approx(p, rel=1e-9)
    assert fit.constant == pytest.approx(c, rel=1e-8)
    assert fit.asymptotic


# -- Richardson -----------------------------------------------------------------------------


def test_richardson_recovers_order_and_limit_constant_ratio():
    h = np.array([0.2, 0.1, 0.05, 0.025])
    u = 1.5 + 0.3 * h**2 + 0.1 * h**3
    res = richardson(u, h)
    # the h³ term perturbs the finest-triple order by O(h) ≈ 0.03 (measured 2.04)
    assert res.order == pytest.approx(2.0, abs=0.05)
    assert res.extrapolated == pytest.approx(1.5, abs=1e-5)
    # the estimated error of the finest level matches the true error to O(h)
    assert res.error_estimate == pytest.approx(abs(u[-1] - 1.5), rel=0.1)
    assert len(res.orders) == 2
    assert res.ratio == pytest.approx(2.0)


def test_richardson_unequal_ratios_and_ratio_argument():
    h = np.array([0.3, 0.1, 0.04])
    u = 2.0 - 0.5 * h**1.5
    res = richardson(u, h)
    assert res.order == pytest.approx(1.5, abs=1e-9)
    assert res.extrapolated == pytest.approx(2.0, abs=1e-12)
    res2 = richardson([1 + 0.64, 1 + 0.16, 1 + 0.04], ratio=2.0)
    assert res2.order == pytest.approx(2.0, abs=1e-12)
    assert res2.extrapolated == pytest.approx(1.0, abs=1e-12)


def test_richardson_known_order_and_arrays():
    x = np.linspace(0, 1, 5)
    h = np.array([0.1, 0.05])
    u = np.array([np.sin(x) + hh * np.cos(x) for hh in h])
    res = richardson(u, h, order=1.0)
    np.testing.assert_allclose(res.extrapolated, np.sin(x), atol=1e-14)
    u3 = np.array([np.sin(x) + hh**2 * np.cos(x) for hh in (0.1, 0.05, 0.025)])
    res3 = richardson(u3, [0.1, 0.05, 0.025])
    assert res3.order == pytest.approx(2.0, abs=1e-9)


def test_richardson_rejects_bad_input_and_oscillation():
    with pytest.raises(ValueError, match="at least 3"):
        richardson([1.0, 2.0], [0.1, 0.05])
    with pytest.raises(ValueError, match="h or a constant"):
        richardson([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="disagrees"):
        richardson([1.0, 2.0, 3.0], [0.4, 0.2, 0.1], ratio=3.0)
    with pytest.raises(NumericalError, match="oscillatory"):
        richardson([1.1, 0.95, 1.01], ratio=2.0)
    with pytest.raises(NumericalError, match="identical"):
        richardson([1.1, 1.0, 1.0], ratio=2.0)
    with pytest.raises(NumericalError, match="not converging"):
        richardson([1.1, 1.0, 0.8], ratio=2.0)


# -- weak errors ------------------------------------------------------------------------------


def test_weak_error_standard_error_and_coupled_reduction(rng):
    x = rng.standard_normal(40_000)
    err, se = weak_error(x + 0.1, 0.0)
    assert se == pytest.approx(1 / math.sqrt(40_000), rel=0.02)
    assert abs(err - 0.1) < 4 * se
    y = x + 0.1 + 0.01 * rng.standard_normal(x.size)
    err2, se2 = weak_error(y, 0.0, fx_ref=x)
    assert abs(err2 - 0.1) < 4 * se2
    assert se2 < se / 50
    with pytest.raises(ValueError, match="at least 2"):
        weak_error([1.0], 0.0)


def test_weak_order_with_mc_error_bars_end_to_end(rng):
    # E[X_h] = 1 + h (a weak-order-1 bias) measured with n samples; the interval covers 1
    h = 2.0 ** -np.arange(1, 6)
    errs, ses = [], []
    for hh in h:
        fx = 1.0 + hh + 0.05 * rng.standard_normal(200_000)
        e, s = weak_error(fx, 1.0)
        errs.append(e)
        ses.append(s)
    fit = observed_order(h, errs, err_stderr=ses)
    assert fit.contains(1.0)
    assert fit.ci[1] - fit.ci[0] < 0.2
