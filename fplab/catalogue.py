"""What exists: every registry's entries with a one-line description (``fplab list``)."""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["catalogue"]

# (section title, module to import, registry attribute).  Modules that are not built yet are skipped.
_REGISTRIES = [
    ("sdes", "fplab.sdes", "SDES"),
    ("schedules (vp, sub-vp)", "fplab.sdes", "SCHEDULES"),
    ("space schemes", "fplab.fd", "SPACE_SCHEMES"),
    ("time schemes", "fplab.fd", "TIME_SCHEMES"),
    ("boundary conditions", "fplab.fd", "BOUNDARIES"),
    ("monte-carlo methods", "fplab.mc", "MC_METHODS"),
    ("reverse samplers", "fplab.reverse", "SAMPLERS"),
    ("metrics", "fplab.metrics", "METRICS"),
    ("study kinds", "fplab.study", "STUDY_KINDS"),
]


def _doc(entry: object) -> str:
    doc = (getattr(entry, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""


def catalogue(root: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """Section -> [(name, one-line description)], from the registries and the spec folders."""
    out: dict[str, list[tuple[str, str]]] = {}
    for title, module, attr in _REGISTRIES:
        try:
            reg = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        out[title] = [(name, _doc(entry)) for name, entry in reg.items()]
    base = root or Path.cwd()
    for folder in ("grids", "studies"):
        files = sorted((base / folder).glob("*.toml"))
        if files:
            out[folder] = [(f"{folder}/{f.name}", _first_comment(f)) for f in files]
    return out


def _first_comment(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
