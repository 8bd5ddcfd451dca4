"""Observed orders of the deterministic reverse samplers (slow).

Each fixed-step deterministic sampler in ``SAMPLERS`` is run from the same x_T (drawn from the exact
marginal at t_start, so the prior mismatch plays no part) at four or five step counts, and its
pathwise error is measured against ``pf-ode-adaptive`` at rtol 1e-11 (error ~1e-10, below the
finest level's error by >100x).  The fitted order's interval must contain the declared order.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from problems import LINEAR_1D, LINEAR_2D

import fplab as fp
from fplab.convergence import observed_order
from fplab.reverse import SAMPLERS, sample_reverse

pytestmark = pytest.mark.slow

T0, T1 = 1.0, 1e-3
N_SAMPLES = 200
PROBLEMS = {p.name: p for p in LINEAR_1D + LINEAR_2D}
CASES = ["vp-1d", "ve-1d", "subvp-1d", "ou-2d", "vp-2d"]
#: step counts per declared order: coarse enough to stay above the reference's error, fine
#: enough to be in the asymptotic range (local slopes checked in docs/reverse.md)
LEVELS = {
    1: (8, 16, 32, 64, 128),
    2: (8, 16, 32, 64, 128),
    3: (16, 32, 64, 128),
    4: (8, 16, 32, 64),
}


def _time_grid(sampler) -> str:
    """The VP-family samplers are exponential integrators in λ = log(α/σ), and their order is an
    order in the λ-step (Lu et al. 2022): on a grid uniform in t the last steps shrink in λ only
    like log(1 + h/t_end), so dpm-solver-3 shows 2.2 [1.9, 2.4] over N = 8..128 on vp-1d (local
    slopes 1.8 -> 2.5, still rising) against 3.2 [2.8, 3.6] on the log-SNR grid."""
    return "log-snr" if "vp-family" in sampler.requires else "uniform"


@cache
def _setup(name: str):
    problem = PROBLEMS[name]
    sde, p0 = problem.sde, problem.p0
    x_T = fp.exact_marginal(sde, p0, T0).sample(N_SAMPLES, seed=1)
    score = fp.exact_score(sde, p0)
    ref = sample_reverse(
        sde, score, x_T, t_start=T0, t_end=T1, method="pf-ode-adaptive", rtol=1e-11, atol=1e-12
    )
    return sde, score, x_T, ref


def _pathwise_error(x, ref):
    return float(np.sqrt(np.mean(np.sum((x - ref) ** 2, axis=1))))


def _cases():
    for method, sampler in SAMPLERS.items():
        if not sampler.deterministic or sampler.adaptive:
            continue
        for name in CASES:
            vp_family = isinstance(PROBLEMS[name].sde, fp.VP | fp.SubVP)
            if "vp-family" in sampler.requires and not vp_family:
                continue
            yield pytest.param(method, name, id=f"{method}-{name}")


@pytest.mark.parametrize(("method", "name"), list(_cases()))
def test_deterministic_sampler_has_its_declared_pathwise_order(method, name):
    sde, score, x_T, ref = _setup(name)
    sampler = SAMPLERS.get(method)
    order = sampler.order
    steps = LEVELS[order]
    kw = {"t_start": T0, "t_end": T1, "method": method, "time_grid": _time_grid(sampler)}
    errs = [_pathwise_error(sample_reverse(sde, score, x_T, n_steps=n, **kw), ref) for n in steps]
    h = [(T0 - T1) / n for n in steps]
    fit = observed_order(h, errs)
    # the interval (95%) must hold the declared order; 0.15 allows the residual curvature of
    # the coarsest level (local slopes are recorded in docs/reverse.md)
    assert fit.contains(order, tol=0.15), f"{method} on {name}: {fit}; errors {errs}"


@pytest.mark.parametrize("name", ["vp-1d", "ou-2d"])
def test_adaptive_reference_error_follows_its_tolerance(name):
    sde, score, x_T, ref = _setup(name)
    errs, evals = [], []
    for rtol in (1e-4, 1e-6, 1e-8):
        x, info = sample_reverse(
            sde,
            score,
            x_T,
            t_end=T1,
            method="pf-ode-adaptive",
            rtol=rtol,
            atol=rtol * 1e-3,
            return_info=True,
        )
        errs.append(_pathwise_error(x, ref))
        evals.append(info.n_score_evals)
    # tolerance proportionality: each 100x tighter rtol cuts the error by >= 30x (measured
    # 110-350x) at the cost of more evaluations (109/229/571 on vp-1d, ~ rtol^(-1/5) growth)
    assert errs[1] < errs[0] / 30 and errs[2] < errs[1] / 30, errs
    assert errs[2] < 1e-6 and evals[0] < evals[1] < evals[2], (errs, evals)


@pytest.mark.parametrize("name", ["vp-1d", "subvp-1d"])
def test_dpm_solver_2_is_second_order_on_the_log_snr_grid(name):
    """On a uniform-t grid ending at t_end = 1e-3 the last steps in λ shrink only like
    log(1/(N t_end)), so the observed order creeps up to 2 (1.91 at N <= 128 on vp-1d); on the
    grid uniform in λ (the one DPM-Solver is designed for) it is 2 from N = 16 on."""
    sde, score, x_T, ref = _setup(name)
    steps = (16, 32, 64, 128)
    errs = [
        _pathwise_error(
            sample_reverse(sde, score, x_T, n_steps=n, method="dpm-solver-2", time_grid="log-snr"),
            ref,
        )
        for n in steps
    ]
    fit = observed_order([1.0 / n for n in steps], errs)
    assert fit.contains(2.0, tol=0.1), str(
        fit
    )  # measured 2.06 [2.00, 2.13] vp, 2.11 [1.97, 2.25] subvp


@pytest.mark.parametrize("name", ["vp-1d", "ve-1d"])
@pytest.mark.parametrize("method", ["pf-ode-euler", "pf-ode-heun", "pf-ode-rk4"])
def test_w2_to_the_exact_law_falls_at_the_declared_rate(method, name):
    """In 1-D the probability flow maps quantiles to quantiles, so started from the exact quantiles
    of p_1 the W2 between the output and the exact p_{t_end} has no sampling noise: it is the
    discretisation error of the law itself.  Measured (u_i = (i + ½)/100): euler 1.03, heun 1.89
    (vp) / 2.09 (ve), rk4 3.68 [3.31, 4.05] (vp) / 4.03 (ve)."""
    problem = PROBLEMS[name]
    sde, p0 = problem.sde, problem.p0
    u = (np.arange(100) + 0.5) / 100
    x_T = fp.exact_marginal(sde, p0, T0).ppf(u)
    q = fp.exact_marginal(sde, p0, T1).ppf(u)
    score = fp.exact_score(sde, p0)
    order = SAMPLERS.get(method).order
    steps = LEVELS[order]
    w2 = [
        float(fp.metrics.w2(sample_reverse(sde, score, x_T, n_steps=n, method=method), q))
        for n in steps
    ]
    fit = observed_order([(T0 - T1) / n for n in steps], w2)
    assert fit.contains(order, tol=0.15), f"{method} on {name}: {fit}"
