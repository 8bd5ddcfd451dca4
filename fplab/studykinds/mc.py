"""``mc-strong`` and ``mc-weak``: observed strong and weak orders of the Monte-Carlo integrators.

One case per compared method runs every level of the sweep with ``fp.simulate_coupled``: all
levels (and the reference) are driven by the same fine Brownian path, so differences between
levels carry little sampling noise.  Each level's row stores the error and its Monte-Carlo
standard error; the order fit is weighted by them.

References
----------
- ``exact`` (strong): the pathwise solution from the same Brownian increment W(t1) - W(t0)
  (``sde.exact_solution``, e.g. GBM).  (weak): pathwise where available, else the exact law's
  moment (``exact_marginal``; uncoupled, so the standard error is that of the plain estimator).
- ``fine``: the same method on ``reference_factor`` times the finest step count, same path.

Strong error: E|X_h(T) - X_ref(T)| (Euclidean norm in d > 1).  Weak error: |E[φ(X_h) - φ(X_ref)]|
for the observable φ = ``options.observable`` ("mean": Σ x_i, "second-moment": |x|², "cos": Σ cos x_i).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from fplab.spec import StudySpec
from fplab.studykinds._common import ConvergenceKind, downsample_curve, timed
from fplab.studykinds.base import STUDY_KINDS, Option

__all__ = ["MCStrong", "MCWeak"]

_OBSERVABLES = {
    "mean": lambda x: x.sum(axis=1),
    "second-moment": lambda x: (x * x).sum(axis=1),
    "cos": lambda x: np.cos(x).sum(axis=1),
}


def _initial_states(p0: Any, n_paths: int, seed: int) -> Any:
    """(n_paths, d) initial states: a point repeated, or draws from p0 on a stream derived from seed."""
    if isinstance(p0, np.ndarray):
        return np.tile(p0, (n_paths, 1))
    # a stream distinct from the Brownian increments (simulate hashes (seed, path) for those)
    return np.asarray(
        p0.sample(n_paths, seed=np.random.default_rng([seed, 0x5EED])), dtype=np.float64
    )


class _MCKind(ConvergenceKind):
    sweep_params: ClassVar[tuple[str, ...]] = ("n_steps",)
    compare: ClassVar[tuple[str, str] | None] = ("fplab.mc", "MC_METHODS")
    references: ClassVar[tuple[str, ...]] = ("fine", "exact")
    needs: ClassVar[tuple[str, ...]] = ("sde", "p0", "t_final")
    # metrics: reached through studykinds._common (density metrics), so an edit there may change
    # results; tests/test_cache_keys.py checks every kind's depends against its import closure
    depends: ClassVar[tuple[str, ...]] = ("mc", "metrics")
    h_name = "dt"
    order_kind = "strong"
    options: ClassVar[dict[str, Option]] = {
        "n_paths": Option((int,), 20_000, "Monte-Carlo paths (per tier allowed)", minimum=10),
        "reference_factor": Option(
            (int,), 8, "reference='fine': fine steps = finest n_steps x this", minimum=2
        ),
    }

    def registry_order(self, spec: StudySpec, name: str | None) -> float | None:
        from fplab.mc import MC_METHODS
        from fplab.spec import build_problem

        sde, p0, _ = build_problem(spec.problem)
        order = MC_METHODS.get(name).order(sde, self.order_kind, int(getattr(p0, "dim", 1)))
        return None if order is None or math.isinf(order) else float(order)

    def validate(self, spec: StudySpec, err: Any) -> None:
        from fplab.mc import MC_METHODS
        from fplab.spec import build_problem

        sde, p0, _ = build_problem(spec.problem)
        for i, name in enumerate(spec.sweep["compare"]):
            if MC_METHODS.get(name).order(sde, self.order_kind) is None:
                err(
                    f"sweep.compare[{i}]",
                    f"{name!r} has no {self.order_kind} order for this SDE's noise",
                    ", ".join(
                        repr(n)
                        for n, m in MC_METHODS.items()
                        if m.order(sde, self.order_kind) is not None
                    ),
                )
        for tier in ("quick", "full"):
            vals = spec.sweep_values(tier)
            if any(float(v) != int(v) for v in vals):
                err(f"sweep.{tier}", "n_steps values must be integers")
            top = int(max(vals)) * (
                spec.option("reference_factor", tier) if spec.measure["reference"] == "fine" else 1
            )
            if any(top % int(v) for v in vals):
                err(
                    f"sweep.{tier}",
                    f"every n_steps must divide the finest level {top} (coupled paths)",
                    "powers of 2, e.g. [8, 16, 32, 64]",
                )
        if spec.measure["reference"] == "exact" and not self._has_exact(sde, p0, spec):
            err(
                "measure.reference",
                f"no exact reference for {spec.problem['sde']!r} here",
                "'fine'",
            )

    def _has_exact(self, sde: Any, p0: Any, spec: StudySpec) -> bool:
        return hasattr(sde, "exact_solution")

    def cost(self, config: dict[str, Any]) -> float:
        return float(max(config["levels"])) * float(config["options"]["n_paths"])

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # states, increments and one saved state per level for every path; one update per path,
        # component and fine step (the 'fine' reference refines the finest level further)
        n = float(config["options"]["n_paths"]) * self.problem_dim(config)
        factor = float(config["options"].get("reference_factor", 1))
        finest = float(max(config["levels"])) * factor
        return 8.0 * n * (len(config["levels"]) + 6), n * (finest + sum(config["levels"]))

    def cases(self, spec: StudySpec, tier: str) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for name in spec.sweep["compare"]:
            config = self.case_config(spec, tier, name, 0)
            config.pop("value")
            config["levels"] = sorted(int(v) for v in spec.sweep_values(tier))
            out.append((f"{name}", config))
        return out

    def simulate(self, config: dict[str, Any]) -> tuple[Any, Any, dict[int, Any], Any]:
        """(sde, x0, {n_steps: final states}, reference states or None)."""
        from fplab.mc import simulate, simulate_coupled
        from fplab.spec import build_problem

        sde, p0, _ = build_problem(config["problem"])
        opts = config["options"]
        t0, t1 = float(config["problem"].get("t0", 0.0)), float(config["problem"]["t_final"])
        x0 = _initial_states(p0, int(opts["n_paths"]), int(config["seed"]))
        levels = list(config["levels"])
        # work-precision: each level alone, as a user runs it (``fp.simulate``), before the coupled
        # run so that the first level's cold run carries the method's compilation
        self.timings = {
            n: timed(simulate, sde, x0, t0=t0, t1=t1, n_steps=n, method=config["compare"], seed=0)[
                1
            ]
            for n in levels
        }
        fine = config["measure"]["reference"] == "fine"
        n_ref = max(levels) * int(opts["reference_factor"])
        run = simulate_coupled(
            sde,
            x0,
            t0=t0,
            t1=t1,
            n_steps=[*levels, n_ref] if fine else levels,
            method=config["compare"],
            seed=int(config["seed"]),
        )
        finals = {n: np.asarray(run.final(n)).reshape(x0.shape) for n in levels}
        if fine:
            ref = np.asarray(run.final(n_ref)).reshape(x0.shape)
        elif hasattr(sde, "exact_solution"):
            ref = np.asarray(sde.exact_solution(x0, t1 - t0, np.asarray(run.w).reshape(x0.shape)))
        else:
            ref = None
        return sde, p0, finals, ref

    def overlay(
        self, config: dict[str, Any], sde: Any, p0: Any, x: Any, ref: Any
    ) -> dict[str, Any] | None:
        """1-D density overlay for the report: the finest level's Monte-Carlo histogram against
        the exact density (where ``exact_marginal`` has one) or the reference paths' histogram."""
        if x.shape[1] != 1:
            return None
        from fplab.exact import exact_marginal

        t0, t1 = float(config["problem"].get("t0", 0.0)), float(config["problem"]["t_final"])
        pool = x[:, 0] if ref is None else np.concatenate([x[:, 0], ref[:, 0]])
        lo, hi = np.quantile(pool, [0.001, 0.999])
        edges = np.linspace(lo, hi, 81)
        centres = 0.5 * (edges[1:] + edges[:-1])
        hist, _ = np.histogram(x[:, 0], bins=edges)
        # densities of the whole sample (mass outside [lo, hi] is left out, not renormalised)
        mc = hist / (x.shape[0] * np.diff(edges))
        try:
            law = exact_marginal(sde, p0, t1, t0=t0)
        except (TypeError, ValueError):
            law = None
        if law is not None:
            y0, name0 = law.pdf(centres[:, None]), "exact density"
        elif ref is not None:
            rh, _ = np.histogram(ref[:, 0], bins=edges)
            y0, name0 = rh / (ref.shape[0] * np.diff(edges)), "reference paths (histogram)"
        else:
            return None
        return {**downsample_curve(centres, y0, mc), "names": [name0, "Monte-Carlo histogram"]}

    def row(self, config: dict[str, Any], n: int, err: float, se: float) -> dict[str, Any]:
        t0, t1 = float(config["problem"].get("t0", 0.0)), float(config["problem"]["t_final"])
        return {
            "label": f"{config['compare']} n_steps={n}",
            "compare": config["compare"],
            "n_steps": n,
            "h": (t1 - t0) / n,
            "error": err,
            "stderr": se,
            **getattr(self, "timings", {}).get(n, {}),
        }


@STUDY_KINDS.register("mc-strong")
class MCStrong(_MCKind):
    """Strong order of the SDE integrators: E|X_h(T) - X(T)| vs dt on coupled Brownian paths."""

    error_name = "strong error"

    def run_one(self, config: dict[str, Any]) -> dict[str, Any]:
        sde, p0, finals, ref = self.simulate(config)
        rows = []
        for n, x in finals.items():
            dist = np.linalg.norm(x - ref, axis=1)
            rows.append(
                self.row(
                    config, n, float(dist.mean()), float(dist.std(ddof=1) / math.sqrt(dist.size))
                )
            )
        finest = finals[max(finals)]
        return {"rows": rows, "curve": self.overlay(config, sde, p0, finest, ref)}


@STUDY_KINDS.register("mc-weak")
class MCWeak(_MCKind):
    """Weak order of the SDE integrators: |E φ(X_h(T)) - E φ(X(T))| vs dt, with error bars."""

    order_kind = "weak"
    error_name = "weak error"
    options: ClassVar[dict[str, Option]] = {
        **_MCKind.options,
        "observable": Option((str,), "second-moment", "φ: 'mean', 'second-moment' or 'cos'"),
    }

    def validate(self, spec: StudySpec, err: Any) -> None:
        obs = spec.options["observable"]
        for value in obs.values() if isinstance(obs, dict) else [obs]:
            if value not in _OBSERVABLES:
                err(
                    "options.observable",
                    f"unknown observable {value!r}",
                    ", ".join(map(repr, _OBSERVABLES)),
                )
        super().validate(spec, err)

    def _has_exact(self, sde: Any, p0: Any, spec: StudySpec) -> bool:
        if hasattr(sde, "exact_solution"):
            return True
        from fplab.exact import exact_marginal

        if spec.options["observable"] == "cos":
            return False
        try:
            exact_marginal(
                sde, p0, float(spec.problem["t_final"]), t0=float(spec.problem.get("t0", 0.0))
            )
        except (TypeError, ValueError):
            return False
        return True

    def run_one(self, config: dict[str, Any]) -> dict[str, Any]:
        sde, p0, finals, ref = self.simulate(config)
        phi = _OBSERVABLES[config["options"]["observable"]]
        exact_value = None
        if ref is None:  # exact law moment, uncoupled
            from fplab.exact import exact_marginal

            law = exact_marginal(
                sde,
                p0,
                float(config["problem"]["t_final"]),
                t0=float(config["problem"].get("t0", 0.0)),
            )
            mean = np.asarray(law.mean(), dtype=np.float64).ravel()
            cov = np.atleast_2d(np.asarray(law.cov(), dtype=np.float64))
            exact_value = (
                float(mean.sum())
                if config["options"]["observable"] == "mean"
                else float(np.trace(cov) + mean @ mean)
            )
        rows = []
        for n, x in finals.items():
            diff = phi(x) - (phi(ref) if ref is not None else exact_value)
            rows.append(
                self.row(
                    config,
                    n,
                    float(abs(diff.mean())),
                    float(diff.std(ddof=1) / math.sqrt(diff.size)),
                )
            )
        finest = finals[max(finals)]
        return {"rows": rows, "curve": self.overlay(config, sde, p0, finest, ref)}

    def summarize(self, spec: StudySpec, results: list[Any]) -> dict[str, Any]:
        out = super().summarize(spec, results)
        out["notes"] = [
            "error bars are 2 Monte-Carlo standard errors of the coupled difference; a level whose "
            "error is within 2 standard errors of zero is noise-dominated and flagged by the fit"
        ]
        return out
