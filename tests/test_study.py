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
