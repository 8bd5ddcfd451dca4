"""``threads=`` on the solvers and on ``simulate``: validated, clamped to the available cores,
serial for small problems, and never a change in the numbers."""

from __future__ import annotations

import numpy as np
import pytest
from problems import BIMODAL_2D

import fplab as fp
from fplab._threads import GRID_SERIAL_CELLS, SERIAL_CELLS, available_cores, resolve_threads


def test_resolve_threads_defaults_validates_and_clamps(monkeypatch):
    cores = available_cores()
    assert resolve_threads(None, SERIAL_CELLS - 1) == 1
    # large problems: the idle cores, from the tasks runnable now (this thread counts as 1)
    monkeypatch.setattr("fplab._threads._running_now", lambda: 1)
    assert resolve_threads(None, SERIAL_CELLS) == cores
    monkeypatch.setattr("fplab._threads._running_now", lambda: 40)
    assert resolve_threads(None, SERIAL_CELLS) == 1
    # without /proc/stat: the load average
    monkeypatch.setattr("fplab._threads._running_now", lambda: None)
    monkeypatch.setattr("os.getloadavg", lambda: (1.0, 1.0, 1.0))
    assert resolve_threads(None, SERIAL_CELLS) == cores
    monkeypatch.setattr("os.getloadavg", lambda: (40.0, 1.0, 1.0))
    assert resolve_threads(None, SERIAL_CELLS) == 1
    # grid solves stay serial up to GRID_SERIAL_CELLS (a barrier per half-step)
    monkeypatch.setattr("fplab._threads._running_now", lambda: 1)
    assert resolve_threads(None, 256 * 256, serial_below=GRID_SERIAL_CELLS) == 1
    assert resolve_threads(None, GRID_SERIAL_CELLS, serial_below=GRID_SERIAL_CELLS) == cores
    assert resolve_threads(1, 10**9) == 1
    with pytest.raises(ValueError, match="threads must be >= 1"):
        resolve_threads(0, 10)
    with pytest.raises(TypeError, match="threads must be an integer"):
        resolve_threads(1.5, 10)
    with pytest.warns(UserWarning, match=f"using {cores}"):
        assert resolve_threads(cores + 3, 10) == cores
    # the bound follows the CPU affinity (what taskset / container CPU sets restrict)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert available_cores() == 1


def test_simulate_threads_do_not_change_the_paths():
    x0 = np.zeros((SERIAL_CELLS + 7, 1))
    kw = {"t1": 0.5, "n_steps": 20, "seed": 11}
    one = fp.simulate(fp.OU(), x0, threads=1, **kw)
    many = fp.simulate(fp.OU(), x0, threads=available_cores(), **kw)
    default = fp.simulate(fp.OU(), x0, **kw)
    assert np.array_equal(one, many) and np.array_equal(one, default)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        fp.simulate(fp.OU(), x0[:10], threads=0, **kw)


def test_solver_threads_do_not_change_the_2d_density():
    grid = fp.Grid.uniform((-6.0, -6.0), (6.0, 6.0), (130, 128))  # explicit threads: 1 vs all cores
    p0 = grid.sample_on(BIMODAL_2D.pdf)
    one = fp.solve_fokker_planck(fp.OU(), p0, grid, 0.05, threads=1)
    many = fp.solve_fokker_planck(fp.OU(), p0, grid, 0.05, threads=available_cores())
    assert one.threads == 1 and many.threads == available_cores()
    assert np.array_equal(one.density, many.density)
