"""Array aliases and callable protocols shared across fplab."""

from __future__ import annotations

from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Density", "DistributionLike", "DriftFn", "FloatArray", "Samples", "ScoreFn", "Seed"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
#: samples, shape (n, d) (or (n,) in 1-D where a function says so)
Samples: TypeAlias = npt.NDArray[np.float64]
#: a density on a grid, shape ``grid.shape``
Density: TypeAlias = npt.NDArray[np.float64]
#: an int seed or a numpy Generator
Seed: TypeAlias = "int | np.random.Generator | None"


@runtime_checkable
class ScoreFn(Protocol):
    """A score s(x, t) ≈ ∇ log p_t(x); x of shape (n, d), returns (n, d)."""

    def __call__(self, x: FloatArray, t: float) -> FloatArray: ...


class DriftFn(Protocol):
    """A drift f(x, t); x of shape (n, d), returns (n, d)."""

    def __call__(self, x: FloatArray, t: float) -> FloatArray: ...


@runtime_checkable
class DistributionLike(Protocol):
    """Anything with a vectorised ``pdf``: x of shape (n, d) -> (n,)."""

    def pdf(self, x: FloatArray) -> FloatArray: ...
