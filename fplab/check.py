"""Accuracy regression check: the quick tier's errors and orders against stored baselines.

A baseline is ``tests/baselines/<study>.json`` holding, for every case label, the error the study
measured, and for every compared name the fitted order.  ``fplab check`` reruns the quick tier
(through the result cache, whose key includes the code version, so changed code always reruns)
and reports a regression when

- an order moved by more than ``order_atol`` (absolute, either direction: an order that rises
  unexpectedly usually means a broken reference), or
- an error grew by more than the relative tolerance ``error_rtol`` (``new > old * (1 + rtol)``), or
- a quantity in the baseline is missing or not finite now.

Errors that shrank beyond the tolerance are reported as improvements (exit 0); accept them with
``--update``.  Headline ``values`` of experiment kinds (growth rates, blow-up times, optimal
regularisation errors, score-error ratios) are not errors with a direction, so they are
compared two-sided: ``|new - old| <= error_rtol * |old| + 1e-9``.  Tolerances come from the
study kind (``order_atol``, ``error_rtol``) and a spec's ``[check]`` table overrides them.
Seeds are fixed, so reruns are deterministic up to round-off and
thread count; the defaults (orders ±0.02, errors +1 %) sit orders of magnitude above that
variation and far below the smallest change that matters (a scheme losing an order multiplies
its finest-level error by >= 2).  Kinds with training noise (score networks) declare wider ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fplab._io import atomic_write
from fplab.study import StudySpec, default_studies_dir

#: absolute floor of the two-sided ``values`` comparison: numbers at round-off size (a measured
#: growth factor matching its symbol to 3e-12) may move by that much between machines
VALUE_ATOL = 1e-9
#: absolute floor of the error comparison: errors at round-off level (1e-15) vary between machines
ERROR_ATOL = 1e-12

__all__ = ["CheckOutcome", "compare", "default_baselines_dir", "quantities", "write_baseline"]


def default_baselines_dir() -> Path:
    """``tests/baselines`` next to the studies folder."""
    return default_studies_dir().parent / "tests" / "baselines"


@dataclass
class CheckOutcome:
    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def quantities(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The checked numbers of a study summary: ``{"orders": {label: order}, "errors": {label: err}}``."""
    # an order fitted to round-off-level errors is noise (e.g. a scheme exact at equilibrium)
    return {
        "orders": {
            o["label"]: float(o["order"])
            for o in summary.get("orders", [])
            if "round-off" not in (o.get("flags") or [])
        },
        "errors": {k: float(v) for k, v in summary.get("errors", {}).items() if v is not None},
        "values": {k: float(v) for k, v in summary.get("values", {}).items() if v is not None},
    }


def _same_nan(a: float, b: float) -> bool:
    return math.isnan(a) and math.isnan(b)


def compare(
    spec: StudySpec, current: dict[str, dict[str, float]], baseline: dict[str, Any]
) -> CheckOutcome:
    """Regressions and notes of ``current`` against ``baseline`` with ``spec.check`` tolerances."""
    out = CheckOutcome()
    atol = float(spec.check["order_atol"])
    rtol = float(spec.check["error_rtol"])
    name = spec.name
    for label, old in baseline.get("orders", {}).items():
        new = current["orders"].get(label)
        if new is None:
            out.regressions.append(f"{name}: order of {label!r} is missing (baseline {old:.4g})")
        elif _same_nan(new, old):
            continue
        elif not math.isfinite(new) or not abs(new - old) <= atol:
            out.regressions.append(
                f"{name}: order of {label!r} is {new:.4g}, baseline {old:.4g} (tolerance ±{atol:g})"
            )
    for label, old in baseline.get("errors", {}).items():
        new = current["errors"].get(label)
        if new is None:
            out.regressions.append(f"{name}: error of {label!r} is missing (baseline {old:.4g})")
        elif _same_nan(new, old):
            continue
        elif not math.isfinite(new) or new > old * (1.0 + rtol) + ERROR_ATOL:
            out.regressions.append(
                f"{name}: error of {label!r} grew to {new:.4g} from {old:.4g} "
                f"(+{(new / old - 1) * 100 if old else math.inf:.3g} %, tolerance +{rtol * 100:g} %)"
            )
        elif new < old / (1.0 + rtol) - ERROR_ATOL:
            out.notes.append(f"{name}: error of {label!r} improved to {new:.4g} from {old:.4g}")
    for label, old in baseline.get("values", {}).items():
        new = current["values"].get(label)
        if new is None:
            out.regressions.append(f"{name}: {label!r} is missing (baseline {old:.4g})")
        elif _same_nan(new, old):
            continue
        elif not abs(new - old) <= rtol * abs(old) + VALUE_ATOL:
            out.regressions.append(
                f"{name}: {label!r} changed to {new:.4g} from {old:.4g} (tolerance ±{rtol * 100:g} %)"
            )
    for kind in ("orders", "errors", "values"):
        extra = sorted(set(current[kind]) - set(baseline.get(kind, {})))
        if extra:
            out.notes.append(f"{name}: {len(extra)} {kind} not in the baseline (e.g. {extra[0]!r})")
    return out


def baseline_path(folder: Path, spec: StudySpec) -> Path:
    return folder / f"{spec.name}.json"


def load_baseline(folder: Path, spec: StudySpec) -> dict[str, Any] | None:
    try:
        return json.loads(baseline_path(folder, spec).read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def write_baseline(
    folder: Path, spec: StudySpec, current: dict[str, dict[str, float]], prov: dict[str, Any]
) -> Path:
    """Store ``current`` as the baseline of ``spec`` (``fplab check --update``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = baseline_path(folder, spec)
    body = {
        "study": spec.name,
        "kind": spec.kind,
        "tier": "quick",
        "fplab_version": prov["fplab_version"],
        "code_version": prov["code_version"],
        "git_commit": prov["git_commit"],
        "tolerances": {k: spec.check[k] for k in ("order_atol", "error_rtol")},
        **current,
    }
    atomic_write(path, json.dumps(body, indent=2, sort_keys=False) + "\n")
    return path
