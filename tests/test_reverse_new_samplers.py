"""The samplers of issue 15: pinned steps written out from their papers, and their invariants.

Pinned tests take one (or two, for multistep methods) steps from a fixed state with fixed noise
and compare with the update written out here independently, on a Gaussian p0 = N(m, v) under
the linear-β VP SDE, for which α_t, σ_t, the score and t(λ) are closed forms:
    log α_t = -½ (β_min t + ½ (β_max - β_min) t²),  σ_t² = 1 - α_t²,
    s(x, t) = -(x - α_t m)/(α_t² v + σ_t²),
    λ -> t: ∫_0^t β = log(1 + e^{-2λ}) solved as a quadratic in t.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fplab as fp
from fplab.reverse import sample_reverse

B0, B1 = 0.1, 20.0
VP = fp.VP(beta_min=B0, beta_max=B1, T=1.0)
M, V = 0.7, 0.3  # p0 = N(M, V) in 1-D
X = np.array([[-1.3], [0.2], [2.1]])


def _alpha(t):
    return math.exp(-0.5 * (B0 * t + 0.5 * (B1 - B0) * t * t))


def _sigma(t):
    return math.sqrt(1.0 - _alpha(t) ** 2)


def _lam(t):
    return math.log(_alpha(t) / _sigma(t))


def _t_of_lam(lam):
    big = math.log1p(math.exp(-2.0 * lam))
    return (-B0 + math.sqrt(B0 * B0 + 2.0 * (B1 - B0) * big)) / (B1 - B0)


def _score(x, t):
    a = _alpha(t)
    return -(x - a * M) / (a * a * V + 1.0 - a * a)


def _eps(x, t):
    return -_sigma(t) * _score(x, t)


def _x0(x, t):
    return (x + _sigma(t) ** 2 * _score(x, t)) / _alpha(t)


def test_closed_forms_of_this_file_match_fplab():
    # guards the hand-written coefficients: they must describe the same SDE and law
    for t in (0.05, 0.4, 0.9):
        a, sig = VP.marginal_coefficients(t)
        assert abs(a - _alpha(t)) < 1e-13 and abs(sig - _sigma(t)) < 1e-12
        assert abs(_t_of_lam(_lam(t)) - t) < 1e-12
    p0 = fp.GaussianMixture([1.0], [[M]], [[[V]]])
    np.testing.assert_allclose(fp.exact_score(VP, p0)(X, 0.4), _score(X, 0.4), rtol=1e-12)


def test_pinned_sampler_dpm_solver_3():
    t, s = 0.8, 0.5
    lt, h = _lam(t), _lam(s) - _lam(t)
    r1, r2 = 1 / 3, 2 / 3
    s1, s2 = _t_of_lam(lt + r1 * h), _t_of_lam(lt + r2 * h)
    e0 = _eps(X, t)
    # Lu et al. 2022, Algorithm 2 (DPM-Solver-3)
    u1 = _alpha(s1) / _alpha(t) * X - _sigma(s1) * (math.exp(r1 * h) - 1) * e0
    d1 = _eps(u1, s1) - e0
    u2 = (
        _alpha(s2) / _alpha(t) * X
        - _sigma(s2) * (math.exp(r2 * h) - 1) * e0
        - _sigma(s2) * r2 / r1 * ((math.exp(r2 * h) - 1) / (r2 * h) - 1) * d1
    )
    d2 = _eps(u2, s2) - e0
    want = (
        _alpha(s) / _alpha(t) * X
        - _sigma(s) * (math.exp(h) - 1) * e0
        - _sigma(s) / r2 * ((math.exp(h) - 1) / h - 1) * d2
    )
    got = sample_reverse(VP, _score, X, times=[t, s], method="dpm-solver-3")
    # round-off of the root finding for s1, s2 (xtol 1e-15) and of the exponentials
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_pinned_sampler_dpm_solver_pp_2m():
    t0, t1, t2 = 0.8, 0.6, 0.35
    h1, h2 = _lam(t1) - _lam(t0), _lam(t2) - _lam(t1)
    # Lu et al. 2022b (DPM-Solver++), Algorithm 2: first step first order, then multistep
    x1 = _sigma(t1) / _sigma(t0) * X - _alpha(t1) * (math.exp(-h1) - 1) * _x0(X, t0)
    r = h1 / h2
    d = (1 + 1 / (2 * r)) * _x0(x1, t1) - 1 / (2 * r) * _x0(X, t0)
    want = _sigma(t2) / _sigma(t1) * x1 - _alpha(t2) * (math.exp(-h2) - 1) * d
    got, info = sample_reverse(
        VP, _score, X, times=[t0, t1, t2], method="dpm-solver-pp-2m", return_info=True
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    assert info.n_score_evals == 2  # one evaluation per step: the multistep reuses x0(x_{t0})


def test_dpm_solver_pp_2m_restarts_its_history_on_every_call():
    # a second run must not pick up the first run's data prediction
    a = sample_reverse(VP, _score, X, times=[0.8, 0.6, 0.35], method="dpm-solver-pp-2m")
    b = sample_reverse(VP, _score, X, times=[0.8, 0.6, 0.35], method="dpm-solver-pp-2m")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["dpm-solver-3", "dpm-solver-pp-2m", "dpm-solver-2"])
def test_exponential_integrators_are_exact_when_the_data_is_a_point(method):
    """For p0 = δ_m, p_t = N(α_t m, σ_t²): the data prediction x0 = m and the noise prediction
    ε = (x - α_t m)/σ_t are constant along the PF-ODE path x_t = α_t m + σ_t ε, so every
    exponential integrator is exact on any grid, up to round-off."""

    def point_score(x, t):
        return -(x - _alpha(t) * M) / _sigma(t) ** 2

    t, s = 0.9, 0.05
    want = _alpha(s) * M + _sigma(s) * (X - _alpha(t) * M) / _sigma(t)
    got = sample_reverse(VP, point_score, X, t_start=t, t_end=s, n_steps=7, method=method)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
