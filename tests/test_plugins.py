"""Plugins: public registration, loading (--plugin, spec key), provenance, cache keys, errors."""

from __future__ import annotations

import json
import re
import textwrap

import numpy as np
import pytest

import fplab as fp
from fplab.cli import main
from fplab.errors import NumericalError
from fplab.mc import MC_METHODS
from fplab.plugins import PluginError, forget_plugin, load_plugins, loaded_plugins
from fplab.reverse import SAMPLERS

#: a plugin whose sampler is explicit Euler on the probability-flow ODE, declared with ORDER
FAKE_EULER = '''
import fplab as fp

@fp.register_sampler("fake-euler", order=ORDER, deterministic=True)
def fake_euler(ctx, x, t, s, rng):
    """Explicit Euler on the probability-flow ODE (a plugin under test)."""
    return x - (t - s) * ctx.velocity(x, t)
'''

#: Euler-Maruyama as a plugin MC method, written against the documented step signature
NUMPY_EM = '''
import fplab as fp

@fp.register_mc_method("numpy-em", strong_order={"additive": 1.0, "multiplicative": 0.5},
                       weak_order=1.0)
def numpy_em(x, h, dw, dz, F, G, Gx):
    """Euler-Maruyama in NumPy (a plugin under test)."""
    return x + F(x, 0) * h + G(x, 0) * dw
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules; every plugin loaded in the test is forgotten."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    before = {p.module for p in loaded_plugins()}
    yield folder
    for info in loaded_plugins():
        if info.module not in before:
            forget_plugin(info.module)


def write_plugin(folder, name, text, **subs):
    for key, value in subs.items():
        text = text.replace(key, str(value))
    (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return name


def test_registered_sampler_runs_in_sample_reverse_and_shows_its_origin(plugin_dir, capsys):
    load_plugins([write_plugin(plugin_dir, "fake_one", FAKE_EULER, ORDER=1)])
    sde = fp.VP()
    p0 = fp.GaussianMixture([1.0], [[0.5]], [[[0.2]]])
    x_T = fp.exact_marginal(sde, p0, 1.0).sample(50, seed=0)
    score = fp.exact_score(sde, p0)
    got = fp.sample_reverse(sde, score, x_T, n_steps=7, method="fake-euler")
    # the same steps as the built-in explicit Euler: the plugin path adds checks, not changes
    want = fp.sample_reverse(sde, score, x_T, n_steps=7, method="pf-ode-euler")
    np.testing.assert_array_equal(got, want)
    entry = SAMPLERS.get("fake-euler")
    assert (entry.order, entry.deterministic, entry.adaptive, entry.requires) == (
        1.0,
        True,
        False,
        (),
    )
    assert SAMPLERS.origin("fake-euler") == "plugin fake_one"
    assert SAMPLERS.origin("pf-ode-euler") == "built-in"
    assert main(["list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "fake-euler" in x)
    assert "[plugin fake_one]" in line


@pytest.mark.parametrize("order", [0, -1.0, "2", True, float("nan")])
def test_declared_order_must_be_a_positive_number(order):
    with pytest.raises(ValueError, match=r"'bad-order': order must be a positive number"):
        fp.register_sampler("bad-order", order=order, deterministic=True)
    assert "bad-order" not in SAMPLERS


def test_plugin_errors_name_the_module_and_exit_2(plugin_dir, capsys):
    write_plugin(plugin_dir, "dup_plugin", FAKE_EULER.replace("fake-euler", "ddim"), ORDER=1)
    with pytest.raises(
        PluginError, match=r"plugin 'dup_plugin' \(--plugin\): .*'ddim' is registered twice"
    ):
        load_plugins(["dup_plugin"])
    write_plugin(plugin_dir, "zero_order", FAKE_EULER, ORDER=0)
    assert main(["list", "--plugin", "zero_order"]) == 2
    err = capsys.readouterr().err
    assert "plugin 'zero_order'" in err and "order must be a positive number" in err
    assert main(["list", "--plugin", "no_such_plugin_module"]) == 2
    assert "plugin 'no_such_plugin_module' (--plugin): cannot import it" in capsys.readouterr().err
    assert "fake-euler" not in SAMPLERS  # nothing half-registered


def test_user_step_with_wrong_shape_or_nan_names_the_sampler_and_the_time(plugin_dir):
    @fp.register_sampler("wrong-shape", order=1, deterministic=True)
    def wrong_shape(ctx, x, t, s, rng):
        return x[:, 0]

    @fp.register_sampler("makes-nan", order=1, deterministic=True)
    def makes_nan(ctx, x, t, s, rng):
        return x * np.nan if s < 0.5 else x

    try:
        sde, x = fp.OU(), np.zeros((4, 1))
        score = fp.exact_score(sde, fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]]))
        with pytest.raises(
            ValueError,
            match=r"sampler 'wrong-shape' returned shape \(4,\) at the step t=1 -> s=0\.75",
        ):
            fp.sample_reverse(sde, score, x, t_end=0.0, n_steps=4, method="wrong-shape")
        with pytest.raises(
            NumericalError, match=r"sampler 'makes-nan' returned 4 non-finite .* t=0\.5 -> s=0\.25"
        ):
            fp.sample_reverse(sde, score, x, t_end=0.0, n_steps=4, method="makes-nan")
    finally:
        SAMPLERS.remove("wrong-shape")
        SAMPLERS.remove("makes-nan")


def test_plugin_mc_method_reproduces_the_builtin_euler_maruyama(plugin_dir):
    load_plugins([write_plugin(plugin_dir, "numpy_em_plugin", NUMPY_EM)])
    gbm = fp.GBM(mu=0.3, sigma=0.5)
    kw = {"t1": 1.0, "n_steps": 16, "seed": 3, "n_paths": 200}
    got = fp.simulate(gbm, np.ones((1, 1)), method="numpy-em", **kw)
    # same random streams, same update: identical to the built-in (NumPy path) bit for bit
    want = fp.simulate(gbm, np.ones((1, 1)), method="euler-maruyama", backend="numpy", **kw)
    np.testing.assert_array_equal(got, want)
    entry = MC_METHODS.get("numpy-em")
    assert entry.order(gbm, "strong") == 0.5 and entry.order(fp.OU(), "strong") == 1.0
    assert MC_METHODS.origin("numpy-em") == "plugin numpy_em_plugin"


SPEC = """
# A plugin sampler against the built-in explicit Euler, pathwise.
kind = "reverse"
plugins = ["PLUGIN"]

[problem]
sde = "vp"
params = { beta_min = 0.1, beta_max = 20.0, T = 1.0 }
p0 = { weights = [0.4, 0.6], means = [[-2.0], [1.5]], covs = [[[0.5]], [[0.3]]] }

[sweep]
param = "n_steps"
compare = ["fake-euler", "pf-ode-euler"]
quick = [8, 16, 32, 64]

[measure]
reference = "fine"

[options]
n_samples = 100
start = "quantiles"
reference_factor = 4

[expect]
tolerance = 0.15
"""


def _counts(out):
    return tuple(int(v) for v in re.search(r"\((\d+) cached, (\d+) run", out).groups())


@pytest.mark.slow
def test_plugin_study_runs_caches_reports_and_reruns_after_an_edit(
    plugin_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    name = write_plugin(plugin_dir, "fake_study_plugin", FAKE_EULER, ORDER=1)
    spec = tmp_path / "plugin-study.toml"
    spec.write_text(SPEC.replace("PLUGIN", name))
    argv = ["run", str(spec), "--workers", "1", "--cache", "c", "--out", "r", "--quiet"]
    assert main(argv) == 0
    assert _counts(capsys.readouterr().out) == (0, 8)
    meta = json.loads((tmp_path / "r" / "plugin-study" / "meta.json").read_text())
    (prov,) = meta["plugins"]
    assert prov["module"] == name and prov["entries"] == [["method", "fake-euler"]]
    assert re.fullmatch(r"[0-9a-f]{16}", prov["hash"])
    orders = {o["label"]: o for o in meta["summary"]["orders"]}
    assert orders["fake-euler"]["match"] and orders["pf-ode-euler"]["match"]
    assert f"plugins: {name}" in (tmp_path / "r" / "plugin-study" / "report.md").read_text()
    assert main(argv) == 0
    assert _counts(capsys.readouterr().out) == (8, 0)
    # a new process after the plugin's source changed: only the plugin's cases run again
    forget_plugin(name)
    (plugin_dir / f"{name}.py").write_text((plugin_dir / f"{name}.py").read_text() + "# edited\n")
    assert main(argv) == 0
    assert _counts(capsys.readouterr().out) == (4, 4)


def test_plugin_sampler_declared_order_2_but_euler_fails_its_order_claim(
    plugin_dir, tmp_path, capsys
):
    from fplab.report import collect
    from fplab.runner import ResultCache
    from fplab.study import load_study

    name = write_plugin(plugin_dir, "fake_order_two", FAKE_EULER, ORDER=2)
    path = tmp_path / "s.toml"
    path.write_text(SPEC.replace("PLUGIN", name).replace(', "pf-ode-euler"', ""))
    argv = ["run", str(path), "--workers", "1", "--cache", str(tmp_path / "c"), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 1  # a failed claim
    assert "1 failed" in capsys.readouterr().out and "order[fake-euler]" in "".join(
        (tmp_path / "r" / "s" / "report.md").read_text()
    )
    spec = load_study(path)
    sr = collect(spec, "quick", ResultCache(tmp_path / "c"))
    summary = sr.summary()
    (row,) = summary["orders"]
    # observed ~1.0 (interval well inside [0.85, 1.15]) against the declared 2: the order row
    # the study's claim is judged on does not match
    assert row["expected"] == 2.0 and row["match"] is False
    assert abs(row["order"] - 1.0) < 0.15
    # and the kind's verdict on the plugin sampler's order is a fail
    verdicts = spec.kind_obj.claims(spec, sr.results, summary)
    assert [v.verdict for v in verdicts if "fake-euler" in v.claim] == ["fail"]


def test_spec_plugins_must_be_a_list_of_module_names(tmp_path):
    from fplab.study import load_study

    path = tmp_path / "s.toml"
    path.write_text(SPEC.replace('plugins = ["PLUGIN"]', 'plugins = "fake"'))
    with pytest.raises(fp.ConfigError, match=r"s\.toml: plugins: must be a list of module names"):
        load_study(path)


def test_spec_plugin_that_cannot_be_imported_is_a_config_error(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SPEC.replace("PLUGIN", "not_a_module_anywhere"))
    with pytest.raises(
        fp.ConfigError, match=r"s\.toml: plugins: plugin 'not_a_module_anywhere'.*cannot import"
    ):
        from fplab.study import load_study

        load_study(path)


USER_SDE = """
import numpy as np

def drift(x, t, theta=1.0):
    return -theta * x ** 3 + x

def noise(x, t, theta=1.0):
    return np.full(x.shape[0], 0.8)
"""

CUSTOM_SPEC = """
# A user SDE given by reference, strong orders against a fine coupled path.
kind = "mc-strong"

[problem]
sde = { drift = "MOD:drift", diffusion = "MOD:noise", dim = 1, additive = true }
params = { theta = 1.0 }
p0 = { weights = [1.0], means = [[0.5]], covs = [[[0.1]]] }
t_final = 1.0

[sweep]
param = "n_steps"
compare = ["euler-maruyama"]
quick = [8, 16, 32]

[measure]
reference = "fine"

[options]
n_paths = 400
reference_factor = 4
"""


def test_spec_sde_by_reference_matches_the_builtin_double_well(plugin_dir, tmp_path):
    from fplab.runner import ResultCache, run_cases
    from fplab.study import build_problem, load_study

    write_plugin(plugin_dir, "user_sde_mod", USER_SDE)
    path = tmp_path / "custom.toml"
    path.write_text(CUSTOM_SPEC.replace("MOD", "user_sde_mod"))
    spec = load_study(path)
    sde = build_problem(spec.problem)[0]
    x = np.linspace(-2, 2, 5).reshape(5, 1)
    # x - x^3 with sigma 0.8: the built-in DoubleWell(sigma=0.8), coefficient by coefficient
    np.testing.assert_allclose(sde.drift(x, 0.3), fp.DoubleWell(sigma=0.8).drift(x, 0.3))
    out = run_cases(spec.cases("quick"), cache=ResultCache(tmp_path / "c"), progress=None)
    assert out.n_run == 1 and not out.failures
    (case,) = spec.cases("quick")
    assert "user_sde_mod" in __import__("fplab.plugins").plugins.plugin_fingerprint(
        case.kind, case.config
    )


@pytest.mark.parametrize(
    ("sde", "match"),
    [
        (
            '{ drift = "user_sde_mod:nope", diffusion = 0.5 }',
            r"problem\.sde\.drift: cannot import 'user_sde_mod:nope'",
        ),
        (
            '{ drift = "no_mod_here:f", diffusion = 0.5 }',
            r"problem\.sde\.drift: cannot import 'no_mod_here'",
        ),
        ('{ drift = "user_sde_mod:drift" }', r"problem\.sde\.diffusion: missing"),
        (
            '{ drift = "user_sde_mod:drift", diffusion = 1.0, colour = 1 }',
            r"problem\.sde\.colour: unknown key",
        ),
    ],
)
def test_bad_sde_reference_is_a_config_error_naming_the_key(plugin_dir, tmp_path, sde, match):
    from fplab.study import load_study

    write_plugin(plugin_dir, "user_sde_mod", USER_SDE)
    text = re.sub(r"^sde = .*$", f"sde = {sde}", CUSTOM_SPEC, flags=re.M).replace(
        "MOD", "user_sde_mod"
    )
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(fp.ConfigError, match=rf"bad\.toml: {match}"):
        load_study(path)


def test_entry_point_plugins_load_once_with_their_origin(plugin_dir, monkeypatch):
    from importlib import metadata

    import fplab.plugins as plugins

    name = write_plugin(
        plugin_dir, "ep_plugin", FAKE_EULER.replace("fake-euler", "ep-euler"), ORDER=1
    )
    ep = metadata.EntryPoint(name="ep", value=name, group=plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        metadata, "entry_points", lambda group: [ep] if group == plugins.ENTRY_POINT_GROUP else []
    )
    monkeypatch.setattr(plugins, "_ENTRY_POINTS_DONE", [False])
    # a look-up of an unknown name loads the installed plugins first
    assert SAMPLERS.get("ep-euler").order == 1.0
    (info,) = [p for p in loaded_plugins() if p.module == name]
    assert info.source == "entry point ep" and info.entries == (("method", "ep-euler"),)
    assert plugins.load_entry_points() == [info]  # once per process


def test_missing_extras_name_the_extra(monkeypatch):
    import sys

    from fplab.runner import _run_dask

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"fplab\[nn\]"):
        fp.simulate(fp.OU(), np.zeros((2, 1)), n_steps=2, backend="torch")
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"fplab\[dask\]"):
        _run_dask("tcp://127.0.0.1:1", [], {}, lambda *a: None)


OTHER_ENTRIES = '''
import numpy as np
import fplab as fp
from fplab.study import StudyKind


@fp.register_sde("scaled-ou")
class ScaledOU(fp.OU):
    """OU with mean reversion theta = 2 k (a plugin SDE)."""

    def __init__(self, k=1.0):
        super().__init__(theta=2.0 * k, mu=0.0, sigma=1.0)


@fp.register_metric("mean-gap")
def mean_gap(x, y):
    """|mean(x) - mean(y)| (a plugin sample metric)."""
    return float(np.abs(np.mean(x) - np.mean(y)))


@fp.register_study_kind("ou-mean")
class OUMean(StudyKind):
    """Euler's error in the OU mean vs n_steps (a plugin study kind)."""

    sweep_params = ("n_steps",)
    depends = ()  # required: only fplab's top-level modules and sdes (always hashed)

    def cases(self, spec, tier):
        return [(f"n={v}", {"n": int(v), "problem": spec.problem}) for v in spec.sweep_values(tier)]

    def run_case(self, config):
        from fplab.study import build_problem

        sde = build_problem(config["problem"])[0]
        n = config["n"]
        em = (1.0 - sde.theta / n) ** n           # Euler's mean recursion from x0 = 1 to t = 1
        return {"row": {"h": 1.0 / n, "error": abs(em - np.exp(-sde.theta))}}

    def summarize(self, spec, results):
        from fplab.studykinds._common import fit_order

        rows = [res["row"] for _, res in results]
        fit = fit_order([r["h"] for r in rows], [r["error"] for r in rows])
        return {"orders": [{"label": "euler", "quantity": "mean error", **fit, "expected": 1.0,
                            "match": fit["ci"][0] - 0.1 <= 1.0 <= fit["ci"][1] + 0.1}],
                "errors": {f"n={r['h']:g}": r["error"] for r in rows}}
'''

KIND_SPEC = """
# A plugin study kind on a plugin SDE.
kind = "ou-mean"
plugins = ["PLUGIN"]

[problem]
sde = "scaled-ou"
params = { k = 1.0 }

[sweep]
param = "n_steps"
quick = [8, 16, 32, 64]
"""


@pytest.mark.slow
def test_plugin_sde_metric_and_study_kind_run_report_and_check(
    plugin_dir, tmp_path, monkeypatch, capsys
):
    from fplab.metrics import METRICS

    monkeypatch.chdir(tmp_path)
    name = write_plugin(plugin_dir, "other_entries", OTHER_ENTRIES)
    spec = tmp_path / "ou-mean.toml"
    spec.write_text(KIND_SPEC.replace("PLUGIN", name))
    common = ["--workers", "1", "--cache", "c", "--quiet"]
    # two spawned workers: they start without the plugin and import it before their cases
    assert main(["run", str(spec), "--out", "r", *common, "--workers", "2"]) == 0
    assert "0 failed" in capsys.readouterr().out
    meta = json.loads((tmp_path / "r" / "ou-mean" / "meta.json").read_text())
    (order,) = meta["summary"]["orders"]
    # Euler's mean (1 - 2/n)^n vs e^-2: error ~ 2 e^-2 / n, order 1 (measured 1.03-1.1 here)
    assert order["match"] and abs(order["order"] - 1.0) < 0.15
    assert sorted(e[1] for e in meta["plugins"][0]["entries"]) == [
        "mean-gap",
        "ou-mean",
        "scaled-ou",
    ]
    assert (
        METRICS.get("mean-gap").kind == "samples" and METRICS.get("mean-gap")([1.0], [0.5]) == 0.5
    )
    assert main(["check", str(spec), "--update", "--baselines", "b", *common]) == 0
    assert main(["check", str(spec), "--baselines", "b", *common]) == 0
    assert "0 regressions: ok" in capsys.readouterr().out
    # a study that uses none of the plugin's entries does not list it in its provenance
    from tests.test_study import GOOD

    (tmp_path / "tiny.toml").write_text(GOOD)
    assert main(["run", str(tmp_path / "tiny.toml"), "--plugin", name, "--out", "r", *common]) == 0
    assert "plugins" not in json.loads((tmp_path / "r" / "tiny" / "meta.json").read_text())


def test_a_plugin_imported_before_it_is_named_still_records_its_entries(plugin_dir):
    import importlib

    name = write_plugin(
        plugin_dir, "early_import", FAKE_EULER.replace("fake-euler", "early-euler"), ORDER=1
    )
    importlib.import_module(name)  # the user's script imported it first
    (info,) = load_plugins([name])
    # so its source hash still joins the cache key of cases that name its sampler
    assert info.entries == (("method", "early-euler"),)
    from fplab.plugins import plugin_fingerprint

    assert plugin_fingerprint("reverse", {"compare": "early-euler"}) == {name: info.hash}


def test_a_user_step_that_raises_says_which_sampler_and_step(plugin_dir):
    @fp.register_sampler("raises-late", order=1, deterministic=True)
    def raises_late(ctx, x, t, s, rng):
        if s < 0.5:
            raise RuntimeError("boom")
        return x

    try:
        sde, x = fp.OU(), np.zeros((4, 1))
        score = fp.exact_score(sde, fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]]))
        with pytest.raises(RuntimeError, match="boom") as info:
            fp.sample_reverse(sde, score, x, t_end=0.0, n_steps=4, method="raises-late")
        # the user's own exception, kept, with a note saying where it happened
        assert info.value.__notes__ == [
            "in fp.sample_reverse: method 'raises-late', step 3 of 4, t=0.5 -> 0.25"
        ]
    finally:
        SAMPLERS.remove("raises-late")
