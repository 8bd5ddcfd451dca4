"""Every study kind estimates a case's memory and work (``StudyKind.resources``), and a case
above the limit is refused before any case runs: ``FILE: key: ...`` and exit status 2."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fplab.cli import main
from fplab.errors import ConfigError
from fplab.study import STUDY_KINDS, StudyKind, load_study

ROOT = Path(__file__).resolve().parent.parent

#: kind -> (shipped study, text, replacement that makes one size huge, key named in the error).
#: Each huge size is ~1e12 samples/paths/steps or ~1e7 cells: far above any machine's limits
#: (memory > 1 TB or work > 1e13 updates), so the default limits refuse it on every host.
HUGE: dict[str, tuple[str, str, str, str]] = {
    "backward-heat": ("backward-heat", "n = 128", "n = 10000000", "options"),
    "claims": ("claims", "", "", "options"),  # no size in the spec: see the test below
    "ddpm-chain": (
        "ddpm-chain-vp-1d",
        "quick = [16,",
        "quick = [1000000000000, 16,",
        "sweep.quick",
    ),
    "em-law": ("em-law-ou-1d", "quick = [8,", "quick = [1000000000000, 8,", "sweep.quick"),
    "fd-space": ("fd-space-ou-1d", "quick = [32,", "quick = [100000000, 32,", "problem"),
    "fd-time": ("fd-time-ou-1d", "quick = [0.02,", "quick = [1e-12, 0.02,", "sweep.quick"),
    "guidance": ("guidance-1d", "quick = 4000,", "quick = 1000000000000,", "options"),
    "mc-strong": ("mc-strong-gbm", "quick = 10000,", "quick = 1000000000000,", "sweep.quick"),
    "mc-weak": ("mc-weak-ou", "quick = 40000,", "quick = 1000000000000,", "sweep.quick"),
    "reverse": (
        "reverse-samplers-bimodal-1d",
        "quick = 10000,",
        "quick = 1000000000000,",
        "sweep.quick",
    ),
    "score-model": ("score-model-1d", "quick = 2000,", "quick = 1000000000000,", "options"),
    "score-network": ("score-network-1d", "quick = 2000,", "quick = 1000000000000,", "options"),
    "work-precision": (
        "work-precision-vp-1d",
        "quick = 1000,",
        "quick = 1000000000000,",
        "options",
    ),
}


def _copy(tmp_path: Path, study: str, old: str, new: str) -> Path:
    """The shipped study with ``old`` replaced, next to a copy of the shipped grids."""
    folder = tmp_path / "studies"
    folder.mkdir(exist_ok=True)
    if (ROOT / "studies" / "grids").is_dir() and not (folder / "grids").exists():
        shutil.copytree(ROOT / "studies" / "grids", folder / "grids")
    text = (ROOT / "studies" / f"{study}.toml").read_text()
    assert old in text, (study, old)
    path = folder / f"{study}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_every_registered_kind_estimates_its_resources():
    """Registry-driven: a new kind without ``resources`` (or without a huge-size case here) fails."""
    missing = [
        n for n in STUDY_KINDS.names() if STUDY_KINDS.get(n).resources is StudyKind.resources
    ]
    assert not missing, f"study kinds without a resources() estimate: {missing}"
    untested = sorted(set(STUDY_KINDS.names()) - set(HUGE))
    assert not untested, f"study kinds without a huge-size case in HUGE: {untested}"


@pytest.mark.parametrize("kind", sorted(k for k in HUGE if k != "claims"))
def test_huge_size_is_refused_naming_the_key(tmp_path, monkeypatch, kind):
    monkeypatch.delenv("FPLAB_MAX_MEMORY", raising=False)
    monkeypatch.delenv("FPLAB_MAX_WORK", raising=False)
    study, old, new, key = HUGE[kind]
    path = _copy(tmp_path, study, old, new)
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}: "), msg
    # fd kinds: the grid / time-step checks may catch the size first; same form, same exit 2
    assert "needs about" in msg, msg
    # the shipped study itself passes the same check
    load_study(ROOT / "studies" / f"{study}.toml")


def test_claims_are_sized_by_tier(monkeypatch):
    """Claim sizes are fixed in fplab.claims (2e5 / 2e6 samples at most): a limit below the
    estimate refuses the study, naming options and the claim."""
    import fplab.spec

    kind = STUDY_KINDS.get("claims")()
    quick = kind.resources({"claim": "x", "tier": "quick", "seed": 0})
    full = kind.resources({"claim": "x", "tier": "full", "seed": 0})
    assert 0 < quick[0] < full[0] and 0 < quick[1] < full[1]
    monkeypatch.setattr(fplab.spec, "resource_limits", lambda: (quick[0] / 2, 1e12))
    path = ROOT / "studies" / "claims.toml"
    with pytest.raises(ConfigError, match=rf"^{path}: options: case '.*' needs about .* GiB"):
        load_study(path)


def test_cli_refuses_before_any_case_runs_and_max_memory_overrides(tmp_path, monkeypatch, capsys):
    """Exit 2 naming the key, no cache written; --max-memory lowers the limit the same way."""
    monkeypatch.delenv("FPLAB_MAX_MEMORY", raising=False)
    monkeypatch.delenv("FPLAB_MAX_WORK", raising=False)
    study, old, new, key = HUGE["score-model"]
    path = _copy(tmp_path, study, old, new)
    cache = tmp_path / "cache"
    argv = [
        "run",
        str(path),
        "--cache",
        str(cache),
        "--out",
        str(tmp_path / "out"),
        "--workers",
        "1",
    ]
    assert main(argv) == 2
    assert f"{path}: {key}: case" in capsys.readouterr().err
    assert not cache.exists()
    # the shipped study needs ~0.3 MiB (its grid 128 KiB): --max-memory 200K refuses it, env restored afterwards
    shipped = str(ROOT / "studies" / f"{study}.toml")
    monkeypatch.setenv("FPLAB_MAX_MEMORY", "1e18")
    assert main(["run", shipped, "--cache", str(cache), "--max-memory", "200K"]) == 2
    err = capsys.readouterr().err
    assert "options: case" in err and "--max-memory" in err, err
    assert not cache.exists()
    assert os.environ["FPLAB_MAX_MEMORY"] == repr(200.0 * 1024)


@pytest.mark.parametrize("bad", ["0", "-5G", "lots", "inf", "nanG"])
def test_max_memory_must_be_a_size(bad, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "claims", "--max-memory", bad])
    assert info.value.code == 2
    assert "--max-memory" in capsys.readouterr().err
