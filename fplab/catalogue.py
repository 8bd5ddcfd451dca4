"""What exists: every registry's entries with a one-line description (``fplab list``)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = ["catalogue", "registries"]

# (section title, module to import, registry attribute).  Modules that are not built yet are skipped.
_REGISTRIES = [
    ("sdes", "fplab.sdes", "SDES"),
    ("schedules (vp, sub-vp)", "fplab.sdes", "SCHEDULES"),
    ("space schemes", "fplab.fd", "SPACE_SCHEMES"),
    ("time schemes", "fplab.fd", "TIME_SCHEMES"),
    ("boundary conditions", "fplab.fd", "BOUNDARIES"),
    ("monte-carlo methods", "fplab.mc", "MC_METHODS"),
    ("reverse samplers", "fplab.reverse", "SAMPLERS"),
    ("time grids (reverse samplers)", "fplab.reverse", "TIME_GRIDS"),
    ("guidance kinds", "fplab.guidance", "GUIDANCE_KINDS"),
    ("metrics", "fplab.metrics", "METRICS"),
    ("study kinds", "fplab.studykinds.base", "STUDY_KINDS"),
    ("textbook claims (fplab run claims)", "fplab.claims", "CLAIMS"),
]


def registries() -> list[tuple[str, Any]]:
    """(section title, Registry) of every registry whose module is importable here."""
    out = []
    for title, module, attr in _REGISTRIES:
        try:
            out.append((title, getattr(importlib.import_module(module), attr)))
        except (ImportError, AttributeError):
            continue
    return out


def _doc(entry: object) -> str:
    doc = (getattr(entry, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""


def catalogue(root: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """Section -> [(name, one-line description)], from the registries and the spec folders."""
    out: dict[str, list[tuple[str, str]]] = {}
    for title, reg in registries():
        out[title] = [(name, _marked(reg, name, _doc(entry))) for name, entry in reg.items()]
    if root is None:  # ./studies, else the folders next to the package (editable install)
        here = Path.cwd()
        root = here if (here / "studies").is_dir() else Path(__file__).resolve().parent.parent
    base = root
    for folder in ("grids", "studies"):
        files = sorted((base / folder).glob("*.toml"))
        if files:
            out[folder] = [(f"{folder}/{f.name}", _describe(f, folder)) for f in files]
    return out


def _marked(reg: Any, name: str, doc: str) -> str:
    """The description, prefixed with ``[plugin MODULE]`` for entries from plugins."""
    origin = reg.origin(name)
    return doc if origin == "built-in" else f"[{origin}] {doc}"


def _describe(path: Path, folder: str) -> str:
    """The file's purpose comment; for a study, prefixed with its kind."""
    text = _first_comment(path)
    if folder == "studies":
        import tomllib

        try:
            kind = tomllib.loads(path.read_text(encoding="utf-8")).get("kind", "?")
        except (OSError, tomllib.TOMLDecodeError):
            kind = "invalid TOML"
        text = f"[{kind}] {text}"
    return text


def _first_comment(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
