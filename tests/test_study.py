"""Study specs: every shipped spec validates; bad specs fail with FILE: key: what; allowed: ..."""

from __future__ import annotations

from pathlib import Path

import pytest

from fplab.errors import ConfigError
from fplab.study import STUDY_KINDS, StudyUnavailable, find_studies, load_study

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "studies").glob("*.toml"))

GOOD = """# A tiny em-law study used by the spec tests.
kind = "em-law"
seed = 3

[problem]
sde = "ou"
params = { theta = 1.0, sigma = 1.0 }
p0 = { weights = [0.5, 0.5], means = [[-1.0], [1.0]], covs = [[[0.3]], [[0.3]]] }
grid = { lo = -6.0, hi = 6.0, n = 200 }
t_final = 0.5

[sweep]
param = "n_steps"
quick = [4, 8, 16]
full = [4, 8, 16, 32]

[measure]
metric = "tv"

[expect]
order = 1.0
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    folder = tmp_path / "studies"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_study_validates_and_states_its_purpose(path):
    try:
        spec = load_study(path)
    except StudyUnavailable as exc:  # e.g. score-network without torch: skipped by `fplab run` too
        pytest.skip(str(exc))
    assert spec.purpose, f"{path.name} needs a one-line purpose comment on its first line"
    assert spec.kind in STUDY_KINDS
    quick, full = spec.cases("quick"), spec.cases("full")
    assert quick and len(full) >= len(quick)
    assert len({c.key for c in quick}) == len(quick), "two cases share a cache key"


def test_good_spec_resolves_defaults_and_tiers(tmp_path):
    spec = load_study(write(tmp_path, GOOD))
    assert spec.name == "s" and spec.seed == 3
    assert spec.purpose.startswith("A tiny em-law study")
    assert spec.measure["reference"] == "exact"  # the kind's default reference
    assert [c.config["value"] for c in spec.cases("quick")] == [4, 8, 16]
    assert len(spec.cases("full")) == 4
    assert spec.check["order_atol"] > 0 and spec.check["error_rtol"] > 0


def test_case_key_depends_on_configuration(tmp_path):
    a = load_study(write(tmp_path, GOOD, "a.toml")).cases("quick")
    b = load_study(write(tmp_path, GOOD.replace("seed = 3", "seed = 4"), "b.toml")).cases("quick")
    c = load_study(write(tmp_path, GOOD, "c.toml")).cases("quick")
    assert [x.key for x in a] == [x.key for x in c]  # same config, other file: same results
    assert not {x.key for x in a} & {x.key for x in b}


@pytest.mark.parametrize(
    ("edit", "key", "fragment"),
    [
        (("[sweep]", "[sweep]\nvaluse = [1]"), "sweep.valuse", "allowed: 'param', 'quick'"),
        (("seed = 3", "seed = 3\ncolour = 1"), "colour", "allowed: 'kind'"),
        (('kind = "em-law"', 'kind = "em-lwa"'), "kind", "'em-law'"),
        (('sde = "ou"', 'sde = "ornstein"'), "problem.sde", "allowed: "),
        (('metric = "tv"', 'metric = "tvv"'), "measure.metric", "did you mean 'tv'"),
        (("t_final = 0.5", 't_final = "half"'), "problem.t_final", "must be a number"),
        (("quick = [4, 8, 16]", "quick = [4, 'x']"), "sweep.quick", "list of numbers"),
        (('param = "n_steps"', 'param = "dx"'), "sweep.param", "allowed: 'n_steps'"),
        (
            ("grid = { lo = -6.0, hi = 6.0, n = 200 }", 'grid = "grids/nowhere.toml"'),
            "problem.grid",
            "not found",
        ),
        (("theta = 1.0", "theta = -1.0"), "problem.params", "theta"),
        (("covs = [[[0.3]], [[0.3]]]", "covs = [[[0.3]]]"), "problem.p0", "cannot build"),
        (("order = 1.0", "order = { euler = 1.0 }"), "expect.order", ""),
        (("seed = 3", "seed = 3.5"), "seed", "integer"),
    ],
)
def test_bad_spec_names_file_key_and_allowed(tmp_path, edit, key, fragment):
    old, new = edit
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}"), msg
    assert fragment in msg, msg


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_study(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_study(write(tmp_path, "kind = "))


def test_grid_file_resolves_relative_to_the_repository(tmp_path):
    (tmp_path / "grids").mkdir()
    (tmp_path / "grids" / "g.toml").write_text("lo = -5.0\nhi = 5.0\nn = 100\n")
    spec = load_study(
        write(
            tmp_path,
            GOOD.replace("grid = { lo = -6.0, hi = 6.0, n = 200 }", 'grid = "grids/g.toml"'),
        )
    )
    assert spec.problem["grid"] == {"lo": -5.0, "hi": 5.0, "n": 100}


def test_find_studies_by_name_and_unknown_name(tmp_path, monkeypatch):
    write(tmp_path, GOOD, "tiny.toml")
    monkeypatch.chdir(tmp_path)
    assert [s.name for s in find_studies(["tiny"])] == ["tiny"]
    assert [s.name for s in find_studies(None)] == ["tiny"]
    with pytest.raises(
        ConfigError,
        match=r"no such study file \(did you mean .tiny.\?\); allowed: a path or one of tiny",
    ):
        find_studies(["tinny"])
    with pytest.raises(ConfigError, match="no such study file; allowed"):  # nothing close
        find_studies(["zzz-unrelated"])


# -- every option and case checked before anything runs (issue 13) ---------------------------
def _shipped(name: str) -> str:
    return (ROOT / "studies" / f"{name}.toml").read_text()


@pytest.mark.parametrize(
    ("study", "old", "new", "key", "fragment"),
    [
        # NaN compared False with the minimum, so dt = nan used to pass
        ("fd-space-ou-1d", "dt = 1e-3", "dt = nan", "options.dt", "finite number"),
        # an unstable explicit dt and periodic bc with OU used to fail only when the case ran
        ("fd-time-ou-1d", "quick = [0.02,", "quick = [0.2,", "sweep.quick", "limit 0.0246"),
        (
            "fd-time-ou-1d",
            'space_scheme = "chang-cooper"',
            'space_scheme = "chang-cooper"\nbc = "periodic"',
            "options.bc",
            "periodic on the box",
        ),
        # 1e12 steps: refused from the work estimate instead of running for hours
        (
            "em-law-ou-1d",
            "quick = [8,",
            "quick = [1000000000000, 8,",
            "sweep.quick",
            "FPLAB_MAX_WORK",
        ),
        ("em-law-ou-1d", "t_final = 1.0", "t_final = 5.0\n", None, None),  # OU: no horizon
        (
            "em-law-ou-1d",
            "params = { ",
            "params = { bogus = 1, ",
            "problem.params",
            "'theta', 'mu'",
        ),
        # reverse: t_end = 0 for VP (singular score) and t_start past T
        (
            "reverse-samplers-bimodal-1d",
            "t_end = 1e-3",
            "t_end = 0.0",
            "options.t_end",
            "> 0 for VP",
        ),
        (
            "reverse-samplers-bimodal-1d",
            "t_end = 1e-3",
            "t_end = 1e-3\nt_start = 3.0",
            "options.t_start",
            "[0, T] = [0, 1]",
        ),
        # an experiment kind's own config class: int(-inf) raised OverflowError
        (
            "eta-family-vp-1d",
            "full = [8, 16, 32, 64, 128, 256, 512, 1024]",
            "full = [8, -inf]",
            "options",
            "infinity",
        ),
    ],
)
def test_bad_option_or_case_is_refused_before_anything_runs(
    tmp_path, study, old, new, key, fragment
):
    text = _shipped(study)
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    if key is None:
        load_study(path)
        return
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}:") and fragment in msg, msg


def test_horizon_and_memory_limits_in_specs(tmp_path, monkeypatch):
    vp = GOOD.replace('sde = "ou"', 'sde = "vp"').replace(
        "params = { theta = 1.0, sigma = 1.0 }", "params = { T = 1.0 }"
    )
    with pytest.raises(ConfigError, match=r"problem.t_final: t_final=5 lies outside .*\[0, 1\]"):
        load_study(write(tmp_path, vp.replace("t_final = 0.5", "t_final = 5.0")))
    import fplab.spec

    # 1000 bytes for one case: the em-law case on 200 cells needs ~13 kB
    monkeypatch.setattr(fplab.spec, "resource_limits", lambda: (1000.0, 1e12))
    with pytest.raises(ConfigError, match=r"sweep.quick: .*GiB of memory.*FPLAB_MAX_MEMORY"):
        load_study(write(tmp_path, GOOD))


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        ("methods = { quick", 'methods = ["bogus"]\n#', "options.methods[0]", "unknown method"),
        ("train = {", "train = { lr = -1.0 }\n#", "options.train", "lr must be > 0"),
        ('sde = "vp"\n', 'sde = "vp"\nt_end = -1.0\n', "options.t_end", "(0, T) = (0, 1)"),
        ('sde = "vp"', 'sde = "bogus"', "options.sde", "unknown sde"),
        ("n_steps = { quick", "n_steps = [0]\n#", "options.n_steps", "integers >= 1"),
        ('problem = "bimodal-1d"', 'problem = "trimodal"', "options.problem", "'bimodal-1d'"),
        ("train = {", "train = { ema_decay = 2.0 }\n#", "options.train", "ema_decay must lie"),
    ],
)
def test_score_network_option_values_are_checked_before_training(tmp_path, old, new, key, fragment):
    pytest.importorskip("torch")
    text = _shipped("score-network-1d")
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}") and fragment in msg, msg


def test_every_studykinds_module_is_discovered_and_registers_its_kinds():
    # discovery is pkgutil over fplab/studykinds/: each public module there holds kinds, and the
    # registry's kinds come from exactly those modules (a new kind is a new file, nothing else)
    import pkgutil

    import fplab.studykinds
    from fplab.studykinds.base import discover_kinds

    files = sorted(
        m.name
        for m in pkgutil.iter_modules(fplab.studykinds.__path__)
        if not m.name.startswith("_") and m.name != "base"
    )
    assert sorted(discover_kinds()) == files
    builtin = {
        STUDY_KINDS.get(k).__module__.rsplit(".", 1)[-1]
        for k in STUDY_KINDS.names()
        if STUDY_KINDS.origin(k) == "built-in"
    }
    assert builtin == set(files)


def test_a_kind_without_depends_fails_at_registration_naming_it():
    import fplab as fp
    from fplab.study import StudyKind

    class NoDepends(StudyKind):
        sweep_params = ("n_steps",)

    with pytest.raises(
        TypeError, match=r"'no-depends-kind'.*declares no `depends`; allowed: a tuple"
    ):
        fp.register_study_kind("no-depends-kind")(NoDepends)
    assert "no-depends-kind" not in STUDY_KINDS

    class BadDepends(StudyKind):
        depends = "fd"

    with pytest.raises(TypeError, match=r"`depends` must be a tuple of sub-package names"):
        fp.register_study_kind("bad-depends-kind")(BadDepends)
    assert "bad-depends-kind" not in STUDY_KINDS
