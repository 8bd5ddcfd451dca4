"""Benchmark: ``sample_reverse`` loop overhead against a hand-written NumPy Euler–Maruyama loop.

Both runs use the same formula and the same seeded normals (results agree to round-off), and the
score is the trivial -x, so that the ratio shows only the sampler's own bookkeeping (argument
checks, per-step shape and finiteness checks of the score and the samples).
"""

from __future__ import annotations

import itertools
import statistics
import time

import numpy as np
import pytest

import fplab as fp
from fplab.reverse import sample_reverse

pytestmark = pytest.mark.bench

N_PATHS, N_STEPS = 10_000, 1000


def _hand_loop(sde, x, seed):
    rng = np.random.default_rng(seed)
    ts = np.linspace(1.0, 1e-3, N_STEPS + 1)
    for t, s in itertools.pairwise(ts):
        b, h = float(sde.beta(t)), t - s
        x = x - h * (-0.5 * b * x - b * -x) + np.sqrt(h * b) * rng.standard_normal(x.shape)
    return x


def _timed(fn):
    tic = time.perf_counter()
    fn()
    return time.perf_counter() - tic


def test_bench_sample_reverse_overhead_vs_numpy_loop(benchmark):
    sde = fp.VP()
    x0 = np.random.default_rng(0).standard_normal((N_PATHS, 1))

    def ours():
        return sample_reverse(sde, lambda x, t: -x, x0, n_steps=N_STEPS, seed=3)

    def peer():
        return _hand_loop(sde, x0, 3)

    np.testing.assert_allclose(ours(), peer(), rtol=1e-12, atol=1e-12)
    # interleaved pairs, median of the per-pair ratios: robust to load from other jobs
    pairs = [(_timed(ours), _timed(peer)) for _ in range(7)]
    ratio = statistics.median(a / b for a, b in pairs)
    t_ours = statistics.median(a for a, _ in pairs)
    t_peer = statistics.median(b for _, b in pairs)
    benchmark.pedantic(ours, rounds=5, iterations=1, warmup_rounds=0)
    print(
        f"\nsample_reverse EM, {N_PATHS} paths x {N_STEPS} steps, 1-D, score -x: median "
        f"{t_ours:.3f} s vs hand NumPy loop {t_peer:.3f} s; median pair ratio {ratio:.2f}; "
        f"{N_PATHS * N_STEPS / t_ours:.3g} path-steps/s"
    )
