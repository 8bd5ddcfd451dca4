"""Thread counts for the parallel kernels (grid solvers, Monte Carlo): serial for small
problems, bounded by the cores this process may actually use.

On a busy machine a parallel kernel with more threads than free cores waits at every barrier
for a descheduled thread; the workqueue and OpenMP layers also spin while waiting.  Bounding
the count by the CPU affinity (``os.sched_getaffinity``, which is what ``taskset`` and
container CPU sets restrict) and by ``NUMBA_NUM_THREADS``, and running small problems on one
thread, keeps a solve from degrading far beyond its fair share.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numba

from fplab._validate import check_int

__all__ = ["SERIAL_CELLS", "available_cores", "idle_cores", "resolve_threads", "using_threads"]

#: problems with fewer cells (grid solvers) or paths (Monte Carlo) than this run on one thread
#: by default: at 128² a step of the 2-D Crank–Nicolson kernel takes ~50 µs, the same order as
#: waking and joining a thread pool
SERIAL_CELLS = 128 * 128


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by ``NUMBA_NUM_THREADS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not every platform has affinity
        cores = os.cpu_count() or 1
    return max(1, min(cores, int(numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]


def idle_cores() -> int:
    """Cores of :func:`available_cores` not taken by other runnable processes (>= 1).

    Estimated from the 1-minute load average, which counts this process too: with load L on
    c cores, c - (round(L) - 1) are idle.  A parallel region with more threads than idle cores
    waits at every barrier for a descheduled thread (and numba's OpenMP layer spins meanwhile):
    measured on 2 cores under load ~14, the 2-D Crank–Nicolson 256² solve took 0.8-6.5 s on two
    threads against 53-86 ms on one.
    """
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not every platform reports a load average
        return cores
    busy = max(0, round(load) - 1)
    return max(1, min(cores, cores - busy))


def resolve_threads(threads: int | None, size: int, *, name: str = "threads") -> int:
    """The thread count to use for a problem of ``size`` cells (or paths).

    Parameters
    ----------
    threads : int or None
        None: 1 when ``size < SERIAL_CELLS``, else :func:`idle_cores` (the available cores not
        busy with other processes).  An int >= 1 is used as given up to
        :func:`available_cores`, above it clamped with a ``UserWarning``.
    size : int
        Problem size deciding the default.
    name : str
        Argument name for messages.

    Returns
    -------
    int >= 1

    Raises
    ------
    ValueError
        ``threads`` < 1.
    """
    cores = available_cores()
    if threads is None:
        return 1 if size < SERIAL_CELLS else idle_cores()
    n = check_int(threads, name)
    if n < 1:
        msg = f"{name} must be >= 1 (or None to choose automatically), got {n}"
        raise ValueError(msg)
    if n > cores:
        msg = (
            f"{name}={n} exceeds the {cores} core(s) available to this process (CPU affinity, "
            f"NUMBA_NUM_THREADS); using {cores}"
        )
        warnings.warn(msg, UserWarning, stacklevel=3)
        return cores
    return n


@contextmanager
def using_threads(n: int) -> Iterator[None]:
    """Run the enclosed numba parallel regions on ``n`` threads, restoring the count after."""
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)
