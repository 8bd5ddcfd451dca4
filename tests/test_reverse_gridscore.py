"""The grid score of a fourth-order solve: fourth order in space, quintic Hermite in time.

The time interpolation is checked against the same solver saved at the query times (so only
the interpolation differs), and the reverse-flow bars of issue 17 on the double well
(``W1`` not degrading when RK4 steps fall between saved times, pathwise slope >= 3).
"""

from __future__ import annotations

import numpy as np
import pytest
from problems import BIMODAL_1D
from scipy.interpolate import PchipInterpolator

import fplab as fp
from fplab.convergence import observed_order
from fplab.reverse import grid_score, sample_reverse

OU = fp.OU(theta=1.0, sigma=2**0.5)


def test_grid_score_of_fv4_is_fourth_order_in_space():
    t = 0.3
    exact = fp.exact_score(OU, BIMODAL_1D)
    pts = np.linspace(-3.5, 3.5, 301)
    hs, errs = [], []
    for n in (64, 128, 256, 512):
        grid = fp.Grid.uniform(-8.0, 8.0, n)
        sol = fp.solve_fokker_planck(
            OU, BIMODAL_1D, grid, t, dt=t / 60, space_scheme="fv4", time_scheme="sdirk4"
        )
        gs = grid_score(sol)
        assert gs.order == 4 and gs.accuracy["space_order"] == 4
        hs.append(grid.dx)
        errs.append(float(np.max(np.abs(gs(pts, t) - exact(pts, t)))))
    fit = observed_order(hs, errs)
    # differences of log p, cubic splines and the fv4 density: all O(dx⁴); measured 3.9-4.1
    assert abs(fit.order - 4.0) < 0.3, (fit, errs)


def test_hermite_time_interpolation_is_high_order_and_beats_linear():
    grid = fp.Grid.uniform(-8.0, 8.0, 256)
    kw = {"dt": 2.5e-3, "space_scheme": "fv4", "time_scheme": "sdirk4"}
    mids = np.array([0.2 + 0.0125 * (2 * j + 1) for j in range(16)])
    ref = fp.solve_fokker_planck(OU, BIMODAL_1D, grid, 0.6, t0=0.2, save_at=mids, **kw)
    pts = np.linspace(-3.0, 3.0, 61)
    want = [grid_score(ref)(pts, float(t)) for t in ref.times]
    errs = {"linear": [], "hermite": []}
    hs = []
    for m in (3, 5, 9):
        times = np.linspace(0.2, 0.6, m)
        sol = fp.solve_fokker_planck(OU, BIMODAL_1D, grid, 0.6, t0=0.2, save_at=times, **kw)
        hs.append(times[1] - times[0])
        for mode in errs:
            gs = grid_score(sol, time_interpolation=mode)
            errs[mode].append(max(float(np.max(np.abs(gs(pts, float(t)) - w)))
                                  for t, w in zip(ref.times, want)))  # fmt: skip
    assert observed_order(hs, errs["linear"]).contains(2.0, tol=0.3)
    # quintic Hermite: O(Δt⁶) until the solver's own O(dt⁴) differences (~1e-9) take over
    assert errs["hermite"][-1] < 1e-3 * errs["linear"][-1], errs
    assert observed_order(hs, errs["hermite"]).order > 4.5, errs
    gs = grid_score(sol)
    assert gs.time_interpolation == "hermite" and gs.accuracy["time_order"] == 6


@pytest.mark.slow
def test_double_well_reverse_flow_does_not_degrade_between_saved_times():
    # issue 17's setting: saves every 0.005 on [0, 1], pf-ode-rk4 from p_T's quantiles to t = 0
    sde = fp.DoubleWell(sigma=0.8)
    p0 = fp.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[0.05]], [[0.05]]])
    grid = fp.Grid.uniform(-3.5, 3.5, 1200)
    sol = fp.solve_fokker_planck(sde, p0, grid, 1.0, save_at=np.linspace(0.0, 1.0, 201),
                                 dt=5e-3, space_scheme="fv4", time_scheme="sdirk4")  # fmt: skip
    u = np.linspace(0.01, 0.99, 99)
    cdf = np.concatenate([[0.0], np.cumsum(sol.cell_averages[-1])]) * grid.dx
    fine = np.linspace(grid.lo[0], grid.hi[0], 200001)
    x_T = np.interp(u, PchipInterpolator(grid.edges[0], cdf / cdf[-1])(fine), fine)
    gs = grid_score(sol)
    x = {n: sample_reverse(sde, gs, x_T, t_start=1.0, t_end=0.0, n_steps=n, method="pf-ode-rk4")
         for n in (25, 100, 400)}  # fmt: skip
    w1 = {n: float(np.mean(np.abs(x[n] - p0.ppf(u)))) for n in x}
    # measured W1 3.1e-8 (100 steps) and 1.35e-8 (400); with linear time interpolation 2.0e-5
    assert w1[400] <= 2 * w1[100], w1
    slope = np.log(np.max(np.abs(x[25] - x[100])) / np.max(np.abs(x[100] - x[400]))) / np.log(4)
    assert slope >= 3.0, slope  # measured 3.95 (linear interpolation: -0.7)


def test_auto_time_interpolation_falls_back_to_linear_without_rates():
    def drift(x, t):
        return np.stack([-x[:, 0] - 0.5 * x[:, 1], 0.5 * x[:, 0] - x[:, 1]], axis=1)

    custom = fp.CustomSDE(drift, 1.0, autonomous=True)  # couples the axes: no banded rates
    grid = fp.Grid.uniform((-6.0, -6.0), (6.0, 6.0), (24, 24))
    p0 = fp.GaussianMixture([1.0], [[0.0, 0.5]], [[[0.6, 0.1], [0.1, 0.5]]])
    sol = fp.solve_fokker_planck(custom, p0, grid, 0.2, dt=0.02, save_at=[0.0, 0.1, 0.2])
    gs = grid_score(sol)
    assert gs.time_interpolation == "linear" and gs.accuracy["time_order"] == 2
    assert np.all(np.isfinite(gs(np.zeros((3, 2)), 0.05)))
    with pytest.raises(ValueError, match="separable"):
        grid_score(sol, time_interpolation="hermite")(np.zeros((3, 2)), 0.05)
