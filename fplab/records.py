"""Typed records of the study layer: verdicts on claims (more records join here).

A leaf module: it imports nothing from fplab, so every layer may use it.

Contract shared by every study kind: ``StudyKind.claims(spec, results, summary)`` returns a list of
:class:`Verdict`, one per claim the study states.  ``fplab run`` / ``fplab check`` count them
(``claims: N checked, P passed, F failed, I inconclusive``) and exit 1 when any verdict is ``fail``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SCHEMA_VERSION", "VERDICTS", "CaseResult", "Verdict", "totals", "totals_line"]

#: version of the stored case-result layout (``CaseResult``); bump it when the layout changes
SCHEMA_VERSION = 1

#: the three verdicts, in the order pages list them
VERDICTS = ("pass", "fail", "inconclusive")


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim of a study.

    Parameters
    ----------
    claim : str
        Short stable id of the claim within its study, e.g. ``"order[heun]"``.
    statement : str
        The claim in words, e.g. ``"Heun has weak order 2"``.
    measured : float or None
        The number that decides it (None only when nothing could be measured; say why in ``note``).
    bound : str
        The relation and bound it is judged by, in words, e.g. ``"|p - 2| <= 0.15 + CI half-width"``.
    verdict : str
        ``"pass"``, ``"fail"`` or ``"inconclusive"``.
    note : str
        Why (required for inconclusive and fail): interval, flags, reference error, …
    quantity : str
        What ``measured`` is (``"order"``, ``"W2"``, ``"ratio"``, …).
    extra : dict
        JSON-ready extra numbers (interval, tolerance, …).
    """

    claim: str
    statement: str
    measured: float | None
    bound: str
    verdict: str
    note: str = ""
    quantity: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            msg = f"verdict must be one of {VERDICTS}, got {self.verdict!r}"
            raise ValueError(msg)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(**data)


@dataclass(frozen=True)
class CaseResult:
    """One finished case as the result cache stores it (the only place it meets JSON).

    Parameters
    ----------
    key : str
        The case key (hash of kind, configuration and code version).
    study, label, kind : str
        The case's study, label and study kind.
    config : dict
        The case's JSON-ready configuration.
    result : dict
        What ``StudyKind.run_case`` returned (``row`` or ``rows``, curves, ...).
    seconds : float
        Wall time of the whole case in its worker (first run: compilation and reference included).
    code_version : str
        ``fplab.version.code_version(kind)`` when it ran.
    timing : dict
        Wall-clock fields of the rows (warm/cold seconds, compilation), kept out of ``result``
        so that ``result`` is a function of the configuration and seed alone.
    finished_at : str
        UTC time stamp, ISO 8601.
    schema : int
        ``SCHEMA_VERSION`` of the layout; entries written before it existed read as 0.
    """

    key: str
    study: str
    label: str
    kind: str
    config: dict[str, Any]
    result: dict[str, Any]
    seconds: float
    code_version: str
    finished_at: str
    timing: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (floats round-trip exactly through ``json``: shortest repr)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        """The record of a stored entry; unknown keys (e.g. a checksum the cache adds) are
        ignored, and a newer schema than this code knows is refused."""
        schema = int(data.get("schema", 0))
        if schema > SCHEMA_VERSION:
            msg = (
                f"case result {data.get('key', '?')!r} has schema {schema}, newer than this "
                f"fplab's {SCHEMA_VERSION}; upgrade fplab or use another --cache"
            )
            raise ValueError(msg)
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names} | {"schema": schema})


def totals(verdicts: list[Verdict]) -> dict[str, int]:
    """Counts ``{"checked", "pass", "fail", "inconclusive"}`` of a list of verdicts."""
    out = {v: 0 for v in VERDICTS}
    for v in verdicts:
        out[v.verdict] += 1
    return {"checked": len(verdicts), **out}


def totals_line(verdicts: list[Verdict]) -> str:
    """``claims: N checked, P passed, F failed, I inconclusive`` (the line runs and pages end with)."""
    t = totals(verdicts)
    return (
        f"claims: {t['checked']} checked, {t['pass']} passed, {t['fail']} failed, "
        f"{t['inconclusive']} inconclusive"
    )
