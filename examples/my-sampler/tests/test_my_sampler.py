"""The plugin's own tests: one pinned step, and its order measured by fplab.testing."""

from __future__ import annotations

from importlib import metadata

import my_sampler  # registers "ralston" (installed, fplab would also find it by entry point)
import numpy as np
import pytest

import fplab as fp
import fplab.testing as ft


def test_pinned_sampler_ralston(fplab_vp_bimodal_1d):
    """One step from a fixed state, against Ralston's tableau written out by hand."""
    problem = fplab_vp_bimodal_1d
    score = fp.exact_score(problem.sde, problem.p0)
    ctx = ft.step_context(problem.sde, score)
    x = np.array([[-1.0], [0.3], [2.0]])
    t, s = 0.6, 0.5
    beta = lambda u: 0.1 + (20.0 - 0.1) * u  # noqa: E731  the VP's linear beta(t)
    v = lambda y, u: -0.5 * beta(u) * y - 0.5 * beta(u) * score(y, u)  # noqa: E731  f - g²s/2
    k1 = v(x, t)
    k2 = v(x - (2 / 3) * 0.1 * k1, t - (2 / 3) * 0.1)
    want = x - 0.1 * (k1 / 4 + 3 * k2 / 4)
    np.testing.assert_allclose(my_sampler.ralston(ctx, x, t, s, None), want, rtol=1e-13)


def test_ralston_has_order_2():
    fit = ft.check_sampler("ralston", expected_order=2)
    assert 1.8 < fit.order < 2.2


def test_ralston_is_not_order_3():
    with pytest.raises(AssertionError, match="expected order 3"):
        ft.check_sampler("ralston", expected_order=3)


def test_the_entry_point_names_the_plugin_module():
    try:
        eps = metadata.entry_points(group="fplab.plugins")
    except Exception:  # pragma: no cover
        eps = ()
    found = [ep for ep in eps if ep.value == "my_sampler"]
    if not found:
        pytest.skip("fplab-my-sampler is not installed (run from its source folder)")
    assert found[0].name == "my_sampler"
