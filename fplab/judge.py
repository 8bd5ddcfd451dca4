"""Judging a study's claims: the three verdicts, their documented thresholds, and the per-point
flags of a convergence fit.

A leaf of the study layer (it imports only :mod:`fplab.records`), so every study kind judges its
claims with the same rules:

*Order claims* (``judge_order``): the declared order ``p`` against the fitted order's 95 %
interval ``[lo, hi]`` widened by the spec's tolerance ``tol`` (``[expect] tolerance``); when
coarse levels are flagged pre-asymptotic and at least 3 levels remain, the fit of the remaining
(asymptotic) levels decides, and the note says so:

1. **inconclusive** when fewer than :data:`MIN_POINTS` levels are usable (a round-off or
   statistical-floor point is not usable): two points give no interval at all;
2. **inconclusive** when the reference's own error estimate is within :data:`REFERENCE_FACTOR` ×
   of the smallest measured error: the reference may be what is measured, so the slope decides
   nothing, not even a failure;
3. **fail** when ``p`` lies outside ``[lo - tol, hi + tol]``: the data contradict the claim;
4. **inconclusive** when the interval is wider than :data:`WIDTH_FACTOR` × ``tol``: it cannot
   confirm the claim to the stated tolerance (Heun's weak order 2.33 [1.61, 3.06] at ``tol``
   0.15 neither confirms nor contradicts order 2);
5. **pass** otherwise.

*Bound claims* (``judge_bound``): a measured number against a bound (``<=`` or ``>=``); a number
that could not be measured (None, NaN) is inconclusive, never pass.

*Flags* of the fitted points (``classify_flags``), from the data:

- ``round-off``: the error is within ``ROUNDOFF_EPS`` = 1e3 machine epsilons of the quantity's
  scale (nothing below that is a discretisation error);
- ``statistical floor``: the error is below 2 Monte-Carlo standard errors of itself;
- ``plateau``: a fine-end point whose error stops falling (local slope well below the fitted
  order) while still far above round-off: the floor of a reference, of sampling or of a
  crossover -- never called round-off;
- ``pre-asymptotic``: a coarse-end point whose local slope departs from the fine-level order.
"""

from __future__ import annotations

import math
from typing import Any

from fplab.records import Verdict

__all__ = [
    "MIN_POINTS",
    "REFERENCE_FACTOR",
    "ROUNDOFF_EPS",
    "WIDTH_FACTOR",
    "classify_flags",
    "judge_bound",
    "judge_order",
    "unusable",
]

#: machine epsilon of float64
EPS = 2.220446049250313e-16
#: a point is round-off when its error is <= this times the quantity's scale (1e3 epsilons)
ROUNDOFF_EPS = 1e3 * EPS
#: an order claim needs at least this many usable levels (2 points leave no interval)
MIN_POINTS = 3
#: an interval wider than this many tolerances cannot confirm an order claim
WIDTH_FACTOR = 2.0
#: a reference whose error estimate is within this factor of the smallest error cannot judge it
REFERENCE_FACTOR = 10.0

#: flags whose points carry no information about the order
_UNUSABLE = ("round-off", "statistical floor")


def classify_flags(raw: list[str], err: list[float], scale: float) -> list[str]:
    """Per-point flags from ``observed_order``'s raw ones (coarse to fine), renamed from the data.

    ``observed_order`` calls both a true round-off point and a fine-end plateau "round-off" and a
    point below 2 standard errors "noise"; here "round-off" stays only where ``err <=
    ROUNDOFF_EPS * scale``, a plateau above that is "plateau", and "noise" is "statistical floor".
    """
    out = []
    for flag, e in zip(raw, err):
        if e <= ROUNDOFF_EPS * scale:
            out.append("round-off")
        elif flag == "round-off":
            out.append("plateau")
        elif flag == "noise":
            out.append("statistical floor")
        else:
            out.append(flag)
    return out


def unusable(flags: list[str]) -> int:
    """How many points carry no information on the order (round-off or statistical floor)."""
    return sum(f in _UNUSABLE for f in flags)


def _g(v: float) -> str:
    return f"{v:.3g}"


def judge_order(
    claim: str,
    statement: str,
    fit: dict[str, Any],
    expected: float,
    tol: float,
    *,
    reference_error: float | None = None,
    reference_note: str = "",
) -> Verdict:
    """The verdict on "the observed order is ``expected``" (module docstring, rules 1-5).

    Parameters
    ----------
    claim, statement : str
        Claim id (``order[heun]``) and the claim in words.
    fit : dict
        A row of a convergence summary: ``order``, ``ci`` [lo, hi], ``n_points``, ``flags``
        and ``errors`` (the fitted errors, coarse to fine).
    expected : float
        The declared order.
    tol : float
        ``[expect] tolerance``.
    reference_error : float, optional
        Estimate of the reference's own error (None: no estimate).
    """
    dropped = ""
    if fit.get("asymptotic"):  # coarse pre-asymptotic levels left out (fit_order keeps >= 3)
        n_all = int(fit.get("n_points", 0))
        fit = fit["asymptotic"]
        dropped = (
            f"; judged on the {fit['n_points']} of {n_all} levels past the pre-asymptotic ones"
        )
    order = float(fit.get("order", math.nan))
    lo, hi = (float(v) for v in (fit.get("ci") or [math.nan, math.nan]))
    flags = list(fit.get("flags") or [])
    errors = [float(e) for e in fit.get("errors") or [] if e is not None and e > 0]
    n_usable = int(fit.get("n_points", 0)) - unusable(flags)
    bound = f"{_g(expected)} in [lo - {_g(tol)}, hi + {_g(tol)}], width <= {_g(WIDTH_FACTOR * tol)}"
    extra = {"expected": expected, "tolerance": tol, "ci": [lo, hi], "n_usable": n_usable}
    if reference_error is not None:
        extra["reference_error"] = reference_error

    def verdict(v: str, note: str) -> Verdict:
        return Verdict(claim, statement, order, bound, v, note, "order", extra)

    interval = f"interval [{_g(lo)}, {_g(hi)}]"
    if not math.isfinite(order) or n_usable < MIN_POINTS:
        bad = sorted({f for f in flags if f in _UNUSABLE})
        why = f" ({', '.join(bad)} points left out)" if bad else ""
        return verdict(
            "inconclusive",
            f"{max(n_usable, 0)} usable levels{why}; an order claim needs >= {MIN_POINTS}",
        )
    interval += dropped
    # a reference too coarse to judge the errors decides nothing, not even a failure: the slope
    # it shows may be its own (checked before the interval, so a poor reference never "fails")
    if reference_error is not None and errors:
        smallest = min(errors)
        if reference_error * REFERENCE_FACTOR > smallest:
            return verdict(
                "inconclusive",
                f"the reference's own error (~{_g(reference_error)}{', ' if reference_note else ''}"
                f"{reference_note}) is within {REFERENCE_FACTOR:g}× of the smallest error "
                f"{_g(smallest)}",
            )
    if not lo - tol <= expected <= hi + tol:
        return verdict("fail", f"{interval} ± {_g(tol)} excludes {_g(expected)}")
    if hi - lo > WIDTH_FACTOR * tol:
        return verdict(
            "inconclusive",
            f"{interval} is {_g(hi - lo)} wide, more than {WIDTH_FACTOR:g} × tolerance "
            f"{_g(tol)}: it neither confirms nor contradicts {_g(expected)}",
        )
    note = f"{interval}"
    others = sorted({f for f in flags if f})
    if others:
        note += f"; flagged: {', '.join(others)}"
    return verdict("pass", note)


def judge_bound(
    claim: str,
    statement: str,
    measured: float | None,
    bound: float,
    *,
    relation: str = "<=",
    quantity: str = "",
    why: str = "",
    note: str = "",
) -> Verdict:
    """The verdict on ``measured <relation> bound``; None or NaN is inconclusive ("not measured").

    ``why`` says where the bound comes from (shown after the bound on the page).
    """
    if relation not in ("<=", ">="):
        msg = f"relation must be '<=' or '>=', got {relation!r}"
        raise ValueError(msg)
    text = f"{quantity or 'value'} {relation} {_g(bound)}" + (f" ({why})" if why else "")
    extra = {"bound": bound, "relation": relation}
    if measured is None or not math.isfinite(float(measured)):
        return Verdict(
            claim,
            statement,
            None,
            text,
            "inconclusive",
            note or "not measured",
            quantity,
            extra,
        )
    m = float(measured)
    ok = m <= bound if relation == "<=" else m >= bound
    return Verdict(claim, statement, m, text, "pass" if ok else "fail", note, quantity, extra)
