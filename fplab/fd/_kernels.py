"""Compiled kernels of the finite-volume Fokker–Planck solver (numba, ``cache=True``).

Layout shared by every kernel:

* a density is float64 C-contiguous, shape (n,) in 1-D and (nx, ny) in 2-D;
* a *face table* holds the effective drift u = f - ∂x D and the diffusivity D = g²/2 at the faces
  of one axis, shape (m, L, n + 1): m stage times (m == 1 when the coefficients do not depend on
  t), L lines (L == 1 when every line of that axis sees the same coefficients, as for all
  built-in SDEs), n + 1 faces (face k sits at lo + k dx);
* tridiagonal operators are three arrays ``lo, di, up`` of shape (L, n): row i of L_h p is
  lo[i] p[i-1] + di[i] p[i] + up[i] p[i+1], wrapping around for periodic boundaries and with
  lo[0] = up[n-1] = 0 otherwise.

Codes: scheme 0 = central, 1 = chang-cooper; bc 0 = zero-flux, 1 = dirichlet, 2 = periodic;
splitting 0 = none (explicit), 1 = Douglas ADI, 2 = locally one-dimensional (LOD).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

CENTRAL = 0
CHANG_COOPER = 1
ZERO_FLUX = 0
DIRICHLET = 1
PERIODIC = 2
SPLIT_NONE = 0
SPLIT_DOUGLAS = 1
SPLIT_LOD = 2


@njit(cache=True, fastmath={"contract"})
def bernoulli(w):
    """B(w) = w / (e^w - 1), with its Taylor series near 0 and B(w) -> 0 for large w."""
    if abs(w) < 1e-5:
        return 1.0 - 0.5 * w + w * w / 12.0
    if w > 700.0:
        return w * math.exp(-w)
    return w / math.expm1(w)


@njit(cache=True, fastmath={"contract"})
def face_weight(u, d, hd, scheme):
    """Weights (A, B) of the face flux J = A p_left - B p_right over a distance hd.

    J approximates u p - D ∂x p.  Central: A = D/hd + u/2, B = D/hd - u/2.  Chang–Cooper
    (Scharfetter–Gummel exponential fitting): A = D/hd B(-w), B = D/hd B(w), w = u hd / D, which
    is exact for constant u and D, never negative, and tends to upwinding as D -> 0.
    """
    if scheme == CENTRAL:
        return d / hd + 0.5 * u, d / hd - 0.5 * u
    if d > 0.0:
        w = u * hd / d
        return d / hd * bernoulli(-w), d / hd * bernoulli(w)
    return max(u, 0.0), max(-u, 0.0)


@njit(cache=True, fastmath={"contract"})
def same_step(dt, dt_prepared):
    """True when dt equals the factored step up to the rounding of t0 + k dt.

    Step times t0 + k dt differ from dt by a few ulps of t; refactoring on every such step
    would cost a division per cell, while reusing the factors changes the result by ~1e-16.
    """
    return abs(dt - dt_prepared) <= 1e-12 * dt


@njit(cache=True, fastmath={"contract"})
def build_operator(u, d, h, scheme, bc, lo, di, up):
    """Tridiagonal rows of L_h p = -(J_{i+1/2} - J_{i-1/2}) / h for one line.

    u, d : (n + 1,) face values; lo, di, up : (n,) output rows.
    """
    n = lo.shape[0]
    a_prev = 0.0
    b_prev = 0.0
    # face 0 (the left boundary face)
    if bc == DIRICHLET:
        # p = 0 on the boundary face, half a cell from the first centre
        a_prev = 0.0
        b_prev = face_weight(u[0], d[0], 0.5 * h, scheme)[1]
    elif bc == PERIODIC:
        # the wrap face is the face at hi (face n), shared with face 0
        a_prev, b_prev = face_weight(u[n], d[n], h, scheme)
    for i in range(n):
        if i == n - 1:
            if bc == DIRICHLET:
                a_next = face_weight(u[n], d[n], 0.5 * h, scheme)[0]
                b_next = 0.0
            elif bc == PERIODIC:
                a_next, b_next = face_weight(u[n], d[n], h, scheme)
            else:
                a_next = 0.0
                b_next = 0.0
        else:
            a_next, b_next = face_weight(u[i + 1], d[i + 1], h, scheme)
        lo[i] = a_prev / h
        di[i] = -(b_prev + a_next) / h
        up[i] = b_next / h
        a_prev = a_next
        b_prev = b_next
    if bc != PERIODIC:
        lo[0] = 0.0
        up[n - 1] = 0.0


@njit(cache=True, fastmath={"contract"})
def build_operators(u, d, h, scheme, bc, lo, di, up):
    """``build_operator`` for every line: u, d (L, n + 1); lo, di, up (L, n)."""
    for line in range(lo.shape[0]):
        build_operator(u[line], d[line], h, scheme, bc, lo[line], di[line], up[line])


@njit(cache=True, fastmath={"contract"})
def factor(lo, di, up, c, periodic, fs, finv, fcp, fz, fscal):
    """Thomas factorisation of M = I - c L_h on one line (cyclic by Sherman–Morrison).

    lo, di, up : (n,) rows of L_h.  Outputs, all (n,): finv = 1/pivot, fs = sub * finv (so the
    forward sweep is x_i = r_i finv_i - fs_i x_{i-1}, one fused multiply-add on the dependency
    chain), fcp = super * finv, fz = M^{-1}-correction vector; fscal (2,) Sherman–Morrison scalars.
    """
    n = lo.shape[0]
    diag0 = 1.0 - c * di[0]
    diag_last = 1.0 - c * di[n - 1]
    gamma = 1.0
    alpha = 0.0
    q = 0.0
    if periodic:
        # M = T + w v^T with w = (gamma, 0.., alpha), v = (1, 0.., beta/gamma)
        beta = -c * lo[0]
        alpha = -c * up[n - 1]
        gamma = -diag0
        q = beta / gamma
        diag0 = diag0 - gamma
        diag_last = diag_last - alpha * q
    finv[0] = 1.0 / diag0
    fs[0] = 0.0
    fcp[0] = -c * up[0] * finv[0]
    for i in range(1, n):
        dd = diag_last if i == n - 1 else 1.0 - c * di[i]
        sub = -c * lo[i]
        finv[i] = 1.0 / (dd - sub * fcp[i - 1])
        fs[i] = sub * finv[i]
        fcp[i] = -c * up[i] * finv[i]
    if periodic:
        fz[0] = gamma * finv[0]
        for i in range(1, n):
            rhs = alpha if i == n - 1 else 0.0
            fz[i] = rhs * finv[i] - fs[i] * fz[i - 1]
        for i in range(n - 2, -1, -1):
            fz[i] -= fcp[i] * fz[i + 1]
        fscal[0] = q
        fscal[1] = 1.0 / (1.0 + fz[0] + q * fz[n - 1])


@njit(cache=True, fastmath={"contract"})
def apply_line(p, lo, di, up, out):
    """out = L_h p for one line; p, lo, di, up, out (n,) (lo[0], up[n-1] wrap around)."""
    n = p.shape[0]
    out[0] = lo[0] * p[n - 1] + di[0] * p[0] + up[0] * p[1]
    for i in range(1, n - 1):
        out[i] = lo[i] * p[i - 1] + di[i] * p[i] + up[i] * p[i + 1]
    out[n - 1] = lo[n - 1] * p[n - 2] + di[n - 1] * p[n - 1] + up[n - 1] * p[0]


@njit(cache=True, fastmath={"contract"})
def max_rate_1d(u, d, h, scheme, bc):
    """max over stages and cells of |L_h[i, i]| (the explicit stability rate); u, d (m, 1, n + 1)."""
    n = u.shape[2] - 1
    lo = np.empty((1, n))
    di = np.empty((1, n))
    up = np.empty((1, n))
    rate = 0.0
    for r in range(u.shape[0]):
        build_operators(u[r], d[r], h, scheme, bc, lo, di, up)
        for i in range(n):
            rate = max(rate, -di[0, i])
    return rate


@njit(cache=True, fastmath={"contract"})
def prepare_theta(lo, di, up, theta, dt, periodic, ea, eb, ec, fs, finv, fcp, fz, fscal):
    """Coefficients of one fused theta step on a line (see :func:`theta_step_line`).

    The explicit half (I + (1 - θ) dt L(t_n)) is folded into the first Thomas sweep:
    ea, eb, ec = ((1-θ)dt lo, 1 + (1-θ)dt di, (1-θ)dt up) / pivot; all arrays (n,).
    """
    factor(lo, di, up, theta * dt, periodic, fs, finv, fcp, fz, fscal)
    ce = (1.0 - theta) * dt
    for i in range(lo.shape[0]):
        ea[i] = ce * lo[i] * finv[i]
        eb[i] = (1.0 + ce * di[i]) * finv[i]
        ec[i] = ce * up[i] * finv[i]


@njit(cache=True)
def theta_arrays(n):
    """Zeroed work arrays ea, eb, ec, fs, finv, fcp, fz (n,) and fscal (2,) of one θ-step line."""
    return (np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n),
            np.zeros(n), np.zeros(2))  # fmt: skip


@njit(cache=True, fastmath={"contract"})
def theta_step_line(p, ea, eb, ec, fs, fcp, fz, fscal, periodic):
    """One theta step in place on a line p (n,) with the coefficients of :func:`prepare_theta`."""
    n = p.shape[0]
    p_prev = p[n - 1]  # wrap neighbour of row 0 (ea[0] == 0 unless periodic)
    p_first = p[0]
    x_prev = 0.0
    for i in range(n - 1):
        p_i = p[i]
        x = ea[i] * p_prev + eb[i] * p_i + ec[i] * p[i + 1] - fs[i] * x_prev
        p[i] = x
        x_prev = x
        p_prev = p_i
    k = n - 1
    p[k] = ea[k] * p_prev + eb[k] * p[k] + ec[k] * p_first - fs[k] * x_prev
    for i in range(n - 2, -1, -1):
        p[i] -= fcp[i] * p[i + 1]
    if periodic:
        s = (p[0] + fscal[0] * p[n - 1]) * fscal[1]
        for i in range(n):
            p[i] -= s * fz[i]


@njit(cache=True, fastmath={"contract"})
def explicit_step_line(p, lo, di, up, dt):
    """p += dt L_h p in place on a line (n,)."""
    n = p.shape[0]
    p_prev = p[n - 1]
    p_first = p[0]
    for i in range(n - 1):
        p_i = p[i]
        p[i] = p_i + dt * (lo[i] * p_prev + di[i] * p_i + up[i] * p[i + 1])
        p_prev = p_i
    k = n - 1
    p[k] = p[k] + dt * (lo[k] * p_prev + di[k] * p[k] + up[k] * p_first)


@njit(cache=True, fastmath={"contract"})
def run_1d(p, ts, u, d, h, scheme, bc, theta):
    """Advance p (n,) in place through the step times ts (k + 1,) with the theta scheme.

    Step r solves (I - θ dt L(t_{r+1})) p_new = (I + (1 - θ) dt L(t_r)) p with
    dt = ts[r+1] - ts[r]; u, d (m, 1, n + 1) face tables with m == 1 (autonomous) or k + 1.
    """
    n = p.shape[0]
    varying = u.shape[0] > 1
    periodic = bc == PERIODIC
    lo_a = np.empty((1, n))
    di_a = np.empty((1, n))
    up_a = np.empty((1, n))
    lo_b = np.empty((1, n))
    di_b = np.empty((1, n))
    up_b = np.empty((1, n))
    ea, eb, ec, fs, finv, fcp, fz, fscal = theta_arrays(n)
    build_operators(u[0], d[0], h, scheme, bc, lo_b, di_b, up_b)
    dt_prepared = -1.0
    for r in range(ts.shape[0] - 1):
        dt = ts[r + 1] - ts[r]
        if varying:
            # operator at t_r (built last step as the t_{r+1} one) and at t_{r+1}
            lo_a[:] = lo_b
            di_a[:] = di_b
            up_a[:] = up_b
            build_operators(u[r + 1], d[r + 1], h, scheme, bc, lo_b, di_b, up_b)
        if theta == 0.0:
            if varying:
                explicit_step_line(p, lo_a[0], di_a[0], up_a[0], dt)
            else:
                explicit_step_line(p, lo_b[0], di_b[0], up_b[0], dt)
            continue
        if varying:
            if theta < 1.0:
                explicit_step_line(p, lo_a[0], di_a[0], up_a[0], (1.0 - theta) * dt)
            prepare_theta(lo_b[0], di_b[0], up_b[0], 1.0, theta * dt, periodic,
                          ea, eb, ec, fs, finv, fcp, fz, fscal)  # fmt: skip
        elif not same_step(dt, dt_prepared):
            prepare_theta(lo_b[0], di_b[0], up_b[0], theta, dt, periodic,
                          ea, eb, ec, fs, finv, fcp, fz, fscal)  # fmt: skip
            dt_prepared = dt
        theta_step_line(p, ea, eb, ec, fs, fcp, fz, fscal, periodic)


# -- 2-D -----------------------------------------------------------------------------------------


@njit(cache=True, fastmath={"contract"})
def max_rate_2d(u0, d0, u1, d1, h0, h1, scheme, bc):
    """max over stages and cells of |Lx[i, i]| + |Ly[j, j]|; face tables as in :func:`run_2d`."""
    nx = u0.shape[2] - 1
    ny = u1.shape[2] - 1
    l0 = u0.shape[1]
    l1 = u1.shape[1]
    lo0 = np.empty((l0, nx))
    di0 = np.empty((l0, nx))
    up0 = np.empty((l0, nx))
    lo1 = np.empty((l1, ny))
    di1 = np.empty((l1, ny))
    up1 = np.empty((l1, ny))
    s0 = 1 if l0 > 1 else 0
    s1 = 1 if l1 > 1 else 0
    rate = 0.0
    for r in range(u0.shape[0]):
        build_operators(u0[r], d0[r], h0, scheme, bc, lo0, di0, up0)
        build_operators(u1[r], d1[r], h1, scheme, bc, lo1, di1, up1)
        for i in range(nx):
            for j in range(ny):
                rate = max(rate, -di0[j * s0, i] - di1[i * s1, j])
    return rate


@njit(cache=True, fastmath={"contract"})
def apply_axis0(p, lo, di, up, out):
    """out = Lx p for p (nx, ny); lo, di, up (L0, nx) with L0 in {1, ny}."""
    nx, ny = p.shape
    s0 = 1 if lo.shape[0] > 1 else 0
    for i in range(nx):
        im = i - 1 if i > 0 else nx - 1
        ip = i + 1 if i < nx - 1 else 0
        if s0 == 0:
            a = lo[0, i]
            b = di[0, i]
            c = up[0, i]
            for j in range(ny):
                out[i, j] = a * p[im, j] + b * p[i, j] + c * p[ip, j]
        else:
            for j in range(ny):
                out[i, j] = lo[j, i] * p[im, j] + di[j, i] * p[i, j] + up[j, i] * p[ip, j]


@njit(cache=True, fastmath={"contract"})
def apply_axis1(p, lo, di, up, out):
    """out = Ly p for p (nx, ny); lo, di, up (L1, ny) with L1 in {1, nx}."""
    nx = p.shape[0]
    s1 = 1 if lo.shape[0] > 1 else 0
    for i in range(nx):
        apply_line(p[i], lo[i * s1], di[i * s1], up[i * s1], out[i])


@njit(cache=True, fastmath={"contract"})
def factor_lines(lo, di, up, c, periodic, fsub, finv, fcp, fz, fscal):
    """:func:`factor` for every line: arrays (L, n), fscal (L, 2)."""
    for line in range(lo.shape[0]):
        factor(
            lo[line], di[line], up[line], c, periodic,
            fsub[line], finv[line], fcp[line], fz[line], fscal[line],
        )  # fmt: skip


@njit(cache=True, fastmath={"contract"})
def solve_axis0(x, fsub, finv, fcp, fz, fscal, periodic):
    """Solve (I - c Lx) x_new = x in place, batched over the ny columns; factors (L0, nx)."""
    nx, ny = x.shape
    s0 = 1 if fsub.shape[0] > 1 else 0
    for j in range(ny):
        x[0, j] *= finv[j * s0, 0]
    for i in range(1, nx):
        for j in range(ny):
            line = j * s0
            x[i, j] = x[i, j] * finv[line, i] - fsub[line, i] * x[i - 1, j]
    for i in range(nx - 2, -1, -1):
        for j in range(ny):
            x[i, j] -= fcp[j * s0, i] * x[i + 1, j]
    if periodic:
        for j in range(ny):
            line = j * s0
            s = (x[0, j] + fscal[line, 0] * x[nx - 1, j]) * fscal[line, 1]
            for i in range(nx):
                x[i, j] -= s * fz[line, i]


@njit(cache=True, fastmath={"contract"})
def solve_axis1(x, fsub, finv, fcp, fz, fscal, periodic):
    """Solve (I - c Ly) x_new = x in place, batched over the nx rows; factors (L1, ny).

    The recurrence runs along j with the rows innermost: independent rows keep the pipeline
    full instead of waiting on one row's dependency chain.
    """
    nx, ny = x.shape
    s1 = 1 if fsub.shape[0] > 1 else 0
    for i in range(nx):
        x[i, 0] *= finv[i * s1, 0]
    for j in range(1, ny):
        for i in range(nx):
            line = i * s1
            x[i, j] = x[i, j] * finv[line, j] - fsub[line, j] * x[i, j - 1]
    for j in range(ny - 2, -1, -1):
        for i in range(nx):
            x[i, j] -= fcp[i * s1, j] * x[i, j + 1]
    if periodic:
        for i in range(nx):
            line = i * s1
            s = (x[i, 0] + fscal[line, 0] * x[i, ny - 1]) * fscal[line, 1]
            for j in range(ny):
                x[i, j] -= s * fz[line, j]


@njit(cache=True, fastmath={"contract"})
def explicit_coefficients(lo0, di0, up0, lo1, di1, up1, dt, a0, b0, c0, l1, d1, u1):
    """Fold dt into the separable operators: out = a0 p[i-1] + (b0 + d1) p + c0 p[i+1] + ... ."""
    for i in range(lo0.shape[0]):
        a0[i] = dt * lo0[i]
        b0[i] = 1.0 + dt * di0[i]
        c0[i] = dt * up0[i]
    for j in range(lo1.shape[0]):
        l1[j] = dt * lo1[j]
        d1[j] = dt * di1[j]
        u1[j] = dt * up1[j]


@njit(cache=True, fastmath={"contract"})
def explicit_edges(p, i, a0, b0, c0, l1, d1, u1, out):
    """The two wrap columns j = 0 and j = ny - 1 of row i of :func:`explicit_step_2d`."""
    nx, ny = p.shape
    pm = p[i - 1 if i > 0 else nx - 1]
    pc = p[i]
    pn = p[i + 1 if i < nx - 1 else 0]
    a = a0[i]
    b = b0[i]
    c = c0[i]
    o = out[i]
    o[0] = a * pm[0] + c * pn[0] + (b + d1[0]) * pc[0] + l1[0] * pc[ny - 1] + u1[0] * pc[1]
    j = ny - 1
    o[j] = a * pm[j] + c * pn[j] + (b + d1[j]) * pc[j] + l1[j] * pc[j - 1] + u1[j] * pc[0]


@njit(cache=True, fastmath={"contract"})
def explicit_row(p, i, a0, b0, c0, l1, d1, u1, out):
    """Interior columns of row i of :func:`explicit_step_2d` (the odd last row)."""
    nx, ny = p.shape
    m = ny - 2
    pm = p[i - 1 if i > 0 else nx - 1, 1 : ny - 1]
    pn = p[i + 1 if i < nx - 1 else 0, 1 : ny - 1]
    r = p[i]
    xl = r[0:m]
    xc = r[1 : m + 1]
    xr = r[2 : m + 2]
    lv = l1[1 : ny - 1]
    dv = d1[1 : ny - 1]
    uv = u1[1 : ny - 1]
    o = out[i, 1 : ny - 1]
    a = a0[i]
    b = b0[i]
    c = c0[i]
    for j in range(m):
        o[j] = a * pm[j] + c * pn[j] + (b + dv[j]) * xc[j] + lv[j] * xl[j] + uv[j] * xr[j]


@njit(cache=True, fastmath={"contract"}, parallel=True)
def explicit_step_2d(p, a0, b0, c0, l1, d1, u1, out):
    """out = p + dt (Lx + Ly) p for separable operators with dt folded in (explicit_coefficients).

    Rows go in pairs (prange over pairs, the same result for any thread count): the pair
    shares its neighbour rows and coefficient loads, and every operand is a unit-stride slice
    indexed from 0, which is what lets LLVM vectorise the loop without wrap-around checks.
    """
    nx, ny = p.shape
    m = ny - 2
    lv = l1[1 : ny - 1]
    dv = d1[1 : ny - 1]
    uv = u1[1 : ny - 1]
    for pair in prange(nx // 2):
        i = 2 * pair
        pm = p[i - 1 if i > 0 else nx - 1, 1 : ny - 1]
        pn = p[i + 2 if i + 2 < nx else 0, 1 : ny - 1]
        ra = p[i]
        rb = p[i + 1]
        al = ra[0:m]
        ac = ra[1 : m + 1]
        ar = ra[2 : m + 2]
        bl = rb[0:m]
        bc = rb[1 : m + 1]
        br = rb[2 : m + 2]
        oa = out[i, 1 : ny - 1]
        ob = out[i + 1, 1 : ny - 1]
        aa = a0[i]
        ba = b0[i]
        ca = c0[i]
        ab = a0[i + 1]
        bb = b0[i + 1]
        cb = c0[i + 1]
        for j in range(m):
            d = dv[j]
            lj = lv[j]
            uj = uv[j]
            xa = ac[j]
            xb = bc[j]
            oa[j] = aa * pm[j] + ca * xb + (ba + d) * xa + lj * al[j] + uj * ar[j]
            ob[j] = ab * xa + cb * pn[j] + (bb + d) * xb + lj * bl[j] + uj * br[j]
        explicit_edges(p, i, a0, b0, c0, l1, d1, u1, out)
        explicit_edges(p, i + 1, a0, b0, c0, l1, d1, u1, out)
    if nx % 2 == 1:
        explicit_row(p, nx - 1, a0, b0, c0, l1, d1, u1, out)
        explicit_edges(p, nx - 1, a0, b0, c0, l1, d1, u1, out)


# Implicit 2-D steps on *panels*.  A field (n0, n1) is stored as nch panels of shape (n0, w):
# panel ch holds columns ch*w .. ch*w + w - 1 (zero beyond n1).  A 1-D solve along axis 0 then
# runs over full panel rows — unit stride, trip count w, SIMD across columns — and panels are
# independent, so they go to threads.  Each half step writes its result transposed into the
# panels of the other layout (n1, n0), where the other axis is axis 0.  w is never a multiple
# of 16 doubles: a power-of-two row stride would map the transposed writes onto a few L1 sets.


#: panels per thread: narrower panels keep a panel's rows and its scratch in L2 (measured at
#: 256²: 2 panels a thread 10-20% faster than 1, 4 no better)
PANELS_PER_THREAD = 2


def panel_width(n, nch):
    """Columns per panel for n columns over nch panels (a multiple of 4, not of 16)."""
    w = -(-n // nch)
    w = -(-w // 4) * 4
    return w + 4 if w % 16 == 0 else w


panel_width_jit = njit(cache=True)(panel_width)


def panel_count(nx, ny, threads):
    """Panels of the separable implicit path: PANELS_PER_THREAD a thread, each >= 8 wide."""
    return max(1, min(PANELS_PER_THREAD * threads, min(nx, ny) // 8))


panel_count_jit = njit(cache=True)(panel_count)


def workspace_2d_size(nx, ny, threads):
    """float64 entries of the ``work`` buffer that :func:`run_2d` needs (see run_2d_sep)."""
    nch = panel_count(nx, ny, threads)
    w0 = panel_width(nx, nch)
    w1 = panel_width(ny, nch)
    a = nch * nx * w1
    b = nch * ny * w0
    return a + b + max(a, b) + nch * max(w0, w1)


@njit(cache=True)
def to_panels(p, panels):
    """Copy p (n0, n1) into panels (nch, n0, w), zeroing the padding columns."""
    n1 = p.shape[1]
    nch, n0, w = panels.shape
    for ch in range(nch):
        nv = max(0, min(w, n1 - ch * w))
        for i in range(n0):
            for k in range(nv):
                panels[ch, i, k] = p[i, ch * w + k]
            for k in range(nv, w):
                panels[ch, i, k] = 0.0


@njit(cache=True)
def zero_padding(panels, n1):
    """Zero the columns >= n1 of panels (nch, n0, w) (never written by the transposed writes)."""
    nch, n0, w = panels.shape
    for ch in range(nch):
        for i in range(n0):
            for k in range(max(0, min(w, n1 - ch * w)), w):
                panels[ch, i, k] = 0.0


@njit(cache=True)
def from_panels(panels, p):
    """Inverse of :func:`to_panels`."""
    n1 = p.shape[1]
    nch, n0, w = panels.shape
    for ch in range(nch):
        for i in range(n0):
            for k in range(min(w, n1 - ch * w)):
                p[i, ch * w + k] = panels[ch, i, k]


@njit(cache=True, fastmath={"contract"})
def theta_panel(pan, y, dst, j0, nv, ea, eb, ec, fs, fcp, fz, fscal, periodic, implicit, prev):
    """One 1-D theta step along axis 0 of a panel (n0, w), written transposed into dst.

    Coefficients as in :func:`theta_step_line`: forward sweep x_i = ea_i p_{i-1} + eb_i p_i +
    ec_i p_{i+1} - fs_i x_{i-1} (prev carries x_{i-1}: reading it from y's previous row would
    make LLVM see two rows of one array and give up vectorising), back sweep, Sherman–Morrison
    correction when periodic.  Columns j0 .. j0 + nv - 1 of the field become rows of dst
    (nch, n1, w0) at column i.
    """
    n0, w = pan.shape
    w0 = dst.shape[2]
    for k in range(w):
        prev[k] = 0.0
    for i in range(n0):
        pc = pan[i]
        yi = y[i]
        b = eb[i]
        s = fs[i]
        if implicit:  # ea = ec = 0: skip the neighbour rows
            for k in range(w):
                v = b * pc[k] - s * prev[k]
                prev[k] = v
                yi[k] = v
            continue
        pm = pan[i - 1 if i > 0 else n0 - 1]
        pn = pan[i + 1 if i < n0 - 1 else 0]
        a = ea[i]
        c = ec[i]
        for k in range(w):
            v = a * pm[k] + b * pc[k] + c * pn[k] - s * prev[k]
            prev[k] = v
            yi[k] = v
    if not periodic:
        # back sweep fused with the transposed write; prev carries x_{i+1}
        for i in range(n0 - 1, -1, -1):
            f = fcp[i] if i < n0 - 1 else 0.0
            yi = y[i]
            # a strided view indexed from 0: no wrap-around check per element (measured 1.8x)
            col = dst[i // w0, j0 : j0 + nv, i % w0]
            for k in range(nv):
                v = yi[k] - f * prev[k]
                prev[k] = v
                col[k] = v
        return
    for i in range(n0 - 2, -1, -1):
        f = fcp[i]
        yi = y[i]
        yn = y[i + 1]
        for k in range(w):
            yi[k] -= f * yn[k]
    y0 = y[0]
    yl = y[n0 - 1]
    for k in range(w):
        prev[k] = (y0[k] + fscal[0] * yl[k]) * fscal[1]
    for i in range(n0):
        z = fz[i]
        yi = y[i]
        col = dst[i // w0, j0 : j0 + nv, i % w0]
        for k in range(nv):
            col[k] = yi[k] - z * prev[k]


@njit(cache=True, fastmath={"contract"}, parallel=True)
def theta_half(src, y, dst, n1, ea, eb, ec, fs, fcp, fz, fscal, periodic, implicit, prev):
    """:func:`theta_panel` on every panel of src (nch, n0, w), one thread a panel."""
    nch = src.shape[0]
    w = src.shape[2]
    for ch in prange(nch):
        theta_panel(src[ch], y[ch], dst, ch * w, min(w, n1 - ch * w),
                    ea, eb, ec, fs, fcp, fz, fscal, periodic, implicit, prev[ch])  # fmt: skip


@njit(cache=True, fastmath={"contract"})
def run_2d(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting, threads, work):
    """Advance p (nx, ny) in place through the step times ts (k + 1,).

    Face tables: u0, d0 (m, L0, nx + 1) for the x faces (L0 in {1, ny}); u1, d1 (m, L1, ny + 1)
    for the y faces (L1 in {1, nx}); m == 1 (autonomous) or k + 1.  threads sets the panel count
    of the separable implicit path (not its result); work is a float64 scratch buffer of at least
    :func:`workspace_2d_size` entries, passed in so that repeated calls reuse its pages (fresh
    allocations of this size cost ~1 ms of page faults a call).  With A = Lx, B = Ly:

    * explicit (splitting 0): p += dt (A + B)(t_r) p;
    * Douglas (splitting 1): y = p + dt ((1 - θ) A_r p + B_r p);  (I - θ dt A_{r+1}) y1 = y;
      (I - θ dt B_{r+1}) p_new = y1 - θ dt B_r p  — second order for θ = 1/2;
    * LOD (splitting 2, θ = 1): (I - dt A_{r+1}) y1 = p;  (I - dt B_{r+1}) p_new = y1.

    Separable coefficients (L0 == L1 == 1, every built-in SDE) take :func:`run_2d_sep`, where
    A and B commute and Douglas equals a 1-D θ step along x followed by one along y.
    """
    if u0.shape[1] == 1 and u1.shape[1] == 1:
        run_2d_sep(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting, threads, work)
    else:
        run_2d_lines(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting)


@njit(cache=True, fastmath={"contract"})
def run_2d_sep(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting, threads, work):
    """:func:`run_2d` for separable coefficients (face tables with one line per axis).

    A = Lx ⊗ I and B = I ⊗ Ly commute, so Douglas (θ = 1/2) and LOD (θ = 1) are the product
    of 1-D θ steps, (I - θdt A_{r+1})^-1 (I + (1-θ)dt A_r) then the same with B: exactly the
    Douglas step for autonomous coefficients (both equal (I - θdt A)^-1 (I - θdt B)^-1
    (I + (1-θ)dt A)(I + (1-θ)dt B)), and second order (CN) or first order (LOD) in time for
    time-dependent ones, each factor being the 1-D scheme.  The implicit steps run on panels
    (see :func:`theta_panel`), explicit ones on p itself.
    """
    nx, ny = p.shape
    varying = u0.shape[0] > 1
    periodic = bc == PERIODIC
    op0a = np.empty((3, 1, nx))
    op0b = np.empty((3, 1, nx))
    op1a = np.empty((3, 1, ny))
    op1b = np.empty((3, 1, ny))
    build_operators(u0[0], d0[0], h0, scheme, bc, op0b[0], op0b[1], op0b[2])
    build_operators(u1[0], d1[0], h1, scheme, bc, op1b[0], op1b[1], op1b[2])
    op0a[:] = op0b
    op1a[:] = op1b
    if splitting == SPLIT_NONE:
        a0 = np.empty(nx)
        b0 = np.empty(nx)
        c0 = np.empty(nx)
        l1 = np.empty(ny)
        dd1 = np.empty(ny)
        u1c = np.empty(ny)
        other = work[: nx * ny].reshape((nx, ny))
        src = p
        dst = other
        swapped = False
        dt_prepared = -1.0
        for r in range(ts.shape[0] - 1):
            dt = ts[r + 1] - ts[r]
            if varying:
                build_operators(u0[r], d0[r], h0, scheme, bc, op0a[0], op0a[1], op0a[2])
                build_operators(u1[r], d1[r], h1, scheme, bc, op1a[0], op1a[1], op1a[2])
            if varying or not same_step(dt, dt_prepared):
                explicit_coefficients(op0a[0, 0], op0a[1, 0], op0a[2, 0], op1a[0, 0], op1a[1, 0],
                                      op1a[2, 0], dt, a0, b0, c0, l1, dd1, u1c)  # fmt: skip
                dt_prepared = dt
            # ping-pong between p and work instead of copying every step
            explicit_step_2d(src, a0, b0, c0, l1, dd1, u1c, dst)
            src, dst = dst, src
            swapped = not swapped
        if swapped:
            p[:] = other
        return
    # the panel count follows the thread count; the result does not (columns are independent)
    implicit = theta == 1.0
    nch = panel_count_jit(nx, ny, threads)
    w1 = panel_width_jit(ny, nch)
    w0 = panel_width_jit(nx, nch)
    a = nch * nx * w1
    b = nch * ny * w0
    c = max(a, b)
    xp = work[:a].reshape((nch, nx, w1))  # x along axis 0
    yp = work[a : a + b].reshape((nch, ny, w0))  # y along axis 0
    sx = work[a + b : a + b + a].reshape((nch, nx, w1))  # scratch of either half step
    sy = work[a + b : a + b + b].reshape((nch, ny, w0))
    prev = work[a + b + c : a + b + c + nch * max(w0, w1)].reshape((nch, max(w0, w1)))
    to_panels(p, xp)
    zero_padding(yp, nx)
    ea0, eb0, ec0, fs0, finv0, fcp0, fz0, fscal0 = theta_arrays(nx)
    ea1, eb1, ec1, fs1, finv1, fcp1, fz1, fscal1 = theta_arrays(ny)
    dt_prepared = -1.0
    for r in range(ts.shape[0] - 1):
        dt = ts[r + 1] - ts[r]
        if varying:
            op0a[:] = op0b
            op1a[:] = op1b
            build_operators(u0[r + 1], d0[r + 1], h0, scheme, bc, op0b[0], op0b[1], op0b[2])
            build_operators(u1[r + 1], d1[r + 1], h1, scheme, bc, op1b[0], op1b[1], op1b[2])
        if varying or not same_step(dt, dt_prepared):
            prepare_theta(op0b[0, 0], op0b[1, 0], op0b[2, 0], theta, dt, periodic,
                          ea0, eb0, ec0, fs0, finv0, fcp0, fz0, fscal0)  # fmt: skip
            prepare_theta(op1b[0, 0], op1b[1, 0], op1b[2, 0], theta, dt, periodic,
                          ea1, eb1, ec1, fs1, finv1, fcp1, fz1, fscal1)  # fmt: skip
            if varying:
                # the explicit factor uses the operators at t_r
                prepare_explicit_x(op0a[0, 0], op0a[1, 0], op0a[2, 0], theta, dt, finv0,
                                   ea0, eb0, ec0)  # fmt: skip
                prepare_explicit_x(op1a[0, 0], op1a[1, 0], op1a[2, 0], theta, dt, finv1,
                                   ea1, eb1, ec1)  # fmt: skip
            dt_prepared = dt
        theta_half(xp, sx, yp, ny, ea0, eb0, ec0, fs0, fcp0, fz0, fscal0, periodic, implicit, prev)
        theta_half(yp, sy, xp, nx, ea1, eb1, ec1, fs1, fcp1, fz1, fscal1, periodic, implicit, prev)
    from_panels(xp, p)


@njit(cache=True, fastmath={"contract"})
def prepare_explicit_x(lo, di, up, theta, dt, finv, ea, eb, ec):
    """ea, eb, ec of :func:`prepare_theta` for an explicit operator differing from the implicit one."""
    ce = (1.0 - theta) * dt
    for i in range(lo.shape[0]):
        ea[i] = ce * lo[i] * finv[i]
        eb[i] = (1.0 + ce * di[i]) * finv[i]
        ec[i] = ce * up[i] * finv[i]


@njit(cache=True, fastmath={"contract"})
def run_2d_lines(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting):
    """:func:`run_2d` for coefficients that vary from line to line (a 2-D ``CustomSDE``)."""
    nx, ny = p.shape
    l0 = u0.shape[1]
    l1 = u1.shape[1]
    varying = u0.shape[0] > 1
    periodic = bc == PERIODIC
    op0a = np.empty((3, l0, nx))
    op0b = np.empty((3, l0, nx))
    op1a = np.empty((3, l1, ny))
    op1b = np.empty((3, l1, ny))
    f0s = np.empty((l0, nx))
    f0inv = np.empty((l0, nx))
    f0cp = np.empty((l0, nx))
    f0z = np.zeros((l0, nx))
    f0sc = np.zeros((l0, 2))
    f1s = np.empty((l1, ny))
    f1inv = np.empty((l1, ny))
    f1cp = np.empty((l1, ny))
    f1z = np.zeros((l1, ny))
    f1sc = np.zeros((l1, 2))
    work = np.empty((nx, ny))
    fy = np.empty((nx, ny))
    build_operators(u0[0], d0[0], h0, scheme, bc, op0b[0], op0b[1], op0b[2])
    build_operators(u1[0], d1[0], h1, scheme, bc, op1b[0], op1b[1], op1b[2])
    op0a[:] = op0b
    op1a[:] = op1b
    dt_factored = -1.0
    for r in range(ts.shape[0] - 1):
        dt = ts[r + 1] - ts[r]
        if varying:
            op0a[:] = op0b
            op1a[:] = op1b
            build_operators(u0[r + 1], d0[r + 1], h0, scheme, bc, op0b[0], op0b[1], op0b[2])
            build_operators(u1[r + 1], d1[r + 1], h1, scheme, bc, op1b[0], op1b[1], op1b[2])
        if splitting == SPLIT_NONE:
            apply_axis0(p, op0a[0], op0a[1], op0a[2], work)
            apply_axis1(p, op1a[0], op1a[1], op1a[2], fy)
            for i in range(nx):
                for j in range(ny):
                    p[i, j] += dt * (work[i, j] + fy[i, j])
            continue
        if varying or not same_step(dt, dt_factored):
            c = theta * dt
            factor_lines(op0b[0], op0b[1], op0b[2], c, periodic, f0s, f0inv, f0cp, f0z, f0sc)
            factor_lines(op1b[0], op1b[1], op1b[2], c, periodic, f1s, f1inv, f1cp, f1z, f1sc)
            dt_factored = dt
        if splitting == SPLIT_LOD:
            solve_axis0(p, f0s, f0inv, f0cp, f0z, f0sc, periodic)
            solve_axis1(p, f1s, f1inv, f1cp, f1z, f1sc, periodic)
            continue
        apply_axis1(p, op1a[0], op1a[1], op1a[2], fy)
        apply_axis0(p, op0a[0], op0a[1], op0a[2], work)
        ce = (1.0 - theta) * dt
        for i in range(nx):
            for j in range(ny):
                work[i, j] = p[i, j] + ce * work[i, j] + dt * fy[i, j]
        solve_axis0(work, f0s, f0inv, f0cp, f0z, f0sc, periodic)
        c = theta * dt
        for i in range(nx):
            for j in range(ny):
                p[i, j] = work[i, j] - c * fy[i, j]
        solve_axis1(p, f1s, f1inv, f1cp, f1z, f1sc, periodic)


# -- banded operators: the fourth-order finite-volume scheme and the SDIRK time scheme ----------
#
# A banded operator on one line is band (n, 7): row i of L_h p is Σ_k band[i, k] p[i + k - 3]
# (entries reaching outside the line are zero).  Chang–Cooper and central rows fill the three
# middle columns; fv4 rows reach two cells each way inside and three at the first/last row,
# whose fluxes use one-sided stencils.  Time steps on the band act on a block x (n, w) of w
# independent lines stored along axis 0 (w = 1 in 1-D; in 2-D every column of the field), so
# the inner loops run over w with unit stride.

FV4 = 2
THETA = 0
SDIRK4 = 1
#: the half-bandwidth of every banded operator
HALF_BAND = 3

#: Hairer–Wanner SDIRK4 (L-stable, stiffly accurate, gamma = 1/4), Table IV.6.5 of Hairer &
#: Wanner, Solving ODEs II; rows are the stage coefficients a_ij, the last row is b
SDIRK4_A = np.array(
    [
        [0.25, 0.0, 0.0, 0.0, 0.0],
        [0.5, 0.25, 0.0, 0.0, 0.0],
        [17.0 / 50.0, -1.0 / 25.0, 0.25, 0.0, 0.0],
        [371.0 / 1360.0, -137.0 / 2720.0, 15.0 / 544.0, 0.25, 0.0],
        [25.0 / 24.0, -49.0 / 48.0, 125.0 / 16.0, -85.0 / 12.0, 0.25],
    ]
)
SDIRK4_C = np.array([0.25, 0.75, 11.0 / 20.0, 0.5, 1.0])
SDIRK4_GAMMA = 0.25


#: fv4 face stencils on four cells (rows: face 1 on cells 0..3, interior face k on cells
#: k-2..k+1, face n-1 on cells n-4..n-1): the point value and h × the slope at the face of the
#: cubic with those cell averages (exact for cubics, so O(h⁴) for the face flux)
FV4_VALUE = np.array(
    [
        [0.25, 13.0 / 12.0, -5.0 / 12.0, 1.0 / 12.0],
        [-1.0 / 12.0, 7.0 / 12.0, 7.0 / 12.0, -1.0 / 12.0],
        [1.0 / 12.0, -5.0 / 12.0, 13.0 / 12.0, 0.25],
    ]
)
FV4_SLOPE = np.array(
    [
        [-11.0 / 12.0, 0.75, 0.25, -1.0 / 12.0],
        [1.0 / 12.0, -15.0 / 12.0, 15.0 / 12.0, -1.0 / 12.0],
        [1.0 / 12.0, -0.25, -0.75, 11.0 / 12.0],
    ]
)
#: fewest cells per axis fv4 accepts: two one-sided boundary stencils and one interior face
FV4_MIN_CELLS = 6


@njit(cache=True, fastmath={"contract"})
def fv4_stencil(k, n):
    """(first cell, row of FV4_VALUE/FV4_SLOPE) of the fv4 flux at interior face k (1..n-1)."""
    if k == 1:
        return 0, 0
    if k == n - 1:
        return n - 4, 2
    return k - 2, 1


@njit(cache=True, fastmath={"contract"})
def build_band(u, d, h, scheme, bc, band, lo, di, up):
    """Banded rows (n, 7) of L_h p = -(J_{i+1/2} - J_{i-1/2}) / h for one line.

    u, d : (n + 1,) face values (point values for fv4); lo, di, up : (n,) scratch.  fv4 closes
    the boundary faces with J = 0 (zero-flux only); the other schemes take any non-periodic bc.
    """
    n = band.shape[0]
    for i in range(n):
        for k in range(7):
            band[i, k] = 0.0
    if scheme != FV4:
        build_operator(u, d, h, scheme, bc, lo, di, up)
        for i in range(n):
            band[i, 2] = lo[i]
            band[i, 3] = di[i]
            band[i, 4] = up[i]
        return
    for k in range(1, n):
        s, row = fv4_stencil(k, n)
        for m in range(4):
            # J_k = Σ_m (u_k V_m - D_k S_m / h) p̄_{s+m}; it leaves cell k-1 and enters cell k
            c = (u[k] * FV4_VALUE[row, m] - d[k] * FV4_SLOPE[row, m] / h) / h
            band[k - 1, s + m - (k - 1) + 3] -= c
            band[k, s + m - k + 3] += c


@njit(cache=True, fastmath={"contract"})
def band_matvec(band, x, out):
    """out = L x for a block x (n, w) of lines along axis 0; band (n, 7)."""
    n, w = x.shape
    for i in range(n):
        for j in range(w):
            out[i, j] = 0.0
        for k in range(7):
            c = band[i, k]
            r = i + k - 3
            if c != 0.0 and 0 <= r < n:
                xr = x[r]
                oi = out[i]
                for j in range(w):
                    oi[j] += c * xr[j]


@njit(cache=True, fastmath={"contract"})
def band_factor(band, c, fac):
    """LU factors of M = I - c L without pivoting, in band layout fac (n, 7).

    fac[i, 0..2] hold the unit-lower multipliers, fac[i, 3] the inverse pivot, fac[i, 4..6] the
    upper factor.  No pivoting: for c > 0 and the operators here M is I plus a positive
    semi-definite-like diffusion band (the fv4 second difference has symbol
    4 sin²(θ/2)(1 + sin²(θ/2)/3) >= 0), and the pivots stay >= 1 in every case measured.
    """
    n = band.shape[0]
    for i in range(n):
        for k in range(7):
            fac[i, k] = -c * band[i, k]
        fac[i, 3] += 1.0
    for k in range(n):
        inv = 1.0 / fac[k, 3]
        fac[k, 3] = inv
        for i in range(k + 1, min(k + 4, n)):
            lik = fac[i, k - i + 3] * inv
            fac[i, k - i + 3] = lik
            if lik != 0.0:
                for j in range(k + 1, min(k + 4, n)):
                    fac[i, j - i + 3] -= lik * fac[k, j - k + 3]


@njit(cache=True, fastmath={"contract"})
def band_solve(fac, x):
    """Solve M x_new = x in place for a block x (n, w) with the factors of :func:`band_factor`."""
    n, w = x.shape
    for i in range(n):
        xi = x[i]
        for k in range(1, 4):
            if i - k >= 0:
                c = fac[i, 3 - k]
                if c != 0.0:
                    xp = x[i - k]
                    for j in range(w):
                        xi[j] -= c * xp[j]
    for i in range(n - 1, -1, -1):
        xi = x[i]
        for k in range(1, 4):
            if i + k < n:
                c = fac[i, 3 + k]
                if c != 0.0:
                    xn = x[i + k]
                    for j in range(w):
                        xi[j] -= c * xn[j]
        inv = fac[i, 3]
        for j in range(w):
            xi[j] *= inv


@njit(cache=True, fastmath={"contract"})
def max_rate_band(u, d, h, scheme, bc):
    """max over table rows and cells of (|L_ii| + Σ_{j≠i} |L_ij|) / 2; u, d (m, 1, n + 1).

    All eigenvalues lie in the Gershgorin discs; forward Euler is stable when each disc lies in
    the circle |1 + dt z| <= 1, i.e. dt <= 2 / (|L_ii| + R_i).  For tridiagonal M-matrix rows
    R_i = |L_ii| and this is the usual 1 / |L_ii|.
    """
    n = u.shape[2] - 1
    band = np.empty((n, 7))
    lo = np.empty(n)
    di = np.empty(n)
    up = np.empty(n)
    rate = 0.0
    for r in range(u.shape[0]):
        build_band(u[r, 0], d[r, 0], h, scheme, bc, band, lo, di, up)
        for i in range(n):
            s = 0.0
            for k in range(7):
                s += abs(band[i, k])
            rate = max(rate, 0.5 * s)
    return rate


@njit(cache=True, fastmath={"contract"})
def run_band(x, ts, u, d, h, scheme, bc, method, theta):
    """Advance a block x (n, w) of lines (along axis 0) through the step times ts (k + 1,).

    u, d : (m, 1, n + 1) face tables.  method THETA: (I - θ dt L(t_{r+1})) x_new =
    (I + (1 - θ) dt L(t_r)) x, tables at ts (m == 1 or k + 1).  method SDIRK4: the five stages
    (I - γ dt L(t_r + c_s dt)) Y_s = x + dt Σ_{j<s} a_sj K_j, K_s = (Y_s - rhs_s) / (γ dt),
    x_new = Y_5 (stiffly accurate), tables at the stage times (m == 1 or 5 k, row 5 r + s).
    """
    n, w = x.shape
    varying = u.shape[0] > 1
    band = np.empty((n, 7))
    band_a = np.empty((n, 7))
    fac = np.empty((n, 7))
    lo = np.empty(n)
    di = np.empty(n)
    up = np.empty(n)
    tmp = np.empty((n, w))
    build_band(u[0, 0], d[0, 0], h, scheme, bc, band, lo, di, up)
    dt_prepared = -1.0
    if method == THETA:
        band_a[:] = band
        for r in range(ts.shape[0] - 1):
            dt = ts[r + 1] - ts[r]
            if varying:
                band_a[:] = band
                build_band(u[r + 1, 0], d[r + 1, 0], h, scheme, bc, band, lo, di, up)
            if theta < 1.0:
                band_matvec(band_a, x, tmp)
                ce = (1.0 - theta) * dt
                for i in range(n):
                    for j in range(w):
                        x[i, j] += ce * tmp[i, j]
            if theta > 0.0:
                if varying or not same_step(dt, dt_prepared):
                    band_factor(band, theta * dt, fac)
                    dt_prepared = dt
                band_solve(fac, x)
        return
    stages = SDIRK4_C.shape[0]
    gamma = SDIRK4_GAMMA
    kst = np.empty((stages, n, w))
    rhs = np.empty((n, w))
    for r in range(ts.shape[0] - 1):
        dt = ts[r + 1] - ts[r]
        for s in range(stages):
            for i in range(n):
                for j in range(w):
                    rhs[i, j] = x[i, j]
            for q in range(s):
                a = dt * SDIRK4_A[s, q]
                for i in range(n):
                    for j in range(w):
                        rhs[i, j] += a * kst[q, i, j]
            if varying:
                row = r * stages + s
                build_band(u[row, 0], d[row, 0], h, scheme, bc, band, lo, di, up)
                band_factor(band, gamma * dt, fac)
            elif not same_step(dt, dt_prepared):
                band_factor(band, gamma * dt, fac)
                dt_prepared = dt
            for i in range(n):
                for j in range(w):
                    tmp[i, j] = rhs[i, j]
            band_solve(fac, tmp)
            if s == stages - 1:
                for i in range(n):
                    for j in range(w):
                        x[i, j] = tmp[i, j]
            else:
                inv = 1.0 / (gamma * dt)
                for i in range(n):
                    for j in range(w):
                        kst[s, i, j] = (tmp[i, j] - rhs[i, j]) * inv


@njit(cache=True, fastmath={"contract"})
def band_rate(x, u, d, h, scheme, bc, out):
    """out = L_h x (the semi-discrete ∂x/∂t) for a block x (n, w); u, d (n + 1,) one table row."""
    n = x.shape[0]
    band = np.empty((n, 7))
    lo = np.empty(n)
    di = np.empty(n)
    up = np.empty(n)
    build_band(u, d, h, scheme, bc, band, lo, di, up)
    band_matvec(band, x, out)


@njit(cache=True, fastmath={"contract"})
def band_solve_vec(fac, x):
    """:func:`band_solve` for one line x (n,): branch-free inner rows (1-D solves are ~5x
    faster this way than through a (n, 1) block)."""
    n = x.shape[0]
    for i in range(min(3, n)):
        for k in range(1, i + 1):
            x[i] -= fac[i, 3 - k] * x[i - k]
    for i in range(3, n):
        x[i] -= fac[i, 2] * x[i - 1] + fac[i, 1] * x[i - 2] + fac[i, 0] * x[i - 3]
    for i in range(n - 1, max(n - 4, -1), -1):
        for k in range(1, n - i):
            x[i] -= fac[i, 3 + k] * x[i + k]
        x[i] *= fac[i, 3]
    for i in range(n - 4, -1, -1):
        x[i] = (x[i] - fac[i, 4] * x[i + 1] - fac[i, 5] * x[i + 2] - fac[i, 6] * x[i + 3]) * fac[
            i, 3
        ]


@njit(cache=True, fastmath={"contract"})
def run_band_line(x, ts, u, d, h, scheme, bc, method, theta):
    """:func:`run_band` for one line x (n,) (1-D problems), same tables and methods."""
    n = x.shape[0]
    varying = u.shape[0] > 1
    band = np.empty((n, 7))
    band_a = np.empty((n, 7))
    fac = np.empty((n, 7))
    lo = np.empty(n)
    di = np.empty(n)
    up = np.empty(n)
    tmp = np.empty(n)
    build_band(u[0, 0], d[0, 0], h, scheme, bc, band, lo, di, up)
    dt_prepared = -1.0
    if method == THETA:
        band_a[:] = band
        x2 = x.reshape((n, 1))
        t2 = tmp.reshape((n, 1))
        for r in range(ts.shape[0] - 1):
            dt = ts[r + 1] - ts[r]
            if varying:
                band_a[:] = band
                build_band(u[r + 1, 0], d[r + 1, 0], h, scheme, bc, band, lo, di, up)
            if theta < 1.0:
                band_matvec(band_a, x2, t2)
                ce = (1.0 - theta) * dt
                for i in range(n):
                    x[i] += ce * tmp[i]
            if theta > 0.0:
                if varying or not same_step(dt, dt_prepared):
                    band_factor(band, theta * dt, fac)
                    dt_prepared = dt
                band_solve_vec(fac, x)
        return
    stages = SDIRK4_C.shape[0]
    gamma = SDIRK4_GAMMA
    kst = np.empty((stages, n))
    rhs = np.empty(n)
    for r in range(ts.shape[0] - 1):
        dt = ts[r + 1] - ts[r]
        inv = 1.0 / (gamma * dt)
        for s in range(stages):
            a0 = dt * SDIRK4_A[s, 0]
            a1 = dt * SDIRK4_A[s, 1]
            a2 = dt * SDIRK4_A[s, 2]
            a3 = dt * SDIRK4_A[s, 3]
            # the zero a_sj (j >= s) make this the explicit sum over earlier stages only
            for i in range(n):
                v = x[i]
                if s > 0:
                    v += a0 * kst[0, i]
                if s > 1:
                    v += a1 * kst[1, i]
                if s > 2:
                    v += a2 * kst[2, i]
                if s > 3:
                    v += a3 * kst[3, i]
                rhs[i] = v
                tmp[i] = v
            if varying:
                row = r * stages + s
                build_band(u[row, 0], d[row, 0], h, scheme, bc, band, lo, di, up)
                band_factor(band, gamma * dt, fac)
            elif not same_step(dt, dt_prepared):
                band_factor(band, gamma * dt, fac)
                dt_prepared = dt
            band_solve_vec(fac, tmp)
            if s == stages - 1:
                for i in range(n):
                    x[i] = tmp[i]
            else:
                for i in range(n):
                    kst[s, i] = (tmp[i] - rhs[i]) * inv
