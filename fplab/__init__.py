"""fplab — a verification laboratory for the numerics behind diffusion models.

The public API (``../shared/API.md``) is importable as ``import fplab as fp``.  Names resolve
lazily on first use, so ``import fplab`` stays fast: numba, scipy-heavy and torch modules load
only when a name that needs them is touched.
"""

from __future__ import annotations

import importlib
from typing import Any

from fplab._registry import add_miss_hook
from fplab.version import __version__ as __version__


def _load_entry_point_plugins() -> None:
    """Installed plugins (entry points ``fplab.plugins``) load on a registry's first miss."""
    from fplab.plugins import load_entry_points

    load_entry_points()


add_miss_hook(_load_entry_point_plugins)

# public name -> module that defines it.  Submodules listed as themselves (fp.metrics, fp.nn).
_EXPORTS: dict[str, str] = {
    # grids
    "Grid": "fplab.grid",
    "load_grid": "fplab.grid",
    # SDEs
    "SDE": "fplab.sdes",
    "SDES": "fplab.sdes",
    "OU": "fplab.sdes",
    "Heat": "fplab.sdes",
    "VP": "fplab.sdes",
    "VE": "fplab.sdes",
    "SubVP": "fplab.sdes",
    "GBM": "fplab.sdes",
    "DoubleWell": "fplab.sdes",
    "BoundedSDE": "fplab.sdes",
    "RotatingOU": "fplab.sdes",
    "CustomSDE": "fplab.sdes",
    "LinearSDE": "fplab.sdes",
    # distributions and exact answers
    "GaussianMixture": "fplab.distributions",
    "LogNormal": "fplab.distributions",
    "LogNormalMixture": "fplab.distributions",
    "exact_marginal": "fplab.exact",
    "exact_score": "fplab.exact",
    "guided_score": "fplab.guidance",
    "tilted_density": "fplab.guidance",
    # grid solvers
    "solve_fokker_planck": "fplab.fd",
    "FPSolution": "fplab.fd",
    # Monte Carlo and samplers
    "simulate": "fplab.mc",
    "simulate_coupled": "fplab.mc",
    "CoupledResult": "fplab.mc",
    "sample_reverse": "fplab.reverse",
    "grid_score": "fplab.reverse",
    # measurements
    "observed_order": "fplab.convergence",
    "OrderFit": "fplab.convergence",
    "richardson": "fplab.convergence",
    "weak_error": "fplab.convergence",
    # plugins (bring your own sampler, MC method, SDE, metric or study kind)
    "register_sampler": "fplab.registration",
    "register_mc_method": "fplab.registration",
    "register_sde": "fplab.registration",
    "register_metric": "fplab.registration",
    "register_study_kind": "fplab.studykinds.base",
    "load_plugins": "fplab.plugins",
    # errors
    "ConfigError": "fplab.errors",
    "NumericalError": "fplab.errors",
}
_SUBMODULES = (
    "metrics",
    "backward_heat",
    "nn",
    "sdes",
    "fd",
    "mc",
    "reverse",
    "study",
    "report",
    "testing",
)

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"fplab.{name}")
        globals()[name] = module
        return module
    msg = f"module 'fplab' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
