"""Contract, invariants and exact checks of ``fplab.fd.solve_fokker_planck`` (fast tests).

Tolerances quote the measured value they were set from (1 core of an AMD EPYC, numba 0.68).
Observed orders live in ``tests/test_fd_orders.py`` (slow).
"""

from __future__ import annotations

import numpy as np
import pytest
from problems import BIMODAL_1D, BIMODAL_2D, GBM_LOGNORMAL, LINEAR_1D, LINEAR_2D

import fplab as fp
from fplab.errors import NumericalError
from fplab.fd import (
    BOUNDARIES,
    SPACE_SCHEMES,
    TIME_SCHEMES,
    FPSolution,
    _kernels,
    solve_fokker_planck,
)

LINE64 = fp.Grid.uniform(-8.0, 8.0, 64)
SQUARE16 = fp.Grid.uniform((-6.0, -6.0), (6.0, 6.0), (16, 16))


def _mass_region(p: np.ndarray, grid: fp.Grid, level: float = 0.999) -> np.ndarray:
    """Boolean mask of the highest-density cells that together hold ``level`` of the mass."""
    flat = p.ravel()
    order = np.argsort(flat)[::-1]
    cum = np.cumsum(flat[order]) * grid.cell_volume
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[: np.searchsorted(cum, level) + 1]] = True
    return mask.reshape(p.shape)


# -- contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", [LINE64, SQUARE16], ids=["1d", "2d"])
def test_solution_shapes_and_default_times(grid):
    p0 = BIMODAL_1D if grid.ndim == 1 else BIMODAL_2D
    sol = solve_fokker_planck(fp.OU(), p0, grid, 0.2, dt=0.01)
    assert isinstance(sol, FPSolution)
    assert sol.times.tolist() == [0.0, 0.2]
    assert sol.densities.shape == (2, *grid.shape)
    assert sol.densities.dtype == np.float64
    np.testing.assert_array_equal(sol.density, sol.densities[-1])
    np.testing.assert_allclose(sol.densities[0], grid.sample_on(p0.pdf))
    assert sol.mass().shape == (2,)
    expected = (grid.n[0],) if grid.ndim == 1 else (*grid.shape, 2)
    assert sol.score().shape == expected
    assert sol.score(0).shape == expected
    assert (sol.time_scheme, sol.space_scheme, sol.bc) == (
        "crank-nicolson",
        "chang-cooper",
        "zero-flux",
    )
    assert sol.n_steps == 20


def test_save_at_lands_exactly_on_the_requested_times():
    save = [0.0, 0.013, 0.1, 0.25]
    sol = solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 0.25, dt=0.02, save_at=save)
    assert sol.times.tolist() == save
    # the state at 0.1 does not depend on having stopped at 0.013 (same steps after it, up to
    # the short step): compare with a direct run to 0.1 at a step that divides both segments
    direct = solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 0.1, dt=0.02, save_at=[0.1])
    assert direct.times.tolist() == [0.1]
    # a different step sequence: agreement to the O(dt^2) CN error, measured 3e-6
    assert np.max(np.abs(direct.density - sol.densities[2])) < 1e-4


def test_t_final_equal_to_t0_returns_p0():
    sol = solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 0.0)
    assert sol.times.tolist() == [0.0] and sol.n_steps == 0


def test_array_p0_is_used_as_given():
    p0 = LINE64.sample_on(BIMODAL_1D.pdf) * 2.0
    sol = solve_fokker_planck(fp.Heat(), p0, LINE64, 0.1, dt=0.01)
    np.testing.assert_array_equal(sol.densities[0], p0)
    assert sol.mass()[-1] == pytest.approx(2.0, rel=1e-9)


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "value"),
    [("time_scheme", "crank-nicholson"), ("space_scheme", "upwind"), ("bc", "neumann")],
)
def test_unknown_names_list_the_registry(arg, value):
    with pytest.raises(ValueError, match=arg) as err:
        solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 0.1, **{arg: value})
    registry = {"time_scheme": TIME_SCHEMES, "space_scheme": SPACE_SCHEMES, "bc": BOUNDARIES}[arg]
    for name in registry.names():
        assert repr(name) in str(err.value)


def test_bad_p0_values_are_rejected():
    good = LINE64.sample_on(BIMODAL_1D.pdf)
    bad = good.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        solve_fokker_planck(fp.OU(), bad, LINE64, 0.1)
    bad = good.copy()
    bad[3] = -1e-3
    with pytest.raises(ValueError, match="negative"):
        solve_fokker_planck(fp.OU(), bad, LINE64, 0.1)
    with pytest.raises(ValueError, match="zero everywhere"):
        solve_fokker_planck(fp.OU(), np.zeros(64), LINE64, 0.1)
    with pytest.raises(ValueError, match=r"shape \(63,\)"):
        solve_fokker_planck(fp.OU(), good[:-1], LINE64, 0.1)
    with pytest.raises(ValueError, match="2-dimensional"):
        solve_fokker_planck(fp.OU(), BIMODAL_2D, LINE64, 0.1)
    with pytest.raises(TypeError, match="p0"):
        solve_fokker_planck(fp.OU(), "gauss", LINE64, 0.1)


def test_bad_times_and_objects_are_rejected():
    with pytest.raises(ValueError, match="t_final"):
        solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, -1.0)
    with pytest.raises(ValueError, match="save_at"):
        solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 1.0, save_at=[0.5, 1.5])
    with pytest.raises(ValueError, match="dt"):
        solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 1.0, dt=-0.1)
    with pytest.raises(TypeError, match="sde"):
        solve_fokker_planck("ou", BIMODAL_1D, LINE64, 1.0)
    with pytest.raises(TypeError, match="grid"):
        solve_fokker_planck(fp.OU(), BIMODAL_1D, (-8, 8, 64), 1.0)
    with pytest.raises(ValueError, match="1-dimensional"):
        solve_fokker_planck(fp.GBM(), BIMODAL_2D, SQUARE16, 1.0)


def test_explicit_step_beyond_the_limit_states_the_bound():
    with pytest.raises(ValueError, match=r"explicit.*unstable.*limit") as err:
        solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 0.5, dt=0.1, time_scheme="explicit")
    # the bound 1/max|L_ii| lies between 1/(2D/dx² + 2|u|/dx) and 1/(2D/dx²) (D = 1, dx = 0.25,
    # |u| <= 8): between 0.0104 and 0.03125
    limit = float(str(err.value).split("limit ")[1].split(" ")[0])
    assert 1 / 96 < limit < 1 / 32
    with pytest.raises(ValueError, match="limit"):
        solve_fokker_planck(
            fp.OU(), BIMODAL_1D, LINE64, 0.5, dt=1.01 * limit, time_scheme="explicit"
        )
    sol = solve_fokker_planck(
        fp.OU(), BIMODAL_1D, LINE64, 0.5, dt=0.99 * limit, time_scheme="explicit"
    )
    assert np.all(sol.density >= 0)
    auto = solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 0.5, time_scheme="explicit")
    assert auto.dt <= limit


def test_explicit_limit_is_checked_for_time_dependent_coefficients():
    # VE's g² grows like σ(t)²: a step stable at t = 0 is unstable at t = 1
    sde = fp.VE(sigma_min=0.01, sigma_max=2.0)
    with pytest.raises(ValueError, match="limit"):
        solve_fokker_planck(sde, BIMODAL_1D, LINE64, 1.0, dt=0.03, time_scheme="explicit")
    auto = solve_fokker_planck(sde, BIMODAL_1D, LINE64, 1.0, time_scheme="explicit")
    assert np.all(np.isfinite(auto.density))


def test_periodic_needs_periodic_coefficients():
    with pytest.raises(ValueError, match="periodic"):
        solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 0.1, bc="periodic")


def test_grid_missing_mass_warns_with_the_amount():
    narrow = fp.Grid.uniform(-2.0, 2.0, 64)
    outside = 1.0 - float(np.diff(BIMODAL_1D.cdf(np.array([-2.0, 2.0])))[0])
    with pytest.warns(UserWarning, match=f"misses {outside:.2e}"):
        solve_fokker_planck(fp.OU(), BIMODAL_1D, narrow, 0.1)
    square = fp.Grid.uniform((-2.0, -2.0), (2.0, 2.0), (16, 16))
    with pytest.warns(UserWarning, match="misses"):
        solve_fokker_planck(fp.OU(), BIMODAL_2D, square, 0.1)


def test_non_finite_coefficients_raise_numerical_error():
    sde = fp.CustomSDE(lambda x, t: np.where(x > 3.0, np.inf, -x), 1.0, autonomous=True)
    with pytest.raises(NumericalError, match="drift"):
        solve_fokker_planck(sde, BIMODAL_1D, LINE64, 0.1)


# -- invariants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("time_scheme", TIME_SCHEMES.names())
@pytest.mark.parametrize("space_scheme", SPACE_SCHEMES.names())
@pytest.mark.parametrize("problem", [LINEAR_1D[2], LINEAR_2D[0]], ids=repr)
def test_zero_flux_conserves_mass_to_round_off(problem, time_scheme, space_scheme):
    grid = problem.grid.with_n(64) if problem.grid.ndim == 1 else SQUARE16
    sol = solve_fokker_planck(
        problem.sde, problem.p0, grid, problem.t_final, time_scheme=time_scheme,
        space_scheme=space_scheme, save_at=np.linspace(0.0, problem.t_final, 5),
    )  # fmt: skip
    mass = sol.mass()
    # measured drift: < 1e-13 over ≤ 300 steps
    assert np.max(np.abs(mass - mass[0])) < 1e-12


@pytest.mark.parametrize(
    "grid", [fp.Grid.uniform(-3.0, 3.0, 24), fp.Grid.uniform((-3.0, -3.0), (3.0, 3.0), (24, 24))]
)
def test_chang_cooper_implicit_keeps_density_nonnegative(grid):
    # strong drift on a coarse grid: cell Péclet |u| dx / 2D ≈ 27 / 0.25·0.125 ≫ 1
    sde = fp.DoubleWell(sigma=0.5)
    p0 = np.zeros(grid.shape)
    p0[(slice(2, 5),) * grid.ndim] = 1.0  # rough, far from equilibrium
    sol = solve_fokker_planck(
        sde, p0, grid, 2.0, dt=0.05, time_scheme="implicit", save_at=np.linspace(0, 2.0, 9)
    )
    assert np.min(sol.densities) >= 0.0
    # the same run with central fluxes does go negative: the test can fail
    central = solve_fokker_planck(
        sde, p0, grid, 2.0, dt=0.05, time_scheme="implicit", space_scheme="central"
    )
    assert np.min(central.density) < 0.0


def test_periodic_heat_matches_the_image_sum_and_conserves_mass():
    heat = fp.Heat(0.5)

    def images(t: float) -> np.ndarray:
        comps = [fp.GaussianMixture([1.0], [[1.5 + 4.0 * k]], [[[0.1]]]) for k in range(-3, 4)]
        return sum(fp.exact_marginal(heat, c, t).pdf(x) for c in comps)

    errs = []
    for n in (64, 128):
        grid = fp.Grid.uniform(-2.0, 2.0, n)
        x = grid.axes[0]
        sol = solve_fokker_planck(heat, images(0.0), grid, 0.5, dt=1e-3, bc="periodic")
        errs.append(np.max(np.abs(sol.density - images(0.5))))
        assert abs(sol.mass()[-1] - sol.mass()[0]) < 1e-12
    # second order through the wrap face: C dx², measured 8.7e-5 at n = 128, ratio 4.0
    assert errs[1] < 2e-4
    assert 3.5 < errs[0] / errs[1] < 4.5


@pytest.mark.parametrize("time_scheme", ["crank-nicolson", "implicit"])
def test_periodic_2d_conserves_mass_and_matches_1d_product(time_scheme):
    grid = fp.Grid.uniform((-2.0, -2.0), (2.0, 2.0), (32, 32))
    line = fp.Grid.uniform(-2.0, 2.0, 32)
    x = line.axes[0]
    p1 = np.exp(np.cos(np.pi * x / 2.0))  # smooth and periodic
    p2 = np.exp(np.sin(np.pi * x / 2.0))
    kw = {"dt": 0.01, "bc": "periodic", "time_scheme": time_scheme}
    sol2 = solve_fokker_planck(fp.Heat(0.3), np.outer(p1, p2), grid, 0.2, **kw)
    a = solve_fokker_planck(fp.Heat(0.3), p1, line, 0.2, **kw).density
    b = solve_fokker_planck(fp.Heat(0.3), p2, line, 0.2, **kw).density
    # Lx and Ly commute, so ADI (Douglas for CN, LOD for implicit) is the product of the 1-D
    # steps: equal up to rounding (measured 4e-15 on values ~7)
    assert np.max(np.abs(sol2.density - np.outer(a, b))) < 1e-12
    assert abs(sol2.mass()[-1] - sol2.mass()[0]) < 1e-12 * sol2.mass()[0]


def test_dirichlet_loses_mass_monotonically_and_decays_like_the_first_mode():
    L, D, t = 2.0, 0.5, 0.5
    grid = fp.Grid.uniform(-L, L, 128)
    p0 = np.cos(np.pi * grid.axes[0] / (2 * L))  # first Dirichlet eigenfunction, >= 0
    sol = solve_fokker_planck(
        fp.Heat(D), p0, grid, t, dt=1e-3, bc="dirichlet", save_at=np.linspace(0, t, 11)
    )
    assert np.all(np.diff(sol.mass()) < 0)
    exact = np.exp(-D * (np.pi / (2 * L)) ** 2 * t) * p0
    # C dx², measured 6.6e-6 at n = 128 and 1.7e-6 at n = 256
    assert np.max(np.abs(sol.density - exact)) < 2e-5


def test_dirichlet_2d_loses_mass_monotonically():
    sol = solve_fokker_planck(
        fp.Heat(1.0), BIMODAL_2D, fp.Grid.uniform((-6.0, -6.0), (6.0, 6.0), (24, 24)), 1.0,
        bc="dirichlet", save_at=np.linspace(0, 1.0, 6),
    )  # fmt: skip
    assert np.all(np.diff(sol.mass()) < 0)


# -- exact answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("space_scheme", SPACE_SCHEMES.names())
def test_gbm_matches_the_exact_lognormal(space_scheme):
    pr = GBM_LOGNORMAL
    sol = solve_fokker_planck(
        pr.sde, pr.p0, pr.grid, pr.t_final, dt=1e-3, space_scheme=space_scheme
    )
    err = pr.grid.integrate(np.abs(sol.density - pr.grid.sample_on(pr.exact().pdf)))
    # L1 error C dx², measured 1.5e-4 (chang-cooper) / 1.6e-4 (central) at n = 512
    assert err < 4e-4
    assert abs(sol.mass()[-1] - sol.mass()[0]) < 1e-12


def test_double_well_relaxes_to_its_stationary_density():
    sde = fp.DoubleWell(sigma=0.8)
    grid = fp.Grid.uniform(-3.0, 3.0, 128)
    p0 = fp.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[0.1]], [[0.1]]])
    sol = solve_fokker_planck(sde, p0, grid, 10.0, dt=0.05, time_scheme="implicit")
    err = grid.integrate(np.abs(sol.density - grid.sample_on(sde.stationary_pdf)))
    # measured 2e-8 (chang-cooper's steady state is exact at the nodes; what is left is transient)
    assert err < 1e-6


@pytest.mark.parametrize(
    "grid", [fp.Grid.uniform(-3.0, 3.0, 32), fp.Grid.uniform((-3.0, -3.0), (3.0, 3.0), (16, 16))]
)
def test_chang_cooper_steady_state_is_exact_for_gradient_drifts(grid):
    sde = fp.DoubleWell(sigma=0.8)
    p_inf = grid.sample_on(sde.stationary_pdf)
    sol = solve_fokker_planck(sde, p_inf, grid, 5.0, dt=0.05, time_scheme="implicit")
    # round-off only (measured 5e-15 relative); central drifts by O(dx²): 2e-2 at n = 32
    assert np.max(np.abs(sol.density - p_inf)) < 1e-12 * p_inf.max()
    central = solve_fokker_planck(sde, p_inf, grid, 5.0, dt=0.05, space_scheme="central")
    assert np.max(np.abs(central.density - p_inf)) > 1e-4 * p_inf.max()


@pytest.mark.parametrize(
    ("problem", "n", "bound"),
    # relative L2 score error ~ C dx²: measured 3.2e-4 (1-D, n=256), 8.3e-3 (2-D, n=64)
    [(LINEAR_1D[0], 256, 1e-3), (LINEAR_2D[0], 64, 2.5e-2), (LINEAR_1D[2], 256, 1e-3)],
    ids=["ou-1d", "ou-2d", "vp-1d"],
)
def test_fd_score_matches_the_exact_score(problem, n, bound):
    grid = problem.grid.with_n(n)
    sol = solve_fokker_planck(problem.sde, problem.p0, grid, problem.t_final, dt=1e-3)
    exact = problem.exact()
    p = grid.sample_on(exact.pdf)
    s_exact = exact.score(grid.points()).reshape(sol.score().shape)
    mask = _mass_region(p, grid)
    diff = (sol.score() - s_exact)[mask]
    rel = np.sqrt(np.sum(diff**2) / np.sum(s_exact[mask] ** 2))
    assert rel < bound


def test_score_is_finite_where_the_density_vanishes():
    grid = fp.Grid.uniform(-40.0, 40.0, 256)
    sol = solve_fokker_planck(fp.OU(), BIMODAL_1D, grid, 0.1, dt=0.01)
    s = sol.score()
    assert np.all(np.isfinite(s))
    assert np.all(sol.density[:10] < 1e-200)  # the far tail underflows, yet no NaN


@pytest.mark.parametrize("D", [0.25, 1.0])
def test_heat_is_the_heat_equation(D):
    # p_t = D p_xx from a Gaussian: N(m, v) -> N(m, v + 2 D t)
    grid = fp.Grid.uniform(-8.0, 8.0, 256)
    p0 = fp.GaussianMixture([1.0], [[0.5]], [[[0.4]]])
    sol = solve_fokker_planck(fp.Heat(D), p0, grid, 0.5, dt=1e-3)
    exact = fp.GaussianMixture([1.0], [[0.5]], [[[0.4 + 2 * D * 0.5]]])
    # C dx², measured 2.7e-4 (D=0.25) and 2.3e-4 (D=1) in L1 at n = 256
    assert grid.integrate(np.abs(sol.density - grid.sample_on(exact.pdf))) < 5e-4


def test_custom_sde_matches_the_builtin_it_reimplements():
    # the NumPy face-evaluation path against the compiled coefficient tables
    vp = fp.VP()
    custom = fp.CustomSDE(
        lambda x, t: -0.5 * vp.beta(t) * x, lambda x, t: np.sqrt(vp.beta(t)) + 0 * x[:, 0]
    )
    custom.additive = True
    for grid, p0 in ((LINE64, BIMODAL_1D), (SQUARE16, BIMODAL_2D)):
        a = solve_fokker_planck(vp, p0, grid, 0.3, dt=0.01).density
        b = solve_fokker_planck(custom, p0, grid, 0.3, dt=0.01).density
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-14)


def test_custom_multiplicative_noise_matches_gbm():
    gbm = fp.GBM(mu=0.05, sigma=0.4)
    custom = fp.CustomSDE(lambda x, t: 0.05 * x, lambda x, t: 0.4 * x[:, 0], autonomous=True)
    grid = GBM_LOGNORMAL.grid.with_n(256)
    a = solve_fokker_planck(gbm, GBM_LOGNORMAL.p0, grid, 1.0, dt=1e-2).density
    b = solve_fokker_planck(custom, GBM_LOGNORMAL.p0, grid, 1.0, dt=1e-2).density
    # ∂D/∂x by differences of D at the centres vs exactly: both O(dx²), measured 3e-7 apart
    assert grid.integrate(np.abs(a - b)) < 1e-5


def test_custom_2d_with_state_dependent_coefficients_runs_and_conserves_mass():
    # drift couples the coordinates (rotation + contraction), g depends on x: the line-by-line path
    def drift(x, t):
        return np.stack([-x[:, 0] - 0.5 * x[:, 1], 0.5 * x[:, 0] - x[:, 1]], axis=1)

    custom = fp.CustomSDE(drift, lambda x, t: 1.0 + 0.1 * np.tanh(x[:, 0]), autonomous=True)
    for ts in [k for k in TIME_SCHEMES.names() if TIME_SCHEMES.get(k).lines_2d]:
        sol = solve_fokker_planck(custom, BIMODAL_2D, SQUARE16, 0.3, time_scheme=ts)
        assert abs(sol.mass()[-1] - sol.mass()[0]) < 1e-12
        assert np.all(np.isfinite(sol.density))
    # the rotation moves the mean of component means: compare with the Gaussian moment ODE
    sol = solve_fokker_planck(
        custom, BIMODAL_2D, fp.Grid.uniform((-6.0, -6.0), (6.0, 6.0), (48, 48)), 0.3, dt=0.01
    )
    x, y = sol.grid.mesh()
    mean = np.array([sol.grid.integrate(x * sol.density), sol.grid.integrate(y * sol.density)])
    a = np.array([[-1.0, -0.5], [0.5, -1.0]])
    w, v = np.linalg.eig(a * 0.3)
    expected = (v @ np.diag(np.exp(w)) @ np.linalg.inv(v)).real @ BIMODAL_2D.mean()
    # mean of a linear drift is exact up to O(dx²) and the boundary (measured 4e-4)
    np.testing.assert_allclose(mean, expected, atol=3e-3)


# -- kernels against dense NumPy references ------------------------------------------------------


def _dense_operator(u, d, h, scheme, bc):
    """L_h as a dense (n, n) matrix, straight from the face-flux formulas."""
    n = u.shape[0] - 1
    L = np.zeros((n, n))

    def weights(uf, df, hd):
        if scheme == _kernels.CENTRAL:
            return df / hd + uf / 2, df / hd - uf / 2
        w = uf * hd / df
        bern = lambda z: z / np.expm1(z) if z != 0 else 1.0  # noqa: E731
        return df / hd * bern(-w), df / hd * bern(w)

    for f in range(1, n):  # interior face between cells f-1 and f: J = A p_{f-1} - B p_f
        A, B = weights(u[f], d[f], h)
        L[f - 1, f - 1] -= A / h
        L[f - 1, f] += B / h
        L[f, f - 1] += A / h
        L[f, f] -= B / h
    if bc == _kernels.DIRICHLET:
        L[0, 0] -= weights(u[0], d[0], h / 2)[1] / h
        L[n - 1, n - 1] -= weights(u[n], d[n], h / 2)[0] / h
    elif bc == _kernels.PERIODIC:
        A, B = weights(u[n], d[n], h)
        L[n - 1, n - 1] -= A / h
        L[n - 1, 0] += B / h
        L[0, n - 1] += A / h
        L[0, 0] -= B / h
    return L


def _tri_to_dense(lo, di, up):
    n = di.shape[0]
    M = np.diag(di) + np.diag(up[:-1], 1) + np.diag(lo[1:], -1)
    M[0, n - 1] += lo[0]
    M[n - 1, 0] += up[n - 1]
    return M


#: space schemes whose operator is tridiagonal (fv4 has its own reference in test_fd_fv4.py)
TRIDIAGONAL = [k for k in SPACE_SCHEMES.names() if SPACE_SCHEMES.get(k).half_width == 1]
#: time schemes run by the theta kernels (SDIRK has its own pinned step in test_fd_fv4.py)
THETA_SCHEMES = [k for k in TIME_SCHEMES.names() if TIME_SCHEMES.get(k).method == _kernels.THETA]


@pytest.mark.parametrize("bc", BOUNDARIES.names())
@pytest.mark.parametrize("space_scheme", TRIDIAGONAL)
def test_operator_kernel_matches_dense_reference(rng, bc, space_scheme):
    n, h = 7, 0.3
    u = rng.normal(size=n + 1) * 3
    d = rng.uniform(0.2, 1.0, size=n + 1)
    u[0], d[0] = u[n], d[n]  # periodic faces agree
    scheme, code = SPACE_SCHEMES.get(space_scheme).code, BOUNDARIES.get(bc).code
    lo, di, up = (np.empty((1, n)) for _ in range(3))
    _kernels.build_operators(u[None], d[None], h, scheme, code, lo, di, up)
    L = _dense_operator(u, d, h, scheme, code)
    np.testing.assert_allclose(_tri_to_dense(lo[0], di[0], up[0]), L, rtol=1e-13, atol=1e-13)
    if BOUNDARIES.get(bc).conserves_mass:
        np.testing.assert_allclose(L.sum(axis=0), 0.0, atol=1e-12)  # zero column sums


@pytest.mark.parametrize("bc", BOUNDARIES.names())
@pytest.mark.parametrize("theta", [0.0, 0.5, 1.0])
def test_1d_theta_step_matches_dense_solve(rng, bc, theta):
    n, h = 6, 0.4
    u = rng.normal(size=n + 1)
    d = rng.uniform(0.3, 1.0, size=n + 1)
    u[0], d[0] = u[n], d[n]
    code = BOUNDARIES.get(bc).code
    L = _dense_operator(u, d, h, _kernels.CHANG_COOPER, code)
    p = rng.uniform(0.1, 1.0, size=n)
    dt = 0.05
    expected = np.linalg.solve(np.eye(n) - theta * dt * L, (np.eye(n) + (1 - theta) * dt * L) @ p)
    out = p.copy()
    _kernels.run_1d(out, np.array([0.0, dt]), u[None, None], d[None, None], h, 1, code, theta)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("separable", [True, False], ids=["separable", "lines"])
@pytest.mark.parametrize("time_scheme", THETA_SCHEMES)
@pytest.mark.parametrize("bc", BOUNDARIES.names())
def test_2d_step_matches_dense_splitting(rng, bc, time_scheme, separable):
    # odd nx: the explicit kernel's row pairs leave one row over.  The implicit separable path
    # splits the ny = 26 columns into 1 panel, 2 of width 20 (the second holding 6) or 3 of
    # width 12 (the last holding 2), and the 27 rows likewise for its transposed half step
    nx, ny, h0, h1, dt = 27, 26, 0.4, 0.3, 0.05
    entry = TIME_SCHEMES.get(time_scheme)
    code = BOUNDARIES.get(bc).code
    l0, l1 = (1, 1) if separable else (ny, nx)
    u0 = rng.normal(size=(1, l0, nx + 1))
    d0 = rng.uniform(0.3, 1.0, size=(1, l0, nx + 1))
    u1 = rng.normal(size=(1, l1, ny + 1))
    d1 = rng.uniform(0.3, 1.0, size=(1, l1, ny + 1))
    for u, d in ((u0, d0), (u1, d1)):
        u[..., 0], d[..., 0] = u[..., -1], d[..., -1]
    # dense Lx, Ly acting on p.ravel() (C order: index i * ny + j)
    A = np.zeros((nx * ny, nx * ny))
    B = np.zeros((nx * ny, nx * ny))
    for j in range(ny):
        Lj = _dense_operator(u0[0, j % l0], d0[0, j % l0], h0, 1, code)
        idx = np.arange(nx) * ny + j
        A[np.ix_(idx, idx)] = Lj
    for i in range(nx):
        Li = _dense_operator(u1[0, i % l1], d1[0, i % l1], h1, 1, code)
        idx = i * ny + np.arange(ny)
        B[np.ix_(idx, idx)] = Li
    p = rng.uniform(0.1, 1.0, size=(nx, ny))
    v = p.ravel()
    eye = np.eye(nx * ny)
    th = entry.theta
    if entry.splitting == _kernels.SPLIT_NONE:
        expected = v + dt * (A + B) @ v
    elif entry.splitting == _kernels.SPLIT_LOD:
        expected = np.linalg.solve(eye - dt * B, np.linalg.solve(eye - dt * A, v))
    else:
        y1 = np.linalg.solve(eye - th * dt * A, v + dt * ((1 - th) * A @ v + B @ v))
        expected = np.linalg.solve(eye - th * dt * B, y1 - th * dt * B @ v)
    results = []
    for threads in (1, 2, 3):  # the panel count of the separable implicit path
        out = p.copy()
        work = np.full(_kernels.workspace_2d_size(nx, ny, threads), np.nan)  # must not leak
        _kernels.run_2d(out, np.array([0.0, dt]), u0, d0, u1, d1, h0, h1, 1, code, th,
                        entry.splitting, threads, work)  # fmt: skip
        np.testing.assert_allclose(out.ravel(), expected, rtol=1e-12)
        results.append(out)
    assert all(np.array_equal(r, results[0]) for r in results)  # bitwise, whatever the panels


def test_new_parameters_and_instances_do_not_recompile():
    grid = fp.Grid.uniform(-8.0, 8.0, 32)
    solve_fokker_planck(fp.OU(), BIMODAL_1D, grid, 0.1)
    solve_fokker_planck(fp.VP(), BIMODAL_1D, grid, 0.1)
    before = len(_kernels.run_1d.signatures) if hasattr(_kernels.run_1d, "signatures") else None
    for sde in (
        fp.OU(theta=2.0, sigma=0.5),
        fp.Heat(D=3.0),
        fp.VP(beta_max=5.0),
        fp.VE(),
        fp.DoubleWell(0.6),
    ):
        solve_fokker_planck(sde, BIMODAL_1D, grid, 0.05, dt=0.01, time_scheme="implicit")
    if before is not None:  # NUMBA_DISABLE_JIT=1 leaves plain functions
        assert len(_kernels.run_1d.signatures) == before == 1


@pytest.mark.parametrize("time_scheme", TIME_SCHEMES.names())
def test_2d_result_does_not_depend_on_thread_count(time_scheme):
    # the 2-D kernels run rows in prange: every row is independent, so 1 or 2 threads agree
    # bit for bit (nx = 37: blocks of 8 rows plus a remainder)
    numba = pytest.importorskip("numba")
    grid = fp.Grid.uniform((-5.0, -5.0), (5.0, 5.0), (37, 40))
    p0 = grid.sample_on(BIMODAL_2D.pdf)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = solve_fokker_planck(fp.OU(), p0, grid, 0.05, time_scheme=time_scheme).density
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = solve_fokker_planck(fp.OU(), p0, grid, 0.05, time_scheme=time_scheme).density
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, two)


def test_cosine_vp_refuses_t_final_past_its_usable_end():
    vp = fp.VP(schedule="cosine")
    with pytest.raises(ValueError, match=r"t_final=1 lies past the cosine schedule's usable end"):
        solve_fokker_planck(vp, BIMODAL_1D, LINE64, 1.0)


def test_tiny_dt_whose_step_times_exceed_memory_is_refused_naming_dt():
    p0 = fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]])
    grid = fp.Grid.uniform(-5.0, 5.0, 16)
    with pytest.raises(ValueError, match=r"dt=1e-13 needs about .* GiB.*raise dt"):
        fp.solve_fokker_planck(fp.OU(), p0, grid, 1.0, dt=1e-13)


@pytest.mark.parametrize(
    ("save_at", "exc", "match"),
    [
        ([0.4, 0.2], ValueError, r"strictly increasing .* save_at\[0\] = 0.4 followed by 0.2"),
        ([0.3, 0.3], ValueError, r"strictly increasing .* save_at\[0\] = 0.3 followed by 0.3"),
        ("0.3", TypeError, "save_at must be a sequence of times"),
        # audit4: times within round-off beyond t_final (or before t0) are clipped onto it, so
        # [1.0, 1.0 + 1e-13] stored t = 1 twice; distinct inputs that clip together are refused
        ([0.5, 1.0, 1.0 + 1e-13], ValueError, r"save_at\[1\] = 1 followed by 1.0000000000001"),
        (
            [-1e-17, 0.0, 0.5],
            ValueError,
            r"save_at\[0\] = -1e-17 followed by 0, both stored at 0 \(clipped\)",
        ),
    ],
)
def test_save_at_out_of_order_duplicated_or_a_string_is_refused(save_at, exc, match):
    # sol.densities[k] is the density at save_at[k]: a silent sort or de-duplication would hand
    # back densities at other times than the positions a caller indexes by
    with pytest.raises(exc, match=match):
        solve_fokker_planck(fp.OU(), BIMODAL_1D, LINE64, 1.0, save_at=save_at)
