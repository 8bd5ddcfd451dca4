"""The study-kind layer's base: the registry ``STUDY_KINDS``, ``StudyKind``, ``Option`` and ``Case``.

A study kind is one module under ``fplab/studykinds/`` holding one decorated ``StudyKind``
subclass; the registry finds the modules itself (``pkgutil`` over this package, on its first
look-up), so adding a kind is adding a file.  This module imports no study kind and no spec code
(``fplab.spec`` imports it), so the layers run one way: version -> base -> spec -> kinds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fplab import version
from fplab._registry import Registry, check_key

if TYPE_CHECKING:  # annotations only: fplab.spec imports this module
    from fplab.spec import StudySpec, _Errors

__all__ = ["STUDY_KINDS", "Case", "Option", "StudyKind", "discover_kinds", "register_study_kind"]


def discover_kinds() -> list[str]:
    """Import every module of ``fplab/studykinds/`` (bar ``base`` and private ones), so that
    their kinds register; returns the module names.  ``STUDY_KINDS`` calls it on first use."""
    names = []
    for info in pkgutil.iter_modules([str(Path(__file__).resolve().parent)]):
        if info.name.startswith("_") or info.name == "base":
            continue
        importlib.import_module(f"{__package__}.{info.name}")
        names.append(info.name)
    return names


def _check_kind(name: str, cls: Any) -> None:
    """A kind must be a StudyKind subclass declaring ``depends`` (itself or a kind base class it
    derives from): the cache key hashes those sub-packages, and StudyKind has no default, which
    would silently keep stale results when a kind forgets a sub-package it uses."""
    if not (isinstance(cls, type) and issubclass(cls, StudyKind)):
        msg = f"study kind {name!r}: a StudyKind subclass is registered, got {cls!r}"
        raise TypeError(msg)
    deps = getattr(cls, "depends", None)
    if deps is None:
        msg = (
            f"study kind {name!r} ({cls.__module__}.{cls.__qualname__}) declares no `depends`; "
            "allowed: a tuple of the fplab sub-packages its results depend on, e.g. "
            '("fd", "metrics") -- they are part of its cache key'
        )
        raise TypeError(msg)
    if not (isinstance(deps, tuple) and all(isinstance(d, str) for d in deps)):
        msg = f"study kind {name!r}: `depends` must be a tuple of sub-package names, got {deps!r}"
        raise TypeError(msg)


@dataclass(frozen=True)
class Option:
    """A kind-specific ``[options]`` key: accepted Python types, default and a description.

    ``choices_from`` names a registry ``(module, attribute)`` the value (a string) must be a key of.
    A value may also be a table ``{quick = ..., full = ...}`` giving one value per tier.
    """

    types: tuple[type, ...]
    default: Any
    doc: str
    choices_from: tuple[str, str] | None = None
    minimum: float | None = None


@dataclass(frozen=True)
class Case:
    """One unit of work: a study kind plus a JSON-ready configuration; ``key`` hashes both."""

    study: str
    kind: str
    label: str
    config: dict[str, Any]

    @property
    def key(self) -> str:
        ident: dict[str, Any] = {
            "kind": self.kind,
            "config": self.config,
            "code": version.code_version(self.kind),
        }
        from fplab.plugins import plugin_fingerprint

        plugins = plugin_fingerprint(self.kind, self.config)
        if plugins:  # plugin entries and pkg.mod:attr references: their source is part of the key
            ident["plugins"] = plugins
        blob = json.dumps(ident, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


class StudyKind:
    """Base class of study kinds.  Subclasses set the class attributes and implement the methods.

    Attributes
    ----------
    sweep_params : allowed ``sweep.param`` values
    compare : ``(module, registry attribute)`` whose keys ``sweep.compare`` lists, or None
    references : allowed ``measure.reference`` values (empty: no reference is used)
    needs : problem keys that must be present
    needs_metric : whether ``measure.metric`` (a METRICS key) is required
    accepts_metric : whether an optional ``measure.metric`` is allowed (when not required)
    metric_args : the signatures (``fplab.metrics`` ``args``) a required ``measure.metric``
        may have, checked with the spec; default two densities ``(p, q, grid)``, ``()`` any
    options : kind-specific ``[options]`` keys
    free_options : the ``[options]`` table is passed through unchecked (the kind validates it)
    order_atol, error_rtol : default regression-check tolerances (``[check]`` overrides)
    bounds : the bounds of the kind's non-order claims, ``{key: (default, where it comes from)}``;
        ``[expect] bounds = {key = number}`` tightens or relaxes them
    depends : fplab sub-packages whose source the results depend on (part of the cache key; the
        modules directly under ``fplab/``, ``sdes`` and ``studykinds`` always are); required, a
        kind without its own ``depends`` fails at registration
    """

    sweep_params: ClassVar[tuple[str, ...]] = ()
    compare: ClassVar[tuple[str, str] | None] = None
    references: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[tuple[str, ...]] = ("sde",)
    needs_metric: ClassVar[bool] = False
    accepts_metric: ClassVar[bool] = False
    metric_args: ClassVar[tuple[tuple[str, ...], ...]] = (("p", "q", "grid"),)
    free_options: ClassVar[bool] = False
    options: ClassVar[dict[str, Option]] = {}
    order_atol: ClassVar[float] = 0.02
    error_rtol: ClassVar[float] = 0.01
    depends: ClassVar[tuple[str, ...]]  # required in every kind (checked at registration)
    bounds: ClassVar[dict[str, tuple[float, str]]] = {}

    def bound(self, spec: StudySpec, key: str) -> float:
        """The bound ``key`` of a claim: ``[expect] bounds`` when the spec sets it, else the default."""
        return float(spec.expect.get("bounds", {}).get(key, self.bounds[key][0]))

    def validate(self, spec: StudySpec, err: _Errors) -> None:
        """Kind-specific checks beyond the schema; raise through ``err``."""

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        """(peak bytes, elementary updates) one case needs; (0, 0) when not estimated.

        ``load_study`` refuses a case above :func:`resource_limits` before anything runs.
        """
        return 0.0, 0.0

    def cases(self, spec: StudySpec, tier: str) -> list[tuple[str, dict[str, Any]]]:
        """(label, JSON-ready config) for every case of ``tier``."""
        raise NotImplementedError

    def run_case(self, config: dict[str, Any]) -> dict[str, Any]:
        """Run one case; returns ``{"row": {scalars}, ...}`` or ``{"rows": [{...}, ...], ...}``
        (JSON-ready dicts: row fields are JSON scalars or flat lists of them).  Runs in a worker;
        the methods below get each row back as a read-only :class:`fplab.records.Row`."""
        raise NotImplementedError

    def summarize(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]]
    ) -> dict[str, Any]:
        """Orders/errors/tables from stored results (see ``fplab.studykinds._common``).

        ``results`` pairs each case with its result dict, whose ``"row"`` / ``"rows"`` hold
        :class:`fplab.records.Row` records (a read-only Mapping with typed ``h``, ``error``,
        ...), timing fields appended; ``figures``, ``claims`` and ``extra_files`` get the same."""
        raise NotImplementedError

    def figures(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        """(caption, matplotlib Figure) pairs; never writes files (``fplab.report`` does)."""
        return []

    def claims(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[Any]:
        """The study's claims judged on its results: a list of ``fplab.records.Verdict``."""
        return []

    def extra_files(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]], summary: dict[str, Any]
    ) -> dict[str, str]:
        """Extra files for the study's report folder, ``{file name: text}`` (e.g. ``claims.json``)."""
        return {}


#: the study-kind catalogue; entries are StudyKind subclasses, one module each under
#: fplab/studykinds/, found by ``discover_kinds`` on the first look-up
STUDY_KINDS: Registry[type[StudyKind]] = Registry(
    "study kind", discover=discover_kinds, check=_check_kind
)
# the leaf fplab.version hashes the sub-packages a kind depends on; it learns them from here
version.set_depends_lookup(lambda kind: STUDY_KINDS.get(kind).depends)


def register_study_kind(name: str) -> Callable[[type], type]:
    """``fp.register_study_kind``: register a study kind (a ``StudyKind`` subclass that sets
    ``depends``) from another package in ``STUDY_KINDS``; the name is checked before decorating."""
    check_key(name, "study kind")

    def deco(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, StudyKind)):
            msg = f"register_study_kind({name!r}) decorates a StudyKind subclass, got {cls!r}"
            raise TypeError(msg)
        STUDY_KINDS.register(name)(cls)
        return cls

    return deco
