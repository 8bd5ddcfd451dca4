"""Weak orders of the stochastic samplers through exact Gaussian laws (slow).

For Gaussian data N(M, V) the exact score is affine in x, so one step of every single-draw
sampler is affine in (x, z): x_s = A x + B + C z.  The coefficients are read off by probing the
step with x in {0, 1} and a stand-in generator whose normals are 0 or 1; the step's affinity is
checked on a third probe, so a sampler whose step is not affine (the Langevin corrector's
step size depends on batch norms) is skipped, not mis-measured.  The chain's mean and variance
then follow exactly with no sampling, and their distance to the exact marginal p_{t_end} is the
weak error, fitted over N = 32..512 steps; the declared order must lie in the interval.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import fplab as fp
from fplab.convergence import observed_order
from fplab.reverse import SAMPLERS
from fplab.reverse.samplers import StepContext

pytestmark = pytest.mark.slow

M, V = 0.7, 0.3
T0, T1 = 1.0, 0.05
LEVELS = (32, 64, 128, 256, 512)
SDES = {
    "vp": fp.VP(beta_min=0.1, beta_max=20.0, T=1.0),
    "ve": fp.VE(sigma_min=0.01, sigma_max=20.0),
}


class _Normals:
    """Stand-in for a Generator: standard_normal returns a constant array."""

    def __init__(self, value: float) -> None:
        self.value = value

    def standard_normal(self, shape):
        return np.full(shape, self.value)


def _cases():
    for name, sampler in SAMPLERS.items():
        if sampler.deterministic or sampler.adaptive:
            continue
        yield pytest.param(name, "vp", id=f"{name}-vp")
        # VE only for the samplers built on its noise level: Euler–Maruyama on VE with Gaussian
        # data superconverges (f = 0 keeps the mean exact; measured order 1.98 [1.95, 2.02]),
        # which says nothing about its order on other data
        if "linear" in sampler.requires:
            yield pytest.param(name, "ve", id=f"{name}-ve")


def _chain_law(name, sde, n):
    p0 = fp.GaussianMixture([1.0], [[M]], [V])
    score = fp.exact_score(sde, p0)
    start = fp.exact_marginal(sde, p0, T0)
    mean, var = float(start.mean()[0]), float(start.cov()[0, 0])
    # s_churn = 1: EDM's γ = 1/N stays below its √2 - 1 cap, the regime of its declared order
    ctx = StepContext(sde=sde, score=score, n_steps=n, s_churn=1.0, s_tmin=0.0, s_tmax=1e9)
    step = SAMPLERS.get(name)
    times = np.linspace(T0, T1, n + 1)
    for t_np, s_np in itertools.pairwise(times):
        t, s = float(t_np), float(s_np)

        def f(x, z, t=t, s=s):
            ctx.state.clear()
            return float(step(ctx, np.array([[x]]), t, s, _Normals(z))[0, 0])

        b = f(0.0, 0.0)
        a = f(1.0, 0.0) - b
        c = f(0.0, 1.0) - b
        # affinity in x and z jointly; a non-affine step cannot be measured this way
        if abs(f(2.0, -1.5) - (b + 2.0 * a - 1.5 * c)) > 1e-9 * (1 + abs(b) + abs(a) + abs(c)):
            return None
        mean, var = a * mean + b, a * a * var + c * c
    target = fp.exact_marginal(sde, p0, T1)
    return abs(mean - float(target.mean()[0])) + abs(var - float(target.cov()[0, 0]))


@pytest.mark.parametrize(("name", "key"), list(_cases()))
def test_stochastic_sampler_has_its_declared_weak_order_on_a_gaussian(name, key):
    sde = SDES[key]
    errs = [_chain_law(name, sde, n) for n in LEVELS]
    if errs[0] is None:
        pytest.skip(f"{name}: the step is not affine in (x, z) (not measurable this way)")
    order = SAMPLERS.get(name).order
    fit = observed_order([(T0 - T1) / n for n in LEVELS], errs)
    # 95 % interval widened by 0.15 for the curvature of the coarsest level (measured on vp,
    # N = 32..512: euler-maruyama 1.03 [1.01, 1.06], ddpm 0.93 [0.89, 0.98] (local slopes
    # rising to 0.98), ddpm-chain 1.05 [1.01, 1.08], edm-stochastic 2.01 [2.00, 2.02], on ve
    # 2.02 [2.00, 2.04]).  Levels up to 512 are needed: a 5 % excess noise variance in
    # ddpm-chain leaves a plateau at 1.7e-2 that N <= 128 (fit 0.70 [0.35, 1.06]) cannot see.
    assert fit.contains(order, tol=0.15), f"{name} on {key}: {fit}; errors {errs}"
    assert all(math.isfinite(e) for e in errs)
