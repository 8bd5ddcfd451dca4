"""Study specs (``studies/*.toml``): the ``StudySpec`` type, ``load_study`` and ``find_studies``.

A study spec says what is solved (``[problem]``), what is swept (``[sweep]``), what is measured
against which reference (``[measure]``), which orders theory predicts (``[expect]``), kind-specific
settings (``[options]``) and the regression-check tolerances (``[check]``).  ``load_study`` reads
and validates it completely -- unknown keys, wrong types, missing grid files and unknown
scheme / method / sampler / metric names are ``ConfigError``s of the form
``FILE: key: what is wrong; allowed: ...`` -- before anything runs.

The study kinds themselves (registry, base class, ``Case``) live in ``fplab.studykinds.base``.
"""

from __future__ import annotations

import difflib
import importlib
import math
import numbers
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from fplab._registry import Registry, unknown_choice_message
from fplab.errors import ConfigError
from fplab.studykinds.base import STUDY_KINDS, Case, Option, StudyKind

__all__ = [
    "TIERS",
    "StudySpec",
    "StudyUnavailable",
    "build_p0",
    "build_problem",
    "check_registry_name",
    "default_studies_dir",
    "find_studies",
    "load_study",
    "resource_limits",
]

TIERS = ("quick", "full")

_TOP_KEYS = {
    "kind": "the study kind (a STUDY_KINDS key)",
    "title": "a one-line title",
    "seed": "an integer seed (default 0)",
    "problem": "a table: sde, params, p0, grid, t0, t_final",
    "sweep": "a table: param, quick, full, compare",
    "measure": "a table: metric, reference",
    "expect": "a table: order, tolerance, no_claim, bounds",
    "options": "a table of kind-specific settings",
    "check": "a table: order_atol, error_rtol",
    "plugins": "a list of plugin module names, imported before the spec is checked",
}
_TABLE_KEYS = {
    "problem": ("sde", "params", "p0", "grid", "t0", "t_final"),
    "sweep": ("param", "quick", "full", "compare"),
    "measure": ("metric", "reference"),
    "expect": ("order", "tolerance", "no_claim", "bounds"),
    "check": ("order_atol", "error_rtol"),
}
_P0_KEYS = {
    "gaussian-mixture": ("type", "weights", "means", "covs"),
    "lognormal-mixture": ("type", "weights", "mu", "sigma"),
    "point": ("type", "x"),
}


# -- small JSON-ready problem builders (run in workers too) ------------------------------------
def build_p0(spec: dict[str, Any]) -> Any:
    """Initial law from a ``p0`` table: a GaussianMixture, LogNormalMixture or a point (ndarray (d,))."""
    import numpy as np

    from fplab.distributions import GaussianMixture, LogNormalMixture

    kind = spec.get("type", "gaussian-mixture")
    if kind == "gaussian-mixture":
        k = len(spec["means"])
        return GaussianMixture(spec.get("weights", [1.0 / k] * k), spec["means"], spec["covs"])
    if kind == "lognormal-mixture":
        mu = spec["mu"] if isinstance(spec["mu"], list) else [spec["mu"]]
        sig = spec["sigma"] if isinstance(spec["sigma"], list) else [spec["sigma"]]
        return LogNormalMixture(spec.get("weights", [1.0 / len(mu)] * len(mu)), mu, sig)
    if kind == "point":
        return np.atleast_1d(np.asarray(spec["x"], dtype=np.float64))
    raise ValueError(unknown_choice_message("p0 type", kind, sorted(_P0_KEYS)))


def build_problem(problem: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(sde, p0, grid or None) from a resolved ``problem`` table."""
    from fplab.grid import Grid
    from fplab.sdes import build_sde

    if isinstance(problem["sde"], dict):  # sde = { drift = "pkg.mod:f", ... }: a CustomSDE
        from fplab.references import custom_sde_from_spec

        sde = custom_sde_from_spec(problem["sde"], problem.get("params", {}))
    else:
        sde = build_sde(problem["sde"], **problem.get("params", {}))
    p0 = build_p0(problem["p0"]) if "p0" in problem else None
    g = problem.get("grid")
    grid = Grid.uniform(g["lo"], g["hi"], g["n"]) if g else None
    return sde, p0, grid


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec.  ``raw`` is the TOML as read; the other fields are resolved."""

    name: str
    path: Path
    kind: str
    title: str
    purpose: str
    seed: int
    problem: dict[str, Any]
    sweep: dict[str, Any]
    measure: dict[str, Any]
    expect: dict[str, Any]
    options: dict[str, Any]
    check: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def kind_obj(self) -> StudyKind:
        return STUDY_KINDS.get(self.kind)()

    def option(self, name: str, tier: str) -> Any:
        """The option value for ``tier`` (per-tier tables resolved, defaults filled)."""
        value = self.options[name]
        if isinstance(value, dict):
            return value[tier]
        return value

    def sweep_values(self, tier: str) -> list[Any]:
        return list(self.sweep.get(tier) or self.sweep.get("quick") or [])

    def cases(self, tier: str = "quick") -> list[Case]:
        """The cases of ``tier``, in a fixed order (results never depend on it)."""
        kind = self.kind_obj
        return [
            Case(self.name, self.kind, label, config) for label, config in kind.cases(self, tier)
        ]

    def expected_order(self, label: str) -> float | None:
        order = self.expect.get("order")
        if isinstance(order, dict):
            value = order.get(label)
            return None if value is None else float(value)
        return None if order is None else float(order)


class StudyUnavailable(ConfigError):
    """A spec needs a part of fplab that is not installed here (e.g. torch for ``fplab.nn``)."""


# -- loading and validation ---------------------------------------------------------------------
class _Errors:
    """Builds ``FILE: key: what is wrong; allowed: ...`` ConfigErrors for one spec file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, key: str, what: str, allowed: str | None = None) -> NoReturn:
        msg = f"{self.path}: {key}: {what}"
        if allowed:
            msg += f"; allowed: {allowed}"
        raise ConfigError(msg) from None

    def unavailable(self, key: str, what: str) -> NoReturn:
        msg = f"{self.path}: {key}: {what}"
        raise StudyUnavailable(msg) from None


def _listed(names: Any) -> str:
    return ", ".join(repr(n) for n in names)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _is_num(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _check_keys(table: dict[str, Any], allowed: Any, where: str, err: _Errors) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            close = unknown_choice_message("key", key, list(allowed)).split("(did you mean")
            hint = f" (did you mean{close[1]}" if len(close) > 1 else ""
            err(f"{prefix}{key}", f"unknown key{hint}", _listed(allowed))


def _registry(module: str, attr: str, key: str, err: _Errors) -> Registry[Any]:
    try:
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        err.unavailable(key, f"needs {module}.{attr}, which is not available here ({exc})")


def check_registry_name(value: Any, module: str, attr: str, key: str, err: _Errors) -> str:
    """``value`` must be a key of registry ``module.attr``; ConfigError naming ``key`` otherwise."""
    reg = _registry(module, attr, key, err)
    if not isinstance(value, str):
        err(key, f"must be a string, got {_type_name(value)} {value!r}", _listed(reg.names()))
    if value not in reg:
        msg = unknown_choice_message(reg.what, value, reg.names()).split("; choose one of")[0]
        close = unknown_choice_message(reg.what, value, reg.names()).split("(did you mean")
        hint = f" (did you mean{close[1]}" if len(close) > 1 else ""
        err(key, msg + hint, _listed(reg.names()))
    return value


def _purpose(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def _resolve_grid(value: Any, path: Path, err: _Errors) -> dict[str, Any]:
    from fplab.grid import grid_from_spec, load_grid

    if isinstance(value, str):
        candidates = (
            [Path(value)]
            if Path(value).is_absolute()
            else [
                path.parent.parent / value,
                path.parent / value,
                Path.cwd() / value,
            ]
        )
        for cand in candidates:
            if cand.is_file():
                try:
                    return load_grid(cand).to_spec()
                except ConfigError as exc:
                    err("problem.grid", f"bad grid file: {exc}")
        err(
            "problem.grid",
            f"grid file {value!r} not found",
            "a path to a grids/*.toml file or an inline table {lo, hi, n}",
        )
    if isinstance(value, dict):
        try:
            return grid_from_spec(value, f"{path}: problem.grid").to_spec()
        except ConfigError as exc:
            raise ConfigError(str(exc)) from None
    err(
        "problem.grid",
        f"must be a file name or a table, got {_type_name(value)}",
        "a path to a grids/*.toml file or an inline table {lo, hi, n}",
    )


def _validate_problem(
    problem: dict[str, Any], kind: StudyKind, path: Path, err: _Errors
) -> dict[str, Any]:
    _check_keys(problem, _TABLE_KEYS["problem"], "problem", err)
    for key in kind.needs:
        if key not in problem:
            err(f"problem.{key}", "missing", _listed(_TABLE_KEYS["problem"]))
    out = dict(problem)
    if "sde" in problem:
        params = problem.get("params", {})
        if not isinstance(params, dict):
            err("problem.params", f"must be a table, got {_type_name(params)}")
        if isinstance(problem["sde"], dict):  # user callables by reference
            from fplab.references import custom_sde_from_spec

            try:
                custom_sde_from_spec(problem["sde"], params)
            except (TypeError, ValueError) as exc:
                key, _, what = str(exc).partition(": ")
                err(key, what)
        else:
            check_registry_name(problem["sde"], "fplab.sdes", "SDES", "problem.sde", err)
            try:
                from fplab.sdes import build_sde

                build_sde(problem["sde"], **params)
            except (TypeError, ValueError) as exc:
                err("problem.params", str(exc))
        out["params"] = dict(params)
    for key in ("t0", "t_final"):
        if key in problem and not _is_num(problem[key]):
            err(f"problem.{key}", f"must be a number, got {problem[key]!r}")
    if "t_final" in problem and float(problem["t_final"]) <= float(problem.get("t0", 0.0)):
        err("problem.t_final", f"must be > t0, got {problem['t_final']}")
    if "sde" in problem and not isinstance(problem["sde"], dict):  # a CustomSDE has no horizon
        from fplab.sdes import build_sde
        from fplab.sdes.schedules import check_horizon

        sde = build_sde(problem["sde"], **out["params"])
        for key in ("t0", "t_final"):
            if key in problem:
                try:
                    check_horizon(sde, float(problem[key]), key)
                except ValueError as exc:
                    err(f"problem.{key}", str(exc))
    if "p0" in problem:
        p0 = problem["p0"]
        if not isinstance(p0, dict):
            err("problem.p0", f"must be a table, got {_type_name(p0)}", _listed(_P0_KEYS))
        ptype = p0.get("type", "gaussian-mixture")
        if not isinstance(ptype, str) or ptype not in _P0_KEYS:
            err("problem.p0.type", f"unknown initial law {ptype!r}", _listed(_P0_KEYS))
        _check_keys(p0, _P0_KEYS[ptype], "problem.p0", err)
        try:
            build_p0(p0)
        except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError) as exc:
            what = str(exc) if not isinstance(exc, ZeroDivisionError) else "no components"
            err("problem.p0", f"cannot build the {ptype}: {what}", _listed(_P0_KEYS[ptype]))
    if "grid" in problem:
        out["grid"] = _resolve_grid(problem["grid"], path, err)
    return out


def _validate_option(name: str, opt: Option, value: Any, err: _Errors) -> Any:
    key = f"options.{name}"
    if isinstance(value, dict) and not isinstance(opt.default, dict):
        _check_keys(value, TIERS, key, err)
        missing = [t for t in TIERS if t not in value]
        if missing:
            err(key, f"a per-tier table needs both tiers, missing {missing[0]!r}", _listed(TIERS))
        return {t: _validate_option(name, opt, value[t], err) for t in TIERS}
    ok = any(
        isinstance(value, t) and not (isinstance(value, bool) and t is not bool) for t in opt.types
    )
    if float in opt.types and _is_num(value):
        value, ok = float(value), True
    if isinstance(value, float) and not math.isfinite(value):
        # NaN compares False with every minimum, so it would pass the range check below
        err(key, f"must be a finite number, got {value!r}", opt.doc)
    if isinstance(value, list):
        for item in value:
            if isinstance(item, float) and not math.isfinite(item):
                err(key, f"must hold finite numbers, got {value!r}", opt.doc)
    if not ok:
        allowed = " or ".join(t.__name__ for t in opt.types)
        err(key, f"wrong type {_type_name(value)} ({value!r})", f"{allowed}: {opt.doc}")
    if opt.minimum is not None and _is_num(value) and value < opt.minimum:
        err(key, f"must be >= {opt.minimum}, got {value!r}", opt.doc)
    if opt.choices_from is not None:
        items = value if isinstance(value, list) else [value]
        for item in items:
            check_registry_name(item, *opt.choices_from, key, err)
    return value


def _first_repeat(values: list[Any]) -> Any:
    """The first value of ``values`` equal to an earlier one (8 and 8.0 are equal), or None."""
    for i, v in enumerate(values):
        if v in values[:i]:
            return v
    return None


def _validate_sweep(sweep: dict[str, Any], kind: StudyKind, err: _Errors) -> None:
    _check_keys(sweep, _TABLE_KEYS["sweep"], "sweep", err)
    if kind.sweep_params:
        param = sweep.get("param")
        if param not in kind.sweep_params:
            what = "missing" if param is None else f"unknown sweep parameter {param!r}"
            err("sweep.param", what, _listed(kind.sweep_params))
        if "quick" not in sweep:
            err("sweep.quick", "missing (the values of the quick tier)", "a list of >= 1 numbers")
    for tier in TIERS:
        if tier in sweep:
            vals = sweep[tier]
            if not isinstance(vals, list) or not vals or not all(_is_num(v) for v in vals):
                err(f"sweep.{tier}", f"must be a non-empty list of numbers, got {vals!r}")
            if any(v <= 0 for v in vals):
                err(f"sweep.{tier}", f"values must be > 0, got {vals!r}")
            # a repeated level would enter the order fit twice (which refuses equal step sizes)
            twice = _first_repeat(vals)
            if twice is not None:
                err(f"sweep.{tier}", f"lists {twice!r} twice ({vals!r})", "distinct values")
    if "compare" in sweep:
        if kind.compare is None:
            err("sweep.compare", "this study kind compares nothing")
        items = sweep["compare"]
        if not isinstance(items, list) or not items:
            err("sweep.compare", f"must be a non-empty list of names, got {items!r}")
        for i, item in enumerate(items):
            check_registry_name(item, *kind.compare, f"sweep.compare[{i}]", err)
            if item in items[:i]:
                err(f"sweep.compare[{i}]", f"lists {item!r} twice", "each name once")
    elif kind.compare is not None:
        reg = _registry(*kind.compare, "sweep.compare", err)
        err("sweep.compare", "missing (what to compare)", _listed(reg.names()))


def _check_metric_args(name: str, kind: StudyKind, err: _Errors) -> None:
    """``measure.metric`` must take what the kind passes (``StudyKind.metric_args``): a sample
    metric in a density study failed every case with a TypeError from the metric's call."""
    from fplab.metrics import METRICS

    fits = [n for n, f in METRICS.items() if tuple(getattr(f, "args", ())) in kind.metric_args]
    if kind.metric_args and name not in fits:
        args = ", ".join(getattr(METRICS.get(name), "args", ()))
        what = (
            "two densities on the grid"
            if kind.metric_args == (("p", "q", "grid"),)
            else (" or ".join(f"({', '.join(a)})" for a in kind.metric_args))
        )
        err("measure.metric", f"{name!r} does not compare {what} (it takes {args})", _listed(fits))


def _validate_measure_expect(raw: dict[str, Any], kind: StudyKind, err: _Errors) -> None:
    measure = raw.get("measure", {})
    _check_keys(measure, _TABLE_KEYS["measure"], "measure", err)
    if kind.needs_metric:
        if "metric" not in measure:
            reg = _registry("fplab.metrics", "METRICS", "measure.metric", err)
            err("measure.metric", "missing", _listed(reg.names()))
        check_registry_name(measure["metric"], "fplab.metrics", "METRICS", "measure.metric", err)
        _check_metric_args(measure["metric"], kind, err)
    elif "metric" in measure:
        if not kind.accepts_metric:
            err("measure.metric", "this study kind chooses its own measurements")
        check_registry_name(measure["metric"], "fplab.metrics", "METRICS", "measure.metric", err)
    if kind.references:
        ref = measure.get("reference", kind.references[0])
        if ref not in kind.references:
            err("measure.reference", f"unknown reference {ref!r}", _listed(kind.references))
    elif "reference" in measure:
        err("measure.reference", "this study kind takes no reference")
    expect = raw.get("expect", {})
    _check_keys(expect, _TABLE_KEYS["expect"], "expect", err)
    order = expect.get("order")
    if order is not None and not _is_num(order):
        if not isinstance(order, dict) or not all(_is_num(v) for v in order.values()):
            err("expect.order", f"must be a number or a table name -> number, got {order!r}")
        compared = raw.get("sweep", {}).get("compare", [])
        if not compared:
            err("expect.order", "a table of orders needs sweep.compare", "one number")
        for name in order:
            if compared and name not in compared:
                err(f"expect.order.{name}", "not one of the compared names", _listed(compared))
    # an order <= 0 claims no convergence (the registries refuse one already)
    for key, value in ({"": order} if _is_num(order) else order or {}).items():
        if value <= 0:
            err(f"expect.order{'.' + key if key else ''}", f"must be > 0, got {value!r}")
    if "tolerance" in expect and not (_is_num(expect["tolerance"]) and expect["tolerance"] >= 0):
        err("expect.tolerance", f"must be a number >= 0, got {expect['tolerance']!r}")
    no_claim = expect.get("no_claim", {})
    if not isinstance(no_claim, dict) or not all(isinstance(v, str) for v in no_claim.values()):
        err("expect.no_claim", f"must be a table name -> reason (a string), got {no_claim!r}")
    compared = raw.get("sweep", {}).get("compare", [])
    for name in no_claim:
        if name not in compared:
            err(f"expect.no_claim.{name}", "not one of the compared names", _listed(compared))
        if isinstance(order, dict) and name in order:
            err(f"expect.no_claim.{name}", "also has an order in expect.order; keep one")
    bounds = expect.get("bounds", {})
    if not isinstance(bounds, dict):
        err("expect.bounds", f"must be a table claim key -> number, got {bounds!r}")
    for key, value in bounds.items():
        if key not in kind.bounds:
            err(f"expect.bounds.{key}", "unknown bound", _listed(kind.bounds) or "none")
        if not _is_num(value):
            err(f"expect.bounds.{key}", f"must be a number, got {value!r}", kind.bounds[key][1])
    check = raw.get("check", {})
    _check_keys(check, _TABLE_KEYS["check"], "check", err)
    for key, value in check.items():
        if not (_is_num(value) and value >= 0):
            err(f"check.{key}", f"must be a number >= 0, got {value!r}")


def _load_spec_plugins(modules: Any, path: Path, err: _Errors) -> None:
    """``plugins = ["module", ...]``: import them (once per process) before anything is checked."""
    from fplab.plugins import PluginError, load_plugins

    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        err("plugins", f"must be a list of module names, got {modules!r}", "['package.module']")
    try:
        load_plugins(modules, source=f"spec {path}")
    except PluginError as exc:
        err("plugins", str(exc))


def load_study(path: str | Path) -> StudySpec:
    """Read and fully validate a study spec.

    Raises
    ------
    ConfigError
        ``FILE: key: what is wrong; allowed: ...`` for a missing/unreadable file, bad TOML, an
        unknown key, a wrong type, a missing grid file or an unknown kind/SDE/scheme/metric name.
    """
    p = Path(path)
    err = _Errors(p)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{p}: not UTF-8 text (byte {exc.start}); a study spec is a UTF-8 TOML file"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{p}: cannot read study file ({exc.strerror})"
        raise ConfigError(msg) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{p}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    _check_keys(raw, _TOP_KEYS, "", err)
    _load_spec_plugins(raw.get("plugins", []), p, err)
    if "kind" not in raw:
        err("kind", "missing", _listed(STUDY_KINDS.names()))
    if not isinstance(raw["kind"], str) or raw["kind"] not in STUDY_KINDS:
        err("kind", f"unknown study kind {raw['kind']!r}", _listed(STUDY_KINDS.names()))
    for key in ("problem", "sweep", "measure", "expect", "options", "check"):
        if key in raw and not isinstance(raw[key], dict):
            err(key, f"must be a table, got {_type_name(raw[key])}", _TOP_KEYS[key])
    if "title" in raw and not isinstance(raw["title"], str):
        err("title", f"must be a string, got {_type_name(raw['title'])}")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        err("seed", f"must be an integer >= 0, got {seed!r}")
    kind = STUDY_KINDS.get(raw["kind"])()
    problem = _validate_problem(raw.get("problem", {}), kind, p, err)
    _validate_sweep(raw.get("sweep", {}), kind, err)
    _validate_measure_expect(raw, kind, err)
    opts = raw.get("options", {})
    if kind.free_options:  # passed through to the experiment's own config (kind.validate checks)
        options = dict(opts)
    else:
        _check_keys(opts, kind.options, "options", err)
        options = {name: opt.default for name, opt in kind.options.items()}
        for name, value in opts.items():
            options[name] = _validate_option(name, kind.options[name], value, err)
    measure = dict(raw.get("measure", {}))
    if kind.references:
        measure.setdefault("reference", kind.references[0])
    spec = StudySpec(
        name=p.stem,
        path=p,
        kind=raw["kind"],
        title=raw.get("title", p.stem),
        purpose=_purpose(text),
        seed=seed,
        problem=problem,
        sweep=dict(raw.get("sweep", {})),
        measure=measure,
        expect=dict(raw.get("expect", {})),
        options=options,
        check={
            "order_atol": kind.order_atol,
            "error_rtol": kind.error_rtol,
            **raw.get("check", {}),
        },
        raw=raw,
    )
    try:
        kind.validate(spec, err)
    except ImportError as exc:
        err.unavailable("kind", f"{spec.kind!r} needs a module that is not available here ({exc})")
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        err("problem", str(exc))
    except Exception as exc:  # the kind's own code (a plugin's, perhaps) failed: say which
        err(
            "kind",
            f"study kind {spec.kind!r} could not check the spec ({type(exc).__name__}: {exc})",
        )
    _check_resources(spec, err)
    return spec


def resource_limits() -> tuple[float, float]:
    """(bytes, updates) one case may need: half the RAM and 1e12 updates (~20 min at 1e9/s).

    Override with the environment variables ``FPLAB_MAX_MEMORY`` (bytes) and ``FPLAB_MAX_WORK``.
    """
    try:
        ram = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        ram = 16e9
    limits = []
    for name, default in (("FPLAB_MAX_MEMORY", 0.5 * ram), ("FPLAB_MAX_WORK", 1e12)):
        raw = os.environ.get(name)
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = default
        limits.append(value if math.isfinite(value) and value > 0 else default)
    return limits[0], limits[1]


def _kind_cases(spec: StudySpec, tier: str, err: _Errors) -> list[tuple[str, Any]]:
    """The kind's ``cases(spec, tier)``, checked: a kind (a plugin's, perhaps) that raises,
    or builds a label that is no str or a config that is no JSON (the case key hashes it),
    is a spec error naming the kind, before anything runs."""
    from fplab.records import _json_copy

    who = f"study kind {spec.kind!r}"
    try:
        cases = list(spec.kind_obj.cases(spec, tier))
    except Exception as exc:  # the kind's code: any error is reported, not a traceback
        err("kind", f"{who} could not list its cases ({type(exc).__name__}: {exc})")
    for case in cases:
        if not (isinstance(case, tuple) and len(case) == 2):
            err("kind", f"{who} listed {case!r:.60} as a case", "(label, config) pairs")
        label, config = case
        if not isinstance(label, str):
            err("kind", f"{who}: case label {label!r} is a {type(label).__name__}, not a str")
        try:
            _json_copy(config, what=f"case {label!r}: config field")
        except TypeError as exc:
            err("kind", f"{who}: {exc}")
    return cases


def _check_resources(spec: StudySpec, err: _Errors) -> None:
    """Refuse a case whose memory or work estimate exceeds :func:`resource_limits`."""
    max_bytes, max_work = resource_limits()
    for tier in TIERS:
        # sweep kinds without a full sweep have no full cases; option kinds size every tier
        if spec.sweep and tier not in spec.sweep and tier != "quick":
            continue
        key = f"sweep.{tier}" if tier in spec.sweep else "options"
        for case in _kind_cases(spec, tier, err):
            try:
                need_bytes, need_work = spec.kind_obj.resources(case[1])
            except Exception as exc:  # the kind's own code: say which, not a traceback
                err(
                    "kind",
                    f"study kind {spec.kind!r} could not estimate the resources of case "
                    f"{case[0]!r} ({type(exc).__name__}: {exc})",
                )
            if need_bytes > max_bytes:
                err(
                    key,
                    f"case {case[0]!r} needs about {need_bytes / 2**30:.3g} GiB of memory, more "
                    f"than the limit {max_bytes / 2**30:.3g} GiB (half the RAM)",
                    "smaller sizes, or raise --max-memory / FPLAB_MAX_MEMORY (bytes)",
                )
            if need_work > max_work:
                err(
                    key,
                    f"case {case[0]!r} needs about {need_work:.3g} elementary updates, more than "
                    f"the limit {max_work:.3g} (hours of computing)",
                    "smaller sizes, or raise --max-work / FPLAB_MAX_WORK",
                )


def default_studies_dir() -> Path:
    """``./studies`` if it exists, else the studies shipped next to the package (editable install)."""
    here = Path.cwd() / "studies"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "studies"


def _one_per_name(specs: list[StudySpec]) -> list[StudySpec]:
    """``specs`` with a file named twice kept once; two files of one name (their reports would
    share ``DIR/<name>/``, the second replacing the first) are a ConfigError."""
    seen: dict[str, StudySpec] = {}
    for spec in specs:
        first = seen.setdefault(spec.name, spec)
        if first is not spec and first.path.resolve() != spec.path.resolve():
            msg = (
                f"{spec.path}: two studies named {spec.name!r} ({first.path} and {spec.path}); "
                f"their reports would share the folder {spec.name}/; allowed: one study per "
                "name (rename one file)"
            )
            raise ConfigError(msg)
    return list(seen.values())


def find_studies(names: list[str] | None = None) -> list[StudySpec]:
    """Load the named studies (paths or names under ``studies/``), or all of them; all validated
    before any runs, so one bad spec stops the command with exit status 2."""
    folder = default_studies_dir()
    if not names:
        paths = sorted(folder.glob("*.toml"))
        if not paths:
            msg = f"{folder}: no study files (*.toml) found"
            raise ConfigError(msg)
    else:
        paths = []
        for name in names:
            cand = Path(name)
            if not cand.is_file():
                cand = folder / (name if name.endswith(".toml") else f"{name}.toml")
            if not cand.is_file():
                stems = sorted(f.stem for f in folder.glob("*.toml"))
                close = difflib.get_close_matches(Path(name).stem, stems, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                msg = (
                    f"{name}: no such study file{hint}; allowed: a path or one of "
                    f"{', '.join(stems)}"
                )
                raise ConfigError(msg)
            paths.append(cand)
    if names:
        return _one_per_name([load_study(p) for p in paths])
    specs = []
    for p in paths:  # every shipped study: skip (with a warning) those this install cannot run
        try:
            specs.append(load_study(p))
        except StudyUnavailable as exc:
            print(f"fplab: skipping {p.name}: {exc}", file=sys.stderr)
    return specs
