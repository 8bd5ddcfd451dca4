"""Grid geometry, integration and TOML specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fplab as fp
from fplab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_uniform_1d_is_cell_centred():
    g = fp.Grid.uniform(lo=-1.0, hi=1.0, n=4)
    assert g.ndim == 1
    assert g.shape == (4,)
    assert g.dx == pytest.approx(0.5)
    np.testing.assert_allclose(g.axes[0], [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(g.edges[0], [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert g.points().shape == (4, 1)


def test_uniform_2d_points_follow_c_order_of_shape():
    g = fp.Grid.uniform(lo=(-1.0, 0.0), hi=(1.0, 3.0), n=(4, 3))
    assert g.ndim == 2 and g.shape == (4, 3)
    assert g.dx == pytest.approx((0.5, 1.0))
    pts = g.points()
    assert pts.shape == (12, 2)
    xx, yy = g.mesh()
    np.testing.assert_array_equal(pts[:, 0].reshape(g.shape), xx)
    np.testing.assert_array_equal(pts[:, 1].reshape(g.shape), yy)
    # a function of x only varies along axis 0
    f = g.sample_on(lambda p: p[:, 0])
    assert np.all(np.diff(f, axis=1) == 0)


def test_integrate_is_second_order_midpoint_rule():
    # ∫_0^π sin = 2; midpoint error = (π²/24) h² ∫ sin'' ... ~ -h² π/12 (relative O(h²))
    errs = []
    for n in (16, 32, 64):
        g = fp.Grid.uniform(0.0, np.pi, n)
        errs.append(abs(g.integrate(np.sin(g.axes[0])) - 2.0))
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.01)


def test_integrate_2d_gaussian_and_batches():
    g = fp.Grid.uniform((-8.0, -8.0), (8.0, 8.0), (128, 128))
    p0 = fp.GaussianMixture([1.0], [[0.3, -0.2]], [[[1.0, 0.4], [0.4, 0.8]]])
    p = g.sample_on(p0.pdf)
    assert g.integrate(p) == pytest.approx(1.0, abs=1e-10)
    batch = np.stack([p, 2 * p])
    np.testing.assert_allclose(g.integrate(batch), [1.0, 2.0], atol=1e-10)


def test_integrate_rejects_wrong_shape():
    g = fp.Grid.uniform(0.0, 1.0, 10)
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        g.integrate(np.ones(11))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lo": 1.0, "hi": 0.0, "n": 10}, "lo must be < hi"),
        ({"lo": 0.0, "hi": 1.0, "n": 2}, "n must be >= 3"),
        ({"lo": 0.0, "hi": float("inf"), "n": 10}, "hi must be finite"),
        ({"lo": 0.0, "hi": 1.0, "n": 10.0}, "n must be an integer"),
        ({"lo": "a", "hi": 1.0, "n": 10}, "lo must be real"),
        ({"lo": (0, 0, 0), "hi": (1, 1, 1), "n": 4}, "1-D or 2-D"),
        ({"lo": (0, 0), "hi": (1,), "n": 4}, "same length"),
    ],
)
def test_uniform_rejects_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        fp.Grid.uniform(**kwargs)


@pytest.mark.parametrize("name", ["line", "square", "halfline"])
def test_shipped_grid_specs_load(name):
    g = fp.load_grid(ROOT / "grids" / f"{name}.toml")
    assert g.size >= 512


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("lo = -1.0\nhi = 1.0\nn = 10\nnn = 3\n", "unknown key 'nn'"),
        ("lo = 1.0\nhi = -1.0\nn = 10\n", "'lo'.*lo must be < hi"),
        ("lo = -1.0\nhi = 1.0\nn = 2\n", "'n'.*>= 3"),
        ("lo = -1.0\nhi = 1.0\nn = 'ten'\n", "key 'n' has the wrong type"),
        ("lo = -1.0\nhi = 1.0\n", "missing key 'n'"),
        ("lo = -1.0\nhi = inf\nn = 10\n", "'hi'.*finite"),
        ("lo = -1.0\nhi = 1.0\nn = 10.5\n", "key 'n' has the wrong type"),
        ("lo = [-1.0, -1.0]\nhi = [1.0, 1.0, 1.0]\nn = 8\n", "same length"),
        ("lo = -1.0\nhi = [1.0\n", "not valid TOML"),
    ],
)
def test_bad_grid_spec_names_file_and_key(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        fp.load_grid(path)
    assert str(path) in str(info.value)


def test_missing_grid_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        fp.load_grid(tmp_path / "nope.toml")


@settings(max_examples=40, deadline=None)
@given(
    lo=st.floats(-100, 100),
    width=st.floats(1e-3, 100),
    n=st.integers(3, 500),
)
def test_grid_properties_hold_for_any_box(lo, width, n):
    g = fp.Grid.uniform(lo, lo + width, n)
    x = g.axes[0]
    assert x.shape == (n,)
    assert np.all(np.diff(x) > 0)
    assert x[0] > lo and x[-1] < lo + width
    assert g.integrate(np.ones(n)) == pytest.approx(width, rel=1e-12)
    np.testing.assert_allclose(np.diff(x), g.dx, rtol=1e-9, atol=1e-12 * max(1.0, abs(lo)))


def test_histogram_is_a_density_over_the_samples_inside(rng):
    g = fp.Grid.uniform(-3.0, 3.0, 30)
    x = rng.normal(size=(5000, 1)) * 2.0
    ref, _ = np.histogram(x[x[:, 0] <= 3.0][:, 0], bins=g.edges[0], density=True)
    np.testing.assert_allclose(g.histogram(x), ref, rtol=1e-12)
    g2 = fp.Grid.uniform((-2.0, -1.0), (2.0, 3.0), (8, 16))
    h2 = g2.histogram(rng.uniform(-3.0, 3.0, size=(2000, 2)))
    assert h2.shape == g2.shape
    assert g2.integrate(h2) == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_array_equal(g.histogram(np.full((4, 1), 10.0)), 0.0)
    with pytest.raises(ValueError, match=r"shape \(n, 1\)"):
        g.histogram(np.zeros((3, 2)))


# -- degenerate and huge grids (issue 13) -------------------------------------------------------
@pytest.mark.parametrize(
    ("lo", "hi", "n", "match"),
    [
        (0.0, 1e-300, 10, "cells are too small"),  # was accepted, then ZeroDivisionError
        (1e6, 1e6 + 1e-9, 10, "cells are too small"),  # centres not distinct at this magnitude
        (-1e308, 1e308, 10, "finite hi - lo"),
        (0.0, 1.0, 10**11, r"n=100000000000 needs about .* GiB.*lower n"),
        ((0.0, 0.0), (1.0, 1.0), (10**6, 10**6), r"needs about .* GiB"),
    ],
)
def test_degenerate_or_huge_grid_is_refused_naming_the_argument(lo, hi, n, match):
    with pytest.raises(ValueError, match=match):
        fp.Grid.uniform(lo, hi, n)


def test_grid_spec_errors_list_the_allowed_keys_not_a_missing_readme(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text("lo = 0.0\nhi = 1.0\nn = 8\nname = 3\n")
    with pytest.raises(fp.ConfigError) as info:
        fp.load_grid(path)
    assert "README" not in str(info.value)
