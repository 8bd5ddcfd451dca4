"""Kernels of fplab.mc on tiny inputs: the normal generator, and each loop against plain NumPy.

Sizes are small so that ``NUMBA_DISABLE_JIT=1 pytest tests/test_mc_kernels.py`` also passes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import fplab as fp
from fplab.mc import _kernels as K
from fplab.mc.methods import MC_METHODS
from fplab.mc.simulate import _poly_tables

KEY = np.uint64(20261125)


def _streams(n: int, d: int, key: np.uint64 = KEY) -> tuple[np.ndarray, np.ndarray]:
    sw = np.empty((n, d, 2), dtype=np.uint64)
    sv = np.empty((n, d, 2), dtype=np.uint64)
    with np.errstate(over="ignore"):
        K.init_streams(key, 0, sw, sv)
    return sw.reshape(n * d, 2), sv.reshape(n * d, 2)


def _normals(state: np.ndarray, q: int) -> np.ndarray:
    out = np.empty((state.shape[0], q))
    with np.errstate(over="ignore"):
        K.fill_normals(state, out)
    return out


def test_ziggurat_tables_cover_the_normal_density():
    # 128 layers of equal area v = x_i (f(x_{i+1}) - f(x_i)); the top layer reaches x = 0
    x, f = K._ZX, K._ZF
    areas = x[1:-1] * (f[2:] - f[1:-1])
    # (r, v) are published to 13 digits; the recursion amplifies their rounding to 1.2e-9 in the
    # top layer, a density error ~1e-11 that no Monte-Carlo test can see
    np.testing.assert_allclose(areas, 9.91256303526217e-3, rtol=1e-8)
    assert 0.0 < x[127] < 0.3 and x[128] == 0.0
    # base layer: rectangle [0, r] x [0, f(r)] plus the tail ∫_r^∞ f = v
    tail = math.sqrt(math.pi / 2) * math.erfc(x[1] / math.sqrt(2))
    assert x[1] * f[1] + tail == pytest.approx(9.91256303526217e-3, rel=1e-9)


def test_normals_pass_kolmogorov_smirnov_and_moment_checks():
    sw, _ = _streams(50, 1)
    z = _normals(sw, 400).ravel()  # 2e4 draws
    assert stats.kstest(z, "norm").pvalue > 1e-3
    se = 1.0 / math.sqrt(z.size)
    assert abs(z.mean()) < 4 * se  # k = 4 standard errors
    assert abs(z.var() - 1.0) < 4 * math.sqrt(2.0) * se
    # the tail beyond the base layer (|z| > 3.44) is drawn by the slow path: its mass is right
    p = 2 * stats.norm.sf(K._ZTAIL)
    big = _normals(_streams(200, 1)[0], 2500).ravel()  # 5e5 draws, ~290 in the tail
    frac = np.mean(np.abs(big) > K._ZTAIL)
    assert abs(frac - p) < 4 * math.sqrt(p / big.size)


def test_streams_differ_between_paths_components_seeds_and_kinds():
    sw, sv = _streams(4, 2)
    z = _normals(sw.copy(), 8)
    v = _normals(sv.copy(), 8)
    rows = np.vstack([z, v, _normals(_streams(4, 2, np.uint64(1))[0], 8)])
    assert np.unique(rows[:, 0]).size == rows.shape[0]


def test_fill_normals_continues_the_stream_where_it_stopped():
    sw, _ = _streams(3, 1)
    a = _normals(sw.copy(), 10)
    state = sw.copy()
    b = np.hstack([_normals(state, 4), _normals(state, 6)])
    np.testing.assert_array_equal(a, b)


def _reference_em(x0, tgrid, a, b, c, g0, g1, z):
    """Plain NumPy Euler-Maruyama on the poly form with given normals z (n, m, d)."""
    x = x0.copy()
    for k in range(tgrid.size - 1):
        h = tgrid[k + 1] - tgrid[k]
        dw = math.sqrt(h) * z[:, k]
        x = x + (a[k, 0] * x + b[k, 0] + c[k, 0] * x**3) * h + (g0[k, 0] + g1[k, 0] * x) * dw
    return x


@pytest.mark.parametrize(
    "sde", [fp.DoubleWell(sigma=0.7), fp.OU(theta=0.8, mu=[0.3, -0.2], sigma=0.5)]
)
def test_run_poly_euler_maruyama_matches_numpy_reference(sde):
    d = sde.dim or 1
    n, m = 7, 12
    x0 = np.linspace(-1.0, 1.0, n * d).reshape(n, d)
    tgrid = np.linspace(0.0, 0.6, m + 1)
    tabs = _poly_tables(sde, MC_METHODS.get("euler-maruyama"), tgrid, d)
    out = np.empty((1, n, d))
    w = np.zeros((n, d))
    sqh = np.sqrt(np.diff(tgrid))
    with np.errstate(over="ignore"):
        K.run_poly(K.EM, x0, KEY, 0, tgrid, sqh, 1, *tabs, np.array([m]), out, w)
    sw, _ = _streams(n, d)
    z = _normals(sw, m).reshape(n, d, m).transpose(0, 2, 1)
    np.testing.assert_allclose(out[0], _reference_em(x0, tgrid, *tabs, z), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(w, (sqh[None, :, None] * z).sum(axis=1), rtol=1e-13, atol=1e-14)


def test_run_exact_gbm_is_the_pathwise_solution():
    gbm = fp.GBM(mu=0.3, sigma=0.6)
    n, m = 5, 9
    x0 = np.linspace(0.5, 2.0, n).reshape(n, 1)
    tgrid = np.linspace(0.0, 1.0, m + 1)
    tabs = MC_METHODS.get("exact").tables(gbm, tgrid, 1)
    out = np.empty((1, n, 1))
    w = np.zeros((n, 1))
    with np.errstate(over="ignore"):
        K.run_exact(x0, KEY, 0, tgrid, np.sqrt(np.diff(tgrid)), 1, *tabs, np.array([m]), out, w)
    np.testing.assert_allclose(out[0], gbm.exact_solution(x0, 1.0, w), rtol=1e-13)
