"""fp.simulate and fp.simulate_coupled: validate, build coefficient tables, dispatch to a kernel.

Three ways to step, one set of random numbers:

* ``backend="numba"`` with a built-in SDE: ``_kernels.run_poly`` / ``run_exact`` on coefficient
  tables from ``SDE.poly_coefficients`` (one compiled loop per family, no recompilation per SDE);
* ``backend="numpy"`` or an SDE without ``poly_coefficients`` (``CustomSDE``): NumPy vectorised
  stepping over all paths, drawing the *same* normals from the same per-path streams
  (``_kernels.fill_normals``), so both paths agree to round-off;
* ``backend="torch"``: torch tensors on ``device`` ("cpu" or "cuda"), torch's own generator —
  statistically identical, not bitwise (``fplab.mc._torch``).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fplab._threads import resolve_threads, using_threads
from fplab._typing import FloatArray
from fplab._validate import as_samples, check_choice, check_int, check_memory, check_real
from fplab.errors import NumericalError
from fplab.mc import _kernels
from fplab.mc.methods import MC_METHODS, Exact, Method
from fplab.sdes.base import SDE
from fplab.sdes.linear import LinearSDE
from fplab.sdes.schedules import check_horizon, check_usable_time

__all__ = ["CoupledResult", "simulate", "simulate_coupled"]

_BACKENDS = ("numba", "numpy", "torch")
_NUMPY_BLOCK_BYTES = 64 * 2**20  # normals drawn per block by the NumPy fallback
#: save_at times closer than this (relative to t1 - t0) to a grid time are taken as on the grid
_GRID_RTOL = 1e-9


# -- validation helpers -----------------------------------------------------------------------
def _key(seed: Any) -> np.uint64:
    """The 64-bit key of all random streams: an int seed itself, or a draw from a Generator."""
    if isinstance(seed, np.random.Generator):
        return np.uint64(seed.integers(0, 2**63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        msg = f"seed must be a non-negative int or a numpy Generator, got {type(seed).__name__} {seed!r}"
        raise TypeError(msg)
    if not 0 <= int(seed) < 2**64:
        msg = f"seed must be an int in [0, 2**64), got {seed}"
        raise ValueError(msg)
    return np.uint64(int(seed))


def _check_device(device: Any) -> None:
    """``ValueError`` for a torch device that does not parse or is not present here (a CUDA
    device without CUDA used to fail inside torch with an AssertionError)."""
    try:
        import torch
    except ImportError:
        msg = "backend='torch' needs torch, which the extra fplab[nn] installs: pip install 'fplab[nn]'"
        raise ImportError(msg) from None

    if device is None:
        return
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        msg = f"device={device!r} is not a torch device; allowed: 'cpu', 'cuda', 'cuda:N'"
        raise ValueError(msg) from err
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index is not None and dev.index >= count):
            have = f"{count} CUDA device(s)" if count else "no CUDA device"
            msg = f"device={device!r} is not available: this machine has {have}; allowed: 'cpu'"
            raise ValueError(msg)
    elif dev.type not in ("cpu", "mps"):
        msg = f"device={device!r}: unsupported device type {dev.type!r}; allowed: 'cpu', 'cuda'"
        raise ValueError(msg)


def _check_sde(sde: Any) -> SDE:
    if not isinstance(sde, SDE):
        msg = f"sde must be an fplab SDE (fp.OU(...), fp.CustomSDE(...), ...), got {type(sde).__name__}"
        raise TypeError(msg)
    return sde


def _initial(sde: SDE, x0: Any, n_paths: Any, key: np.uint64) -> tuple[FloatArray, bool]:
    """x0 as (n, d) float64 plus the flat flag; draws from a distribution when x0 has ``sample``."""
    if hasattr(x0, "sample") and not isinstance(x0, np.ndarray):
        if n_paths is None:
            msg = f"x0 is a distribution ({type(x0).__name__}); pass n_paths= to say how many paths to draw"
            raise ValueError(msg)
        n = check_int(n_paths, "n_paths", minimum=1)
        check_memory(8.0 * 4 * n * (sde.dim or 1), "n_paths", n_paths)
        # a stream separate from the path streams (which hash the same key differently)
        rng = np.random.default_rng(np.random.SeedSequence([int(key), 0x5A3D_0F17]))
        x, flat = as_samples(
            x0.sample(n, seed=rng), sde.dim, name="x0 (drawn from the distribution)"
        )
        return x, flat
    x, flat = as_samples(x0, sde.dim, name="x0")
    if n_paths is not None:
        n = check_int(n_paths, "n_paths", minimum=1)
        # states, increments, the kernel's work arrays and one saved state: ~4 (n, d) arrays
        check_memory(8.0 * 4 * n * x.shape[1], "n_paths", n_paths)
        if x.shape[0] == 1:
            x = np.ascontiguousarray(np.broadcast_to(x, (n, x.shape[1])))
        elif x.shape[0] != n:
            msg = f"n_paths={n} but x0 holds {x.shape[0]} states; pass one state (to repeat) or omit n_paths"
            raise ValueError(msg)
    if x.shape[0] == 0:
        msg = "x0 holds no states (shape (0, d)); pass at least one"
        raise ValueError(msg)
    sde.check_dim(x.shape[1], "x0")
    if not x.flags.writeable:  # a read-only x0 would cost the kernels a second compilation
        x = x.copy()
    return x, flat


def _interval(t0: Any, t1: Any) -> tuple[float, float]:
    t0f, t1f = check_real(t0, "t0"), check_real(t1, "t1")
    if t1f <= t0f:
        msg = f"t1 must be > t0, got t0={t0f}, t1={t1f}"
        raise ValueError(msg)
    return t0f, t1f


def _time_grid(
    t0: float, t1: float, n_steps: int, save_at: Any
) -> tuple[FloatArray, np.ndarray, np.ndarray | None]:
    """Step grid (uniform, plus any save_at time that is off it), sorted save steps, and the
    permutation restoring the user's save_at order (None without save_at)."""
    tgrid = t0 + (t1 - t0) * np.arange(n_steps + 1) / n_steps
    tgrid[-1] = t1
    if save_at is None:
        return tgrid, np.array([n_steps], dtype=np.int64), None
    s = np.atleast_1d(np.asarray(save_at, dtype=np.float64))
    if s.ndim != 1 or s.size == 0 or not np.all(np.isfinite(s)):
        msg = f"save_at must be a non-empty 1-D sequence of finite times, got {save_at!r}"
        raise ValueError(msg)
    tol = _GRID_RTOL * (t1 - t0)
    if np.any(s < t0 - tol) or np.any(s > t1 + tol):
        msg = f"save_at times must lie in [t0, t1] = [{t0}, {t1}], got {s.tolist()}"
        raise ValueError(msg)
    _, dist = _nearest(tgrid, s)
    extra = np.unique(s[dist > tol])
    if extra.size:  # split the steps that contain off-grid save times
        tgrid = np.unique(np.concatenate([tgrid, extra]))
    steps, _ = _nearest(tgrid, s)
    order = np.argsort(steps, kind="stable")
    return (
        tgrid,
        np.ascontiguousarray(steps[order], dtype=np.int64),
        np.argsort(order, kind="stable"),
    )


def _nearest(tgrid: FloatArray, s: FloatArray) -> tuple[np.ndarray, FloatArray]:
    """Index of the grid time nearest to each s, and the distance (sorted tgrid, O(len(s) log m))."""
    hi = np.clip(np.searchsorted(tgrid, s), 1, tgrid.shape[0] - 1)
    lo = hi - 1
    d_lo, d_hi = np.abs(s - tgrid[lo]), np.abs(tgrid[hi] - s)
    return np.where(d_lo <= d_hi, lo, hi), np.minimum(d_lo, d_hi)


def _poly_tables(
    sde: SDE, entry: type[Method], tgrid: FloatArray, d: int
) -> tuple[FloatArray, ...] | None:
    """(a, b, c, g0, g1) at the stage times t_k + tau h_k, shapes (m, n_stage) (b: (m, n_stage, d))."""
    h = np.diff(tgrid)
    times = tgrid[:-1, None] + np.asarray(entry.taus)[None, :] * h[:, None]
    times[:, np.asarray(entry.taus) == 1.0] = tgrid[1:, None]  # t + h exactly, not t + 1.0 * h
    shape = times.shape
    poly = sde.poly_coefficients(times.ravel(), d)
    if poly is None:
        return None
    # fresh writable copies: a read-only table (a broadcast view) would make numba compile a
    # second specialisation of the kernel (~10 s)
    tabs = tuple(
        np.array(np.reshape(v, shape), dtype=np.float64) for v in (poly.a, poly.c, poly.g0, poly.g1)
    )
    b = np.array(np.reshape(poly.b, (*shape, d)), dtype=np.float64)
    return tabs[0], b, tabs[1], tabs[2], tabs[3]


# -- the three ways of stepping ---------------------------------------------------------------
def _run(
    entry: type[Method],
    sde: SDE,
    x0: FloatArray,
    key: np.uint64,
    tgrid: FloatArray,
    ratio: int,
    save_steps: np.ndarray,
    want_w: bool,
    backend: str,
    device: Any = None,
    dtype: str = "float64",
) -> tuple[FloatArray, FloatArray]:
    """(out (k, n, d), w_end (n, d) or (0, d)) for one method on one grid, ``ratio`` fine draws per step."""
    n, d = x0.shape
    sqhf = np.ascontiguousarray(np.sqrt(np.diff(tgrid) / ratio))
    if entry is Exact:
        tables: Any = Exact.tables(sde, tgrid, d)
    else:
        tables = _poly_tables(sde, entry, tgrid, d)
    if backend == "torch":
        from fplab.mc import _torch

        if tables is None:
            msg = (
                f"backend='torch' needs an SDE with compiled coefficients (poly_coefficients); "
                f"{sde!r} has none; use backend='numba' (NumPy fallback)"
            )
            raise ValueError(msg)
        out, w_end = _torch.run(
            entry, tables, x0, key, tgrid, sqhf, ratio, save_steps, want_w, device, dtype
        )
        _check_finite(out, entry, sde, tgrid, x0, tables)
        return out, w_end
    out = np.empty((save_steps.shape[0], n, d))
    w_end = np.zeros((n if want_w else 0, d))
    # integer wrap-around is the generator's arithmetic; NumPy only warns about it when the
    # kernels run uncompiled (NUMBA_DISABLE_JIT=1).  A diverging path overflows and turns NaN:
    # _check_finite below reports that with its cause instead of a FloatingPointError mid-step
    with np.errstate(over="ignore", invalid="ignore"):
        if entry is Exact:
            em, ec, es, ee, eq, mult = tables
            _kernels.run_exact(
                x0, key, 0, tgrid, sqhf, ratio, em, ec, es, ee, eq, mult, save_steps, out, w_end
            )
        elif tables is not None and backend == "numba" and entry.code is not None:
            a, b, c, g0, g1 = tables
            _kernels.run_poly(
                entry.code, x0, key, 0, tgrid, sqhf, ratio, a, b, c, g0, g1, save_steps, out, w_end
            )
        else:
            _run_numpy(entry, sde, x0, key, tgrid, ratio, sqhf, save_steps, out, w_end)
    _check_finite(out, entry, sde, tgrid, x0, tables)
    return out, w_end


#: a path is declared divergent when |X| exceeds DIVERGENCE_FACTOR times the envelope of
#: :func:`_envelope` (initial scale grown at the SDE's linear rate, plus drift offset and noise)
DIVERGENCE_FACTOR = 1e8


def _envelope(x0: FloatArray, tables: Any, t_span: float) -> tuple[float, float]:
    """(envelope E, stiffness rate r) of a polynomial SDE over [t0, t1] from its tables.

    E = max(1, |x0|, |b| T, max g0 √T) · exp(max(a, 0) T + 8 max|g1| √T) bounds where a path of
    dX = (a x + b + c x³) dt + (g0 + g1 x) dW can go with c <= 0 by many standard deviations
    (the linear part's growth, 8 σ of the multiplicative noise); exceeding 1e8 E is a blow-up.
    r = max|a| + 3 max|c| X², X = max(1, |x0|), is the drift's Jacobian bound on the start
    region: explicit steps need r h <= O(1) there.
    """
    a, b, c, g0, g1 = tables
    x_scale = max(1.0, float(np.max(np.abs(x0))) if x0.size else 1.0)
    base = max(x_scale, float(np.max(np.abs(b), initial=0.0)) * t_span,
               float(np.max(np.abs(g0), initial=0.0)) * math.sqrt(t_span))  # fmt: skip
    growth = float(np.max(a, initial=0.0)) * t_span + 8.0 * float(
        np.max(np.abs(g1), initial=0.0)
    ) * math.sqrt(t_span)
    log_env = math.log(base) + growth
    env = math.exp(min(log_env, 700.0))
    rate = (
        float(np.max(np.abs(a), initial=0.0))
        + 3.0 * float(np.max(np.abs(c), initial=0.0)) * (x_scale * x_scale)  # no float ** 2:
    )  # it raises OverflowError past 1e154 where the product gives inf
    return env, rate


def _check_finite(
    out: FloatArray,
    entry: type[Method],
    sde: SDE,
    tgrid: FloatArray,
    x0: FloatArray | None = None,
    tables: Any = None,
) -> None:
    """NumericalError when a path blew up (explicit schemes on stiff or superlinear drifts).

    Blow-up is NaN/inf in a saved state or, for SDEs with coefficient tables, |X| above
    ``DIVERGENCE_FACTOR`` times :func:`_envelope` (e.g. the double well from x0 = 10 with 4
    steps to t = 10 reaches 5.7e96 while the envelope is ~2e5).  The message gives a step count
    at which the start region is stable (r h <= 1).
    """
    bad = out.size - int(np.count_nonzero(np.isfinite(out)))
    h = float(np.max(np.diff(tgrid)))
    n_steps = tgrid.shape[0] - 1
    t_span = float(tgrid[-1] - tgrid[0])
    hint = "raise n_steps"
    big = 0
    if x0 is not None and tables is not None and entry is not Exact:
        env, rate = _envelope(x0, tables, t_span)
        if rate > 0.0:
            n_stable = math.ceil(min(rate * t_span, 1e18))
            if n_stable > n_steps:
                hint = (
                    f"raise n_steps to at least {n_stable} (h <= 1/{rate:.3g} on the start region)"
                )
        with np.errstate(invalid="ignore"):
            big = int(np.count_nonzero(np.abs(out) > DIVERGENCE_FACTOR * env))
        if big and not bad:
            msg = (
                f"method {entry.registry_name!r} diverged for {sde!r} with step h={h:.3g} "
                f"(n_steps={n_steps}): {big} state value(s) exceed {DIVERGENCE_FACTOR:.0e} x the "
                f"solution's envelope {env:.3g} (max |X| = {float(np.nanmax(np.abs(out))):.3g}); "
                f"the scheme is unstable at this step size: {hint}"
            )
            raise NumericalError(msg)
    if bad:
        msg = (
            f"method {entry.registry_name!r} produced {bad} non-finite state(s) for {sde!r} with "
            f"step h={h:.3g} (n_steps={n_steps}); the scheme is unstable at this step size: {hint}"
        )
        raise NumericalError(msg)


def _run_numpy(
    entry: type[Method],
    sde: SDE,
    x0: FloatArray,
    key: np.uint64,
    tgrid: FloatArray,
    ratio: int,
    sqhf: FloatArray,
    save_steps: np.ndarray,
    out: FloatArray,
    w_end: FloatArray,
) -> None:
    """NumPy stepping with the kernels' normals (same streams, same draw order)."""
    n, d = x0.shape
    m = tgrid.shape[0] - 1
    sw3 = np.empty((n, d, 2), dtype=np.uint64)
    sv3 = np.empty((n, d, 2), dtype=np.uint64)
    _kernels.init_streams(key, 0, sw3, sv3)
    sw, sv = sw3.reshape(n * d, 2), sv3.reshape(n * d, 2)
    per_step = n * ratio * d * 8 * (2 if entry.needs_dz else 1)
    block = max(1, min(m, _NUMPY_BLOCK_BYTES // max(per_step, 1)))
    x = x0.copy()
    wtot = np.zeros((n, d))
    js = _save_numpy(out, 0, save_steps, 0, x)
    taus = entry.taus
    for k0 in range(0, m, block):
        kk = min(block, m - k0)
        zw = _draw(sw, n, d, kk, ratio)
        if entry.needs_dz:
            zv = _draw(sv, n, d, kk, ratio)
        for i in range(kk):
            k = k0 + i
            t, h, sq = float(tgrid[k]), float(tgrid[k + 1] - tgrid[k]), float(sqhf[k])
            fine = sq * zw[:, i]  # (n, ratio, d)
            dw = fine.sum(axis=1)
            dz = None
            if entry.needs_dz:
                w_before = np.cumsum(fine, axis=1) - fine
                dz = (
                    sq**3 * (0.5 * zw[:, i] + 0.28867513459481287 * zv[:, i]) + sq * sq * w_before
                ).sum(axis=1)
            st = [float(tgrid[k + 1]) if tau == 1.0 else t + tau * h for tau in taus]

            def F(y: FloatArray, s: int, st: list[float] = st) -> FloatArray:
                return sde._drift(y, st[s])

            def G(y: FloatArray, s: int, st: list[float] = st) -> FloatArray:
                return sde._diffusion(y, st[s])[:, None]

            def Gx(y: FloatArray, s: int, st: list[float] = st) -> FloatArray:
                return sde._diffusion_dx(y, st[s])

            x = entry.step(x, h, dw, dz, F, G, Gx)
            wtot += dw
            js = _save_numpy(out, js, save_steps, k + 1, x)
    if w_end.shape[0]:
        w_end[:] = wtot


def _draw(state: np.ndarray, n: int, d: int, kk: int, ratio: int) -> FloatArray:
    """The next kk * ratio normals of every (path, component) stream, as (n, kk, ratio, d)."""
    z = np.empty((n * d, kk * ratio))
    _kernels.fill_normals(state, z)
    return np.ascontiguousarray(z.reshape(n, d, kk, ratio).transpose(0, 2, 3, 1))


def _save_numpy(out: FloatArray, js: int, save_steps: np.ndarray, k: int, x: FloatArray) -> int:
    while js < save_steps.shape[0] and save_steps[js] == k:
        out[js] = x
        js += 1
    return js


# -- public API -------------------------------------------------------------------------------
def simulate(
    sde: SDE,
    x0: Any,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    n_steps: int,
    method: str = "euler-maruyama",
    seed: Any = 0,
    save_at: Any = None,
    n_paths: int | None = None,
    backend: str = "numba",
    device: str | None = None,
    dtype: str = "float64",
    threads: int | None = None,
) -> FloatArray:
    """Simulate dX = f dt + g dW forward from t0 to t1 with a fixed-step method.

    Parameters
    ----------
    sde : SDE
        Any fplab SDE.  Built-in SDEs run in one compiled kernel per method; a ``CustomSDE`` runs
        in NumPy with the same random numbers.
    x0 : array_like of float, shape (n, d) or (n,) in 1-D; or a distribution with ``sample(n, seed)``
        Initial states (one row repeated when ``n_paths`` is given), or a law to draw
        ``n_paths`` of them from (drawn from a stream derived from ``seed``).
    t0, t1 : float
        Start and end times, t1 > t0.
    n_steps : int >= 1
        Number of uniform steps h = (t1 - t0)/n_steps.
    method : str
        A key of ``MC_METHODS``: 'euler-maruyama', 'milstein', 'heun', 'heun-frozen-g', 'srk' or
        'exact'.
    seed : int or numpy Generator
        The result is a function of the seed alone (path p uses streams hashed from (seed, p)):
        the same for any numba thread count, and the same Brownian path for every method.
    save_at : sequence of float, optional
        Times in [t0, t1] at which to record the states.  Times on the step grid (within
        1e-9 (t1 - t0)) are recorded there; a time off the grid splits the step that contains
        it (the grid gains one point, so the Brownian path differs from the unsplit run).
    n_paths : int, optional
        Number of paths when ``x0`` is a distribution or a single state.
    backend : str
        'numba' (default), 'numpy' (vectorised NumPy stepping, same numbers as 'numba'), or
        'torch' (torch tensors on ``device``, torch's generator: statistically identical,
        not bitwise).
    device : str, optional
        torch device ('cpu' or 'cuda'); torch backend only.
    dtype : str
        'float64' (default) or 'float32' (torch backend only).
    threads : int, optional
        Threads of the numba kernels (the result does not depend on it).  Default: one thread
        below ``fplab._threads.SERIAL_CELLS`` paths, else the idle cores (CPU affinity capped by
        ``NUMBA_NUM_THREADS``, less the other runnable processes of the load average); more
        than the available cores is clamped with a warning, fewer than 1 refused.

    Returns
    -------
    x : ndarray of float64, shape (n, d) (or (n,) for (n,)-shaped x0)
        States at t1; with ``save_at`` shape (len(save_at), n, d) (or (len(save_at), n)).

    Raises
    ------
    ValueError
        Unknown method or backend, a method that does not apply to the SDE (Milstein without
        ∂g/∂x, SRK with state-dependent noise, exact without a closed form), n_steps < 1,
        non-finite x0, t1 <= t0, save_at outside [t0, t1], threads < 1, t0 or t1 outside [0, T]
        for an SDE with a horizon T (VP, SubVP, VE; OU, Heat, GBM, DoubleWell run for every t).
    TypeError
        sde not an SDE, non-integer n_steps, a seed that is not an int or Generator.
    """
    entry, sde, key, x, flat, t0f, t1f, n = _common(sde, x0, t0, t1, n_steps, method, seed, n_paths)
    backend = check_choice(backend, "backend", _BACKENDS)
    if backend != "torch":
        if device is not None:
            msg = f"device={device!r} applies to backend='torch' only (backend={backend!r})"
            raise ValueError(msg)
        if dtype != "float64":
            msg = f"dtype={dtype!r} is available with backend='torch' only; the {backend} backend uses float64"
            raise ValueError(msg)
    else:
        dtype = check_choice(dtype, "dtype", ("float64", "float32"))
        _check_device(device)
    n_threads = resolve_threads(threads, x.shape[0])
    tgrid, save_steps, unsort = _time_grid(t0f, t1f, n, save_at)
    with using_threads(n_threads):
        out, _ = _run(entry, sde, x, key, tgrid, 1, save_steps, False, backend, device, dtype)
    if unsort is None:
        return _restore(out[0], flat)
    return _restore(out[unsort], flat)


def _common(
    sde: Any, x0: Any, t0: Any, t1: Any, n_steps: Any, method: Any, seed: Any, n_paths: Any
) -> tuple[type[Method], SDE, np.uint64, FloatArray, bool, float, float, int]:
    entry = MC_METHODS.get(method)
    sde = _check_sde(sde)
    key = _key(seed)
    t0f, t1f = _interval(t0, t1)
    x, flat = _initial(sde, x0, n_paths, key)
    if isinstance(n_steps, Sequence) and not isinstance(n_steps, str):
        n = [check_int(v, "n_steps", minimum=1) for v in n_steps]
        for v in n:
            check_memory(8.0 * 4 * (v + 1), "n_steps", v)  # time grid, step indices, tables
        nmax = max(n) if n else 0
        nmin = min(n) if n else 0
    else:
        nmax = nmin = check_int(n_steps, "n_steps", minimum=1)
        check_memory(8.0 * 4 * (nmax + 1), "n_steps", nmax)  # time grid, step indices, tables
    check_horizon(sde, t0f, "t0")
    check_horizon(sde, t1f, "t1")
    entry.check(sde, x.shape[1], x[:1], t0f)
    if entry is not Exact:
        check_usable_time(sde, t1f, "t1", " (method='exact' samples the law at T itself)")
        if nmin > 0:
            _warn_coarse(sde, t0f, t1f, nmin)
    return entry, sde, key, x, flat, t0f, t1f, nmax


def _warn_coarse(sde: SDE, t0: float, t1: float, n: int) -> None:
    """Warn when a linear SDE's drift rate makes the discrete decay factor 1 + a h < 0.

    At |a| h > 1 an explicit step flips the sign of the mean instead of shrinking it, and the
    variance recursion of Euler–Maruyama on dX = a X dt + g dW settles at g² h / (1 - (1+ah)²)
    instead of g²/(2|a|): results are wrong by O(1), not by a small O(h) bias (e.g. the cosine
    VP near T, where β grows like 2/(T - t)).
    """
    if not isinstance(sde, LinearSDE):
        return
    h = (t1 - t0) / n
    ts = t0 + h * np.arange(n + 1)
    rate = np.abs(np.broadcast_to(np.asarray(sde.a(ts), dtype=np.float64), ts.shape)) * h
    k = int(np.argmax(rate))
    if rate[k] > 1.0 + 1e-12:
        msg = (
            f"n_steps={n} is too coarse for {type(sde).__name__} on [{t0:g}, {t1:g}]: the drift "
            f"rate |a(t)| h reaches {rate[k]:.3g} at t = {ts[k]:.6g} (> 1, where an explicit step "
            f"overshoots and the sample law is wrong by O(1)); use n_steps >= "
            f"{int(np.ceil(n * rate[k] / 0.5))} or method='exact'"
        )
        warnings.warn(msg, UserWarning, stacklevel=4)


def _restore(y: FloatArray, flat: bool) -> FloatArray:
    return y[..., 0] if flat else y


@dataclass(frozen=True)
class CoupledResult:
    """Final states of several step sizes (and methods) driven by one fine Brownian path.

    Attributes
    ----------
    n_steps : tuple of int        the levels, as given
    methods : tuple of str        the methods, as given
    x : ndarray of float64
        States at t1, shape (n_levels, n, d) for a single method (a str), or
        (n_methods, n_levels, n, d) for a sequence of methods; (n,) in place of (n, d) for
        (n,)-shaped x0.
    w : ndarray of float64, shape (n, d) (or (n,))
        The Brownian increment W(t1) - W(t0) of each path (e.g. for ``GBM.exact_solution``).
    t0, t1 : float
    """

    n_steps: tuple[int, ...]
    methods: tuple[str, ...]
    x: FloatArray
    w: FloatArray
    t0: float
    t1: float
    single_method: bool = True

    @property
    def dt(self) -> FloatArray:
        """Step sizes (t1 - t0)/n_steps, shape (n_levels,)."""
        return (self.t1 - self.t0) / np.asarray(self.n_steps, dtype=np.float64)

    def final(self, n_steps: int, method: str | None = None) -> FloatArray:
        """States at t1 of the level with ``n_steps`` steps (and ``method`` if several)."""
        if n_steps not in self.n_steps:
            msg = f"n_steps={n_steps} is not a level of this result; levels: {list(self.n_steps)}"
            raise ValueError(msg)
        i = self.n_steps.index(n_steps)
        if self.single_method:
            return self.x[i]
        name = check_choice(method, "method", list(self.methods))
        return self.x[self.methods.index(name), i]


def simulate_coupled(
    sde: SDE,
    x0: Any,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    n_steps: Sequence[int],
    method: str | Sequence[str] = "euler-maruyama",
    seed: Any = 0,
    n_paths: int | None = None,
    backend: str = "numba",
) -> CoupledResult:
    """Simulate several step sizes (and methods) driven by the same fine Brownian path.

    The finest level N = max(n_steps) draws the increments; a level with n steps uses sums of
    N/n consecutive fine increments (and, for 'srk', the coarse iterated integral assembled
    exactly from the fine ones: ΔZ = Σ_k [ΔZ_k + (W(s_k) - W(t)) h_f]).  The finest level equals
    ``simulate(..., n_steps=N, seed=seed)`` exactly.  This is what strong-error studies need.

    Parameters
    ----------
    sde, x0, t0, t1, seed, n_paths, backend
        As in :func:`simulate` (backend 'numba' or 'numpy'; 'torch' is not coupled).
    n_steps : sequence of int
        The levels; each must divide max(n_steps).
    method : str or sequence of str
        One method or several (all driven by the same path).

    Returns
    -------
    CoupledResult
    """
    single = isinstance(method, str)
    methods: tuple[str, ...] = (method,) if isinstance(method, str) else tuple(method)
    if not methods:
        msg = "method must be a method name or a non-empty sequence of them"
        raise ValueError(msg)
    if isinstance(n_steps, numbers.Integral) or not isinstance(n_steps, Sequence | np.ndarray):
        msg = f"n_steps must be a sequence of step counts for simulate_coupled, got {n_steps!r}"
        raise TypeError(msg)
    levels = tuple(check_int(v, "n_steps", minimum=1) for v in n_steps)
    if not levels:
        msg = "n_steps must hold at least one step count"
        raise ValueError(msg)
    backend = check_choice(backend, "backend", ("numba", "numpy"))
    entries = []
    for name in methods:
        entry, sde, key, x, flat, t0f, t1f, nmax = _common(
            sde, x0, t0, t1, list(levels), name, seed, n_paths
        )
        entries.append(entry)
    bad = [v for v in levels if nmax % v]
    if bad:
        msg = f"every n_steps must divide the finest level {nmax}; {bad} do not"
        raise ValueError(msg)
    n, d = x.shape
    xs = np.empty((len(methods), len(levels), n, d))
    w_end = np.zeros((n, d))
    last = np.array([0], dtype=np.int64)
    for i, entry in enumerate(entries):
        for j, lv in enumerate(levels):
            tgrid = t0f + (t1f - t0f) * np.arange(lv + 1) / lv
            tgrid[-1] = t1f
            last[0] = lv
            first = i == 0 and j == 0
            out, w = _run(entry, sde, x, key, tgrid, nmax // lv, last, first, backend)
            xs[i, j] = out[0]
            if first:
                w_end = w
    xs_out = xs[0] if single else xs
    return CoupledResult(
        n_steps=levels,
        methods=methods,
        x=_restore(xs_out, flat),
        w=_restore(w_end, flat),
        t0=t0f,
        t1=t1f,
        single_method=single,
    )
