"""Accuracy regression check: the quick tier's errors and orders against stored baselines.

A baseline is ``tests/baselines/<study>.json`` holding, for every case label, the error the study
measured, for every compared name the fitted order and its confidence interval
(``order_cis``), and the headline ``values`` of experiment kinds.  ``fplab check`` reruns the
quick tier (through the result cache, whose key includes the code version, so changed code
always reruns) and compares **two-sided**: any quantity that moved beyond its tolerance in
either direction is a change, because a bug can shrink an error as easily as grow it (W2
without its square root, a reference that coincides with the method).

- an order or an interval end moved by more than ``order_atol`` (absolute), or
- an error grew by more than the relative tolerance ``error_rtol`` (``new > old (1 + rtol)``):
  a regression; an error that shrank below ``old / (1 + rtol)``: an improvement, or
- a headline value moved by more than ``error_rtol |old| + 1e-9``, or
- a quantity in the baseline is missing or not finite now: a regression.

Improvements are listed separately (``CheckOutcome.improvements``): they fail the check like
regressions unless ``--allow-improvements`` is given, and are accepted into the baseline with
``--update``.  Tolerances come from the study kind (``order_atol``, ``error_rtol``) and a spec's
``[check]`` table overrides them.  Seeds are fixed, so reruns are deterministic up to round-off
and thread count; the defaults (orders ±0.02, errors 1 %) sit orders of magnitude above that
variation and far below the smallest change that matters (a scheme losing an order multiplies
its finest-level error by >= 2).  Kinds with training noise (score networks) declare wider ones.
Orders are baselined for every compared name, flagged points included, except fits whose every
point is at the round-off floor (an order fitted to round-off differs between machines).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fplab._io import atomic_write
from fplab.spec import StudySpec, default_studies_dir

#: absolute floor of the two-sided ``values`` comparison: numbers at round-off size (a measured
#: growth factor matching its symbol to 3e-12) may move by that much between machines
VALUE_ATOL = 1e-9
#: absolute floor of the error comparison: errors at round-off level (1e-15) vary between machines
ERROR_ATOL = 1e-12

__all__ = [
    "BaselineError",
    "CheckOutcome",
    "compare",
    "default_baselines_dir",
    "quantities",
    "write_baseline",
]


def default_baselines_dir() -> Path:
    """``tests/baselines`` next to the studies folder."""
    return default_studies_dir().parent / "tests" / "baselines"


@dataclass
class CheckOutcome:
    """What ``compare`` found: regressions (fail), improvements (fail unless allowed), notes."""

    regressions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    improvements: list[str] = field(default_factory=list)


def _baselined(o: dict[str, Any]) -> bool:
    """Whether an order row is checked: any fit except one whose every point is round-off."""
    flags = o.get("flags") or []
    return not (flags and all(f == "round-off" for f in flags))


def quantities(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The checked numbers of a study summary: ``{"orders": {label: order}, "order_cis":
    {label: [lo, hi]}, "errors": {label: err}, "values": {label: value}}``."""
    orders = [o for o in summary.get("orders", []) if _baselined(o)]
    return {
        "orders": {o["label"]: float(o["order"]) for o in orders},
        "order_cis": {
            o["label"]: [float(o["ci"][0]), float(o["ci"][1])] for o in orders if "ci" in o
        },
        "errors": {k: float(v) for k, v in summary.get("errors", {}).items() if v is not None},
        "values": {k: float(v) for k, v in summary.get("values", {}).items() if v is not None},
    }


def _same_nan(a: float, b: float) -> bool:
    return math.isnan(a) and math.isnan(b)


def compare(
    spec: StudySpec, current: dict[str, dict[str, Any]], baseline: dict[str, Any]
) -> CheckOutcome:
    """Regressions, improvements and notes of ``current`` against ``baseline`` (two-sided, with
    ``spec.check`` tolerances); whether improvements fail is the caller's choice."""
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
    for label, old_ci in baseline.get("order_cis", {}).items():
        new_ci = current.get("order_cis", {}).get(label)
        if new_ci is None:
            out.regressions.append(f"{name}: interval of the order of {label!r} is missing")
        elif all(_same_nan(a, b) for a, b in zip(new_ci, old_ci, strict=True)):
            continue
        elif not all(
            math.isfinite(a) and abs(a - b) <= atol for a, b in zip(new_ci, old_ci, strict=True)
        ):
            out.regressions.append(
                f"{name}: interval of the order of {label!r} is [{new_ci[0]:.4g}, "
                f"{new_ci[1]:.4g}], baseline [{old_ci[0]:.4g}, {old_ci[1]:.4g}] "
                f"(tolerance ±{atol:g} on each end)"
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
            out.improvements.append(
                f"{name}: error of {label!r} shrank to {new:.4g} from {old:.4g} "
                f"({(new / old - 1) * 100:.3g} %, tolerance ±{rtol * 100:g} %)"
            )
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
    for kind in ("orders", "order_cis", "errors", "values"):
        extra = sorted(set(current.get(kind, {})) - set(baseline.get(kind, {})))
        if extra:
            out.notes.append(f"{name}: {len(extra)} {kind} not in the baseline (e.g. {extra[0]!r})")
    return out


def baseline_path(folder: Path, spec: StudySpec) -> Path:
    return folder / f"{spec.name}.json"


class BaselineError(ValueError):
    """A baseline file that cannot be read as one (the message names the file)."""


def load_baseline(folder: Path, spec: StudySpec) -> dict[str, Any] | None:
    """The stored baseline of ``spec``, or None when there is none.

    Raises
    ------
    BaselineError
        The file is not UTF-8 JSON, not an object, or a section (``orders``, ``order_cis``,
        ``errors``, ``values``) is not an object of numbers (intervals: pairs of numbers).
    """
    path = baseline_path(folder, spec)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a JSON baseline ({exc}); rewrite it with `fplab check {spec.name} --update`"
        raise BaselineError(msg) from None
    if not isinstance(data, dict):
        msg = f"{path}: a baseline is a JSON object, got a {type(data).__name__}"
        raise BaselineError(msg)
    for section in ("orders", "errors", "values", "order_cis"):
        part = data.get(section, {})
        if not isinstance(part, dict):
            msg = f"{path}: {section!r} must be an object, got a {type(part).__name__}"
            raise BaselineError(msg)
        for label, value in part.items():
            ok = (
                isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value)
                if section == "order_cis"
                else _number(value)
            )
            if not ok:
                msg = f"{path}: {section}[{label!r}] is {value!r:.60}, not a number" + (
                    " pair" if section == "order_cis" else ""
                )
                raise BaselineError(msg)
    return data


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def write_baseline(
    folder: Path, spec: StudySpec, current: dict[str, dict[str, Any]], prov: dict[str, Any]
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
