"""Entropy and Fisher information: closed forms, and the de Bruijn / OU dissipation identities
checked along exact marginals (the independent check of both the metrics and exact_marginal)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from problems import BIMODAL_1D, BIMODAL_2D

import fplab as fp
from fplab.convergence import observed_order

M = fp.metrics
LINE = fp.Grid.uniform(lo=-16.0, hi=16.0, n=4096)
SQUARE = fp.Grid.uniform(lo=(-9.0, -9.0), hi=(9.0, 9.0), n=(200, 200))


def _gauss(m, c):
    return fp.GaussianMixture([1.0], [m], [c])


@pytest.mark.parametrize(
    ("grid", "m", "c"),
    [(LINE, [0.4], [[1.7]]), (SQUARE, [0.3, -0.2], [[1.0, 0.4], [0.4, 0.7]])],
    ids=["1d", "2d"],
)
def test_entropy_and_fisher_information_of_gaussians(grid, m, c):
    c = np.array(c)
    p = grid.sample_on(_gauss(m, c).pdf)
    d = len(m)
    h_exact = 0.5 * math.log(np.linalg.det(2 * math.pi * math.e * c))
    assert M.entropy(p, grid) == pytest.approx(h_exact, abs=1e-9)
    # log p is quadratic: central differences are exact (inside and at the edges, edge_order=2)
    assert M.fisher_information(p, grid) == pytest.approx(np.trace(np.linalg.inv(c)), rel=1e-8)
    q = grid.sample_on(_gauss(np.zeros(d), np.eye(d)).pdf)
    exact_rel = M.fisher_divergence_gaussian(m, c, m, c, np.zeros(d), np.eye(d))
    assert M.relative_fisher_information(p, q, grid) == pytest.approx(exact_rel, rel=1e-8)


@pytest.mark.parametrize("fd_order", [2, 4])
def test_fisher_information_of_mixture_converges_at_fd_order(fd_order):
    # reference: ∫ p |score|² with the exact mixture score on a very fine grid
    fine = fp.Grid.uniform(lo=-12.0, hi=12.0, n=20000)
    s = BIMODAL_1D.score(fine.points())[:, 0]
    ref = fine.integrate(fine.sample_on(BIMODAL_1D.pdf) * s * s)
    ns = [100, 200, 400, 800]
    errs = []
    for n in ns:
        g = fp.Grid.uniform(lo=-12.0, hi=12.0, n=n)
        p = g.sample_on(BIMODAL_1D.pdf)
        errs.append(abs(M.fisher_information(p, g, fd_order=fd_order) - ref))
    fit = observed_order([24.0 / n for n in ns], errs)
    # central differences of log p: O(dx^fd_order)
    assert fit.contains(fd_order, tol=0.1), fit


def _central_time_derivative(fn, t, dt):
    return (fn(t + dt) - fn(t - dt)) / (2 * dt)


@pytest.mark.parametrize(
    ("grid", "p0"), [(LINE, BIMODAL_1D), (SQUARE, BIMODAL_2D)], ids=["1d", "2d"]
)
def test_de_bruijn_identity_for_heat_flow(grid, p0):
    # dX = sqrt(2D) dW, g² = 2D: dH/dt = ½ g² I(p_t) = D I(p_t)
    sde = fp.Heat(D=0.5)
    t, dt = 0.3, 1e-3

    def entropy_at(s):
        return M.entropy(grid.sample_on(fp.exact_marginal(sde, p0, s).pdf), grid)

    lhs = _central_time_derivative(entropy_at, t, dt)
    rhs = 0.5 * 1.0 * M.fisher_information(grid.sample_on(fp.exact_marginal(sde, p0, t).pdf), grid)
    # O(dt²) from the difference quotient and O(dx⁴) from I: measured relative residual 1.3e-6
    # (1-D) and 3.8e-6 (2-D, dx = 0.09; 6e-4 with fd_order=2); a wrong ½ or g² misses by >= 50%
    assert lhs == pytest.approx(rhs, rel=5e-5)


@pytest.mark.parametrize(
    ("grid", "p0"), [(LINE, BIMODAL_1D), (SQUARE, BIMODAL_2D)], ids=["1d", "2d"]
)
def test_ou_kl_dissipation_equals_relative_fisher_information(grid, p0):
    # dX = theta (mu - X) dt + sigma dW, p_inf = N(mu, sigma² / (2 theta)):
    # d/dt KL(p_t || p_inf) = -½ sigma² I(p_t || p_inf)
    theta, mu, sigma = 1.3, 0.2, 0.9
    sde = fp.OU(theta=theta, mu=mu, sigma=sigma)
    d = grid.ndim
    p_inf = grid.sample_on(_gauss([mu] * d, np.eye(d) * sigma**2 / (2 * theta)).pdf)
    t, dt = 0.25, 1e-3

    def kl_at(s):
        return M.kl(grid.sample_on(fp.exact_marginal(sde, p0, s).pdf), p_inf, grid)

    lhs = _central_time_derivative(kl_at, t, dt)
    p_t = grid.sample_on(fp.exact_marginal(sde, p0, t).pdf)
    rhs = -0.5 * sigma**2 * M.relative_fisher_information(p_t, p_inf, grid)
    assert lhs < 0
    # measured relative residual 1.2e-6 (1-D), 1.5e-6 (2-D)
    assert lhs == pytest.approx(rhs, rel=5e-5)


def test_log_density_gradient_layout_matches_fd_scores():
    p = SQUARE.sample_on(BIMODAL_2D.pdf)
    s = M.log_density_gradient(p, SQUARE)
    assert s.shape == (*SQUARE.shape, 2)
    exact = BIMODAL_2D.score(SQUARE.points()).reshape(s.shape)
    mask = M.hpd_mask(p, SQUARE, mass=0.99)
    # O(dx²) with dx = 0.09 on the 99% region: measured max error 0.03
    assert np.max(np.abs(s - exact)[mask]) < 0.1
    s1 = M.log_density_gradient(LINE.sample_on(BIMODAL_1D.pdf), LINE)
    assert s1.shape == LINE.shape


def test_relative_fisher_information_rejects_uncovered_support():
    g = fp.Grid.uniform(lo=-5.0, hi=5.0, n=100)
    p = np.ones(g.shape)
    q = np.where(g.axes[0] > 0, 1.0, 0.0)
    with pytest.raises(ValueError, match="q vanishes on 50 cell"):
        M.relative_fisher_information(p, q, g)
