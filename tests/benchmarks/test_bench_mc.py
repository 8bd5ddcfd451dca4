"""Benchmarks of fp.simulate (Euler–Maruyama on a 1-D OU) against NumPy, torchsde and sdeint.

Problem (issue 4): dX = -X dt + √2 dW, X_0 = 0, 1000 steps to t = 1; throughput in path-steps/s.
fplab runs 1e6 paths (the issue's size).  The NumPy peer is the same vectorised loop a user would
write (``rng.standard_normal(out=z); x += -x h + s z``) at 1e6 paths.  torchsde (CPU, float32,
``sdeint(method="euler")``) and sdeint (one path at a time, ``itoEuler``) are far slower, so they
are timed at fewer paths (their throughput is flat in the path count beyond that).  Each run's
sample variance is printed next to its time (exact: 1 - e^{-2}), so the ratios compare runs that
solve the same problem.  ``test_memory_of_ten_million_paths`` measures peak RSS for 1e7 paths.

Run: ``pytest -m bench tests/benchmarks/test_bench_mc.py -s``.  Timings are medians of repeats
in one process, printed and stored in ``benchmark.extra_info``, never asserted.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import time

import numba
import numpy as np
import pytest

import fplab as fp
from fplab.mc import simulate

pytestmark = pytest.mark.bench

OU = fp.OU(theta=1.0, mu=0.0, sigma=2**0.5)
N_STEPS = 1000
EXACT_VAR = 1.0 - math.exp(-2.0)


def _median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _fplab(n: int, repeats: int):
    x0 = np.zeros(n)
    simulate(OU, x0[:10], n_steps=2)  # compile (cached) outside the timing
    return _median_seconds(lambda: simulate(OU, x0, n_steps=N_STEPS, seed=1), repeats)


def _numpy(n: int, repeats: int):
    def run():
        rng = np.random.default_rng(1)
        h = 1.0 / N_STEPS
        s = math.sqrt(2.0 * h)
        x = np.zeros(n)
        z = np.empty(n)
        for _ in range(N_STEPS):
            rng.standard_normal(out=z)
            x += -x * h + s * z
        return x

    return _median_seconds(run, repeats)


def _torchsde(n: int, repeats: int, n_steps: int = N_STEPS):
    torch = pytest.importorskip("torch")
    torchsde = pytest.importorskip("torchsde")

    class OUModule(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return torch.full_like(y, math.sqrt(2.0))

    sde = OUModule()
    ts = torch.tensor([0.0, 1.0])

    def run():
        torch.manual_seed(1)
        y0 = torch.zeros(n, 1, dtype=torch.float32)
        return (
            torchsde.sdeint(sde, y0, ts, method="euler", dt=1.0 / n_steps)[-1, :, 0]
            .numpy()
            .astype(np.float64)
        )

    run()  # first call builds the Brownian machinery
    return _median_seconds(run, repeats)


def _sdeint(n: int, repeats: int):
    sdeint = pytest.importorskip("sdeint")
    tspan = np.linspace(0.0, 1.0, N_STEPS + 1)

    def run():
        rng = np.random.default_rng(1)
        out = np.empty(n)
        for i in range(n):
            y = sdeint.itoEuler(
                lambda x, t: -x,
                lambda x, t: np.array([[math.sqrt(2.0)]]),
                np.zeros(1),
                tspan,
                generator=rng,
            )
            out[i] = y[-1, 0]
        return out

    return _median_seconds(run, repeats)


def test_euler_maruyama_throughput_against_peers(benchmark):
    cpu = _cpu_name()
    rows = []
    # torchsde at the 1e6 paths but 100 steps (h = 0.01; its per-step cost is flat in
    # the step count, and 1000 steps would take minutes); sdeint integrates one path at a time
    for name, fn, n, steps, repeats in [
        ("fplab numba", _fplab, 1_000_000, N_STEPS, 5),
        ("numpy vectorised", _numpy, 1_000_000, N_STEPS, 3),
        ("torchsde euler f32", lambda n, r: _torchsde(n, r, 100), 1_000_000, 100, 1),
        ("sdeint itoEuler", _sdeint, 50, N_STEPS, 1),
    ]:
        try:
            sec, x = fn(n, repeats)
        except pytest.skip.Exception as skip:
            print(f"  {name}: skipped ({skip})")
            continue
        rate = n * steps / sec
        rows.append((name, rate, n, float(np.var(x))))
    base = rows[0][1]
    print(f"\nEM on 1-D OU, {N_STEPS} steps, {numba.get_num_threads()} numba threads, CPU {cpu}")
    for name, rate, n, var in rows:
        print(
            f"  {name:22s} {n:>9d} paths  {rate:10.3e} path-steps/s  fplab/peer x{base / rate:8.1f}"
            f"  var={var:.4f} (exact {EXACT_VAR:.4f})"
        )
        benchmark.extra_info[name] = {
            "paths": n,
            "path_steps_per_s": rate,
            "ratio": base / rate,
            "var": var,
        }
    benchmark.extra_info["cpu"] = cpu
    benchmark.pedantic(lambda: None, rounds=1)


def test_seed_only_results_at_benchmark_size(benchmark):
    # the speed figure is only meaningful if 1 and 2 threads give the same numbers
    x0 = np.zeros(200_000)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = simulate(OU, x0, n_steps=N_STEPS, seed=5)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b = simulate(OU, x0, n_steps=N_STEPS, seed=5)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(a, b)
    benchmark.pedantic(lambda: None, rounds=1)


def test_memory_of_ten_million_paths(benchmark):
    # 1e7 paths need x0 and the result (80 MB each); nothing scales with n_paths x n_steps
    n = 10_000_000
    x0 = np.zeros(n)
    simulate(OU, x0[:10], n_steps=2)
    before = _peak_rss()
    x = simulate(OU, x0, n_steps=20, seed=2)
    peak = _peak_rss()
    print(
        f"\n1e7 paths x 20 steps: peak RSS {peak / 2**30:.2f} GiB (before the call {before / 2**30:.2f} GiB)"
    )
    benchmark.extra_info["peak_rss_gib"] = peak / 2**30
    assert peak < 2 * 2**30
    # EM's own variance after 20 steps: σ² h Σ_k (1 - h)^{2k}, h = 0.05
    h = 1.0 / 20
    em_var = 2.0 * h * (1 - (1 - h) ** 40) / (1 - (1 - h) ** 2)
    assert abs(x.var() - em_var) < 4 * em_var * math.sqrt(2.0 / n)  # k = 4
    benchmark.pedantic(lambda: None, rounds=1)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return "unknown"
