"""``em-law``: the exact law of Euler–Maruyama on a linear SDE against the exact marginal.

For dX = (a(t) X + b(t)) dt + g(t) dW one Euler–Maruyama step is
X_{k+1} = (1 + a(t_k) Δt) X_k + b(t_k) Δt + g(t_k) √Δt Z, an affine map plus Gaussian noise, so a
Gaussian-mixture start stays a Gaussian mixture with
    means -> (1 + a Δt) means + b Δt,    covs -> (1 + a Δt)² covs + g² Δt I.
The law of the scheme is therefore known to round-off with no sampling at all, and a density
metric between it and ``exact_marginal`` measures the pure weak (law) error of the scheme:
O(Δt) for TV / Hellinger / W2 (EM has weak order 1), O(Δt²) for KL (quadratic in the
perturbation).  This is the framework's self-test kind: it needs only the foundation and METRICS.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from fplab.spec import StudySpec
from fplab.studykinds._common import ConvergenceKind, density_metric, downsample_curve, timed
from fplab.studykinds.base import STUDY_KINDS

__all__ = ["EulerLaw", "euler_maruyama_law"]


def euler_maruyama_law(sde: Any, p0: Any, t0: float, t1: float, n_steps: int) -> Any:
    """The GaussianMixture law of ``n_steps`` Euler–Maruyama steps of a LinearSDE from t0 to t1."""
    from fplab.distributions import GaussianMixture

    dt = (t1 - t0) / n_steps
    means = np.array(p0.means, dtype=np.float64)
    covs = np.array(p0.covs, dtype=np.float64)
    eye = np.eye(p0.dim)
    for k in range(n_steps):
        t = t0 + k * dt
        m = 1.0 + float(sde.a(t)) * dt
        means = m * means + np.asarray(sde.b(t), dtype=np.float64) * dt
        covs = m * m * covs + float(sde.g2(t)) * dt * eye
    return GaussianMixture(p0.weights, means, covs)


@STUDY_KINDS.register("em-law")
class EulerLaw(ConvergenceKind):
    """Exact law of Euler–Maruyama on a linear SDE vs the exact marginal (weak error, no sampling)."""

    sweep_params: ClassVar[tuple[str, ...]] = ("n_steps",)
    references: ClassVar[tuple[str, ...]] = ("exact",)
    needs: ClassVar[tuple[str, ...]] = ("sde", "p0", "grid", "t_final")
    needs_metric: ClassVar[bool] = True
    # exact, sdes and distributions sit directly under fplab/ or in sdes (always hashed)
    depends: ClassVar[tuple[str, ...]] = ("metrics",)
    h_name = "dt"
    law_name = "EM law"

    def law(self, sde: Any, p0: Any, t0: float, t1: float, n_steps: int) -> Any:
        """The scheme's exact law after ``n_steps`` from t0 to t1 (a GaussianMixture)."""
        return euler_maruyama_law(sde, p0, t0, t1, n_steps)

    def validate(self, spec: StudySpec, err: Any) -> None:
        from fplab.distributions import GaussianMixture
        from fplab.sdes import SDES, LinearSDE
        from fplab.spec import build_problem

        sde, p0, grid = build_problem(spec.problem)
        if not isinstance(sde, LinearSDE):
            err(
                "problem.sde",
                f"em-law needs a linear SDE, got {spec.problem['sde']!r}",
                ", ".join(
                    repr(k)
                    for k, c in SDES.items()
                    if isinstance(c, type) and issubclass(c, LinearSDE)
                ),
            )
        if not isinstance(p0, GaussianMixture) or p0.dim != grid.ndim:
            err("problem.p0", "em-law needs a Gaussian mixture of the grid's dimension")
        for tier in ("quick", "full"):
            if any(float(v) != int(v) for v in spec.sweep_values(tier)):
                err(f"sweep.{tier}", "n_steps values must be integers")

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # one affine update of K means and covariances (d x d) per step, then the grid pdfs
        d = self.problem_dim(config)
        k = len(config["problem"]["p0"]["means"])
        cells = float(np.prod(np.atleast_1d(config["problem"]["grid"]["n"])))
        return 8.0 * 8 * cells, float(config["value"]) * k * (d * d + d) + cells * k

    def run_one(self, config: dict[str, Any]) -> dict[str, Any]:
        from fplab.exact import exact_marginal
        from fplab.spec import build_problem

        sde, p0, grid = build_problem(config["problem"])
        t0 = float(config["problem"].get("t0", 0.0))
        t1 = float(config["problem"]["t_final"])
        n_steps = int(config["value"])
        law, timing = timed(self.law, sde, p0, t0, t1, n_steps)
        p_num = grid.sample_on(law.pdf)
        p_ref = grid.sample_on(exact_marginal(sde, p0, t1, t0=t0).pdf)
        row = {
            "n_steps": n_steps,
            "h": (t1 - t0) / n_steps,
            "error": density_metric(config["measure"]["metric"], p_num, p_ref, grid),
            **timing,
        }
        out: dict[str, Any] = {"row": row}
        if grid.ndim == 1:
            out["curve"] = {
                **downsample_curve(grid.axes[0], p_ref, p_num),
                "names": ["exact", self.law_name],
            }
        return out
