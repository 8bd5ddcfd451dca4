"""Uniform cell-centred grids in 1-D and 2-D, and the TOML grid specs under ``grids/``."""

from __future__ import annotations

import math
import numbers
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import check_memory
from fplab.errors import ConfigError

__all__ = ["Grid", "load_grid"]

_MIN_CELLS = 3
_MAX_DIM = 2


def _as_tuple(value: Any, name: str, ndim: int | None) -> tuple[Any, ...]:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()  # a 0-d array is a scalar
    if isinstance(value, np.ndarray) and value.ndim > 1:
        msg = f"{name} must be a number or a flat sequence (one per axis), got shape {value.shape}"
        raise ValueError(msg)
    if isinstance(value, list | tuple | np.ndarray):
        out = tuple(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else tuple(value)
        if len(out) == 0:
            msg = f"{name} must not be empty"
            raise ValueError(msg)
        return out
    return (value,) * (ndim or 1)


@dataclass(frozen=True)
class Grid:
    """A uniform, cell-centred tensor grid on the box [lo, hi] (1-D or 2-D).

    Cell i along an axis covers [lo + i dx, lo + (i+1) dx] and its value lives at the centre
    ``lo + (i + 1/2) dx``.  Build one with :meth:`uniform`.

    Attributes
    ----------
    lo, hi : tuple of float, one per axis
    n : tuple of int, cells per axis
    """

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    n: tuple[int, ...]
    _axes: tuple[FloatArray, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        axes = tuple(
            lo + (np.arange(n, dtype=np.float64) + 0.5) * ((hi - lo) / n)
            for lo, hi, n in zip(self.lo, self.hi, self.n, strict=True)
        )
        for a in axes:
            a.flags.writeable = False
        object.__setattr__(self, "_axes", axes)

    @classmethod
    def uniform(cls, lo: Any = -8.0, hi: Any = 8.0, n: Any = 1024) -> Grid:
        """A uniform cell-centred grid.

        Parameters
        ----------
        lo, hi : float or sequence of float
            Box corners; a sequence of length d gives a d-D grid (d <= 2).  ``lo < hi`` per axis.
        n : int or sequence of int
            Cells per axis (>= 3); a single int is used on every axis.

        Raises
        ------
        TypeError, ValueError
            Naming ``lo``, ``hi`` or ``n`` and what is allowed.
        """
        ndim = None
        for v in (lo, hi, n):
            if isinstance(v, list | tuple) or (isinstance(v, np.ndarray) and v.ndim == 1):
                ndim = len(v)
                break
        los = _as_tuple(lo, "lo", ndim)
        his = _as_tuple(hi, "hi", ndim)
        ns = _as_tuple(n, "n", ndim)
        if not (len(los) == len(his) == len(ns)):
            msg = f"lo, hi and n must have the same length, got {len(los)}, {len(his)}, {len(ns)}"
            raise ValueError(msg)
        d = len(los)
        if d > _MAX_DIM:
            msg = f"grids are 1-D or 2-D, got {d} axes (lo={lo!r})"
            raise ValueError(msg)
        flo: list[float] = []
        fhi: list[float] = []
        ints: list[int] = []
        for axis in range(d):
            for name, v, out in (("lo", los[axis], flo), ("hi", his[axis], fhi)):
                if isinstance(v, bool) or not isinstance(v, numbers.Real):
                    msg = f"{name} must be real numbers, got {type(v).__name__} {v!r}"
                    raise TypeError(msg)
                if not math.isfinite(float(v)):
                    msg = f"{name} must be finite, got {v!r}"
                    raise ValueError(msg)
                out.append(float(v))
            if flo[-1] >= fhi[-1]:
                msg = f"lo must be < hi on every axis, got lo={flo[-1]} >= hi={fhi[-1]} on axis {axis}"
                raise ValueError(msg)
            nv = ns[axis]
            if isinstance(nv, bool) or not isinstance(nv, numbers.Integral):
                msg = f"n must be an integer number of cells, got {type(nv).__name__} {nv!r}"
                raise TypeError(msg)
            if int(nv) < _MIN_CELLS:
                msg = f"n must be >= {_MIN_CELLS} cells per axis, got {nv}"
                raise ValueError(msg)
            ints.append(int(nv))
            width = (fhi[-1] - flo[-1]) / ints[-1]
            scale = max(abs(flo[-1]), abs(fhi[-1]))
            # cell centres must be distinct floats and 1/dx² finite: dx well above round-off
            if not math.isfinite(fhi[-1] - flo[-1]) or not width > 1e-12 * scale or width < 1e-150:
                msg = (
                    f"the cells are too small or the box too large on axis {axis}: dx = "
                    f"(hi - lo)/n = {width:.3g} for lo={flo[-1]:g}, hi={fhi[-1]:g}, n={ints[-1]}; "
                    "allowed: 1e-150 <= dx, dx > 1e-12 max(|lo|, |hi|), finite hi - lo"
                )
                raise ValueError(msg)
        # a density on the grid plus a solver's work arrays: ~16 float64 arrays of this size
        check_memory(16.0 * 8.0 * math.prod(ints), "n", n)
        return cls(tuple(flo), tuple(fhi), tuple(ints))

    # -- geometry ---------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        """Number of axes (1 or 2)."""
        return len(self.n)

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape of a density on this grid (== ``n``)."""
        return self.n

    @property
    def size(self) -> int:
        """Total number of cells."""
        return int(np.prod(self.n))

    @property
    def spacing(self) -> tuple[float, ...]:
        """Cell width per axis, always a tuple."""
        return tuple((h - l) / n for l, h, n in zip(self.lo, self.hi, self.n, strict=True))

    @property
    def dx(self) -> float | tuple[float, ...]:
        """Cell width: a float in 1-D, a tuple of floats (one per axis) in 2-D."""
        sp = self.spacing
        return sp[0] if self.ndim == 1 else sp

    @property
    def cell_volume(self) -> float:
        """Product of the cell widths."""
        return float(np.prod(self.spacing))

    @property
    def axes(self) -> tuple[FloatArray, ...]:
        """Cell-centre coordinates per axis: a tuple of read-only 1-D arrays (length 1 in 1-D)."""
        return self._axes

    @property
    def edges(self) -> tuple[FloatArray, ...]:
        """Face coordinates per axis, each of length n + 1."""
        return tuple(
            np.linspace(l, h, n + 1) for l, h, n in zip(self.lo, self.hi, self.n, strict=True)
        )

    def mesh(self) -> tuple[FloatArray, ...]:
        """Coordinate arrays of shape ``self.shape`` (``np.meshgrid(..., indexing='ij')``)."""
        return tuple(np.meshgrid(*self._axes, indexing="ij"))

    def points(self) -> FloatArray:
        """Cell centres as samples, shape (size, ndim), in C order of ``shape``.

        ``dist.pdf(grid.points()).reshape(grid.shape)`` samples a density on the grid.
        """
        return np.stack([m.ravel() for m in self.mesh()], axis=1)

    def integrate(self, f: Any) -> Any:
        """Midpoint-rule integral of ``f`` over the box.

        Parameters
        ----------
        f : array_like, shape (..., *shape)
            Values at cell centres; leading axes are batch axes.

        Returns
        -------
        float, or ndarray of shape f.shape[:-ndim]
        """
        arr = np.asarray(f, dtype=np.float64)
        if arr.shape[arr.ndim - self.ndim :] != self.shape or arr.ndim < self.ndim:
            msg = f"f must have shape {self.shape} (optionally with leading batch axes), got {arr.shape}"
            raise ValueError(msg)
        axes = tuple(range(arr.ndim - self.ndim, arr.ndim))
        out = arr.sum(axis=axes) * self.cell_volume
        return float(out) if np.ndim(out) == 0 else out

    def sample_on(self, fn: Any) -> FloatArray:
        """``fn(points)`` reshaped to the grid, e.g. ``grid.sample_on(p0.pdf)``."""
        return np.asarray(fn(self.points()), dtype=np.float64).reshape(self.shape)

    def histogram(self, x: Any) -> FloatArray:
        """Histogram density of samples on the cells, shape ``self.shape``.

        x : samples, shape (n, ndim) (or (n,) in 1-D).  Normalised over the samples inside the box
        (those outside are dropped), so it integrates to 1 unless no sample falls inside (then 0).
        """
        xs = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if xs.shape[1] != self.ndim:
            msg = (
                f"x must have shape (n, {self.ndim}) for this {self.ndim}-D grid, got {np.shape(x)}"
            )
            raise ValueError(msg)
        counts, _ = np.histogramdd(xs, bins=self.edges)
        return counts / (max(float(counts.sum()), 1.0) * self.cell_volume)

    def contains(self, x: FloatArray) -> FloatArray:
        """Boolean mask, shape (n,), of samples x (n, ndim) inside the box."""
        lo = np.asarray(self.lo)
        hi = np.asarray(self.hi)
        return np.all((x >= lo) & (x <= hi), axis=1)

    def refine(self, factor: int = 2) -> Grid:
        """The same box with ``factor`` times as many cells per axis."""
        return Grid(self.lo, self.hi, tuple(int(n * factor) for n in self.n))

    def with_n(self, n: Any) -> Grid:
        """The same box with ``n`` cells (int, or one per axis)."""
        ns = _as_tuple(n, "n", self.ndim)
        return Grid.uniform(self.lo, self.hi, ns if self.ndim > 1 else ns[0])

    def to_spec(self) -> dict[str, Any]:
        """The TOML-able spec of this grid."""
        if self.ndim == 1:
            return {"lo": self.lo[0], "hi": self.hi[0], "n": self.n[0]}
        return {"lo": list(self.lo), "hi": list(self.hi), "n": list(self.n)}

    def __repr__(self) -> str:
        spec = self.to_spec()
        return f"Grid.uniform(lo={spec['lo']}, hi={spec['hi']}, n={spec['n']})"


_GRID_KEYS = {
    "lo": "a number (1-D) or a list of 2 numbers (2-D), each < hi",
    "hi": "a number or a list of 2 numbers, each > lo",
    "n": "an integer >= 3 or a list of 2 such integers",
    "name": "a string",
    "description": "a string",
}


def grid_from_spec(spec: Any, where: str) -> Grid:
    """Build a Grid from a spec table; ``ConfigError`` naming ``where`` and the key otherwise.

    Parameters
    ----------
    spec : dict
        Keys ``lo``, ``hi``, ``n`` (required), ``name``, ``description`` (optional).
    where : str
        Location for messages, e.g. ``"grids/line.toml"`` or ``"studies/ou.toml [grid]"``.
    """
    if not isinstance(spec, dict):
        msg = f"{where}: a grid spec must be a table with keys {sorted(_GRID_KEYS)}"
        raise ConfigError(msg)
    for key in spec:
        if key not in _GRID_KEYS:
            allowed = ", ".join(repr(k) for k in _GRID_KEYS)
            msg = f"{where}: unknown key {key!r}; allowed keys: {allowed}"
            raise ConfigError(msg)
    for key in ("lo", "hi", "n"):
        if key not in spec:
            msg = f"{where}: missing key {key!r} ({_GRID_KEYS[key]})"
            raise ConfigError(msg)
    for key in ("name", "description"):
        if key in spec and not isinstance(spec[key], str):
            msg = f"{where}: key {key!r} must be a string, got {type(spec[key]).__name__}"
            raise ConfigError(msg)
    lo, hi, n = spec["lo"], spec["hi"], spec["n"]
    for key, val in (("lo", lo), ("hi", hi), ("n", n)):
        items = val if isinstance(val, list) else [val]
        kind = numbers.Integral if key == "n" else numbers.Real
        if not items or any(isinstance(v, bool) or not isinstance(v, kind) for v in items):
            msg = f"{where}: key {key!r} has the wrong type ({val!r}); expected {_GRID_KEYS[key]}"
            raise ConfigError(msg)
    try:
        return Grid.uniform(lo=lo, hi=hi, n=n)
    except (TypeError, ValueError) as err:
        text = str(err)
        key = text.split(" ", 1)[0] if text.split(" ", 1)[0] in _GRID_KEYS else "lo/hi/n"
        msg = f"{where}: key {key!r}: {text}; allowed: {_GRID_KEYS.get(key, ', '.join(map(repr, _GRID_KEYS)))}"
        raise ConfigError(msg) from None


def load_grid(path: str | Path) -> Grid:
    """Read a grid spec (TOML with keys ``lo``, ``hi``, ``n``; optional ``name``, ``description``).

    Raises
    ------
    ConfigError
        Missing or unreadable file, bad TOML, unknown keys, wrong types, ``lo >= hi``, ``n < 3``,
        non-finite bounds — the message names the file and the key.
    """
    if not isinstance(path, str | os.PathLike):
        msg = f"path must be a file path (str or pathlib.Path), got {type(path).__name__}"
        raise TypeError(msg)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"{p}: grid file not found"
        raise ConfigError(msg) from None
    except IsADirectoryError:
        msg = f"{p}: is a folder, not a grid file (a TOML file with lo, hi, n)"
        raise ConfigError(msg) from None
    except UnicodeDecodeError as err:
        msg = f"{p}: not UTF-8 text (byte {err.start}); a grid file is TOML with lo, hi, n"
        raise ConfigError(msg) from None
    except ValueError as err:  # e.g. an embedded NUL byte in the path
        msg = f"path {str(path)!r} is not a usable file name ({err})"
        raise ValueError(msg) from None
    except OSError as err:
        msg = f"{p}: cannot read grid file ({err.strerror})"
        raise ConfigError(msg) from None
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"{p}: not valid TOML: {err}"
        raise ConfigError(msg) from None
    return grid_from_spec(spec, str(p))
