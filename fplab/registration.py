"""The public registration decorators: ``fp.register_sampler``, ``fp.register_mc_method``,
``fp.register_sde`` and ``fp.register_metric`` (``fp.register_study_kind`` lives with the study
kinds, in ``fplab.studykinds.base``, so that this module never imports the study layer).

They add entries from other packages to fplab's registries with the same declared properties and
checks as the built-in entries (see ``fplab.plugins`` for loading plugins, docs/plugins.md).
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from fplab.errors import NumericalError

__all__ = [
    "register_mc_method",
    "register_metric",
    "register_sampler",
    "register_sde",
]


# -- declared properties ----------------------------------------------------------------------
def _check_name(name: Any, what: str) -> str:
    """A valid registry key, checked when ``register_*`` is called (before the decoration)."""
    from fplab._registry import check_key

    return check_key(name, what)


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
    ``ctx.velocity(x, t)`` (probability-flow velocity), ``ctx.reverse_drift(x, t)`` (a tuple:
    the reverse-SDE drift (n, d) and g, a float for additive noise else (n, 1)),
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
    try:
        taus = tuple(float(v) for v in stages)
    except (TypeError, ValueError):
        msg = f"{name!r}: stages must be an iterable of numbers in [0, 1], got {stages!r}"
        raise ValueError(msg) from None
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


def register_metric(
    name: str, *, kind: str | None = None, power: int | None = None
) -> Callable[[Callable[..., float]], Any]:
    """Register a metric in ``METRICS``.  Its leading parameters say what it compares:
    ``(p, q, grid)`` two densities on a grid (kind ``"density"``), ``(x, y)`` two sample sets
    or ``(x, q, grid)`` samples against a density (kind ``"samples"``).  ``power`` is how it
    grows with a small error δ: 1 for norms and distances (∝ |δ|), 2 for divergences (∝ δ²,
    e.g. KL); a scheme of order p is of order power · p in the metric.  Left out, a density
    metric's power is measured when a study needs it."""
    from fplab.metrics import METRICS
    from fplab.metrics._base import check_power

    _check_name(name, "metric")
    if power is not None:
        check_power(power, f"register_metric({name!r}):")
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
        if power is not None:
            fn.power = power  # type: ignore[attr-defined]
        METRICS.register(name)(fn)
        return fn

    return deco
