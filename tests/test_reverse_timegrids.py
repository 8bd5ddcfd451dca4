"""Time grids of ``sample_reverse``: each grid's defining spacing, ``times=`` and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from problems import BIMODAL_1D

import fplab as fp
from fplab.reverse import SAMPLERS, TIME_GRIDS, sample_reverse

VP = fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)
VE = fp.VE(sigma_min=0.01, sigma_max=50.0, T=1.0)
T0, T1 = 1.0, 1e-3


def _vp_alpha_sigma(t):
    """α_t, σ_t of the linear-β VP SDE written out: log α = -½ (β_min t + ½ (β_max - β_min) t²)."""
    log_a = -0.5 * (0.1 * t + 0.5 * (20.0 - 0.1) * t * t)
    return np.exp(log_a), np.sqrt(-np.expm1(2.0 * log_a))


def _ve_sigma(t):
    """σ_t of VE from t = 0: √(σ(t)² - σ_min²), σ(t) = 0.01 · 5000^t."""
    return np.sqrt((0.01 * 5000.0**t) ** 2 - 0.01**2)


def _nodes(sde, time_grid, n=12, **kw):
    score = fp.exact_score(sde, BIMODAL_1D)
    x = np.zeros((3, 1))
    _, info = sample_reverse(
        sde,
        score,
        x,
        n_steps=n,
        t_start=T0,
        t_end=T1,
        method="pf-ode-euler",
        time_grid=time_grid,
        return_info=True,
        **kw,
    )
    return info.times


# what each grid is uniform in, written out independently of fplab (VP and VE)
def _spacing_variable(name, sde, t, rho=7.0):
    a, sig = _vp_alpha_sigma(t) if sde is VP else (1.0, _ve_sigma(t))
    return {
        "uniform": t,
        "quadratic": np.sqrt(t),
        "log-snr": np.log(a / sig),
        "sigma-uniform": sig / a,
        "karras": (sig / a) ** (1.0 / rho),
    }[name]


@pytest.mark.parametrize("sde", [VP, VE], ids=["vp", "ve"])
@pytest.mark.parametrize("name", TIME_GRIDS.names())
def test_each_time_grid_is_uniform_in_its_defining_variable(name, sde):
    nodes = _nodes(sde, name)
    assert nodes.shape == (13,) and nodes[0] == T0 and nodes[-1] == T1
    assert np.all(np.diff(nodes) < 0)
    u = _spacing_variable(name, sde, nodes)
    du = np.diff(u)
    # root finding to xtol 1e-15 in t; relative spacing error ~1e-12 (measured <= 3e-13)
    np.testing.assert_allclose(du, np.full(12, (u[-1] - u[0]) / 12), rtol=1e-9)


def test_karras_rho_one_is_sigma_uniform_and_large_rho_tends_to_log_snr():
    np.testing.assert_allclose(
        _nodes(VP, "karras", grid_options={"rho": 1.0}), _nodes(VP, "sigma-uniform"), rtol=1e-12
    )
    log_snr = _nodes(VP, "log-snr")
    # ς^{1/ρ} = exp(-λ/ρ) = 1 - λ/ρ + O(ρ⁻²): the gap to the log-SNR grid falls like 1/ρ
    gaps = [
        np.max(np.abs(_nodes(VP, "karras", grid_options={"rho": r}) - log_snr)) for r in (50, 500)
    ]
    # measured 0.046 and 0.0046: 10x per 10x in ρ
    assert gaps[1] < gaps[0] / 5 and gaps[1] < 1e-2, gaps


@pytest.mark.parametrize("method", [m for m, s in SAMPLERS.items() if not s.adaptive])
def test_times_equal_to_the_uniform_grid_give_bit_identical_samples(method):
    score = fp.exact_score(VP, BIMODAL_1D)
    x_T = fp.exact_marginal(VP, BIMODAL_1D, T0).sample(30, seed=1)
    a = sample_reverse(VP, score, x_T, n_steps=10, t_start=T0, t_end=T1, method=method, seed=3)
    b = sample_reverse(VP, score, x_T, times=np.linspace(T0, T1, 11), method=method, seed=3)
    np.testing.assert_array_equal(a, b)


def test_times_with_save_at_and_info_use_exactly_the_given_nodes():
    score = fp.exact_score(VE, BIMODAL_1D)
    times = np.array([1.0, 0.6, 0.3, 0.1, 0.01])
    x_T = fp.exact_marginal(VE, BIMODAL_1D, 1.0).sample(20, seed=1)
    path, info = sample_reverse(
        VE, score, x_T, times=times, method="pf-ode-heun", save_at=[0.3], return_info=True
    )
    np.testing.assert_array_equal(info.times, times)
    assert info.n_steps == 4 and info.n_score_evals == 8
    part = sample_reverse(VE, score, x_T, times=times[:3], method="pf-ode-heun")
    np.testing.assert_array_equal(path[0], part)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_steps": 4, "time_grid": "karas"}, ValueError, "time_grid.*did you mean 'karras'"),
        ({"n_steps": 4, "time_grid": "karras", "grid_options": {"rho": 0.0}}, ValueError, "rho"),
        ({"n_steps": 4, "time_grid": "karras", "grid_options": {"rho": -2}}, ValueError, "rho"),
        ({"n_steps": 4, "time_grid": "karras", "grid_options": {"p": 2}}, ValueError, "'rho'"),
        ({"n_steps": 4, "time_grid": "uniform", "grid_options": {"rho": 7}}, ValueError, "none"),
        ({"n_steps": 4, "grid_options": [7]}, TypeError, "grid_options"),
        ({"times": [1.0, 0.5, 0.5, 0.1]}, ValueError, "strictly decreasing"),
        ({"times": [0.1, 0.5]}, ValueError, "strictly decreasing"),
        ({"times": [1.0, np.nan, 0.1]}, ValueError, "finite"),
        ({"times": [1.5, 0.5, 0.1]}, ValueError, "horizon"),
        ({"times": [1.0, 0.5, 0.0]}, ValueError, "t_end must be > 0"),
        ({"times": [1.0]}, ValueError, "at least 2"),
        ({"times": [1.0, 0.5], "n_steps": 1}, TypeError, "either times= or n_steps"),
        ({"times": [1.0, 0.5], "t_end": 0.5}, TypeError, "either times= or t_end"),
        ({"times": [1.0, 0.5], "time_grid": "karras"}, TypeError, "time_grid"),
        ({"times": [1.0, 0.5], "method": "pf-ode-adaptive"}, ValueError, "own steps"),
    ],
)
def test_bad_time_grid_arguments_raise_naming_the_argument(kwargs, exc, match):
    score = fp.exact_score(VP, BIMODAL_1D)
    with pytest.raises(exc, match=match):
        sample_reverse(VP, score, np.zeros(3), **kwargs)


def test_noise_level_grids_need_a_linear_sde():
    dw = fp.DoubleWell(sigma=0.8)
    with pytest.raises(ValueError, match=r"time_grid='karras' needs a linear SDE.*'quadratic'"):
        sample_reverse(dw, lambda x, t: -x, np.zeros(3), n_steps=4, time_grid="karras")
