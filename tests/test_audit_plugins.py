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
from fplab.plugins import forget_plugin, load_plugins, loaded_plugins, plugin_fingerprint
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


# -- registration, origin, list -----------------------------------------------------------------
def test_plugin_entries_register_everywhere_and_list_marks_their_origin(plugin_dir, capsys):
    load_plugins([audit_plugin(plugin_dir, "aud_one", "aud1")])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for key in ("aud1-heun", "aud1-fake", "aud1-em", "aud1-ou", "aud1-l1"):
        line = next(ln for ln in out.splitlines() if ln.split()[:1] == [key])
        assert "[plugin aud_one]" in line, line
    assert fp.SDES.origin("aud1-ou") == "plugin aud_one"
    # the plugin metric is the L1 distance: between N(0, 1) and N(1, 1) it is 2(2Φ(1/2) - 1)
    grid = fp.Grid.uniform(-12.0, 12.0, 4000)
    (x,) = grid.axes
    p = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    q = np.exp(-0.5 * (x - 1.0) ** 2) / math.sqrt(2 * math.pi)
    want = 2.0 * math.erf(0.5 / math.sqrt(2.0))
    # midpoint rule of a smooth integrand with a kink at x = 1/2: error O(dx^2) ~ 4e-5
    assert METRICS.get("aud1-l1")(p, q, grid) == pytest.approx(want, abs=1e-4)


def test_plugin_heun_step_equals_the_builtin_heun(plugin_dir):
    load_plugins([audit_plugin(plugin_dir, "aud_two", "aud2")])
    sde = fp.VP()
    p0 = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
    x_t = fp.exact_marginal(sde, p0, 1.0).sample(40, seed=1)
    score = fp.exact_score(sde, p0)
    got = fp.sample_reverse(sde, score, x_t, n_steps=9, method="aud2-heun")
    want = fp.sample_reverse(sde, score, x_t, n_steps=9, method="pf-ode-heun")
    # the same formula in a different order of operations: round-off only
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# -- a study comparing plugin and built-in samplers (CLI) -------------------------------------
@pytest.mark.slow
def test_plugin_study_caches_reruns_after_edit_and_judges_declared_orders(
    plugin_dir, tmp_path, capsys
):
    module = audit_plugin(plugin_dir, "aud_study", "aud3")
    spec = tmp_path / "good.toml"
    spec.write_text(
        SPEC.replace("MODULE", module).replace("COMPARE", '["aud3-heun", "pf-ode-heun"]')
    )
    out, cache = str(tmp_path / "out"), str(tmp_path / "cache")
    assert main(["run", str(spec), "--out", out, "--cache", cache]) == 0
    first = capsys.readouterr().out
    assert "8 cases (0 cached, 8 run, 0 failed)" in first
    assert "claims: 2 checked, 2 passed, 0 failed" in first
    assert main(["run", str(spec), "--out", out, "--cache", cache]) == 0
    assert "(8 cached, 0 run" in capsys.readouterr().out
    # provenance: module, source, 16-hex source hash and the entries the plugin added
    (meta,) = (tmp_path / "out").rglob("meta.json")
    (prov,) = json.loads(meta.read_text())["plugins"]
    assert prov["module"] == module and prov["source"] == f"spec {spec}"
    assert re.fullmatch(r"[0-9a-f]{16}", prov["hash"])
    assert ["method", "aud3-heun"] in prov["entries"] and ["sde", "aud3-ou"] in prov["entries"]
    # an edit of the plugin's source reruns exactly its 4 cases; a new process would re-import
    # it, here it is forgotten and the spec's plugins key loads it afresh
    with open(plugin_dir / f"{module}.py", "a") as fh:
        fh.write("\n# edited\n")
    forget_plugin(module)
    assert main(["run", str(spec), "--out", out, "--cache", cache]) == 0
    assert "(4 cached, 4 run" in capsys.readouterr().out
    # Euler declared order 2 fails its order claim (exit 1); the built-in Euler passes
    bad = tmp_path / "bad.toml"
    bad.write_text(
        SPEC.replace("MODULE", module).replace("COMPARE", '["aud3-fake", "pf-ode-euler"]')
    )
    assert main(["run", str(bad), "--out", out, "--cache", cache]) == 1
    text = capsys.readouterr().out
    assert "claims: 2 checked, 1 passed, 1 failed" in text
    assert "order[aud3-fake]" in text


def test_editing_a_helper_module_that_defines_the_entries_changes_the_cache_key(plugin_dir):
    # a one-file plugin whose entries live in a sibling module: the hash used to cover only the
    # named module, so an edit of the sampler's code kept the cached results
    write_module(plugin_dir, "aud_split", "import aud_split_impl  # noqa: F401\n")
    impl = (
        "import fplab as fp\n"
        "@fp.register_sampler('aud-split', order=1, deterministic=True)\n"
        "def step(ctx, x, t, s, rng):\n    return x - (t - s) * ctx.velocity(x, t)\n"
    )
    write_module(plugin_dir, "aud_split_impl", impl)
    (info,) = load_plugins(["aud_split"])
    key = plugin_fingerprint("reverse", {"compare": ["aud-split"]})
    assert key == {"aud_split": info.hash}
    forget_plugin("aud_split")
    forget_plugin("aud_split_impl")
    write_module(plugin_dir, "aud_split_impl", impl.replace("(t - s)", "(t - s) * 1.0"))
    (info2,) = load_plugins(["aud_split"])
    assert info2.entries == (("method", "aud-split"),)
    assert plugin_fingerprint("reverse", {"compare": ["aud-split"]}) != key


def test_spec_reference_that_does_not_resolve_exits_2_naming_file_and_key(
    plugin_dir, tmp_path, capsys
):
    module = audit_plugin(plugin_dir, "aud_ref", "aud4")
    spec = tmp_path / "ref.toml"
    text = SPEC.replace("MODULE", module).replace("COMPARE", '["pf-ode-euler"]')
    text = text.replace(
        'sde = "vp"\n', 'sde = { drift = "aud_ref:no_such_drift", diffusion = 1.0, dim = 1 }\n'
    )
    spec.write_text(text)
    out, cache = str(tmp_path / "out"), str(tmp_path / "cache")
    assert main(["run", str(spec), "--out", out, "--cache", cache]) == 2
    err = capsys.readouterr().err
    assert f"{spec}: problem.sde.drift: cannot import 'aud_ref:no_such_drift'" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


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


def test_failed_plugin_rolls_back_a_sampler_and_an_mc_method_of_the_same_name(plugin_dir):
    # SAMPLERS and MC_METHODS share the label 'method': the rollback used to remove only the
    # first 'dual' it found and left the sampler registered after the import failed
    module = write_module(
        plugin_dir,
        "aud_dual",
        "import fplab as fp\n"
        f"@fp.register_sampler('aud-dual', order=1, deterministic=True)\n{STEP}\n"
        "@fp.register_mc_method('aud-dual', strong_order=0.5, weak_order=1)\n"
        "def m(x, h, dw, dz, F, G, Gx):\n    return x\n\n"
        "raise RuntimeError('late failure')\n",
    )
    with pytest.raises(fp.ConfigError, match="raised RuntimeError while it was imported"):
        load_plugins([module])
    assert "aud-dual" not in SAMPLERS and "aud-dual" not in MC_METHODS
    # loaded without the failure, forget_plugin removes both as well
    text = (plugin_dir / f"{module}.py").read_text().replace("raise RuntimeError", "# raise")
    (plugin_dir / f"{module}.py").write_text(text)
    (info,) = load_plugins([module])
    assert ("method", "aud-dual") in info.entries
    assert "aud-dual" in SAMPLERS and "aud-dual" in MC_METHODS
    forget_plugin(module)
    assert "aud-dual" not in SAMPLERS and "aud-dual" not in MC_METHODS


def test_a_plugin_package_loads_after_its_import_failure_is_fixed(plugin_dir):
    # a package whose submodule registers a sampler and whose __init__ then fails: the
    # submodule stayed in sys.modules, so after the fix the retry found it imported and the
    # sampler (rolled back) never came back
    pkg = plugin_dir / "aud_pkg"
    pkg.mkdir()
    (pkg / "samplers.py").write_text(
        f"import fplab as fp\n@fp.register_sampler('aud-pkg', order=1, deterministic=True)\n{STEP}"
    )
    (pkg / "__init__.py").write_text("from . import samplers\nraise RuntimeError('not yet')\n")
    with pytest.raises(fp.ConfigError, match="raised RuntimeError while it was imported"):
        load_plugins(["aud_pkg"])
    assert "aud-pkg" not in SAMPLERS
    (pkg / "__init__.py").write_text("from . import samplers  # fixed\n")
    (info,) = load_plugins(["aud_pkg"])
    assert info.entries == (("method", "aud-pkg"),)
    assert SAMPLERS.origin("aud-pkg") == "plugin aud_pkg.samplers"


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


# -- fplab.testing ----------------------------------------------------------------------------
def test_assert_order_on_synthetic_power_laws():
    h = np.array([0.1, 0.05, 0.025, 0.0125])
    # e = C h^2 (1 + h): order 2 with a known pre-asymptotic curvature; slopes 2.06, 2.03, 2.02
    err = 3.0 * h**2 * (1.0 + h)
    fit = ft.assert_order(h, err, 2.0)
    assert fit.ci[0] <= fit.order <= fit.ci[1]
    assert 2.0 < fit.order < 2.1
    with pytest.raises(AssertionError) as info:
        ft.assert_order(h, err, 1.0, label="synthetic")
    text = str(info.value)
    assert text.startswith("synthetic: observed order 2.0")
    assert "does not match the expected order 1 within tol=0.15" in text
    assert "local slope" in text and "fitted order" in text
    assert len([ln for ln in text.splitlines() if ln.strip().startswith(("0.1", "0.05"))]) == 2
    # the tolerance widens the interval: 2.3 is outside [lo - 0.15, hi + 0.15] but inside
    # [lo - 0.5, hi + 0.5]
    with pytest.raises(AssertionError):
        ft.assert_order(h, err, 2.3)
    ft.assert_order(h, err, 2.3, tol=0.5)


def test_assert_order_refuses_input_that_would_make_it_unfailable_or_unclear():
    # two levels fit exactly: interval (-inf, inf), so every expected order used to pass
    with pytest.raises(ValueError, match="at least 3 steps"):
        ft.assert_order([0.1, 0.05], [4e-2, 1e-2], 7.0)
    h, err = [0.1, 0.05, 0.025], [4e-2, 1e-2, 2.5e-3]
    with pytest.raises(ValueError, match="tol must be >= 0"):
        ft.assert_order(h, err, 2.0, tol=-1.0)  # used to be an AssertionError
    with pytest.raises(ValueError, match="expected must be finite"):
        ft.assert_order(h, err, float("nan"))  # used to name observed_order's 'p'
    with pytest.raises(TypeError, match="expected must be a real number"):
        ft.assert_order(h, err, "2")
    with pytest.raises(ValueError, match="steps and errors must have the same length, got 3 and 2"):
        ft.assert_order(h, err[:2], 2.0)
    with pytest.raises(ValueError, match="must be > 0"):
        ft.assert_order(h, [4e-2, 0.0, 2.5e-3], 2.0)
    with pytest.raises(ValueError, match="at least 3 distinct step counts"):
        ft.check_mc_method("euler-maruyama", expected_order=0.5, n_steps=(8, 16))


def euler_step(ctx, x, t, s, rng):
    """Explicit Euler on the probability-flow ODE (a bare step function)."""
    return x - (t - s) * ctx.velocity(x, t)


def em_sampler_step(ctx, x, t, s, rng):
    """Reverse Euler–Maruyama (a bare stochastic step function)."""
    h = t - s
    drift, g = ctx.reverse_drift(x, t)  # a tuple: the drift (n, d) and the noise amplitude
    return x - h * drift + g * math.sqrt(h) * rng.standard_normal(x.shape)


def test_check_sampler_with_names_and_bare_functions():
    fit = ft.check_sampler("pf-ode-heun")
    assert fit.ci[0] - 0.15 <= 2.0 <= fit.ci[1] + 0.15
    assert fit.order == pytest.approx(1.971, abs=0.05)  # docs/plugins.md's table (n = 32…256)
    with pytest.raises(TypeError, match="expected_order is required"):
        ft.check_sampler(euler_step)
    fit = ft.check_sampler(euler_step, expected_order=1)
    assert fit.order == pytest.approx(1.020, abs=0.03)
    with pytest.raises(AssertionError, match="does not match the expected order 2"):
        ft.check_sampler(euler_step, expected_order=2)
    # a temporary registration leaves neither a registry entry nor attributes behind
    assert not any(n.startswith("check-sampler-") for n in SAMPLERS)
    assert not hasattr(euler_step, "order") and not hasattr(euler_step, "registry_name")
    # a user problem: VE with a Gaussian p0
    sde = fp.VE(sigma_min=0.01, sigma_max=5.0)
    p0 = fp.GaussianMixture([1.0], [[0.5]], [[[0.2]]])
    fit = ft.check_sampler("pf-ode-heun", sde=sde, p0=p0)
    assert fit.ci[0] - 0.15 <= 2.0 <= fit.ci[1] + 0.15


def test_check_sampler_weak_with_a_bare_stochastic_step():
    # 40000 samples: MC standard error of E x^2 ~ 1e-2 / sqrt(4) , enough for h = 1/8 .. 1/32
    fit = ft.check_sampler(
        em_sampler_step, expected_order=1, kind="weak", n_samples=40_000, n_steps=(4, 8, 16, 32)
    )
    assert fit.ci[0] - 0.15 <= 1.0 <= fit.ci[1] + 0.15
    with pytest.raises(ValueError, match="kind must be 'pathwise' or 'weak'"):
        ft.check_sampler("ddpm", kind="strong")


def mc_em_step(x, h, dw, dz, F, G, Gx):
    """Euler–Maruyama (a bare NumPy MC step)."""
    return x + F(x, 0) * h + G(x, 0) * dw


def test_check_mc_method_with_names_and_bare_functions():
    fit = ft.check_mc_method("euler-maruyama", kind="strong")
    assert fit.order == pytest.approx(0.474, abs=0.03)  # docs/plugins.md: GBM, 0.474
    fit = ft.check_mc_method("milstein", kind="weak")
    assert fit.ci[0] - 0.15 <= 1.0 <= fit.ci[1] + 0.15
    # a bare function declares nothing: the expected order must be given (it used to be a
    # silent placeholder 1.0, which failed EM's strong check with a misleading 'expected 1')
    with pytest.raises(TypeError, match="expected_order is required"):
        ft.check_mc_method(mc_em_step)
    fit = ft.check_mc_method(mc_em_step, expected_order=0.5)
    assert fit.order == pytest.approx(0.474, abs=0.03)
    fit = ft.check_mc_method(mc_em_step, expected_order=1.0, kind="weak")
    assert fit.order == pytest.approx(1.0, abs=0.05)
    assert not any(n.startswith("check-mc-method-") for n in MC_METHODS)
    assert not hasattr(mc_em_step, "registry_name")
    with pytest.raises(ValueError, match="x0 is required with a user sde"):
        ft.check_mc_method("heun", sde=fp.OU())
    fit = ft.check_mc_method("heun", kind="weak", sde=fp.OU(theta=2.0), x0=[1.0])
    assert fit.ci[0] - 0.15 <= 2.0 <= fit.ci[1] + 0.15


def test_check_mc_method_uses_the_sde_dependent_declared_order():
    # heun-frozen-g's table says weak 1, but Method.order says 2 when g is constant in t; the
    # table value used to be asserted on every problem, so on OU it failed with 'expected 1'
    # (observed 2.183 [2.012, 2.354])
    ou = fp.OU(theta=1.0, mu=0.5, sigma=0.8)
    fit = ft.check_mc_method("heun-frozen-g", kind="weak", sde=ou, x0=[1.5])
    assert fit.contains(2.0, tol=0.15)
    # default weak problem (VP, β 0.1 -> 4, g depends on t): declared 1, measured 1.18
    # [1.05, 1.31]; 2 is excluded
    fit = ft.check_mc_method("heun-frozen-g", kind="weak")
    assert not fit.contains(2.0, tol=0.15)
    # VP with β 0.1 -> 20 from 0: the frozen noise is a left Riemann sum of ∫g², weak order 1;
    # pre-asymptotic (local slopes 1.34, 1.20, 1.11 at n = 80..640), 1.21 [1.05, 1.37]
    fit = ft.check_mc_method(
        "heun-frozen-g", kind="weak", sde=fp.VP(), x0=[0.0], n_steps=(80, 160, 320, 640)
    )
    assert not fit.contains(2.0, tol=0.15)


def wrong_shape_step(ctx, x, t, s, rng):
    """Drops the state's last axis (a bug under test)."""
    return x[:, 0]


def nan_mc_step(x, h, dw, dz, F, G, Gx):
    """Returns NaN (a bug under test)."""
    return x * np.nan


def test_check_errors_name_the_users_step_function_not_the_temporary_key():
    # they used to say "sampler 'check-sampler-0' returned shape (200,) ..."
    with pytest.raises(ValueError, match=r"^sampler 'wrong_shape_step' returned shape \(200,\) at"):
        ft.check_sampler(wrong_shape_step, expected_order=1)
    with pytest.raises(NumericalError, match=r"^method 'nan_mc_step' returned 20000 non-finite"):
        ft.check_mc_method(nan_mc_step, expected_order=1)
    assert not any(n.startswith("check-") for n in [*SAMPLERS, *MC_METHODS])


def test_check_sampler_refuses_adaptive_or_pathwise_stochastic_samplers_and_bad_levels():
    # used to fit an 'order' 0.02 of a path that never approaches the ODE and fail with a table
    with pytest.raises(ValueError, match="'euler-maruyama' is stochastic: use kind='weak'"):
        ft.check_sampler("euler-maruyama", kind="pathwise")
    # adaptive samplers have no fixed-step order: pf-ode-adaptive 'fitted' 0.001 against its
    # declared 5, adaptive-sde -0.52 after 65 s
    for name in ("pf-ode-adaptive", "adaptive-sde"):
        with pytest.raises(ValueError, match=f"'{name}' is adaptive: .* no fixed-step order"):
            ft.check_sampler(name)
    # used to be a ZeroDivisionError
    with pytest.raises(ValueError, match="n_steps must be >= 1, got 0"):
        ft.check_sampler("pf-ode-euler", n_steps=(0, 8, 16))
    with pytest.raises(ValueError, match="at least 3 distinct step counts, got \\[8, 8, 16\\]"):
        ft.check_sampler("pf-ode-euler", n_steps=(8, 8, 16))
    with pytest.raises(TypeError, match=r"n_steps must be an integer, got float 8\.0"):
        ft.check_mc_method("euler-maruyama", n_steps=(8.0, 16, 32))
    with pytest.raises(TypeError, match="n_steps must be a sequence of step counts, got int"):
        ft.check_mc_method("euler-maruyama", n_steps=32)


# -- the claims study -------------------------------------------------------------------------
CLAIM_IDS = [
    "em-strong-half", "em-exact-linear", "sde-weak-sqrt-dt", "heun-frozen-g-weak-2",
    "pf-ode-divergence-free", "fisher-monotone", "entropy-integral", "kl-decay-fisher",
    "bounded-sde-range", "cubic-drift-multimodal", "stationary-ou-reverse-sign",
    "brownian-heat-limit", "backward-heat-infinite", "subvp-std", "ve-second-moment",
    "cosine-beta", "ode-vs-sde-steps", "sde-covers-modes", "pc-better", "w2-bound-rates",
    "ode-sde-same-law", "dsm-target", "score-vanishes", "stationary-zero-flux",
    "flow-matching-straight", "ddpm-chain-limit",
]  # fmt: skip


def run_claim(claim_id):
    from fplab.claims import CLAIMS

    return CLAIMS.get(claim_id).measure("quick", 0)


def test_claims_registry_has_the_26_documented_ids():
    from fplab.claims import CLAIMS

    assert CLAIMS.names() == sorted(CLAIM_IDS)


def test_em_exact_linear_value_is_the_closed_form_of_10_em_steps():
    # OU θ = 1, σ² = 2, from N(2, 0.5), h = 0.1: EM multiplies by a = 1 - h and adds σ²h each
    # step, so Var_EM = 0.5 a^20 + 2h Σ_k a^(2k); exact Var = 0.5 e^-2 + 1 - e^-2
    a, h = 0.9, 0.1
    var_em = 0.5 * a**20 + 2 * h * sum(a ** (2 * k) for k in range(10))
    var = 0.5 * math.exp(-2) + 1 - math.exp(-2)
    mean_err = abs(2 * a**10 - 2 * math.exp(-1))
    want = max(abs(var_em / var - 1), mean_err)  # 0.05697
    got = run_claim("em-exact-linear")
    assert got.verdict == "fails"
    assert got.value == pytest.approx(want, rel=1e-10)


def test_subvp_std_and_cosine_beta_against_closed_forms():
    # sub-VP with β(t) = 0.1 + 19.9 t: ∫β over [0, 0.3] = 0.03 + 19.9 · 0.045
    big_b = 0.1 * 0.3 + 0.5 * 19.9 * 0.3**2
    got = run_claim("subvp-std")
    assert got.verdict == "fails"
    assert got.numbers["sub_vp_formula"] == pytest.approx(1 - math.exp(-big_b), rel=1e-12)
    assert got.numbers["claimed"] == pytest.approx(math.sqrt(1 - math.exp(-big_b)), rel=1e-12)
    # the measured std: 40000 paths, se = std/√(2n) = 2.1e-3; 4 se plus SRK's bias < 1e-4
    assert abs(got.value - (1 - math.exp(-big_b))) < 4 * 2.2e-3
    # cosine: ᾱ = f(t)/f(0), f = cos²(π/2 (t + s)/(1 + s)), s = 0.008; β = π sinθcosθ/(1+s)
    # divided by f(0) = cos²θ_0, with dθ/dt = π/(2(1+s)), integrates to ∫β = (sin²θ - sin²θ_0)/f(0)
    s = 0.008
    t = np.linspace(0.0, 0.9, 19)
    theta = 0.5 * math.pi * (t + s) / (1 + s)
    theta0 = 0.5 * math.pi * s / (1 + s)
    ab = np.cos(theta) ** 2 / math.cos(theta0) ** 2
    ab_sin = np.exp(-(np.sin(theta) ** 2 - math.sin(theta0) ** 2) / math.cos(theta0) ** 2)
    got = run_claim("cosine-beta")
    assert got.verdict == "fails"
    assert got.numbers["pi-sin-cos"] == pytest.approx(np.max(np.abs(ab_sin - ab)), rel=1e-8)
    assert got.numbers["pi-tan"] < 1e-9
    # 1 - ᾱ(t + δ)/ᾱ(t) with δ = 1e-5 as a rate integrates to ~δ |log ᾱ| ≈ 0: error 1 - ᾱ(0.9)
    assert got.numbers["discrete-step"] == pytest.approx(1 - ab[-1], abs=1e-4)


def test_bounded_ve_and_brownian_claims_against_closed_forms():
    got = run_claim("bounded-sde-range")
    # p_∞ ∝ cosh(x)^-2 (σ = 1) has mass 1 - tanh 1 outside [-1, 1]
    assert got.numbers["stationary_outside"] == pytest.approx(1 - math.tanh(1.0), rel=1e-8)
    assert got.value == pytest.approx(1 - math.tanh(1.0), abs=2e-3)  # grid value, docs: 4e-4
    got = run_claim("ve-second-moment")
    # E|x_1|^2 = E|x_0|^2 + d(σ_max² - σ_min²) vs the claimed E|x_0|^2 + d σ_max²: -d σ_min²
    assert got.value == pytest.approx(-2 * 0.5**2, abs=1e-10)
    got = run_claim("brownian-heat-limit")
    # dx = dW: Var X_t = t, so D = 1/2; 20000 paths, se of D = D √(2/n) = 5e-3, 4 se
    assert got.value == pytest.approx(0.5, abs=4 * 5e-3)
    assert got.verdict == "fails"


def test_stationary_ou_reverse_sign_measures_minus_theta():
    got = run_claim("stationary-ou-reverse-sign")
    # reversible: the reversed paths have drift slope -θ = -1; se reported (widened) 0.046
    assert got.value == pytest.approx(-1.0, abs=4 * got.uncertainty)
    assert got.verdict == "fails"


@pytest.mark.slow
def test_claims_study_writes_all_26_claims_and_exits_0(tmp_path):
    assert (
        main(["run", "claims", "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")]) == 0
    )
    (path,) = (tmp_path / "o").rglob("claims.json")
    claims = json.loads(path.read_text())
    assert [c["id"] for c in claims] == CLAIM_IDS
    for c in claims:
        assert {"id", "statement", "verdict", "value", "detail"} <= set(c)
        assert c["verdict"] in ("holds", "fails", "holds-when")
