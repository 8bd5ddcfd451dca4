"""Warm the numba cache once at install (``python -m fplab._warm``; the Makefile runs it).

Every cached kernel that the shipped studies reach is compiled by tiny calls here, so that no
study case and no first ``simulate``/``solve_fokker_planck`` of a session pays compilation
(measured: 14 s for a first ``simulate`` and 0.3-0.7 s for a first 2-D solve in a fresh
environment).  The registries decide what to call: every space scheme with every time scheme and
boundary it supports, in 1-D and 2-D, autonomous and time-dependent; every Monte-Carlo method on
an additive and a multiplicative SDE.  Kernels built by ``make_*`` closures are per instance and
cannot be cached; they are not warmed.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

__all__ = ["warm"]


def _fd_calls() -> int:
    """Tiny solves over every (space, time, bc) combination the schemes support."""
    import fplab as fp
    from fplab.fd import BOUNDARIES, SPACE_SCHEMES, TIME_SCHEMES, solve_fokker_planck

    p1 = fp.GaussianMixture([1.0], [[0.0]], [[[0.5]]])
    p2 = fp.GaussianMixture([1.0], [[0.0, 0.0]], [[[0.5, 0.0], [0.0, 0.5]]])
    grids = (fp.Grid.uniform(-2.0, 2.0, 16), fp.Grid.uniform((-2.0, -2.0), (2.0, 2.0), (16, 16)))
    calls = 0
    for space in SPACE_SCHEMES.names():
        for ts in TIME_SCHEMES.names():
            for bc in BOUNDARIES.names():
                allowed = (SPACE_SCHEMES.get(space).boundaries, TIME_SCHEMES.get(ts).boundaries)
                if any(a is not None and bc not in a for a in allowed):
                    continue
                for grid, p0 in zip(grids, (p1, p2)):
                    sdes = [fp.Heat(0.5), fp.VP()] if bc == "periodic" else [fp.OU(), fp.VP()]
                    for sde in sdes:
                        if bc == "periodic" and not sde.autonomous:
                            continue  # VP drift is not periodic on the box
                        solve_fokker_planck(sde, p0, grid, 0.02, dt=0.01, time_scheme=ts,
                                            space_scheme=space, bc=bc)  # fmt: skip
                        calls += 1
    return calls


def _mc_calls() -> int:
    """One short simulation per Monte-Carlo method, additive and multiplicative noise."""
    import fplab as fp
    from fplab.mc.methods import MC_METHODS

    calls = 0
    for name in MC_METHODS.names():
        for sde, x0 in ((fp.OU(), np.zeros((4, 1))), (fp.GBM(), np.ones((4, 1))),
                        (fp.OU(), np.zeros((4, 2)))):  # fmt: skip
            try:
                fp.simulate(sde, x0, t1=0.1, n_steps=2, method=name, seed=0)
            except ValueError:
                continue  # the method does not apply to this SDE (e.g. exact without a law)
            calls += 1
    return calls


def warm() -> dict[str, float]:
    """Compile (or load from the cache) the kernels the studies use.

    Returns
    -------
    dict
        Seconds spent and calls made per area ('fd', 'mc').
    """
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # box-mass and coarse-step warnings of the tiny calls
        for area, fn in (("fd", _fd_calls), ("mc", _mc_calls)):
            start = time.perf_counter()
            out[f"{area}_calls"] = float(fn())
            out[f"{area}_seconds"] = time.perf_counter() - start
    return out


if __name__ == "__main__":
    stats = warm()
    print(
        f"fplab: numba cache warm — fd {stats['fd_calls']:.0f} solves in {stats['fd_seconds']:.1f} s, "
        f"mc {stats['mc_calls']:.0f} simulations in {stats['mc_seconds']:.1f} s",
        file=sys.stderr,
    )
