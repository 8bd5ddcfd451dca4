"""``observed_order``'s least-squares interval against an independent computation.

For deterministic errors the order is the OLS slope of log err on log h and the interval
p ± t_{m-2} se(p) (the docstring's Notes); ``scipy.stats.linregress`` gives slope and its standard
error independently.  A planted m - 1 for m - 2 degrees of freedom survived every other test (the
mutation run in docs/testing.md): it narrows a 4-point interval by 26 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import fplab as fp


@pytest.mark.parametrize("m", [3, 4, 6])
def test_ols_interval_is_the_student_t_interval_of_the_regression_slope(m):
    h = 0.5 ** np.arange(m)
    # a power law with a deterministic wiggle, so the residuals (and the interval) are nonzero
    err = 0.7 * h**2 * (1.0 + 0.2 * np.cos(3.0 * np.arange(m)))
    fit = fp.observed_order(h, err, method="ols")
    reg = stats.linregress(np.log(h), np.log(err))
    half = stats.t.ppf(0.975, m - 2) * reg.stderr
    np.testing.assert_allclose(fit.order, reg.slope, rtol=1e-12)
    np.testing.assert_allclose(fit.ci, (reg.slope - half, reg.slope + half), rtol=1e-10)
