"""Benchmarks of fp.nn training steps against a bare torch loop (``-m bench``).

Peer: the same 128x3 MLP, batch 512, Adam, forward + backward + step on pre-made tensors (no data
drawing, no EMA, no conversions).  fplab steps add per-step seeded data, the parameterisation map,
EMA and (for 'stf') the stable-target-field posterior over n_reference points.  Ratios printed and
stored in ``benchmark.extra_info``, never asserted.

Run: ``pytest -m bench tests/benchmarks/test_bench_nn.py -s``.
"""

from __future__ import annotations

import statistics
import time

import pytest

import fplab as fp

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.bench

P0 = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
N_STEPS = 60


def _median_seconds(fn, repeats=5):
    fn()  # warm-up: imports, allocator
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def _bare_torch():
    from fplab.nn.models import build_mlp
    from fplab.nn.train import torch_threads

    net = build_mlp(1, hidden=128, depth=3, n_features=16, fourier_scale=4.0, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, tau, target = torch.randn(512, 1), torch.rand(512), torch.randn(512, 1)
    with torch_threads(1):
        for _ in range(N_STEPS):
            loss = ((net(x, tau) - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()


@pytest.mark.parametrize("target", ["dsm", "stf"])
def test_bench_training_step_vs_bare_torch(benchmark, target):
    peer = _median_seconds(_bare_torch)

    def run():
        fp.nn.train_score(fp.VP(), P0, n_steps=N_STEPS, hidden=128, target=target, n_reference=1024)

    ours = _median_seconds(run)
    benchmark.pedantic(run, rounds=1, iterations=1)
    ratio = ours / peer
    benchmark.extra_info.update({"ms_per_step": 1e3 * ours / N_STEPS, "ratio_vs_bare_torch": ratio})
    print(
        f"\n{target}: {1e3 * ours / N_STEPS:.2f} ms/step, {ratio:.2f}x a bare torch step (1 thread)"
    )
