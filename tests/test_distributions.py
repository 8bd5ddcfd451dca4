"""Gaussian and log-normal mixtures: densities vs scipy, scores vs finite differences, sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import fplab as fp
from tests.problems import BIMODAL_1D, BIMODAL_2D


def _scipy_pdf(gm: fp.GaussianMixture, x: np.ndarray) -> np.ndarray:
    return sum(
        w * stats.multivariate_normal(m, c).pdf(x) for w, m, c in zip(gm.weights, gm.means, gm.covs)
    )


@pytest.mark.parametrize("gm", [BIMODAL_1D, BIMODAL_2D], ids=["1d", "2d"])
def test_pdf_matches_scipy(gm, rng):
    x = rng.normal(size=(200, gm.dim)) * 2.0
    np.testing.assert_allclose(gm.pdf(x), np.atleast_1d(_scipy_pdf(gm, x)), rtol=1e-12)


def test_1d_accepts_flat_samples_and_returns_flat():
    x = np.linspace(-3, 3, 7)
    assert BIMODAL_1D.pdf(x).shape == (7,)
    assert BIMODAL_1D.score(x).shape == (7,)
    assert BIMODAL_1D.score(x[:, None]).shape == (7, 1)


def _fd_grad(f, x, h=1e-5):
    g = np.zeros_like(x)
    for i in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[i] = h
        g[:, i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("gm", [BIMODAL_1D, BIMODAL_2D], ids=["1d", "2d"])
def test_score_is_gradient_of_logpdf(gm, rng):
    x = rng.normal(size=(100, gm.dim)) * 2.0
    # central difference error ~ h² |∂³ log p| / 6 ≈ 1e-10 * O(10): 1e-7 bounds it with margin
    np.testing.assert_allclose(gm.score(x), _fd_grad(gm.logpdf, x), atol=1e-7, rtol=1e-7)


def test_tails_are_finite_and_exact():
    # single Gaussian: log p and score in closed form, far out where pdf underflows to 0
    gm = fp.GaussianMixture([1.0], [[0.5]], [[[0.3]]])
    x = np.array([[-40.0], [40.0], [1e3]])
    assert np.all(gm.pdf(x[:2]) == 0.0)
    expected = -0.5 * (x[:, 0] - 0.5) ** 2 / 0.3 - 0.5 * np.log(2 * np.pi * 0.3)
    np.testing.assert_allclose(gm.logpdf(x), expected, rtol=1e-14)
    np.testing.assert_allclose(gm.score(x)[:, 0], -(x[:, 0] - 0.5) / 0.3, rtol=1e-14)


def test_mixture_tails_follow_the_widest_component():
    x = np.array([[40.0, -40.0], [-40.0, 40.0]])
    lp = BIMODAL_2D.logpdf(x)
    s = BIMODAL_2D.score(x)
    assert np.all(np.isfinite(lp)) and np.all(np.isfinite(s))
    # far away one component dominates: score equals that component's score
    comp = [-(x - m) @ np.linalg.inv(c).T for m, c in zip(BIMODAL_2D.means, BIMODAL_2D.covs)]
    lps = [
        np.log(w) + stats.multivariate_normal(m, c).logpdf(x)
        for w, m, c in zip(BIMODAL_2D.weights, BIMODAL_2D.means, BIMODAL_2D.covs)
    ]
    best = np.argmax(np.stack(lps), axis=0)
    for i, k in enumerate(best):
        np.testing.assert_allclose(s[i], comp[k][i], rtol=1e-6)
    np.testing.assert_allclose(lp, np.logaddexp(*lps), rtol=1e-12)


@pytest.mark.parametrize("gm", [BIMODAL_1D, BIMODAL_2D], ids=["1d", "2d"])
def test_sample_moments_match_within_statistical_error(gm):
    n = 400_000
    x = gm.sample(n, seed=7)
    assert x.shape == (n, gm.dim)
    mean, cov = gm.mean(), gm.cov()
    se_mean = np.sqrt(np.diag(cov) / n)
    k = 4  # 4 standard errors
    assert np.all(np.abs(x.mean(axis=0) - mean) < k * se_mean)
    # var of the sample covariance entry (i,j) ≈ (E[(xi xj)^2] - cov²)/n, estimated from x
    xc = x - mean
    prods = np.einsum("ni,nj->nij", xc, xc)
    se_cov = prods.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(prods.mean(axis=0) - cov) < k * se_cov)


def test_sampling_is_a_function_of_the_seed():
    a = BIMODAL_2D.sample(1000, seed=3)
    b = BIMODAL_2D.sample(1000, seed=3)
    c = BIMODAL_2D.sample(1000, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g = np.random.default_rng(3)
    np.testing.assert_array_equal(BIMODAL_2D.sample(1000, seed=g), a)


def test_cdf_and_ppf_are_inverse_and_match_scipy():
    q = np.linspace(1e-6, 1 - 1e-6, 101)
    x = BIMODAL_1D.ppf(q)
    np.testing.assert_allclose(BIMODAL_1D.cdf(x), q, atol=1e-13)
    ref = sum(
        w * stats.norm(m[0], np.sqrt(c[0, 0])).cdf(x)
        for w, m, c in zip(BIMODAL_1D.weights, BIMODAL_1D.means, BIMODAL_1D.covs)
    )
    np.testing.assert_allclose(BIMODAL_1D.cdf(x), ref, atol=1e-15)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.5, 0.6], [0.0, 1.0], [1.0, 1.0]), "sum to 1"),
        (([-0.5, 1.5], [0.0, 1.0], [1.0, 1.0]), "weights must be >= 0"),
        (([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]]), "positive definite"),
        (([1.0], [[0.0, 0.0]], [[[1.0, 0.5], [0.0, 1.0]]]), "symmetric"),
        (([0.5, 0.5], [0.0, 1.0], [1.0]), "covs must have shape"),
        (([1.0], [np.nan], [1.0]), "non-finite"),
        (([0.5, 0.5], [0.0], [1.0]), "weights has 2 entries"),
    ],
)
def test_bad_mixture_arguments_are_named(args, match):
    with pytest.raises(ValueError, match=match):
        fp.GaussianMixture(*args)


def test_dimension_mismatch_is_reported():
    with pytest.raises(ValueError, match="dimension 1"):
        BIMODAL_2D.pdf(np.zeros((3, 1)))


@settings(max_examples=30, deadline=None)
@given(
    k=st.integers(1, 3),
    d=st.integers(1, 2),
    seed=st.integers(0, 2**31),
)
def test_random_mixtures_integrate_to_one_and_score_is_grad_log(k, d, seed):
    r = np.random.default_rng(seed)
    w = r.dirichlet(np.ones(k))
    means = r.uniform(-2, 2, size=(k, d))
    a = r.normal(size=(k, d, d))
    covs = np.einsum("kij,klj->kil", a, a) + 0.3 * np.eye(d)
    gm = fp.GaussianMixture(w, means, covs)
    # box of ±40 holds > 1 - 1e-12 of the mass (component std <= ~5 here); midpoint rule on a
    # Gaussian with std >= 0.5 and h = 1/3 errs by ~exp(-2π²σ²/h²) < 1e-18
    n = 240
    grid = fp.Grid.uniform([-40.0] * d, [40.0] * d, [n] * d)
    assert grid.integrate(grid.sample_on(gm.pdf)) == pytest.approx(1.0, abs=1e-9)
    x = r.normal(size=(20, d))
    np.testing.assert_allclose(gm.score(x), _fd_grad(gm.logpdf, x), atol=2e-6, rtol=1e-6)


def test_lognormal_matches_scipy_and_its_score():
    ln = fp.LogNormalMixture([0.3, 0.7], [0.0, 0.8], [0.25, 0.4])
    x = np.linspace(0.05, 8.0, 50)
    ref = 0.3 * stats.lognorm(0.25, scale=1.0).pdf(x) + 0.7 * stats.lognorm(
        0.4, scale=np.exp(0.8)
    ).pdf(x)
    np.testing.assert_allclose(ln.pdf(x), ref, rtol=1e-12)
    np.testing.assert_allclose(
        ln.score(x), _fd_grad(ln.logpdf, x[:, None])[:, 0], rtol=1e-6, atol=1e-8
    )
    assert ln.pdf(np.array([-1.0, 0.0])).tolist() == [0.0, 0.0]
    samples = ln.sample(200_000, seed=1)
    se = np.sqrt(ln.cov()[0, 0] / samples.shape[0])
    assert abs(samples.mean() - ln.mean()[0]) < 4 * se


def test_ppf_of_a_narrow_mixture_raises_no_floating_point_error():
    gm = fp.GaussianMixture([0.5, 0.5], [-30.0, 30.0], [1e-4, 1e-4])
    q = np.array([1e-9, 0.25, 0.5, 0.75, 1 - 1e-9])
    x = gm.ppf(q)
    np.testing.assert_allclose(gm.cdf(x), q, atol=1e-12)
