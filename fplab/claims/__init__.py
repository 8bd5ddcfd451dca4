"""Textbook claims about diffusion SDEs, each measured and given a verdict with its number.

``CLAIMS`` is the catalogue (id -> statement + measurement); ``run_claim(id, tier, seed)`` runs
one measurement and returns a :class:`ClaimResult`.  The measurement modules register their
claims on import.  See docs/claims.md for every claim's measurement and decision rule.
"""

from __future__ import annotations

from fplab.claims.base import (
    CLAIM_VERDICTS,
    CLAIMS,
    Claim,
    ClaimResult,
    claim,
    combine,
    decide_above,
    decide_value,
    ordered_ids,
    result,
)

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
    "run_claim",
]


def run_claim(claim_id: str, tier: str = "quick", seed: int = 0) -> ClaimResult:
    """Measure claim ``claim_id`` at ``tier`` (``"quick"`` or ``"full"``) with ``seed``."""
    from fplab._validate import check_choice

    tier = check_choice(tier, "tier", ("quick", "full"))
    return CLAIMS.get(claim_id).measure(tier, seed)


# the measurement modules register their claims (order: the list)
from fplab.claims import density_claims, sampler_claims, sde_claims  # noqa: E402, F401
