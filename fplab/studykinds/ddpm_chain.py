"""``ddpm-chain``: the exact law of the discrete DDPM forward chain against the VP SDE's marginal.

The chain x_k = √(1 - β_k) x_{k-1} + √β_k z with β_k = β(t_k) Δt (``fplab.reverse.chain``)
carries Gaussian-mixture data to a Gaussian mixture known to round-off, so a density metric
between it and ``exact_marginal`` measures how fast the discrete chain converges to the SDE as
the number of steps grows, with no sampling: order 1 in Δt (a right-endpoint sum of β and
log(1 - β) = -β + O(β²)).
"""

from __future__ import annotations

from typing import Any, ClassVar

from fplab.spec import StudySpec
from fplab.studykinds.base import STUDY_KINDS
from fplab.studykinds.em_law import EulerLaw

__all__ = ["DDPMChainLaw"]


@STUDY_KINDS.register("ddpm-chain")
class DDPMChainLaw(EulerLaw):
    """Exact law of the DDPM chain on the VP SDE vs the exact marginal (no sampling)."""

    # the chain law lives in fplab.reverse (which imports fd); tests/test_cache_keys.py checks
    depends: ClassVar[tuple[str, ...]] = ("reverse", "fd", "metrics")

    def validate(self, spec: StudySpec, err: Any) -> None:
        from fplab.sdes import VP
        from fplab.spec import build_problem

        sde, _, _ = build_problem(spec.problem)
        if not isinstance(sde, VP):
            err(
                "problem.sde",
                f"the DDPM chain discretises the VP SDE, got {spec.problem['sde']!r}",
                "'vp'",
            )
        super().validate(spec, err)

    law_name = "chain law"

    def law(self, sde: Any, p0: Any, t0: float, t1: float, n_steps: int) -> Any:
        from fplab.reverse.chain import ddpm_chain_law

        return ddpm_chain_law(sde, p0, n_steps, t1, t0=t0)
