"""``claims``: textbook statements about diffusion SDEs, each measured and given a verdict.

One case per claim of ``fplab.claims.CLAIMS`` (``[options] claims = [...]`` picks some; default
all).  A case runs the claim's measurement and stores its :class:`fplab.claims.ClaimResult`.
The study's verdicts map a conclusive measurement -- the textbook claim ``holds``, ``fails`` or
``holds-when`` a condition -- to ``pass`` (a false textbook claim is a finding, not a failure of
fplab), and an ``undecided`` one to ``fail``, so ``fplab run claims`` exits 1 only when a
measurement could not decide.  ``claims.json`` in the report folder lists every claim with its
verdict, value, uncertainty and detail.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import numpy as np

from fplab.spec import StudySpec
from fplab.studykinds._common import new_figure
from fplab.studykinds.base import STUDY_KINDS, Option, StudyKind

__all__ = ["Claims", "claims_json", "to_verdict"]

_VERDICT_WORDS = {"holds": "holds", "fails": "fails", "holds-when": "holds when"}
_DECISION = "a conclusive verdict: holds, fails or holds-when (decision rules in docs/claims.md)"


def _result(res: dict[str, Any]) -> Any:
    from fplab.claims import ClaimResult

    return ClaimResult.from_json(res["claim"])


def to_verdict(cr: Any) -> Any:
    """The study verdict (``fplab.records.Verdict``) of a measured claim."""
    from fplab.records import Verdict

    conclusive = cr.verdict != "undecided"
    value = cr.value if math.isfinite(cr.value) else None
    if conclusive:
        cond = f" {cr.condition}" if cr.verdict == "holds-when" else ""
        note = f"textbook claim {_VERDICT_WORDS[cr.verdict]}{cond}: {cr.quantity} = {cr.value:.4g}"
    else:
        note = (
            f"measurement could not decide: {cr.quantity} = {cr.value:.4g} ± {cr.uncertainty:.2g}"
        )
    return Verdict(
        claim=cr.id,
        statement=cr.statement,
        measured=value,
        bound=_DECISION,
        verdict="pass" if conclusive else "fail",
        note=f"{note} ({cr.detail})",
        quantity=cr.quantity,
        extra={
            "claim_verdict": cr.verdict,
            "uncertainty": cr.uncertainty,
            "condition": cr.condition,
        },
    )


def claims_json(results: list[Any]) -> str:
    """``claims.json``: a list of {id, statement, verdict, value, uncertainty, detail, ...}."""
    out = []
    for cr in results:
        item = cr.to_json()
        item.pop("figure", None)
        out.append(item)
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


@STUDY_KINDS.register("claims")
class Claims(StudyKind):
    """Textbook claims, measured: one case per claim, a verdict with its number for each."""

    needs: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[dict[str, Option]] = {
        "claims": Option(
            (list,),
            [],
            "claim ids to measure (default: all of fplab.claims.CLAIMS)",
            choices_from=("fplab.claims", "CLAIMS"),
        ),
    }
    depends: ClassVar[tuple[str, ...]] = (
        "claims",
        "mc",
        "fd",
        "reverse",
        "backward_heat",
        "metrics",
    )
    error_rtol = 0.01

    def _ids(self, spec: StudySpec, tier: str) -> list[str]:
        from fplab.claims import ordered_ids

        chosen = spec.option("claims", tier) or []
        return [c for c in ordered_ids() if not chosen or c in chosen]

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # claim sizes are fixed in fplab.claims, not in the spec: bounded by the largest claim of
        # the tier, 2e5 (quick) / 2e6 (full) samples with ~16 arrays each, ~1000 updates per sample
        n = 2e5 if config["tier"] == "quick" else 2e6
        return 8.0 * 16 * n, 1000.0 * n

    def cases(self, spec: StudySpec, tier: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (cid, {"claim": cid, "tier": tier, "seed": spec.seed}) for cid in self._ids(spec, tier)
        ]

    def run_case(self, config: dict[str, Any]) -> dict[str, Any]:
        from fplab.claims import run_claim

        cr = run_claim(config["claim"], config["tier"], int(config["seed"]))
        row = {
            "verdict": cr.verdict,
            "value": cr.value if math.isfinite(cr.value) else None,
            "uncertainty": cr.uncertainty if math.isfinite(cr.uncertainty) else None,
            "quantity": cr.quantity,
        }
        return {"row": row, "claim": cr.to_json()}

    def summarize(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]]
    ) -> dict[str, Any]:
        crs = [_result(res) for _, res in results]
        rows = [
            [cr.id, cr.verdict, cr.value, cr.uncertainty, cr.quantity, cr.condition] for cr in crs
        ]
        notes = [
            f"{cr.id}: {cr.verdict}, {cr.quantity} = {cr.value:.4g} — {cr.detail}" for cr in crs
        ]
        return {
            "orders": [],
            "errors": {},
            "values": {cr.id: cr.value for cr in crs if math.isfinite(cr.value)},
            "tables": [
                {
                    "title": "Textbook claims",
                    "columns": ["claim", "verdict", "value", "± (se)", "quantity", "holds when"],
                    "rows": rows,
                }
            ],
            "notes": notes,
        }

    def claims(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[Any]:
        return [to_verdict(_result(res)) for _, res in results]

    def extra_files(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]], summary: dict[str, Any]
    ) -> dict[str, str]:
        return {"claims.json": claims_json([_result(res) for _, res in results])}

    def figures(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        figs = []
        for _, res in results:
            cr = _result(res)
            if cr.figure and cr.figure.get("kind") == "curves":
                figs.append(_curves(cr))
        return figs


def _curves(cr: Any) -> tuple[str, Any]:
    fig = new_figure(6.4, 3.8)
    ax = fig.add_subplot()
    data = cr.figure
    x = np.asarray(data["x"], dtype=np.float64)
    for i, (label, y) in enumerate(data["curves"].items()):
        ax.plot(x, np.asarray(y, dtype=np.float64), color=f"C{i}", lw=1.5, label=label)
    for v in data.get("vlines", []):
        ax.axvline(v, color="0.5", ls=":", lw=1)
    for v in data.get("hlines", []):
        ax.axhline(v, color="0.5", ls=":", lw=1)
    ax.set_xscale(data.get("xscale", "linear"))
    ax.set_yscale(data.get("yscale", "linear"))
    ax.set_xlabel(data.get("xlabel", ""))
    ax.set_ylabel(data.get("ylabel", ""))
    ax.legend(fontsize=8)
    ax.set_title(f"{cr.id}: textbook claim {cr.verdict}", fontsize=9)
    return f"{cr.id}: {cr.detail}", fig
