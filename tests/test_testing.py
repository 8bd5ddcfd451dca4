"""fplab.testing: assert_order, check_sampler, check_mc_method and the pytest plugin."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fplab.testing as ft
from fplab.mc import MC_METHODS
from fplab.reverse import SAMPLERS

ROOT = Path(__file__).resolve().parent.parent


def test_assert_order_passes_an_exact_power_law_and_returns_the_fit():
    h = [0.1, 0.05, 0.025, 0.0125]
    fit = ft.assert_order(h, [3.0 * v**2 for v in h], 2)
    assert abs(fit.order - 2.0) < 1e-12


def test_assert_order_failure_shows_the_table():
    h = [0.1, 0.05, 0.025, 0.0125]
    err = [3.0 * v**2 * (1 + 0.01 * i) for i, v in enumerate(h)]
    with pytest.raises(AssertionError) as info:
        ft.assert_order(h, err, 1.0, label="demo")
    msg = str(info.value)
    assert msg.startswith("demo: observed order 1.986")
    assert "local slope" in msg and "95% interval" in msg
    # one row per level, coarsest first, with the local slope log(e0/e1)/log(h0/h1)
    slope = np.log(err[0] / err[1]) / np.log(2.0)
    assert f"{slope:.3f}" in msg.splitlines()[3]


def euler_step(ctx, x, t, s, rng):
    """Explicit Euler on the probability-flow ODE, x_s = x_t - (t - s) v(x_t, t)."""
    return x - (t - s) * ctx.velocity(x, t)


def test_check_sampler_rejects_euler_declared_order_2_and_accepts_order_1():
    with pytest.raises(AssertionError, match=r"observed order 1\.0\d* .* expected order 2"):
        ft.check_sampler(euler_step, expected_order=2)
    fit = ft.check_sampler(euler_step, expected_order=1)
    assert abs(fit.order - 1.0) < 0.1  # measured 1.042 [1.021, 1.063]
    assert not any(k.startswith("check-sampler") for k in SAMPLERS)  # temporary entry removed


def em_step(x, h, dw, dz, F, G, Gx):
    """Euler-Maruyama, x + f h + g dW."""
    return x + F(x, 0) * h + G(x, 0) * dw


def test_check_mc_method_measures_euler_maruyama_strong_one_half_on_gbm():
    fit = ft.check_mc_method(em_step, expected_order=0.5, kind="strong", n_paths=4000)
    assert abs(fit.order - 0.5) < 0.1
    with pytest.raises(AssertionError, match="expected order 1"):
        ft.check_mc_method(em_step, expected_order=1.0, kind="strong", n_paths=4000)
    assert not any(k.startswith("check-mc-method") for k in MC_METHODS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [k for k, s in SAMPLERS.items() if s.deterministic and not s.adaptive]
)
def test_check_sampler_confirms_every_deterministic_sampler_order(name):
    # pathwise against the adaptive reference: ~0.5 s each (the stochastic samplers' weak orders
    # take 4-8 s each here and are covered by tests/test_reverse_orders.py; one is checked below)
    fit = ft.check_sampler(name)
    assert np.isfinite(fit.order)


@pytest.mark.slow
def test_check_sampler_weak_mode_on_euler_maruyama():
    # 50_000 samples keep the Monte-Carlo standard error of E x^2 near 0.01, below the finest
    # level's weak error ~0.04 (n = 64); measured 1.03 [0.94, 1.11] with 200_000
    fit = ft.check_sampler("euler-maruyama", n_samples=50_000)
    assert fit.err_stderr is not None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["strong", "weak"])
@pytest.mark.parametrize("name", [k for k in MC_METHODS if k != "exact"])
def test_check_mc_method_confirms_every_declared_method_order(name, kind):
    ft.check_mc_method(name, kind=kind)


@pytest.mark.slow
def test_pytest_plugin_offers_every_reference_problem_as_a_fixture(tmp_path):
    names = [f"fplab_{n.replace('-', '_')}" for n in ft.REFERENCE_PROBLEMS]
    body = "\n".join(
        [f"def test_{n}({n}):\n    assert {n}.name.replace('-', '_') == '{n[6:]}'" for n in names]
    )
    (tmp_path / "test_fixtures.py").write_text(textwrap.dedent(body) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:fplab",
            "-p",
            "fplab.testing.pytest_plugin",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_fixtures.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(names)} passed" in proc.stdout
