"""Every sampler and Monte-Carlo method has a pinned one-step test (found by name in tests/).

The pinned tests compare one step with the update written out from the method's paper; whoever
registers a sampler or MC method adds ``test_pinned_sampler_<key>`` / ``test_pinned_mc_<key>``
(the registry key with - replaced by _).  The names are found by a text search of tests/, so the
test may live in any file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fplab.mc import MC_METHODS
from fplab.reverse import SAMPLERS

TESTS = Path(__file__).parent


def _defined_tests() -> set[str]:
    pattern = re.compile(r"^\s*def\s+(test_pinned_\w+)\s*\(", re.MULTILINE)
    names: set[str] = set()
    for path in TESTS.rglob("*.py"):
        names.update(pattern.findall(path.read_text(encoding="utf-8")))
    return names


def _missing(prefix: str, keys: list[str]) -> list[str]:
    defined = _defined_tests()
    return [k for k in keys if f"{prefix}{k.replace('-', '_')}" not in defined]


@pytest.mark.parametrize(
    "prefix, registry, what",
    [
        ("test_pinned_sampler_", SAMPLERS, "sampler"),
        ("test_pinned_mc_", MC_METHODS, "MC method"),
    ],
    ids=["samplers", "mc-methods"],
)
def test_every_registry_entry_has_a_pinned_one_step_test(prefix, registry, what):
    missing = _missing(prefix, registry.names())
    assert not missing, (
        f"no pinned one-step test for {what}(s) {missing}: add "
        + ", ".join(f"def {prefix}{k.replace('-', '_')}()" for k in missing)
        + " somewhere under tests/, comparing one step from a fixed state and noise draw with "
        "the update written out from the method's paper (see tests/test_pinned_samplers.py)"
    )


def test_the_completeness_check_names_an_entry_without_a_pinned_test():
    # the check itself can fail: a key no test is named after is reported
    assert _missing("test_pinned_sampler_", ["no-such-sampler", "ddim"]) == ["no-such-sampler"]
