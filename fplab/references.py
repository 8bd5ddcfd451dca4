"""References to user callables in study specs: ``"package.module:attribute"`` strings.

``sde = { drift = "pkg.mod:f", diffusion = "pkg.mod:g" }`` builds a ``fp.CustomSDE``;
``score_model = "pkg.mod:load"`` names a network factory (``fplab.nn.external``).  A referenced
module's source hash joins the cache key of the cases naming it (``fplab.plugins``).
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

__all__ = ["CUSTOM_SDE_KEYS", "REFERENCE", "custom_sde_from_spec", "resolve_reference"]

#: a spec reference to a user callable, ``package.module:attribute``
REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


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
