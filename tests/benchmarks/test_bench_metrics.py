"""Benchmarks for the sample W2: POT's exact OT against scipy's assignment solver (the same exact
answer for equal sizes) and the sliced distance.  Run with ``pytest -m bench tests/benchmarks``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

import fplab as fp

pytestmark = pytest.mark.bench

N = 800


def _samples():
    gen = np.random.default_rng(0)
    return gen.standard_normal((N, 2)), gen.standard_normal((N, 2)) @ np.diag([1.5, 0.7]) + 0.3


def _w2_assignment(x, y):
    c = cdist(x, y, "sqeuclidean")
    r, col = linear_sum_assignment(c)
    return math.sqrt(c[r, col].mean())


def test_bench_w2_exact_pot(benchmark):
    x, y = _samples()
    fp.metrics.w2(x, y, method="exact")  # import POT / warm up
    val = benchmark.pedantic(fp.metrics.w2, args=(x, y), kwargs={"method": "exact"}, rounds=5)
    assert val == pytest.approx(_w2_assignment(x, y), rel=1e-9)


def test_bench_w2_scipy_assignment_peer(benchmark):
    x, y = _samples()
    benchmark.pedantic(_w2_assignment, args=(x, y), rounds=5)


def test_bench_w2_sliced(benchmark):
    x, y = _samples()
    benchmark.pedantic(fp.metrics.w2, args=(x, y), kwargs={"method": "sliced"}, rounds=5)
