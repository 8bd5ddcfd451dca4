"""The claim record, the claim catalogue ``CLAIMS`` and the decision rules every claim uses.

A claim is a textbook statement plus a measurement: a function ``measure(tier, seed)`` returning a
:class:`ClaimResult` with the number that decides it, its uncertainty and a verdict

* ``holds``       the measured value agrees with the statement within its interval and tolerance,
* ``fails``       it disagrees by more than the interval plus a margin,
* ``holds-when``  it holds in one measured setting and fails in another (``condition`` says when),
* ``undecided``   the measurement could not separate the two (the study reports this as a fail
                  of fplab, since a lab that cannot decide has not done its job).

Decision rule of a numerical claim (:func:`decide_value`): with measured v, standard error se,
claimed c and tolerance tol, the claim holds if |v - c| <= tol + 1.96 se (the 95 % interval
widened by tol reaches c), fails if |v - c| >= 2 (tol + 1.96 se) (c lies outside by at least
the same margin again), and is undecided in between.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fplab._registry import Registry

__all__ = [
    "CLAIMS",
    "CLAIM_VERDICTS",
    "Claim",
    "ClaimResult",
    "claim",
    "combine",
    "decide_above",
    "decide_value",
    "ordered_ids",
    "result",
]

#: the verdicts of a textbook claim (``undecided``: the measurement could not tell)
CLAIM_VERDICTS = ("holds", "fails", "holds-when", "undecided")
#: two-sided 95 % normal quantile used by the decision rules
Z95 = 1.959963984540054


@dataclass(frozen=True)
class ClaimResult:
    """The measured verdict on one textbook claim.

    Parameters
    ----------
    id : str                 the claim's fixed id, e.g. ``"em-strong-half"``
    statement : str          the statement as tutorials write it
    verdict : str            one of :data:`CLAIM_VERDICTS`
    value : float            the number that decides it (an order, a mass, a ratio, ...)
    uncertainty : float      its standard error (0 for quadrature-exact numbers: round-off only)
    detail : str             what was measured, and why the verdict follows (one or two lines)
    condition : str          for ``holds-when``: when it holds; else ""
    quantity : str           what ``value`` is
    numbers : dict           further measured numbers (JSON-ready), e.g. the other setting's value
    figure : dict or None    data for the report figure of claims a picture decides
    """

    id: str
    statement: str
    verdict: str
    value: float
    uncertainty: float
    detail: str
    condition: str = ""
    quantity: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    figure: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.verdict not in CLAIM_VERDICTS:
            msg = f"verdict must be one of {CLAIM_VERDICTS}, got {self.verdict!r}"
            raise ValueError(msg)
        if self.verdict == "holds-when" and not self.condition:
            msg = f"claim {self.id!r}: a 'holds-when' verdict needs its condition"
            raise ValueError(msg)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["value"] = _json_float(self.value)
        out["uncertainty"] = _json_float(self.uncertainty)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClaimResult:
        d = dict(data)
        d["value"] = math.nan if d.get("value") is None else float(d["value"])
        d["uncertainty"] = math.nan if d.get("uncertainty") is None else float(d["uncertainty"])
        return cls(**d)


def _json_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


@dataclass(frozen=True)
class Claim:
    """A catalogue entry: the statement and its measurement ``measure(tier, seed) -> ClaimResult``."""

    id: str
    statement: str
    measure: Callable[[str, int], ClaimResult]
    number: int

    def __post_init__(self) -> None:
        # the one-line description ``fplab list`` shows for a registry entry
        object.__setattr__(self, "__doc__", self.statement)


#: every textbook claim, by id, in the order the issue lists them
CLAIMS: Registry[Claim] = Registry("claim")


def claim(
    number: int, claim_id: str, statement: str
) -> Callable[[Callable[..., ClaimResult]], Claim]:
    """Register ``fn(tier, seed) -> ClaimResult`` as the measurement of claim ``number``."""

    def deco(fn: Callable[..., ClaimResult]) -> Claim:
        entry = Claim(claim_id, statement, fn, number)
        CLAIMS.register(claim_id)(entry)
        return entry

    return deco


def ordered_ids() -> list[str]:
    """Claim ids in the order of their numbers (the issue's list)."""
    return sorted(CLAIMS.names(), key=lambda k: CLAIMS.get(k).number)


def decide_value(value: float, se: float, claimed: float, tol: float) -> str:
    """``holds`` / ``fails`` / ``undecided`` for "the quantity equals ``claimed``" (module rule)."""
    if not (math.isfinite(value) and math.isfinite(se)):
        return "undecided"
    reach = tol + Z95 * se
    gap = abs(value - claimed)
    if gap <= reach:
        return "holds"
    if gap >= 2.0 * reach:
        return "fails"
    return "undecided"


def decide_above(value: float, se: float, threshold: float) -> str:
    """``holds`` if value > threshold beyond its 95 % interval, ``fails`` if below it, else undecided."""
    if not (math.isfinite(value) and math.isfinite(se)):
        return "undecided"
    if value - Z95 * se > threshold:
        return "holds"
    if value + Z95 * se < threshold:
        return "fails"
    return "undecided"


def combine(general: str, special: str) -> str:
    """Verdict of a claim measured in a general setting and in a special one.

    ``fails`` in general but ``holds`` in the special setting is ``holds-when``; both ``holds`` is
    ``holds``; both ``fails`` is ``fails``; anything undecided is ``undecided``.
    """
    if "undecided" in (general, special):
        return "undecided"
    if general == special:
        return general
    return "holds-when"


def result(
    claim_id: str, verdict: str, value: float, uncertainty: float, detail: str, **kw: Any
) -> ClaimResult:
    """A :class:`ClaimResult` for ``claim_id`` with the statement from the catalogue."""
    return ClaimResult(
        claim_id, CLAIMS.get(claim_id).statement, verdict, value, uncertainty, detail, **kw
    )
