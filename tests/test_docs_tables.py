"""Docs tables name every registry key (a new built-in entry cannot be forgotten): each registry's
page has a table row (or a list item opening with the key) for each of its built-in keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fplab.catalogue import registries

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: registry (its ``what`` and the page section) -> the docs page whose tables list its keys
PAGE = {
    "sdes": "sdes.md",
    "schedules (vp, sub-vp)": "sdes.md",
    "space schemes": "fd.md",
    "time schemes": "fd.md",
    "boundary conditions": "fd.md",
    "monte-carlo methods": "mc.md",
    "reverse samplers": "reverse.md",
    "time grids (reverse samplers)": "reverse.md",
    "guidance kinds": "guidance.md",
    "metrics": "metrics.md",
    "study kinds": "studies.md",
    "textbook claims (fplab run claims)": "claims.md",
}


def _table_keys(page: str) -> set[str]:
    """Every `key` in backticks on a markdown table row of ``page``, or opening a list item."""
    text = (DOCS / page).read_text(encoding="utf-8")
    keys = set()
    for line in text.splitlines():
        if line.lstrip().startswith("|"):
            keys |= set(re.findall(r"`([a-z0-9-]+)`", line))
        item = re.match(r"\s*[*-] `([a-z0-9-]+)`", line)
        if item:
            keys.add(item.group(1))
    return keys


def test_every_registry_has_a_docs_page():
    assert {title for title, _ in registries()} <= set(PAGE)


@pytest.mark.parametrize(("title", "reg"), registries(), ids=[t for t, _ in registries()])
def test_docs_table_names_every_registry_key(title, reg):
    builtin = [n for n in reg.names() if reg.origin(n) == "built-in"]
    missing = sorted(set(builtin) - _table_keys(PAGE[title]))
    assert not missing, f"docs/{PAGE[title]} has no table row for {title} {missing}"
