"""fd-space's fine reference on an odd refinement factor is the fine solve at the coarse
centres, exactly (no spline error to compete with a fourth-order scheme's)."""

from __future__ import annotations

import numpy as np

import fplab as fp
from fplab.studykinds.fd import _interpolate, _reference_time_scheme


def test_odd_factor_reference_takes_the_fine_values_at_the_coarse_centres():
    law = fp.GaussianMixture([1.0], [[0.3, -0.2]], [[[0.4, 0.1], [0.1, 0.5]]])
    grid = fp.Grid.uniform((-3.0, -3.0), (3.0, 3.0), (10, 12))
    fine = grid.refine(3)
    got = _interpolate(fine.sample_on(law.pdf), fine, grid)
    np.testing.assert_allclose(got, grid.sample_on(law.pdf), rtol=1e-14, atol=1e-15)


def test_fd_time_reference_scheme_follows_the_order():
    assert _reference_time_scheme("implicit") == "crank-nicolson"
    assert _reference_time_scheme("sdirk4") == "sdirk4"
