"""The bounded (tanh-drift) SDE and the 2-D rotating OU: coefficients, stationary laws, fluxes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from fplab.mc import simulate
from fplab.sdes import SDES, BoundedSDE, RotatingOU, build_sde


def test_both_are_catalogue_sdes_built_by_key():
    assert isinstance(build_sde("bounded", sigma=0.5), BoundedSDE)
    assert isinstance(build_sde("rotating-ou", omega=2.0), RotatingOU)
    assert {"bounded", "rotating-ou"} <= set(SDES.names())
    with pytest.raises(ValueError, match="sigma"):
        BoundedSDE(sigma=-1.0)
    with pytest.raises(ValueError, match="2-dimensional"):
        RotatingOU().drift(np.zeros((3, 3)), 0.0)


def test_bounded_drift_is_minus_tanh_and_noise_additive(rng):
    sde = BoundedSDE(sigma=0.7)
    x = rng.normal(size=(20, 3)) * 3
    np.testing.assert_allclose(sde.drift(x, 0.4), -np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(sde.diffusion(x, 0.4), 0.7)
    assert sde.poly_coefficients([0.0]) is None  # NumPy path in the solvers


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7])
def test_bounded_stationary_density_is_normalised_and_solves_zero_flux(sigma):
    sde = BoundedSDE(sigma=sigma)
    mass = integrate.quad(lambda u: float(sde.stationary_pdf(np.array([u]))[0]), -np.inf, np.inf)[0]
    assert mass == pytest.approx(1.0, abs=1e-10)  # quad's accuracy on a smooth density
    # zero flux f p - ½σ² p' = 0 at a few points (p' by a 1e-5 central difference: error ~1e-10)
    x = np.array([-2.0, -0.3, 0.8, 3.0])
    h = 1e-5
    dp = (sde.stationary_pdf(x + h) - sde.stationary_pdf(x - h)) / (2 * h)
    flux = -np.tanh(x) * sde.stationary_pdf(x) - 0.5 * sigma**2 * dp
    np.testing.assert_allclose(flux, 0.0, atol=1e-9)


def test_bounded_mass_outside_one_is_one_minus_tanh_one_for_unit_noise():
    # σ = 1: p_∞ = ½ sech² x, so P(|X| > 1) = 1 - tanh 1 in closed form
    assert BoundedSDE(sigma=1.0).stationary_mass_outside(1.0) == pytest.approx(
        1.0 - math.tanh(1.0), abs=1e-12
    )


def test_rotating_ou_drift_and_stationary_flux_are_the_closed_forms(rng):
    sde = RotatingOU(theta=0.7, omega=1.3, sigma=0.9)
    x = rng.normal(size=(10, 2))
    rot = np.stack([-x[:, 1], x[:, 0]], axis=1)
    np.testing.assert_allclose(sde.drift(x, 0.0), -0.7 * x + 1.3 * rot, rtol=1e-15)
    v = 0.81 / 1.4
    p = np.exp(-0.5 * (x**2).sum(1) / v) / (2 * math.pi * v)
    np.testing.assert_allclose(sde.stationary_pdf(x), p, rtol=1e-14)
    # j = f p - ½σ²∇p with ∇p = -x p / v: the -θ x p part cancels, ω J x p remains
    j = sde.drift(x, 0.0) * p[:, None] - 0.5 * 0.81 * (-x / v) * p[:, None]
    np.testing.assert_allclose(sde.stationary_flux(x), j, rtol=1e-12, atol=1e-15)


def test_rotating_ou_keeps_its_stationary_law_in_monte_carlo():
    # start at p_∞ = N(0, σ²/(2θ) I) and run Heun (weak order 2) to t = 2: the covariance stays
    # v I; k = 4 standard errors of a normal variance (√(2/n) v) and a covariance (v/√n)
    sde = RotatingOU(theta=1.0, omega=2.0, sigma=2**0.5)
    n = 20_000
    x0 = np.random.default_rng(3).normal(size=(n, 2))
    x = simulate(sde, x0, t1=2.0, n_steps=100, method="heun", seed=4)
    cov = np.cov(x.T)
    assert np.all(np.abs(np.diag(cov) - 1.0) < 4 * math.sqrt(2.0 / n))
    assert abs(cov[0, 1]) < 4 / math.sqrt(n)
