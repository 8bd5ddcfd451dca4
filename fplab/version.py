"""``code_version``: the package version plus a hash of the source a result depends on.

A leaf module (it imports nothing from fplab; ``fplab.__version__`` is defined here): the cache
keys (``fplab.studykinds.base.Case.key``), the runner and the report all read it from here.  Which
sub-packages a study kind depends on is known only to the study-kind registry, a layer above; that
layer installs the lookup with :func:`set_depends_lookup` (``fplab.studykinds.base`` does so when
imported), so this module never imports it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["__version__", "code_version", "set_depends_lookup", "source_paths"]

__version__ = "0.1.0"

#: the package's source folder (this file lives directly in it)
_ROOT = Path(__file__).resolve().parent

#: kind name -> the fplab sub-packages its results depend on; installed by the study-kind layer
_depends_lookup: Callable[[str], Sequence[str]] | None = None


def set_depends_lookup(lookup: Callable[[str], Sequence[str]]) -> None:
    """Install ``lookup(kind) -> depends`` (``StudyKind.depends``); clears the memoised versions."""
    global _depends_lookup
    _depends_lookup = lookup
    code_version.cache_clear()


def source_paths(depends: Sequence[str] | None = None) -> list[Path]:
    """The ``.py`` files a version hash covers, sorted: with ``depends`` every module directly
    under ``fplab/``, the ``sdes`` and ``studykinds`` packages and the sub-packages named in
    ``depends``; with None the whole package."""
    root = _ROOT
    if depends is None:
        return sorted(root.rglob("*.py"))
    paths = sorted(root.glob("*.py"))
    for pkg in ("sdes", "studykinds", *depends):
        paths += sorted((root / pkg).rglob("*.py"))
    return paths


@functools.cache
def code_version(kind: str | None = None) -> str:
    """``fplab.__version__`` + a short hash of the source a study kind's results depend on.

    With ``kind`` the hash covers every module directly under ``fplab/`` (grid, exact, metrics
    glue, convergence, spec, runner, ...), the ``sdes`` and ``studykinds`` packages, and the
    sub-packages the kind declares in ``depends`` (e.g. ``("fd", "metrics")``); an edit to an
    unrelated sub-package (say ``nn``) then leaves FD results cached.  Without ``kind``: the whole
    package.
    """
    depends = None
    if kind is not None:
        if _depends_lookup is None:
            msg = (
                f"code_version({kind!r}): the study-kind registry is not loaded; "
                "import fplab.studykinds.base first"
            )
            raise RuntimeError(msg)
        depends = tuple(_depends_lookup(kind))
    root = _ROOT
    h = hashlib.sha256()
    for path in source_paths(depends):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"
