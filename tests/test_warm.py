"""The install-time cache warm-up reaches every registry entry and runs quickly."""

from __future__ import annotations

import pytest

from fplab import _warm


@pytest.mark.slow
def test_warm_calls_every_scheme_combination_and_method():
    stats = _warm.warm()
    # 3 theta schemes x {chang-cooper, central} x 3 bcs + fv4 and sdirk4 combinations, each in
    # 1-D and 2-D: measured 92 solves; five MC methods on up to three SDEs: 14 simulations
    assert stats["fd_calls"] >= 80
    assert stats["mc_calls"] >= 10
