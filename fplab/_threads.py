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

__all__ = [
    "GRID_SERIAL_CELLS",
    "SERIAL_CELLS",
    "available_cores",
    "idle_cores",
    "resolve_threads",
    "using_threads",
]

#: Monte-Carlo runs with fewer paths than this run on one thread by default (one parallel region
#: per run: below this, waking the pool costs about what the second core gains)
SERIAL_CELLS = 128 * 128

#: grid solves with fewer cells than this run on one thread by default.  A grid step has two
#: parallel regions, each ending in a barrier, so a busy neighbour stalls every step; and the
#: second thread gains little until the grid outgrows the caches.  Measured 2026-12-07 on the
#: 2-core EPYC, 2-D Crank–Nicolson to t = 0.5, dt = 5e-3, median of 5-9 (1 thread / 2 threads):
#: 256²: 25-34 / 21-29 ms quiet, 25 / 38 ms beside one busy process, 28 / 55 ms beside a
#: two-thread BLAS loop; 512²: 91 / 127 ms quiet; 1024²: 689 / 385 ms quiet.
GRID_SERIAL_CELLS = 2**19


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by ``NUMBA_NUM_THREADS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not every platform has affinity
        cores = os.cpu_count() or 1
    return max(1, min(cores, int(numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]


def _running_now() -> int | None:
    """Runnable tasks on the machine at this instant (``procs_running`` of ``/proc/stat``, the
    least of three reads to skip a passing blip), or None where there is no such file."""
    try:
        counts = []
        for _ in range(3):
            with open("/proc/stat", encoding="ascii") as f:
                for line in f:
                    if line.startswith("procs_running"):
                        counts.append(int(line.split()[1]))
                        break
        return min(counts) if counts else None
    except (OSError, ValueError):
        return None


def idle_cores() -> int:
    """Cores of :func:`available_cores` not taken by other runnable processes (>= 1).

    Counted from the runnable tasks at this instant (``/proc/stat``, which includes this
    thread), else from the 1-minute load average: with r runnable on c cores, c - (r - 1) are
    idle.  The load average lags a new neighbour by about a minute, during which two threads
    waited at every barrier (measured: a 256² solve at 116 ms median beside one busy process
    against 25 ms on one thread).  A parallel region with more threads than idle cores waits at
    every barrier for a descheduled thread (and numba's OpenMP layer spins meanwhile).
    """
    cores = available_cores()
    running = _running_now()
    if running is None:
        try:
            running = round(os.getloadavg()[0])
        except (AttributeError, OSError):  # not every platform reports a load average
            return cores
    busy = max(0, running - 1)
    return max(1, min(cores, cores - busy))


def resolve_threads(
    threads: int | None, size: int, *, name: str = "threads", serial_below: int = SERIAL_CELLS
) -> int:
    """The thread count to use for a problem of ``size`` cells (or paths).

    Parameters
    ----------
    threads : int or None
        None: 1 when ``size < serial_below``, else :func:`idle_cores` (the available cores not
        busy with other processes).  An int >= 1 is used as given up to
        :func:`available_cores`, above it clamped with a ``UserWarning``.
    size : int
        Problem size deciding the default.
    name : str
        Argument name for messages.
    serial_below : int
        Default-serial threshold (``SERIAL_CELLS`` for Monte Carlo, ``GRID_SERIAL_CELLS`` for
        the grid solvers).

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
        return 1 if size < serial_below else idle_cores()
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
