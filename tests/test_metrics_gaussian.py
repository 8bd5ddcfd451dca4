"""Argument checks of the Gaussian closed forms (fplab.metrics.gaussian): a pair of Gaussians of
different dimensions used to broadcast into a plausible number (Hellinger 0.0 between N(0, 1) and
N(0, I_2)); every function now refuses it, naming the arguments and both shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fplab as fp

PAIR_FUNCTIONS = [
    fp.metrics.hellinger_gaussian,
    fp.metrics.kl_gaussian,
    fp.metrics.w2_gaussian,
    lambda m1, c1, m2, c2: fp.metrics.mmd_gaussian(m1, c1, m2, c2, 1.0),
]


@pytest.mark.parametrize("fn", PAIR_FUNCTIONS)
@pytest.mark.parametrize("mean2", [[0.0, 0.0], [5.0, 5.0]])
def test_gaussian_metrics_refuse_pairs_of_different_dimension(fn, mean2):
    with pytest.raises(ValueError, match=r"same dimension.*m1 \(1,\) / c1 \(1, 1\).*m2 \(2,\)"):
        fn([0.0], [[1.0]], mean2, np.eye(2))


def test_fisher_divergence_gaussian_refuses_mixed_dimensions():
    with pytest.raises(ValueError, match=r"same dimension.*ma \(2,\) / ca \(2, 2\)"):
        fp.metrics.fisher_divergence_gaussian([0.0], 1.0, [0.0, 0.0], np.eye(2), [0.0], 1.0)


@pytest.mark.parametrize(
    ("c1", "match"),
    [
        ([[1.0, 0.5], [0.0, 1.0]], "c1 must be symmetric"),
        ([[1.0, 2.0], [2.0, 1.0]], "c1 must be symmetric positive definite"),
        ([[1.0]], r"c1 shape \(d, d\).*got m1 \(2,\) and c1 \(1, 1\)"),
        ([[1.0 + 1j, 0.0], [0.0, 1.0]], "c1 must be real"),
    ],
)
def test_gaussian_metrics_name_the_bad_covariance(c1, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fp.metrics.kl_gaussian([0.0, 0.0], c1, [0.0, 0.0], np.eye(2))


def test_gaussian_metric_types_and_bandwidth_are_named():
    with pytest.raises(TypeError, match="m2 must be an array of real numbers"):
        fp.metrics.w2_gaussian(0.0, 1.0, "zero", 1.0)
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        fp.metrics.mmd_gaussian(0.0, 1.0, 0.0, 1.0, -1.0)


def test_same_dimension_pairs_still_match_the_scalar_closed_forms():
    # 1-D closed forms written out: KL = log(s2/s1) + (s1² + dm²)/(2 s2²) - 1/2,
    # H² = 1 - sqrt(2 s1 s2 / (s1² + s2²)) exp(-dm² / (4 (s1² + s2²))); W2² = dm² + (s1 - s2)²
    s1, s2, dm = 1.0, 2.0, 1.5
    kl = math.log(s2 / s1) + (s1**2 + dm**2) / (2 * s2**2) - 0.5
    h2 = 1 - math.sqrt(2 * s1 * s2 / (s1**2 + s2**2)) * math.exp(-(dm**2) / (4 * (s1**2 + s2**2)))
    assert fp.metrics.kl_gaussian(0.0, s1**2, dm, s2**2) == pytest.approx(kl, rel=1e-12)
    assert fp.metrics.hellinger_gaussian(0.0, s1**2, dm, s2**2) == pytest.approx(
        math.sqrt(h2), rel=1e-12
    )
    assert fp.metrics.w2_gaussian(0.0, s1**2, dm, s2**2) == pytest.approx(
        math.hypot(dm, s1 - s2), rel=1e-12
    )


def test_sample_metrics_refuse_complex_and_zero_dimensional_samples():
    x = np.zeros((5, 1))
    with pytest.raises(TypeError, match="x must be real"):
        fp.metrics.w2(x + 1j, x)
    with pytest.raises(ValueError, match=r"x has shape \(3, 0\): samples need dimension d >= 1"):
        fp.metrics.sliced_w2(np.zeros((3, 0)), np.zeros((3, 0)))


def test_far_apart_gaussians_give_finite_w2_or_a_numerical_error_never_inf():
    # |m1 - m2| = 1.34e154: the squared distance overflows float64 but W2 = 1.34e154 does not
    far = 1.3407807929942597e154
    assert fp.metrics.w2_gaussian(0.0, 1.0, far, 1.0) == pytest.approx(far, rel=1e-15)
    # KL = dm²/2 ≈ 9e307 sits at the float64 edge: refused rather than returned as inf
    with pytest.raises(fp.NumericalError, match="KL between these Gaussians overflows"):
        fp.metrics.kl_gaussian(0.0, 1.0, 2 * far, 1.0)


def test_sample_w2_of_huge_samples_is_computed_on_rescaled_samples():
    # W2 is homogeneous: W2(s x, s y) = s W2(x, y); at s = 1e300 the squares would overflow
    x, y = np.array([0.0, 1.0, 3.0]), np.array([0.5, 2.0])
    ref = fp.metrics.w2(x, y)
    assert fp.metrics.w2(1e300 * x, 1e300 * y) == pytest.approx(1e300 * ref, rel=1e-12)
    assert fp.metrics.sliced_w2(1e300 * x, 1e300 * y) == pytest.approx(1e300 * ref, rel=1e-12)
    assert fp.metrics.mmd(1e300 * x, 1e300 * y) == pytest.approx(fp.metrics.mmd(x, y), rel=1e-12)
    # at the top of the float range (rescaling by 2**1024 itself overflowed): W2² = (1.7e308)²/2
    top = np.array([1.7e308, 0.0])
    assert fp.metrics.sliced_w2(top, np.array([0.0, 1.0])) == pytest.approx(
        1.7e308 / np.sqrt(2.0), rel=1e-12
    )


def test_covariances_near_the_float_limit_give_a_result_or_a_numerical_error():
    # identical Gaussians with a variance of 1.7e308: every divergence is 0 (halving before
    # adding keeps C̄ finite); a sum that must overflow is a NumericalError, not scipy's
    # "array must not contain infs or NaNs"
    big = 1.7e308 * np.eye(2)
    assert fp.metrics.kl_gaussian([0, 0], big, [0, 0], big) == pytest.approx(0.0, abs=1e-12)
    assert fp.metrics.hellinger_gaussian([0, 0], big, [0, 0], big) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(fp.NumericalError, match="MMD between these Gaussians overflows"):
        fp.metrics.mmd_gaussian([0, 0], big, [0, 0], big, 1.0)
