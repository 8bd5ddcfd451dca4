"""Bring your own sampler, integrator, SDE, metric or study kind: loading plugins.

A plugin is an ordinary Python module that decorates its entries with the registration
functions (``fplab.registration``, re-exported here and as ``fp.register_*``).  Its
entries land in the same registries as fplab's own (``SAMPLERS``, ``MC_METHODS``, ``SDES``,
``METRICS``, ``STUDY_KINDS``), with the same declared properties and checks, so they work
everywhere a built-in entry does: ``fp.sample_reverse`` / ``fp.simulate``, study specs,
``fplab list``, reports and ``fplab check``.

Plugins are loaded from three places (:func:`load_plugins`):

- ``--plugin MODULE`` on ``fplab run | report | check | list`` (repeatable);
- ``plugins = ["module", ...]`` at the top of a study spec;
- the entry-point group ``fplab.plugins`` of installed packages (loaded by the CLI, and on the
  first registry look-up that misses, so a script can use a plugin name without importing it).

**A plugin is code that runs**: loading one imports it with your permissions.  Load only
plugins you would import yourself.

Every loaded plugin is recorded (:func:`loaded_plugins`: module, package version, source hash,
the entries it added); reports list them in their provenance, and a study case's cache key
includes the source hash of every plugin entry and spec reference (``pkg.mod:attr``) it names,
so editing a plugin reruns its cases and only those.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fplab.errors import ConfigError
from fplab.references import REFERENCE, custom_sde_from_spec, resolve_reference
from fplab.registration import (
    register_mc_method,
    register_metric,
    register_sampler,
    register_sde,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginError",
    "PluginInfo",
    "custom_sde_from_spec",
    "ensure_loaded",
    "forget_plugin",
    "ignore_entry_points",
    "load_entry_points",
    "load_plugins",
    "loaded_plugins",
    "plugin_fingerprint",
    "plugin_modules",
    "register_mc_method",
    "register_metric",
    "register_sampler",
    "register_sde",
    "resolve_reference",
    "source_hash",
]

#: the entry-point group installed packages declare their fplab plugin modules in
ENTRY_POINT_GROUP = "fplab.plugins"


class PluginError(ConfigError):
    """A plugin could not be loaded or declared something invalid (the CLI exits with status 2)."""


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin module.

    Attributes
    ----------
    module : str            the module name that was imported
    source : str            where it was named: ``--plugin``, ``spec FILE`` or ``entry point NAME``
    version : str or None   version of the installed distribution that ships it, if any
    hash : str              sha256 (first 16 hex digits) of its source files
    entries : tuple of (registry, name)   what it registered, e.g. ``("method", "my-euler")``
    """

    module: str
    source: str
    version: str | None
    hash: str
    entries: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "source": self.source,
            "version": self.version,
            "hash": self.hash,
            "entries": [list(e) for e in self.entries],
        }


# the plugins loaded in this process, by module name (insertion order = load order)
_LOADED: dict[str, PluginInfo] = {}
_ENTRY_POINTS_DONE: list[bool] = [False]


# -- loading ----------------------------------------------------------------------------------
def _registries() -> list[Any]:
    from fplab.catalogue import registries

    return [reg for _, reg in registries()]


def _snapshot() -> set[tuple[int, str]]:
    """(id of the registry, name) of every entry: SAMPLERS and MC_METHODS share the label
    ``what = "method"``, so a sampler and an MC method of the same name are told apart by id."""
    return {(id(reg), n) for reg in _registries() for n in reg.names()}


def _labelled(keys: Iterable[tuple[int, str]]) -> set[tuple[str, str]]:
    """(registry label, name) of snapshot keys, as ``PluginInfo.entries`` lists them."""
    what = {id(reg): reg.what for reg in _registries()}
    return {(what[rid], name) for rid, name in keys}


def _module_files(module: Any) -> list[Path]:
    """The source files of a module (all ``*.py`` under a package's folder)."""
    file = getattr(module, "__file__", None)
    if not file:
        return []
    path = Path(file)
    if path.name == "__init__.py":
        return sorted(path.parent.rglob("*.py"))
    return [path]


def _entries_of(module: str) -> set[tuple[str, str]]:
    """(registry, name) of the entries defined in ``module`` or its submodules."""
    out = set()
    for reg in _registries():
        for name in reg.names():
            origin = reg.origin(name).removeprefix("plugin ")
            if origin == module or origin.startswith(f"{module}."):
                out.add((reg.what, name))
    return out


def source_hash(module_name: str, *also: str) -> str:
    """sha256 (16 hex digits) of an imported module's source files (package: every ``*.py``),
    and of the modules ``also`` (those defining the plugin's entries, when they live outside
    it, e.g. a helper module next to a one-file plugin)."""
    h = hashlib.sha256()
    seen: set[Path] = set()
    for name in (module_name, *sorted(set(also) - {module_name})):
        module = sys.modules.get(name) or importlib.import_module(name)
        files = [f for f in _module_files(module) if f not in seen]
        seen.update(files)
        root = files[0].parent if files else Path()
        for path in files:
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _origin_modules(entries: Iterable[tuple[str, str]]) -> list[str]:
    """The modules that define plugin entries (registry ``what``, name)."""
    regs = _registries()
    out = set()
    for what, name in entries:
        for reg in regs:
            if reg.what == what and name in reg:
                origin = reg.origin(name)
                if origin.startswith("plugin ") and origin.removeprefix("plugin ") in sys.modules:
                    out.add(origin.removeprefix("plugin "))
    return sorted(out)


def _dist_version(module_name: str) -> str | None:
    from importlib import metadata

    top = module_name.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _load_one(module: str, source: str) -> PluginInfo:
    if module in _LOADED:
        return _LOADED[module]
    if not isinstance(module, str) or not re.fullmatch(r"[A-Za-z_][\w.]*", module):
        msg = (
            f"plugin {module!r} ({source}): not a module name; allowed: a dotted name like pkg.mod"
        )
        raise PluginError(msg)
    before = _snapshot()
    modules_before = set(sys.modules)
    try:
        imported = sys.modules.get(module) or importlib.import_module(module)
    except ImportError as exc:
        problem = f"cannot import it ({type(exc).__name__}: {exc})"
    except (ValueError, TypeError) as exc:  # a duplicate name, a bad declared order, ...
        problem = str(exc)
    except Exception as exc:  # anything else a foreign module raises while it runs
        problem = f"raised {type(exc).__name__} while it was imported: {exc}"
    else:
        problem = ""
    if problem:
        _remove_new(_snapshot() - before)
        # forget the package's submodules this attempt imported: a retry after a fix re-runs
        # their registrations instead of finding them imported.  Only the plugin's own
        # modules: re-importing a third-party extension (torch, ...) is not safe
        for name in set(sys.modules) - modules_before:
            if name.startswith(f"{module}."):
                sys.modules.pop(name, None)
        sys.modules.pop(module, None)
        msg = f"plugin {module!r} ({source}): {problem}"
        raise PluginError(msg)
    # entries of a module imported before (e.g. by the user's own script) are found by origin
    added = sorted(_labelled(_snapshot() - before) | _entries_of(module))
    info = PluginInfo(
        module=module,
        source=source,
        version=_dist_version(module),
        hash=source_hash(imported.__name__, *_origin_modules(added)),
        entries=tuple(added),
    )
    _LOADED[module] = info
    return info


def load_plugins(modules: Iterable[str] = (), *, source: str = "--plugin") -> list[PluginInfo]:
    """Import plugin modules (each once per process) and record what they registered.

    Parameters
    ----------
    modules : iterable of str
        Importable module names (installed, or on ``sys.path`` / ``PYTHONPATH``).
    source : str
        Where they were named, for messages and provenance.

    Raises
    ------
    PluginError
        (a ``ConfigError``: exit status 2 in the CLI) naming the module: it cannot be imported,
        it registers a name that exists already, or it declares an invalid order.
    """
    return [_load_one(m, source) for m in modules]


def load_entry_points() -> list[PluginInfo]:
    """Load every module of the entry-point group ``fplab.plugins`` (once per process)."""
    if _ENTRY_POINTS_DONE[0]:
        return [p for p in _LOADED.values() if p.source.startswith("entry point")]
    _ENTRY_POINTS_DONE[0] = True
    from importlib import metadata

    out = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        module = ep.value.split(":")[0].strip()
        out.append(_load_one(module, f"entry point {ep.name}"))
    return out


def ignore_entry_points() -> None:
    """Never load installed plugins in this process (fplab's own test suite, which tests the
    built-in catalogue whatever else is installed)."""
    _ENTRY_POINTS_DONE[0] = True


def loaded_plugins() -> list[PluginInfo]:
    """The plugins loaded in this process, in load order."""
    return list(_LOADED.values())


def _remove_new(added: Iterable[tuple[int, str]]) -> None:
    """Remove the entries (id of the registry, name) a failed import added."""
    regs = {id(reg): reg for reg in _registries()}
    for rid, name in added:
        reg = regs[rid]
        if name in reg and reg.origin(name) != "built-in":
            reg.remove(name)


def _rollback(added: Iterable[tuple[str, str]]) -> None:
    """Remove plugin entries (registry ``what``, name) from every registry with that label (a
    sampler and an MC method share the label ``"method"`` and may share a name)."""
    regs = _registries()
    for what, name in added:
        for reg in regs:
            if reg.what == what and name in reg and reg.origin(name) != "built-in":
                reg.remove(name)


def forget_plugin(module: str) -> None:
    """Remove a loaded plugin's entries and record (tests; a later load imports it afresh)."""
    info = _LOADED.pop(module, None)
    if info is not None:
        _rollback(info.entries)
    sys.modules.pop(module, None)


# -- cache keys -------------------------------------------------------------------------------
def _strings(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _strings(v)


def plugin_fingerprint(kind: str, config: Any) -> dict[str, str]:
    """``{module: source hash}`` of the plugins whose entries a case names (its kind, or any
    string in its configuration) and of the modules its ``pkg.mod:attr`` references import.
    Empty for a case that uses built-in entries only, so built-in cache keys never change."""
    names = {kind, *_strings(config)}
    out: dict[str, str] = {}
    for info in _LOADED.values():
        if any(n in names for _, n in info.entries):
            out[info.module] = info.hash
    for s in names:
        if REFERENCE.match(s):
            module = s.split(":")[0]
            try:
                out[module] = source_hash(module)
            except Exception:  # the case itself reports the import error
                continue
    return dict(sorted(out.items()))


def plugin_modules() -> list[str]:
    """Modules to import in a worker process so it sees this process's plugin entries."""
    return list(_LOADED)


def ensure_loaded(modules: Iterable[str]) -> None:
    """Import ``modules`` in a worker (a no-op for those already loaded)."""
    for module in modules:
        if module not in _LOADED:
            _load_one(module, "worker")
