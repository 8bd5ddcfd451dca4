"""Compiled Monte-Carlo loops: per-path random streams and the stepping kernels.

Random numbers
--------------
Every (path p, component j) owns two xoroshiro128++ generators (Blackman & Vigna 2018) whose
128-bit states are hashed from ``(key, p, j)`` with the SplitMix64 finaliser: one stream for the
Brownian increments ΔW and one for the independent normals that build the iterated integral ΔZ
(srk only).  So a path's numbers depend on the seed and its global index alone — not on the
thread count, the block a thread takes, or the method (EM, Milstein, Heun, SRK and exact at one
seed share the same W).  No 32-bit counter exists anywhere (the issue's wrap past 2^31 draws
cannot happen); each stream has period 2^128 - 1.  Normals come from a 128-layer ziggurat
(Marsaglia & Tsang 2000, with Doornik's 2005 fix: the layer index and the uniform use disjoint
bits).

Kernels
-------
One loop per family serves every built-in SDE: the SDE enters only through coefficient tables of
shape (m, n_stage) evaluated in NumPy at the stage times (``SDE.poly_coefficients``), so no
instance ever triggers a recompile.  Each loop advances path after path (prange over blocks of
paths), keeping the state and both generators in registers and drawing ``ratio`` fine increments
per step, which is how coupled coarse levels reuse sums of one fine Brownian path.
Layouts: x0 (n, d); tgrid (m + 1,); sqhf (m,) = √(fine step) inside step k; tables (m, n_stage)
(b: (m, n_stage, d)); save_steps (k,) sorted step indices; out (k, n, d); w_end (n, d) or (0, d).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# method codes of run_poly (methods.py maps registry entries onto them)
EM, MILSTEIN, HEUN, SRK = 0, 1, 2, 3
HEUN_FROZEN_G = 4

_BLOCK = 256  # paths per parallel work item: small enough to balance 2 threads on 1e3 paths

_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_STREAM_W = np.uint64(0)  # the ΔW stream of a (path, component)
_STREAM_V = np.uint64(0xD1B54A32D192ED03)  # the independent normals of ΔZ (srk)
_ONE = np.uint64(1)
_MASK7 = np.uint64(127)
_S11, _S17, _S21, _S27 = np.uint64(11), np.uint64(17), np.uint64(21), np.uint64(27)
_S28, _S30, _S31, _S49 = np.uint64(28), np.uint64(30), np.uint64(31), np.uint64(49)
_TWO_M53 = 2.0**-53


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x_i (129,), ratio x_{i+1}/x_i (128,), f(x_i) (129,) of the 128-layer normal ziggurat."""
    r, v = 3.442619855899, 9.91256303526217e-3  # Marsaglia & Tsang (2000), 128 layers of area v
    x = np.empty(129)
    x[0] = v / math.exp(-0.5 * r * r)  # the base layer: a rectangle plus the tail beyond r
    x[1] = r
    for i in range(2, 128):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + math.exp(-0.5 * x[i - 1] ** 2)))
    x[128] = 0.0
    return x, x[1:] / x[:-1], np.exp(-0.5 * x * x)


_ZX, _ZR, _ZF = _ziggurat_tables()
_ZTAIL = float(_ZX[1])


@njit(cache=True)
def _mix(z):
    """SplitMix64 finaliser (a bijection of uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << k) | (x >> (np.uint64(64) - k))


@njit(cache=True, inline="always")
def _next(s0, s1):
    """xoroshiro128++: (64 random bits, new state)."""
    out = _rotl(s0 + s1, _S17) + s0
    s1 = s1 ^ s0
    s0 = _rotl(s0, _S49) ^ s1 ^ (s1 << _S21)
    s1 = _rotl(s1, _S28)
    return out, s0, s1


@njit(cache=True)
def _seed_stream(key, path, comp, stream):
    """Initial xoroshiro state of the stream (path, component, stream) under ``key``.

    Each hash stage XORs a distinct value into a bijection, so distinct (path, comp, stream)
    triples get distinct states (up to a 2^-64 coincidence per pair)."""
    h1 = _mix(key + _GOLD)
    h2 = _mix(h1 ^ np.uint64(path))
    h3 = _mix(h2 ^ (np.uint64(comp) * _GOLD + stream))
    s0 = _mix(h3)
    s1 = _mix(h3 + _GOLD) ^ h2
    if s0 == 0 and s1 == 0:  # the one forbidden state
        s0 = _ONE
    return s0, s1


@njit(cache=True)
def _uniform_open(s0, s1):
    """Uniform on (0, 1] (safe for log)."""
    r, s0, s1 = _next(s0, s1)
    return (np.float64(r >> _S11) + 1.0) * _TWO_M53, s0, s1


@njit(cache=True, inline="always")
def _normal(s0, s1):
    """One standard normal by the 128-layer ziggurat; (z, new state).  The fast path (~99% of
    draws: one generator call, one multiply, one compare) is inlined; the rest is not."""
    r, s0, s1 = _next(s0, s1)
    i = np.int64(r & _MASK7)
    u = 2.0 * (np.float64(r >> _S11) * _TWO_M53) - 1.0
    if abs(u) < _ZR[i]:
        return u * _ZX[i], s0, s1
    return _normal_slow(i, u, s0, s1)


@njit(cache=True)
def _normal_slow(i, u, s0, s1):
    """Ziggurat rejection: the tail (layer 0) and the wedges, restarting from a fresh draw."""
    while True:
        x = u * _ZX[i]
        if abs(u) < _ZR[i]:
            return x, s0, s1
        if i == 0:  # tail beyond r (Marsaglia 1964)
            while True:
                u1, s0, s1 = _uniform_open(s0, s1)
                u2, s0, s1 = _uniform_open(s0, s1)
                xt = -math.log(u1) / _ZTAIL
                if -2.0 * math.log(u2) > xt * xt:
                    break
            return (_ZTAIL + xt) if u > 0.0 else -(_ZTAIL + xt), s0, s1
        u2, s0, s1 = _uniform_open(s0, s1)
        if _ZF[i] + u2 * (_ZF[i + 1] - _ZF[i]) < math.exp(-0.5 * x * x):
            return x, s0, s1
        r, s0, s1 = _next(s0, s1)
        i = np.int64(r & _MASK7)
        u = 2.0 * (np.float64(r >> _S11) * _TWO_M53) - 1.0


@njit(cache=True, parallel=True)
def run_poly(code, x0, key, offset, tgrid, sqhf, ratio, a, b, c, g0, g1, save_steps, out, w_end):
    """Advance n paths of f_i = a x_i + b_i + c x_i³, g = g0 + g1 x with method ``code``.

    Stage columns of the tables: EM/Milstein (t); Heun (t, t + h); SRK (t, t + 3h/4, t + h).
    Components decouple given the noise (g1 ≠ 0 only in 1-D), so each (path, component) is a
    scalar recursion with its own streams, kept in registers.
    """
    n, d = x0.shape
    simple = ratio == 1 and code != SRK
    nblocks = (n + _BLOCK - 1) // _BLOCK
    tabs = (a, b, c, g0, g1)
    for blk in prange(nblocks):
        start, stop = blk * _BLOCK, min(n, (blk + 1) * _BLOCK)
        if simple:
            # the common case (one draw per step, no ΔZ) advances two paths at once: their
            # independent generator chains overlap in the CPU pipeline (1.65x per thread)
            for p in range(start, stop - 1, 2):
                for j in range(d):
                    _walk_pair(
                        code, x0, key, offset, p, j, tgrid, sqhf, tabs, save_steps, out, w_end
                    )
            if (stop - start) % 2:
                for j in range(d):
                    _walk(
                        code,
                        x0,
                        key,
                        offset,
                        stop - 1,
                        j,
                        tgrid,
                        sqhf,
                        1,
                        tabs,
                        save_steps,
                        out,
                        w_end,
                    )
        else:
            for p in range(start, stop):
                for j in range(d):
                    _walk(
                        code,
                        x0,
                        key,
                        offset,
                        p,
                        j,
                        tgrid,
                        sqhf,
                        ratio,
                        tabs,
                        save_steps,
                        out,
                        w_end,
                    )


@njit(cache=True, inline="always")
def _walk_pair(code, x0, key, offset, p, j, tgrid, sqhf, tabs, save_steps, out, w_end):
    """Time loops of paths p and p + 1 (component j) interleaved; one draw per step, no ΔZ."""
    a, b, c, g0, g1 = tabs
    n_save = save_steps.shape[0]
    s0, s1 = _seed_stream(key, offset + p, j, _STREAM_W)
    r0, r1 = _seed_stream(key, offset + p + 1, j, _STREAM_W)
    x = x0[p, j]
    y = x0[p + 1, j]
    wx = 0.0
    wy = 0.0
    js = 0
    while js < n_save and save_steps[js] == 0:
        out[js, p, j] = x
        out[js, p + 1, j] = y
        js += 1
    next_save = save_steps[js] if js < n_save else -1
    for k in range(tgrid.shape[0] - 1):
        zx, s0, s1 = _normal(s0, s1)
        zy, r0, r1 = _normal(r0, r1)
        h = tgrid[k + 1] - tgrid[k]
        dwx = sqhf[k] * zx
        dwy = sqhf[k] * zy
        x = _poly_step(code, x, h, dwx, 0.0, k, j, a, b, c, g0, g1)
        y = _poly_step(code, y, h, dwy, 0.0, k, j, a, b, c, g0, g1)
        wx += dwx
        wy += dwy
        if k + 1 == next_save:
            while js < n_save and save_steps[js] == k + 1:
                out[js, p, j] = x
                out[js, p + 1, j] = y
                js += 1
            next_save = save_steps[js] if js < n_save else -1
    if w_end.shape[0] > 0:
        w_end[p, j] = wx
        w_end[p + 1, j] = wy


@njit(cache=True, inline="always")
def _walk(code, x0, key, offset, p, j, tgrid, sqhf, ratio, tabs, save_steps, out, w_end):
    """Time loop of one (path, component): ``ratio`` fine draws per step, ΔZ for SRK."""
    a, b, c, g0, g1 = tabs
    n_save = save_steps.shape[0]
    srk = code == SRK
    s0, s1 = _seed_stream(key, offset + p, j, _STREAM_W)
    v0, v1 = _seed_stream(key, offset + p, j, _STREAM_V)
    x = x0[p, j]
    wtot = 0.0
    js = 0
    while js < n_save and save_steps[js] == 0:
        out[js, p, j] = x
        js += 1
    next_save = save_steps[js] if js < n_save else -1
    for k in range(tgrid.shape[0] - 1):
        dw, dz, s0, s1, v0, v1 = _increments(ratio, srk, sqhf[k], s0, s1, v0, v1)
        x = _poly_step(code, x, tgrid[k + 1] - tgrid[k], dw, dz, k, j, a, b, c, g0, g1)
        wtot += dw
        if k + 1 == next_save:
            while js < n_save and save_steps[js] == k + 1:
                out[js, p, j] = x
                js += 1
            next_save = save_steps[js] if js < n_save else -1
    if w_end.shape[0] > 0:
        w_end[p, j] = wtot


@njit(cache=True, inline="always")
def _increments(ratio, srk, sq, s0, s1, v0, v1):
    """(ΔW, ΔZ) of one step as sums of ``ratio`` fine increments of size sq²; new states."""
    dw = 0.0
    dz = 0.0
    for _ in range(ratio):
        z, s0, s1 = _normal(s0, s1)
        if srk:
            zv, v0, v1 = _normal(v0, v1)
            # fine ΔZ = h^{3/2}(z/2 + z_v/(2√3)); the coarse ΔZ adds W_run · h_f
            dz += sq * sq * (sq * (0.5 * z + 0.28867513459481287 * zv) + dw)
        dw += sq * z
    return dw, dz, s0, s1, v0, v1


@njit(cache=True, inline="always")
def _poly_step(code, xj, h, dw, dz, k, j, a, b, c, g0, g1):
    """One step of one component (componentwise-polynomial SDEs decouple given the noise)."""
    f0 = a[k, 0] * xj + b[k, 0, j] + c[k, 0] * xj * xj * xj
    gx = g0[k, 0] + g1[k, 0] * xj
    if code == EM:
        return xj + f0 * h + gx * dw
    if code == MILSTEIN:
        return xj + f0 * h + gx * dw + 0.5 * gx * g1[k, 0] * (dw * dw - h)
    if code == HEUN:
        # Kloeden & Platen (1992) eq. 15.1.1 with g(Υ±) taken at t + h (see methods.Heun)
        ybar = xj + f0 * h + gx * dw
        f1 = a[k, 1] * ybar + b[k, 1, j] + c[k, 1] * ybar * ybar * ybar
        sh = math.sqrt(h)
        gp = g0[k, 1] + g1[k, 1] * (xj + f0 * h + gx * sh)
        gm = g0[k, 1] + g1[k, 1] * (xj + f0 * h - gx * sh)
        return (
            xj
            + 0.5 * (f0 + f1) * h
            + 0.25 * (gp + gm + 2.0 * gx) * dw
            + 0.25 * (gp - gm) * (dw * dw - h) / sh
        )
    if code == HEUN_FROZEN_G:
        # trapezoidal drift, noise g(X_n, t_n) ΔW frozen at the step start (methods.HeunFrozenG)
        ybar = xj + f0 * h + gx * dw
        f1 = a[k, 1] * ybar + b[k, 1, j] + c[k, 1] * ybar * ybar * ybar
        return xj + 0.5 * (f0 + f1) * h + gx * dw
    # SRK: Rößler (2010) SRA1, additive noise g(t) = g0
    zh = dz / h
    h2 = xj + 0.75 * h * f0 + 1.5 * g0[k, 2] * zh
    f2 = a[k, 1] * h2 + b[k, 1, j] + c[k, 1] * h2 * h2 * h2
    return xj + h * (f0 / 3.0 + 2.0 * f2 / 3.0) + g0[k, 2] * (dw - zh) + g0[k, 0] * zh


@njit(cache=True, parallel=True)
def run_exact(
    x0, key, offset, tgrid, sqhf, ratio, em, ec, es, ee, eq, mult, save_steps, out, w_end
):
    """Exact transitions x <- (em x + ec + es ΔW) · exp(ee + eq ΔW) (the exponential if ``mult``).

    Linear SDEs: em = m, ec = c, es = √(v/h), ee = eq = 0; GBM: em = 1, ec = es = 0,
    ee = (μ - σ²/2) h, eq = σ.  Tables are (m,) except ec (m, d).
    """
    n, d = x0.shape
    m = tgrid.shape[0] - 1
    want_w = w_end.shape[0] > 0
    n_save = save_steps.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for blk in prange(nblocks):
        for p in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            for j in range(d):
                s0, s1 = _seed_stream(key, offset + p, j, _STREAM_W)
                x = x0[p, j]
                wtot = 0.0
                js = 0
                while js < n_save and save_steps[js] == 0:
                    out[js, p, j] = x
                    js += 1
                next_save = save_steps[js] if js < n_save else -1
                for k in range(m):
                    if ratio == 1:
                        z, s0, s1 = _normal(s0, s1)
                        dw = sqhf[k] * z
                    else:
                        dw, _, s0, s1, _, _ = _increments(ratio, False, sqhf[k], s0, s1, s0, s1)
                    x = em[k] * x + ec[k, j] + es[k] * dw
                    if mult:
                        x *= math.exp(ee[k] + eq[k] * dw)
                    wtot += dw
                    if k + 1 == next_save:
                        while js < n_save and save_steps[js] == k + 1:
                            out[js, p, j] = x
                            js += 1
                        next_save = save_steps[js] if js < n_save else -1
                if want_w:
                    w_end[p, j] = wtot


@njit(cache=True)
def init_streams(key, offset, sw, sv):
    """Initial states of both streams of paths offset .. offset + n - 1; sw, sv (n, d, 2) uint64."""
    for p in range(sw.shape[0]):
        for j in range(sw.shape[1]):
            sw[p, j, 0], sw[p, j, 1] = _seed_stream(key, offset + p, j, _STREAM_W)
            sv[p, j, 0], sv[p, j, 1] = _seed_stream(key, offset + p, j, _STREAM_V)


@njit(cache=True, parallel=True)
def fill_normals(state, out):
    """Next out.shape[1] normals of each stream, in draw order; state (r, 2), out (r, q)."""
    n, q = out.shape
    for p in prange(n):
        s0, s1 = state[p, 0], state[p, 1]
        for i in range(q):
            z, s0, s1 = _normal(s0, s1)
            out[p, i] = z
        state[p, 0], state[p, 1] = s0, s1
