"""Regression tests of the study-layer audit (branch audit5): each pins one defect found by
running `fplab run/report/check` as a new user and as a plugin author."""

from __future__ import annotations

from pathlib import Path

import pytest

from fplab.errors import ConfigError
from fplab.study import load_study

ROOT = Path(__file__).resolve().parent.parent


def _spec(tmp_path: Path, study: str, old: str, new: str) -> Path:
    text = (ROOT / "studies" / f"{study}.toml").read_text()
    assert old in text
    path = tmp_path / f"{study}-edited.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("study", "old", "new", "key", "fragment"),
    [
        # a repeated level ran, then the order fit raised "h must hold distinct step sizes"
        # at report time: a traceback and an empty report folder
        ("em-law-ou-1d", "quick = [8, 16,", "quick = [8, 16, 16,", "sweep.quick", "16 twice"),
        ("fd-time-ou-1d", "quick = [0.02,", "quick = [0.01, 0.02,", "sweep.quick", "0.01 twice"),
        # a compared name listed twice: every level twice in its fit, the same traceback
        (
            "fd-time-ou-1d",
            'compare = ["explicit", "implicit",',
            'compare = ["explicit", "explicit", "implicit",',
            "sweep.compare[1]",
            "'explicit' twice",
        ),
    ],
)
def test_repeated_sweep_value_or_compared_name_is_a_spec_error(
    tmp_path, study, old, new, key, fragment
):
    path = _spec(tmp_path, study, old, new)
    with pytest.raises(ConfigError) as info:
        load_study(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}:") and fragment in msg, msg
