"""Argument checks used at the public boundary.  Every message names the argument the user typed,
what was received and what is allowed.  Kernels trust what passes through here."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from fplab._typing import FloatArray

__all__ = [
    "as_rng",
    "as_samples",
    "check_choice",
    "check_finite_array",
    "check_int",
    "check_memory",
    "check_nonnegative",
    "check_positive",
    "check_real",
    "reject_complex",
    "restore_shape",
]


def check_real(value: Any, name: str) -> float:
    """``value`` as a finite float; ``TypeError``/``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()  # a 0-d array, e.g. np.array(0.5) or the result of a reduction
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a real number, got {type(value).__name__} {value!r}"
        raise TypeError(msg)
    out = float(value)
    if not math.isfinite(out):
        msg = f"{name} must be finite, got {out!r}"
        raise ValueError(msg)
    return out


def check_positive(value: Any, name: str) -> float:
    """``value`` as a float > 0."""
    out = check_real(value, name)
    if out <= 0.0:
        msg = f"{name} must be > 0, got {out!r}"
        raise ValueError(msg)
    return out


def check_nonnegative(value: Any, name: str) -> float:
    """``value`` as a float >= 0."""
    out = check_real(value, name)
    if out < 0.0:
        msg = f"{name} must be >= 0, got {out!r}"
        raise ValueError(msg)
    return out


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as an int (>= ``minimum`` if given); floats such as 10.0 are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer, got {type(value).__name__} {value!r}"
        raise TypeError(msg)
    out = int(value)
    if minimum is not None and out < minimum:
        msg = f"{name} must be >= {minimum}, got {out}"
        raise ValueError(msg)
    return out


def memory_limit() -> float:
    """Bytes one array may take: half the physical RAM (``FPLAB_MAX_MEMORY`` overrides)."""
    import os

    raw = os.environ.get("FPLAB_MAX_MEMORY")
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        value = 0.0
    if value > 0 and math.isfinite(value):
        return value
    try:
        return 0.5 * float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 8e9


def check_memory(n_bytes: float, name: str, value: Any, fix: str | None = None) -> None:
    """``ValueError`` naming ``name`` when an allocation of ``n_bytes`` exceeds
    :func:`memory_limit` (numpy's "Unable to allocate 745 GiB" named no argument)."""
    limit = memory_limit()
    if n_bytes > limit:
        msg = (
            f"{name}={value!r} needs about {n_bytes / 2**30:.3g} GiB, more than the limit "
            f"{limit / 2**30:.3g} GiB (half the RAM; FPLAB_MAX_MEMORY overrides); "
            f"{fix or f'lower {name}'}"
        )
        raise ValueError(msg)


def check_choice(value: Any, name: str, allowed: list[str] | tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``; message lists the choices and a close match."""
    from fplab._registry import unknown_choice_message

    if not isinstance(value, str) or value not in allowed:
        raise ValueError(unknown_choice_message(name, value, list(allowed)))
    return value


def reject_complex(a: Any, name: str) -> None:
    """``TypeError`` for complex input: casting it to float64 would drop the imaginary part."""
    if np.iscomplexobj(a):
        msg = f"{name} must be real; got a complex array (take .real yourself if that is meant)"
        raise TypeError(msg)


def check_finite_array(a: Any, name: str) -> FloatArray:
    """``a`` as a float64 C-contiguous array with no NaN/inf (complex input is refused)."""
    reject_complex(a, name)
    try:
        arr = np.ascontiguousarray(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"{name} must be an array of real numbers, got {type(a).__name__}"
        raise TypeError(msg) from err
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        msg = f"{name} contains {bad} non-finite value(s) (NaN or inf); all entries must be finite"
        raise ValueError(msg)
    return arr


def as_samples(x: Any, d: int | None = None, name: str = "x") -> tuple[FloatArray, bool]:
    """Coerce samples to a float64 C-contiguous (n, d) array.

    Parameters
    ----------
    x : array_like, shape (n, d), or (n,) meaning d = 1 (or a scalar, meaning one 1-D sample)
    d : int, optional
        Required dimension; a mismatch raises ``ValueError``.
    name : str
        Argument name for messages.

    Returns
    -------
    x2 : ndarray of float64, shape (n, d)
    flat : bool
        True when the input was (n,)-shaped (or scalar), so results can be returned as (n,).
    """
    arr = check_finite_array(x, name)
    flat = False
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
        flat = True
    elif arr.ndim == 1:
        if d is not None and d != 1:
            if arr.shape[0] == d:
                msg = (
                    f"{name} has shape {arr.shape}; samples are (n, d) = (n, {d}): "
                    f"pass {name}.reshape(1, {d}) for a single point"
                )
            else:
                msg = f"{name} has shape {arr.shape} but this object is {d}-dimensional; pass (n, {d})"
            raise ValueError(msg)
        arr = arr.reshape(-1, 1)
        flat = True
    elif arr.ndim != 2:
        msg = f"{name} must have shape (n, d) (or (n,) in 1-D), got shape {arr.shape}"
        raise ValueError(msg)
    if arr.shape[1] == 0:
        msg = f"{name} has shape {arr.shape}: samples need dimension d >= 1"
        raise ValueError(msg)
    if d is not None and arr.shape[1] != d:
        msg = f"{name} has dimension {arr.shape[1]} (shape {arr.shape}) but {d} is required"
        raise ValueError(msg)
    return np.ascontiguousarray(arr), flat


def restore_shape(y: FloatArray, flat: bool) -> FloatArray:
    """Undo the (n,) -> (n, 1) promotion of :func:`as_samples` for an (n, 1) result."""
    if flat and y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    return y


def as_rng(seed: Any, name: str = "seed") -> np.random.Generator:
    """A numpy Generator from an int seed (>= 0), a SeedSequence, or a Generator (used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        msg = f"{name} must be a non-negative int or a numpy Generator, got {type(seed).__name__} {seed!r}"
        raise TypeError(msg)
    if int(seed) < 0:
        msg = f"{name} must be >= 0, got {seed}"
        raise ValueError(msg)
    return np.random.default_rng(int(seed))
