"""Independent audit of the plugin API, ``fplab.testing`` and the textbook-claims study.

Written from API.md / docs/plugins.md / docs/claims.md the way an outside researcher would use
them: a plugin module in a temporary folder, loaded by ``--plugin`` and by a spec's ``plugins``,
checked with ``fplab.testing``; the claims are re-derived here from closed forms.
"""

from __future__ import annotations

import json
import math
import re
import textwrap

import numpy as np
import pytest

import fplab as fp
import fplab.testing as ft
from fplab.cli import main
from fplab.errors import NumericalError
from fplab.mc import MC_METHODS
from fplab.metrics import METRICS
from fplab.plugins import forget_plugin, load_plugins, loaded_plugins
from fplab.reverse import SAMPLERS

#: a plugin with a correct Heun sampler, an Euler sampler that claims order 2, a NumPy EM
#: step, an SDE class and a metric; NAME_ makes the registry keys unique per test
AUDIT_PLUGIN = '''
"""Audit plugin (a test fixture)."""
from __future__ import annotations

import numpy as np

import fplab as fp


@fp.register_sampler("NAME-heun", order=2, deterministic=True)
def heun(ctx, x, t, s, rng):
    """Heun on the probability-flow ODE: predictor Euler, trapezoidal corrector."""
    h = t - s
    k1 = ctx.velocity(x, t)
    k2 = ctx.velocity(x - h * k1, s)
    return x - 0.5 * h * (k1 + k2)


@fp.register_sampler("NAME-fake", order=2, deterministic=True)
def fake(ctx, x, t, s, rng):
    """Explicit Euler, declared order 2 (wrong on purpose)."""
    return x - (t - s) * ctx.velocity(x, t)


@fp.register_mc_method("NAME-em", strong_order={"additive": 1.0, "multiplicative": 0.5},
                       weak_order=1.0)
def em(x, h, dw, dz, F, G, Gx):
    """Euler-Maruyama in NumPy."""
    return x + F(x, 0) * h + G(x, 0) * dw


@fp.register_sde("NAME-ou")
class PluginOU(fp.OU):
    """fplab's OU under another name."""


@fp.register_metric("NAME-l1")
def l1(p, q, grid):
    """L1 distance of two densities on a grid."""
    return float(np.sum(np.abs(p - q)) * grid.cell_volume)
'''

SPEC = """
kind = "reverse"
title = "audit: plugin samplers against built-ins"
seed = 0
plugins = ["MODULE"]

[problem]
sde = "vp"
params = { beta_min = 0.1, beta_max = 20.0, T = 1.0 }
p0 = { weights = [0.4, 0.6], means = [[-2.0], [1.5]], covs = [[[0.5]], [[0.3]]] }

[sweep]
param = "n_steps"
compare = COMPARE
quick = [16, 32, 64, 128]

[measure]
reference = "fine"

[options]
n_samples = 200
start = "quantiles"
reference_factor = 4

[expect]
tolerance = 0.15
"""


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules; plugins loaded in the test are forgotten."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = {p.module for p in loaded_plugins()}
    yield folder
    for info in loaded_plugins():
        if info.module not in before:
            forget_plugin(info.module)


def write_module(folder, module, text):
    (folder / f"{module}.py").write_text(textwrap.dedent(text))
    return module


def audit_plugin(folder, module, name):
    return write_module(folder, module, AUDIT_PLUGIN.replace("NAME", name))


# -- bad plugins and bad registrations --------------------------------------------------------
STEP = "def f(ctx, x, t, s, rng):\n    return x\n"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("import no_such_module_xyz\n", r"cannot import it \(ModuleNotFoundError"),
        (
            "import fplab as fp\n@fp.register_sampler('pf-ode-euler', order=1, "
            f"deterministic=True)\n{STEP}",
            r"'pf-ode-euler' is registered twice \(it exists already, built-in\)",
        ),
        (
            f"import fplab as fp\n@fp.register_sampler('bad-o', order=0, deterministic=True)\n{STEP}",
            r"order must be a positive number .* got 0",
        ),
        (
            "import fplab as fp\n@fp.register_sampler('bad-o', order=float('nan'), "
            f"deterministic=True)\n{STEP}",
            r"order must be a positive number .* got nan",
        ),
        (
            f"import fplab as fp\n@fp.register_sampler('bad-o', order='2', deterministic=True)\n{STEP}",
            r"order must be a positive number .* got '2'",
        ),
        (
            "import fplab as fp\n@fp.register_mc_method('bad-m', strong_order=-1, weak_order=1)\n"
            "def f(x, h, dw, dz, F, G, Gx):\n    return x\n",
            r"strong_order must be a positive number .* got -1",
        ),
        (
            "import fplab as fp\n@fp.register_sampler('Bad Name', order=1, deterministic=True)\n"
            + STEP,
            r"'Bad Name' is not a registry key; allowed: lower-case kebab",
        ),
    ],
)
def test_bad_plugin_exits_2_naming_the_module_and_leaves_nothing_registered(
    plugin_dir, capsys, body, problem
):
    # a good entry before the bad one must be rolled back
    module = write_module(
        plugin_dir,
        "aud_bad",
        "import fplab as fp\n@fp.register_sampler('aud-ok', order=1, deterministic=True)\n"
        f"{STEP}\n{body}",
    )
    assert main(["list", "--plugin", module]) == 2
    err = capsys.readouterr().err
    assert "plugin 'aud_bad' (--plugin): " in err
    assert re.search(problem, err), err
    assert "aud-ok" not in SAMPLERS and "bad-o" not in SAMPLERS


@pytest.mark.parametrize(
    "name", ["", "My-Sampler", "my sampler", "my_sampler", "-x", "x-", "a--b", "x.y", "x/y", "é"]
)
def test_register_rejects_names_that_are_not_kebab_keys_before_decorating(name):
    for register in (
        lambda: fp.register_sampler(name, order=1, deterministic=True),
        lambda: fp.register_mc_method(name, strong_order=1, weak_order=1),
        lambda: fp.register_sde(name),
        lambda: fp.register_metric(name),
        lambda: fp.register_study_kind(name),
    ):
        with pytest.raises(ValueError, match="is not a registry key; allowed: lower-case kebab"):
            register()
    for reg in (SAMPLERS, MC_METHODS, fp.SDES, METRICS):
        assert name not in reg


def test_register_rejects_non_string_names_and_non_callables():
    with pytest.raises(TypeError, match="sampler name must be a string, got int"):
        fp.register_sampler(5, order=1, deterministic=True)
    with pytest.raises(TypeError, match="'aud-nc': the decorated object must be a function"):
        fp.register_sampler("aud-nc", order=1, deterministic=True)(5)
    with pytest.raises(TypeError, match="must take the arguments"):
        fp.register_sampler("aud-nc", order=1, deterministic=True)(lambda x: x)
    with pytest.raises(TypeError, match="the decorated object must be a function"):
        fp.register_mc_method("aud-nc", strong_order=1, weak_order=1)(None)
    with pytest.raises(TypeError, match=r"decorates a subclass of fplab\.SDE"):
        fp.register_sde("aud-nc")(int)
    with pytest.raises(TypeError, match="decorates a function"):
        fp.register_metric("aud-nc")(3.0)
    with pytest.raises(TypeError, match="decorates a StudyKind subclass"):
        fp.register_study_kind("aud-nc")(object)
    with pytest.raises(ValueError, match="stages must be an iterable of numbers in"):
        fp.register_mc_method("aud-nc", strong_order=1, weak_order=1, stages=["a"])
    assert all("aud-nc" not in r for r in (SAMPLERS, MC_METHODS, fp.SDES, METRICS))


def test_user_sampler_returning_wrong_shape_or_nan_names_sampler_and_step():
    @fp.register_sampler("aud-shape", order=1, deterministic=True)
    def shape(ctx, x, t, s, rng):
        return x[:, 0]

    @fp.register_sampler("aud-nan", order=1, deterministic=True)
    def nan(ctx, x, t, s, rng):
        return x * np.nan if s < 0.5 else x

    try:
        sde = fp.OU()  # defined down to t = 0, so four steps of 1/4 from 1 to 0
        score = fp.exact_score(sde, fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]]))
        x = np.zeros((4, 1))
        with pytest.raises(
            ValueError,
            match=r"sampler 'aud-shape' returned shape \(4,\) at the step t=1 -> s=0\.75",
        ):
            fp.sample_reverse(sde, score, x, n_steps=4, method="aud-shape", t_end=0.0)
        with pytest.raises(
            NumericalError, match=r"sampler 'aud-nan' returned 4 non-finite .* t=0\.5 -> s=0\.25"
        ):
            fp.sample_reverse(sde, score, x, n_steps=4, method="aud-nan", t_end=0.0)
    finally:
        SAMPLERS.remove("aud-shape")
        SAMPLERS.remove("aud-nan")


