"""Bring your own sampler, integrator, SDE, metric or study kind: public registration and loading.

A plugin is an ordinary Python module that decorates its entries with the functions below.  Its
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

import functools
import hashlib
import importlib
import inspect
import math
import numbers
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fplab.errors import ConfigError, NumericalError

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginError",
    "PluginInfo",
    "load_entry_points",
    "load_plugins",
    "loaded_plugins",
    "plugin_fingerprint",
    "register_mc_method",
    "register_metric",
    "register_sampler",
    "register_sde",
    "register_study_kind",
    "resolve_reference",
    "source_hash",
]

#: the entry-point group installed packages declare their fplab plugin modules in
ENTRY_POINT_GROUP = "fplab.plugins"

#: a spec reference to a user callable, ``package.module:attribute``
REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


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


# -- declared properties ----------------------------------------------------------------------
def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name:
        msg = f"{what} name must be a non-empty string, got {name!r}"
        raise TypeError(msg)
    return name


def _positive_order(value: Any, key: str, name: str, *, allow_none: bool = False) -> float | None:
    """A declared order: a finite positive real (or ``inf`` for exact methods); ``ValueError``
    naming the entry and the key otherwise."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not (float(value) > 0.0) or math.isnan(float(value)):
        msg = f"{name!r}: {key} must be a positive number (the declared order), got {value!r}"
        raise ValueError(msg)
    return float(value)


def _check_bool(value: Any, key: str, name: str) -> bool:
    if not isinstance(value, bool):
        msg = f"{name!r}: {key} must be True or False, got {value!r}"
        raise TypeError(msg)
    return value


def _check_step_signature(fn: Any, name: str, params: str) -> None:
    if not callable(fn):
        msg = f"{name!r}: the decorated object must be a function {params}, got {type(fn).__name__}"
        raise TypeError(msg)
    try:
        inspect.signature(fn).bind(*range(params.count(",") + 1))
    except TypeError:
        msg = f"{name!r}: the step function must take the arguments {params}"
        raise TypeError(msg) from None
    except ValueError:  # no signature (a builtin or C function): trust it
        pass


def _sampler_requirements() -> list[str]:
    from fplab.reverse.samplers import SAMPLERS

    return sorted({r for _, s in SAMPLERS.items() for r in s.requires})


# -- the decorators ---------------------------------------------------------------------------
def register_sampler(
    name: str,
    *,
    order: float,
    deterministic: bool,
    adaptive: bool = False,
    requires: Iterable[str] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a reverse-time sampler step ``step(ctx, x, t, s, rng) -> x_s`` in ``SAMPLERS``.

    Parameters
    ----------
    name : str
        The key users pass as ``method=`` (lower-case kebab, e.g. ``"my-euler"``).
    order : float > 0
        Declared global order in the step h: pathwise for deterministic samplers, weak for
        stochastic ones (as for the built-ins); ``fplab.testing.check_sampler`` and the
        ``reverse`` study's order claims test it.
    deterministic : bool
        True when the step does not use ``rng``.
    adaptive : bool
        True when the step chooses its own sub-steps (``n_steps`` is then only a hint).
    requires : iterable of str
        Requirements on the SDE, as for the built-ins (``'vp-family'``: VP or sub-VP only).

    Returns
    -------
    decorator
        Returns the step function itself, with ``order``, ``deterministic``, ``adaptive`` and
        ``requires`` set on it.

    Raises
    ------
    ValueError
        A bad key, a duplicate name, a non-positive order or an unknown requirement.

    Notes
    -----
    ``ctx`` is the built-in samplers' ``StepContext``: ``ctx.sde``, ``ctx.score(x, t)``,
    ``ctx.velocity(x, t)`` (probability-flow velocity), ``ctx.reverse_drift(x, t)``,
    ``ctx.alpha_sigma(t)``.  x has shape (n, d) and float64 dtype; the step goes from time t
    down to s < t.  Each result is checked: a wrong shape is a ``ValueError`` and NaN/inf a
    ``NumericalError``, both naming the sampler and the step time.
    """
    from fplab.reverse.samplers import SAMPLERS

    _check_name(name, "sampler")
    order_v = _positive_order(order, "order", name)
    det = _check_bool(deterministic, "deterministic", name)
    adap = _check_bool(adaptive, "adaptive", name)
    if isinstance(requires, str):
        requires = (requires,)
    req = tuple(requires)
    known = _sampler_requirements()
    for r in req:
        if r not in known:
            msg = f"{name!r}: unknown requirement {r!r}; allowed: {', '.join(map(repr, known))}"
            raise ValueError(msg)

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _check_step_signature(fn, name, "(ctx, x, t, s, rng)")

        @functools.wraps(fn)
        def step(ctx: Any, x: Any, t: float, s: float, rng: np.random.Generator) -> Any:
            out = fn(ctx, x, t, s, rng)
            return _checked_step_result(out, x, f"sampler {name!r}", f"t={t:.6g} -> s={s:.6g}")

        targets: list[Any] = [step, fn]
        for target in targets:
            target.order = order_v
            target.deterministic = det
            target.adaptive = adap
            target.requires = req
        step.plugin_module = fn.__module__  # type: ignore[attr-defined]
        SAMPLERS.register(name)(step)  # type: ignore[arg-type]
        fn.registry_name = name  # type: ignore[attr-defined]
        return fn

    return deco


def _checked_step_result(out: Any, x: Any, who: str, when: str) -> Any:
    """``out`` as float64 of x's shape; ValueError / NumericalError naming ``who`` and ``when``."""
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"{who} returned {type(out).__name__} at the step {when}; it must return an array"
        raise TypeError(msg) from err
    if arr.shape != np.shape(x):
        msg = (
            f"{who} returned shape {arr.shape} at the step {when}; a step must return an array "
            f"of the shape of x, {np.shape(x)}"
        )
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        msg = f"{who} returned {bad} non-finite value(s) (NaN or inf) at the step {when}"
        raise NumericalError(msg)
    return arr


def _order_table(value: Any, key: str, name: str) -> dict[str, float | None]:
    """A declared MC order: one number for both noise types, or ``{additive, multiplicative}``."""
    if isinstance(value, dict):
        allowed = ("additive", "multiplicative")
        for k in value:
            if k not in allowed:
                msg = (
                    f"{name!r}: {key} has unknown key {k!r}; allowed: 'additive', 'multiplicative'"
                )
                raise ValueError(msg)
        if "additive" not in value:
            msg = f"{name!r}: {key} needs an 'additive' order"
            raise ValueError(msg)
        return {
            "additive": _positive_order(value["additive"], f"{key}['additive']", name),
            "multiplicative": _positive_order(
                value.get("multiplicative"), f"{key}['multiplicative']", name, allow_none=True
            ),
        }
    v = _positive_order(value, key, name)
    return {"additive": v, "multiplicative": v}


def register_mc_method(
    name: str,
    *,
    strong_order: Any,
    weak_order: Any,
    stages: Iterable[float] = (0.0,),
    needs_dz: bool = False,
    requirements: str = "none",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a forward SDE integrator step in ``MC_METHODS`` (runs on ``fp.simulate``'s NumPy path).

    The step has the built-in methods' array-generic signature::

        step(x, h, dw, dz, F, G, Gx) -> x_next

    with x of shape (n, d), step h, the Brownian increment dw (n, d) over the step, dz the
    iterated integral ∫∫ dW ds (only with ``needs_dz=True``, else None) and the coefficient
    callables ``F(y, k)`` (drift (n, d) at stage time t + stages[k] h), ``G(y, k)`` (diffusion,
    (n, 1)) and ``Gx(y, k)`` (∇g, (n, d)).  NumPy code, or a call into your own numba kernel.

    Parameters
    ----------
    name : str
        The key users pass as ``method=``.
    strong_order, weak_order : float > 0, or dict
        Declared orders; one number for every SDE, or ``{"additive": p, "multiplicative": q}``
        (q None: the method does not apply to state-dependent noise).
    stages : iterable of float in [0, 1]
        Stage times (fractions of the step) at which ``F``/``G``/``Gx`` evaluate.
    needs_dz : bool
        The step uses ΔZ = ∫∫ dW ds (jointly drawn with ΔW, as for the built-in SRK).
    requirements : str
        One line shown by ``fplab list``.

    Returns
    -------
    decorator
        Returns the step function; the registered entry is a ``Method`` subclass.

    Raises
    ------
    ValueError
        A bad key, a duplicate name, a non-positive order or stage times outside [0, 1].
    """
    from fplab.mc.methods import MC_METHODS, Method

    _check_name(name, "method")
    strong = _order_table(strong_order, "strong_order", name)
    weak = _order_table(weak_order, "weak_order", name)
    taus = tuple(float(v) for v in stages)
    if not taus or any(not 0.0 <= v <= 1.0 for v in taus):
        msg = f"{name!r}: stages must be fractions of the step in [0, 1], got {taus!r}"
        raise ValueError(msg)
    dz = _check_bool(needs_dz, "needs_dz", name)

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _check_step_signature(fn, name, "(x, h, dw, dz, F, G, Gx)")

        def step(x: Any, h: float, dw: Any, dz_: Any, F: Any, G: Any, Gx: Any) -> Any:
            out = fn(x, h, dw, dz_, F, G, Gx)
            return _checked_step_result(out, x, f"method {name!r}", f"of size h={h:.6g}")

        @classmethod  # type: ignore[misc]
        def check(cls: Any, sde: Any, d: int, x_probe: Any, t0: float) -> None:
            if not sde.additive and cls.strong_order["multiplicative"] is None:
                msg = (
                    f"method {name!r} declares no order for state-dependent noise, but {sde!r} "
                    "has it; use a method for multiplicative noise ('euler-maruyama', 'milstein')"
                )
                raise ValueError(msg)

        cls = type(
            "".join(p.capitalize() for p in name.split("-")) or "PluginMethod",
            (Method,),
            {
                "__doc__": fn.__doc__ or f"plugin MC method {name!r}",
                "__module__": fn.__module__,
                "strong_order": strong,
                "weak_order": weak,
                "taus": taus,
                "code": None,
                "needs_dz": dz,
                "requirements": str(requirements),
                "step": staticmethod(step),
                "check": check,
                "step_function": staticmethod(fn),
            },
        )
        MC_METHODS.register(name)(cls)
        fn.registry_name = name  # type: ignore[attr-defined]
        return fn

    return deco


def register_sde(name: str) -> Callable[[type], type]:
    """Register an SDE class (a subclass of ``fp.SDE``) in ``SDES``; specs build it by ``name``
    with ``[problem] params`` as keyword arguments."""
    from fplab.sdes.base import SDE, SDES

    _check_name(name, "sde")

    def deco(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, SDE)):
            msg = f"register_sde({name!r}) decorates a subclass of fplab.SDE, got {cls!r}"
            raise TypeError(msg)
        SDES.register(name)(cls)
        return cls

    return deco


def register_metric(name: str, *, kind: str | None = None) -> Callable[[Callable[..., float]], Any]:
    """Register a metric in ``METRICS``.  Its leading parameters say what it compares:
    ``(p, q, grid)`` two densities on a grid (kind ``"density"``), ``(x, y)`` two sample sets
    or ``(x, q, grid)`` samples against a density (kind ``"samples"``)."""
    from fplab.metrics import METRICS

    _check_name(name, "metric")
    shapes = {("p", "q", "grid"): "density", ("x", "y"): "samples", ("x", "q", "grid"): "samples"}

    def deco(fn: Callable[..., float]) -> Any:
        if not callable(fn):
            msg = f"register_metric({name!r}) decorates a function, got {type(fn).__name__}"
            raise TypeError(msg)
        params = tuple(inspect.signature(fn).parameters)
        args = next((a for a in shapes if params[: len(a)] == a), None)
        if args is None:
            allowed = ", ".join(f"({', '.join(a)})" for a in shapes)
            msg = f"metric {name!r} must start with the parameters {allowed}; got {params}"
            raise TypeError(msg)
        k = kind or shapes[args]
        if k != shapes[args]:
            msg = f"metric {name!r}: kind {k!r} does not match its parameters {args}"
            raise ValueError(msg)
        fn.kind = k  # type: ignore[attr-defined]
        fn.args = args  # type: ignore[attr-defined]
        METRICS.register(name)(fn)
        return fn

    return deco


def register_study_kind(name: str) -> Callable[[type], type]:
    """Register a study kind (a subclass of ``fplab.study.StudyKind``) in ``STUDY_KINDS``."""
    from fplab.study import STUDY_KINDS, StudyKind

    _check_name(name, "study kind")

    def deco(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, StudyKind)):
            msg = f"register_study_kind({name!r}) decorates a StudyKind subclass, got {cls!r}"
            raise TypeError(msg)
        STUDY_KINDS.register(name)(cls)
        return cls

    return deco


# -- loading ----------------------------------------------------------------------------------
def _registries() -> list[Any]:
    from fplab.catalogue import registries

    return [reg for _, reg in registries()]


def _snapshot() -> set[tuple[str, str]]:
    return {(reg.what, n) for reg in _registries() for n in reg.names()}


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


def source_hash(module_name: str) -> str:
    """sha256 (16 hex digits) of an imported module's source files (package: every ``*.py``)."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    h = hashlib.sha256()
    files = _module_files(module)
    root = files[0].parent if files else Path()
    for path in files:
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


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
        _rollback(_snapshot() - before)
        sys.modules.pop(module, None)
        msg = f"plugin {module!r} ({source}): {problem}"
        raise PluginError(msg)
    # entries of a module imported before (e.g. by the user's own script) are found by origin
    added = sorted((_snapshot() - before) | _entries_of(module))
    info = PluginInfo(
        module=module,
        source=source,
        version=_dist_version(module),
        hash=source_hash(imported.__name__),
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


def _rollback(added: Iterable[tuple[str, str]]) -> None:
    """Remove registry entries (registry ``what``, name) again."""
    regs = _registries()
    for what, name in added:
        for reg in regs:
            if reg.what == what and name in reg and reg.origin(name) != "built-in":
                reg.remove(name)
                break


def forget_plugin(module: str) -> None:
    """Remove a loaded plugin's entries and record (tests; a later load imports it afresh)."""
    info = _LOADED.pop(module, None)
    if info is not None:
        _rollback(info.entries)
    sys.modules.pop(module, None)


# -- spec references and cache keys -----------------------------------------------------------
def resolve_reference(ref: Any, key: str = "reference") -> Any:
    """The object a ``"package.module:attribute"`` string names.

    Raises
    ------
    ValueError
        ``ref`` is not of that form, the module cannot be imported or has no such attribute; the
        message starts with ``key`` and ``cannot import ...``.
    """
    if not isinstance(ref, str) or not REFERENCE.match(ref):
        msg = f"{key}: {ref!r} is not a reference; allowed: 'package.module:attribute'"
        raise ValueError(msg)
    module_name, attr = ref.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        msg = f"{key}: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
        raise ValueError(msg) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            msg = f"{key}: cannot import {ref!r}: module {module_name!r} has no attribute {attr!r}"
            raise ValueError(msg) from None
    return obj


#: keys of a spec's ``sde = { drift = "pkg.mod:f", ... }`` table (a ``fp.CustomSDE``)
CUSTOM_SDE_KEYS = ("drift", "diffusion", "diffusion_dx", "dim", "additive", "autonomous", "name")


def custom_sde_from_spec(table: dict[str, Any], params: dict[str, Any] | None = None,
                         key: str = "problem.sde") -> Any:  # fmt: skip
    """A ``fp.CustomSDE`` from a spec table whose callables are ``pkg.mod:attr`` references.

    ``drift`` (required) and ``diffusion`` (a reference or a positive number) and the optional
    ``diffusion_dx`` are called as ``f(x, t, **params)`` (``[problem] params``); ``dim``,
    ``additive``, ``autonomous`` and ``name`` are passed to ``CustomSDE``.

    Raises
    ------
    ValueError
        ``KEY.FIELD: ...`` for an unknown or missing field or a reference that does not resolve
        (``cannot import ...``); the spec loader turns it into ``FILE: KEY.FIELD: ...``.
    """
    from fplab.sdes.nonlinear import CustomSDE

    for k in table:
        if k not in CUSTOM_SDE_KEYS:
            msg = f"{key}.{k}: unknown key; allowed: {', '.join(map(repr, CUSTOM_SDE_KEYS))}"
            raise ValueError(msg)
    for k in ("drift", "diffusion"):
        if k not in table:
            msg = f"{key}.{k}: missing; a reference 'package.module:function'"
            raise ValueError(msg)
    kw = dict(params or {})

    def fn(field_name: str) -> Any:
        target = resolve_reference(table[field_name], f"{key}.{field_name}")
        if not callable(target):
            msg = f"{key}.{field_name}: {table[field_name]!r} is not callable"
            raise ValueError(msg)
        return functools.partial(target, **kw) if kw else target

    diffusion = table["diffusion"]
    g = fn("diffusion") if isinstance(diffusion, str) else diffusion
    extra: dict[str, Any] = {
        k: table[k] for k in ("dim", "additive", "autonomous", "name") if k in table
    }
    if "name" not in extra:
        extra["name"] = str(table["drift"])
    if "diffusion_dx" in table:
        extra["diffusion_dx"] = fn("diffusion_dx")
    drift = fn("drift")
    try:
        return CustomSDE(drift, g, **extra)
    except (TypeError, ValueError) as exc:
        msg = f"{key}: {exc}"
        raise ValueError(msg) from None


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
