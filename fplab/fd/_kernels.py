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
    ea = np.zeros(n)
    eb = np.zeros(n)
    ec = np.zeros(n)
    fs = np.empty(n)
    finv = np.empty(n)
    fcp = np.empty(n)
    fz = np.zeros(n)
    fscal = np.zeros(2)
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


@njit(cache=True, fastmath={"contract"}, parallel=True)
def explicit_step_2d(p, lo0, di0, up0, lo1, di1, up1, dt, out):
    """out = p + dt (Lx + Ly) p for separable operators: lo0, di0, up0 (nx,), lo1, di1, up1 (ny,).

    Rows are independent: prange over them (same result for any thread count)."""
    nx, ny = p.shape
    for i in prange(nx):
        im = i - 1 if i > 0 else nx - 1
        ip = i + 1 if i < nx - 1 else 0
        a = dt * lo0[i]
        c = dt * up0[i]
        b = 1.0 + dt * di0[i]
        out[i, 0] = (
            a * p[im, 0] + c * p[ip, 0] + (b + dt * di1[0]) * p[i, 0]
            + dt * (lo1[0] * p[i, ny - 1] + up1[0] * p[i, 1])
        )  # fmt: skip
        for j in range(1, ny - 1):
            out[i, j] = (
                a * p[im, j] + c * p[ip, j] + (b + dt * di1[j]) * p[i, j]
                + dt * (lo1[j] * p[i, j - 1] + up1[j] * p[i, j + 1])
            )  # fmt: skip
        j = ny - 1
        out[i, j] = (
            a * p[im, j] + c * p[ip, j] + (b + dt * di1[j]) * p[i, j]
            + dt * (lo1[j] * p[i, j - 1] + up1[j] * p[i, 0])
        )  # fmt: skip


@njit(cache=True, fastmath={"contract"})
def back_x_sep(x, fcp, fz, fscal, periodic, row):
    """Back substitution of a batched x-solve in place (x (nx, width), factors (nx,), row (width,)).

    Padding columns of x (zeros) stay zeros.  The sweep covers the full width on purpose: a
    trip count equal to the row length vectorises cleanly, a separate bound ny < width measured
    2x slower.
    """
    nx, ny = x.shape
    for i in range(nx - 2, -1, -1):
        c = fcp[i]
        xi = x[i]
        xn = x[i + 1]
        for j in range(ny):
            xi[j] -= c * xn[j]
    if periodic:
        for j in range(ny):
            row[j] = (x[0, j] + fscal[0] * x[nx - 1, j]) * fscal[1]
        for i in range(nx):
            z = fz[i]
            xi = x[i]
            for j in range(ny):
                xi[j] -= z * row[j]


@njit(cache=True, fastmath={"contract"})
def solve_x_sep(x, fs, finv, fcp, fz, fscal, periodic, row):
    """(I - c Lx) x_new = x in place for separable factors (nx,); SIMD across the columns."""
    nx, ny = x.shape
    f = finv[0]
    for j in range(ny):
        x[0, j] *= f
    for i in range(1, nx):
        f = finv[i]
        s = fs[i]
        xi = x[i]
        xm = x[i - 1]
        for j in range(ny):
            xi[j] = xi[j] * f - s * xm[j]
    back_x_sep(x, fcp, fz, fscal, periodic, row)


#: padding (doubles) added to the rows of the implicit 2-D work arrays; see :func:`solve_y_rows`
ROW_PAD = 8


@njit(cache=True, fastmath={"contract"}, parallel=True)
def rhs_y(x, w, c, finv, out):
    """out = (x - c w) / pivot_j over the full width (finv (width,), zero-padded); out may be w."""
    nx, width = x.shape
    for i in prange(nx):
        xi = x[i]
        wi = w[i]
        oi = out[i]
        for j in range(width):
            oi[j] = (xi[j] - c * wi[j]) * finv[j]


@njit(cache=True, fastmath={"contract"})
def solve_y_row(o, t, ny, fs, fcp, fz, fscal, periodic):
    """One row of :func:`solve_y_rows` (rows (>= ny,))."""
    x = 0.0
    for j in range(ny):
        x = t[j] - fs[j] * x
        o[j] = x
    for j in range(ny - 2, -1, -1):
        x = o[j] - fcp[j] * x
        o[j] = x
    if periodic:
        s = (o[0] + fscal[0] * o[ny - 1]) * fscal[1]
        for j in range(ny):
            o[j] -= s * fz[j]


@njit(cache=True, fastmath={"contract"}, parallel=True)
def solve_y_rows(out, t, ny, fs, fcp, fz, fscal, periodic):
    """Solve (I - θdt Ly) out = rhs on [:, :ny] row by row, 8 rows interleaved.

    t = rhs / pivot (from :func:`rhs_y`), so the forward sweep is out_j = t_j - fs_j out_{j-1}
    (fs[0] = 0), one FMA on the dependency chain.  Each row is a contiguous Thomas solve; eight
    independent rows advance together so that eight chains hide the FMA latency.  The arrays'
    rows are padded by ROW_PAD doubles: at a power-of-two row length the eight rows would map
    onto the same few L1 sets and thrash (measured 1.5x slower at 256²).  out may be t.
    """
    nx = out.shape[0]
    nb = nx - nx % 8
    for blk in prange(nb // 8):
        i0 = 8 * blk
        t0 = t[i0 + 0]
        t1 = t[i0 + 1]
        t2 = t[i0 + 2]
        t3 = t[i0 + 3]
        t4 = t[i0 + 4]
        t5 = t[i0 + 5]
        t6 = t[i0 + 6]
        t7 = t[i0 + 7]
        o0 = out[i0 + 0]
        o1 = out[i0 + 1]
        o2 = out[i0 + 2]
        o3 = out[i0 + 3]
        o4 = out[i0 + 4]
        o5 = out[i0 + 5]
        o6 = out[i0 + 6]
        o7 = out[i0 + 7]
        x0 = x1 = x2 = x3 = x4 = x5 = x6 = x7 = 0.0
        for j in range(ny):
            s = fs[j]
            x0 = t0[j] - s * x0
            x1 = t1[j] - s * x1
            x2 = t2[j] - s * x2
            x3 = t3[j] - s * x3
            x4 = t4[j] - s * x4
            x5 = t5[j] - s * x5
            x6 = t6[j] - s * x6
            x7 = t7[j] - s * x7
            o0[j] = x0
            o1[j] = x1
            o2[j] = x2
            o3[j] = x3
            o4[j] = x4
            o5[j] = x5
            o6[j] = x6
            o7[j] = x7
        for j in range(ny - 2, -1, -1):
            cp = fcp[j]
            x0 = o0[j] - cp * x0
            x1 = o1[j] - cp * x1
            x2 = o2[j] - cp * x2
            x3 = o3[j] - cp * x3
            x4 = o4[j] - cp * x4
            x5 = o5[j] - cp * x5
            x6 = o6[j] - cp * x6
            x7 = o7[j] - cp * x7
            o0[j] = x0
            o1[j] = x1
            o2[j] = x2
            o3[j] = x3
            o4[j] = x4
            o5[j] = x5
            o6[j] = x6
            o7[j] = x7
        if periodic:
            for k in range(8):
                o = out[i0 + k]
                s = (o[0] + fscal[0] * o[ny - 1]) * fscal[1]
                for j in range(ny):
                    o[j] -= s * fz[j]
    for i in range(nb, nx):
        solve_y_row(out[i], t[i], ny, fs, fcp, fz, fscal, periodic)


@njit(cache=True, fastmath={"contract"})
def douglas_step_sep(p, w, work, ny, lo1, di1, up1, ea, eb, ec, ew, fs0, fcp0, fz0, fscal0,
                     fs1, finv1, fcp1, fz1, fscal1, c, periodic):  # fmt: skip
    """One separable Douglas step in place on p (nx, width), whose columns >= ny are zero.

    w, work: scratch of p's shape, zero-initialised; finv1 zero-padded to width.  Pass 1
    computes w = Ly p and the forward x-sweep of p + (1-θ)dt Lx p + dt w in one go (ea, eb,
    ec, ew from :func:`prepare_theta` plus ew = dt / pivot); then the x back sweep, the y
    right-hand side (work - θ dt w) / pivot_y into w, and the y-solve into p.
    """
    nx, width = p.shape
    for i in range(nx):
        pi = p[i]
        wi = w[i]
        wi[0] = lo1[0] * pi[ny - 1] + di1[0] * pi[0] + up1[0] * pi[1]
        for j in range(1, ny - 1):
            wi[j] = lo1[j] * pi[j - 1] + di1[j] * pi[j] + up1[j] * pi[j + 1]
        wi[ny - 1] = lo1[ny - 1] * pi[ny - 2] + di1[ny - 1] * pi[ny - 1] + up1[ny - 1] * pi[0]
        im = i - 1 if i > 0 else nx - 1
        ip = i + 1 if i < nx - 1 else 0
        a = ea[i]
        b = eb[i]
        cc = ec[i]
        e = ew[i]
        # full width: the zero padding of p and w keeps work's padding zero (see back_x_sep)
        if i == 0:
            for j in range(width):
                work[0, j] = a * p[im, j] + b * p[0, j] + cc * p[ip, j] + e * w[0, j]
        else:
            s = fs0[i]
            for j in range(width):
                work[i, j] = (
                    a * p[im, j] + b * p[i, j] + cc * p[ip, j] + e * w[i, j] - s * work[i - 1, j]
                )
    back_x_sep(work, fcp0, fz0, fscal0, periodic, p[0])
    rhs_y(work, w, c, finv1, w)
    solve_y_rows(p, w, ny, fs1, fcp1, fz1, fscal1, periodic)


@njit(cache=True, fastmath={"contract"})
def run_2d(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting):
    """Advance p (nx, ny) in place through the step times ts (k + 1,).

    Face tables: u0, d0 (m, L0, nx + 1) for the x faces (L0 in {1, ny}); u1, d1 (m, L1, ny + 1)
    for the y faces (L1 in {1, nx}); m == 1 (autonomous) or k + 1.  With A = Lx, B = Ly:

    * explicit (splitting 0): p += dt (A + B)(t_r) p;
    * Douglas (splitting 1): y = p + dt ((1 - θ) A_r p + B_r p);  (I - θ dt A_{r+1}) y1 = y;
      (I - θ dt B_{r+1}) p_new = y1 - θ dt B_r p  — second order for θ = 1/2;
    * LOD (splitting 2, θ = 1): (I - dt A_{r+1}) y1 = p;  (I - dt B_{r+1}) p_new = y1.

    Separable coefficients (L0 == L1 == 1, every built-in SDE) take the fused fast path.
    """
    if u0.shape[1] == 1 and u1.shape[1] == 1:
        run_2d_sep(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting)
    else:
        run_2d_lines(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting)


@njit(cache=True, fastmath={"contract"})
def run_2d_sep(p, ts, u0, d0, u1, d1, h0, h1, scheme, bc, theta, splitting):
    """:func:`run_2d` for separable coefficients (face tables with one line per axis)."""
    nx, ny = p.shape
    varying = u0.shape[0] > 1
    periodic = bc == PERIODIC
    op0a = np.empty((3, 1, nx))
    op0b = np.empty((3, 1, nx))
    op1a = np.empty((3, 1, ny))
    op1b = np.empty((3, 1, ny))
    ea = np.zeros(nx)
    eb = np.zeros(nx)
    ec = np.zeros(nx)
    ew = np.zeros(nx)
    fs0 = np.empty(nx)
    finv0 = np.empty(nx)
    fcp0 = np.empty(nx)
    fz0 = np.zeros(nx)
    fscal0 = np.zeros(2)
    fs1 = np.empty(ny)
    finv1 = np.zeros(ny + ROW_PAD)  # zero-padded for rhs_y's full-width rows
    fcp1 = np.empty(ny)
    fz1 = np.zeros(ny)
    fscal1 = np.zeros(2)
    # implicit steps run on row-padded copies (see solve_y_rows); explicit ones on p itself
    width = ny if splitting == SPLIT_NONE else ny + ROW_PAD
    work = np.zeros((nx, width))
    w = np.zeros((nx, width))
    q = p
    if splitting != SPLIT_NONE:
        q = np.zeros((nx, width))
        q[:, :ny] = p
    build_operators(u0[0], d0[0], h0, scheme, bc, op0b[0], op0b[1], op0b[2])
    build_operators(u1[0], d1[0], h1, scheme, bc, op1b[0], op1b[1], op1b[2])
    op0a[:] = op0b
    op1a[:] = op1b
    dt_prepared = -1.0
    src = p
    dst = work
    swapped = False
    for r in range(ts.shape[0] - 1):
        dt = ts[r + 1] - ts[r]
        if varying:
            op0a[:] = op0b
            op1a[:] = op1b
            build_operators(u0[r + 1], d0[r + 1], h0, scheme, bc, op0b[0], op0b[1], op0b[2])
            build_operators(u1[r + 1], d1[r + 1], h1, scheme, bc, op1b[0], op1b[1], op1b[2])
        if splitting == SPLIT_NONE:
            # ping-pong between p and work instead of copying every step
            explicit_step_2d(src, op0a[0, 0], op0a[1, 0], op0a[2, 0],
                             op1a[0, 0], op1a[1, 0], op1a[2, 0], dt, dst)  # fmt: skip
            src, dst = dst, src
            swapped = not swapped
            continue
        if varying or not same_step(dt, dt_prepared):
            prepare_theta(op0b[0, 0], op0b[1, 0], op0b[2, 0], theta, dt, periodic,
                          ea, eb, ec, fs0, finv0, fcp0, fz0, fscal0)  # fmt: skip
            for i in range(nx):
                ew[i] = dt * finv0[i]
            factor(op1b[0, 0], op1b[1, 0], op1b[2, 0], theta * dt, periodic,
                   fs1, finv1, fcp1, fz1, fscal1)  # fmt: skip
            dt_prepared = dt
        if splitting == SPLIT_LOD:
            solve_x_sep(q, fs0, finv0, fcp0, fz0, fscal0, periodic, work[0])
            rhs_y(q, q, 0.0, finv1, work)
            solve_y_rows(q, work, ny, fs1, fcp1, fz1, fscal1, periodic)
        else:
            if varying:
                # the explicit half uses the operator at t_r: fold it in with a fresh prepare
                prepare_explicit_x(op0a[0, 0], op0a[1, 0], op0a[2, 0], theta, dt, finv0, ea, eb, ec)
            douglas_step_sep(q, w, work, ny, op1a[0, 0], op1a[1, 0], op1a[2, 0], ea, eb, ec, ew,
                             fs0, fcp0, fz0, fscal0, fs1, finv1, fcp1, fz1, fscal1,
                             theta * dt, periodic)  # fmt: skip
    if swapped:
        p[:] = work
    if splitting != SPLIT_NONE:
        p[:] = q[:, :ny]


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
