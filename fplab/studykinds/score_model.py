"""``score-model``: a score network trained elsewhere, measured against exact answers.

The spec names the network by reference, ``score_model = "package.module:load"`` (a function
returning a torch module or a plain callable, see :mod:`fplab.nn.external`), and what it predicts
(``parameterisation``: score, eps, x0 or v).  One case per tier runs
``fp.nn.evaluate_score_model``: score error vs t (Fisher divergence and relative L2 against the
exact score of the Gaussian-mixture p0) and, per sampler and step count, the W2 error split into
score, discretisation, prior and t_min-truncation parts.  The check compares those numbers.
The cache key includes the source hash of the referenced module (``fplab.plugins``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from fplab.spec import TIERS, StudySpec
from fplab.studykinds.base import STUDY_KINDS, Option, StudyKind

__all__ = ["ScoreModel"]

_SPLIT = ("total", "score", "discretisation", "prior", "truncation")


@STUDY_KINDS.register("score-model")
class ScoreModel(StudyKind):
    """A network trained elsewhere: score error vs t and the W2 split of its samples."""

    needs: ClassVar[tuple[str, ...]] = ("sde", "p0")
    # fd: fplab.reverse imports it; testing: the shipped score models load from fplab.testing
    # by name (tests/test_cache_keys.py checks depends against the import closure)
    depends: ClassVar[tuple[str, ...]] = ("nn", "reverse", "fd", "testing", "metrics")
    error_rtol: ClassVar[float] = 0.02
    options: ClassVar[dict[str, Option]] = {
        "score_model": Option((str,), "", "'package.module:function' returning the model"),
        "parameterisation": Option((str,), "score", "what the model predicts: score, eps, x0, v"),
        "methods": Option(
            (list,), ["pf-ode-heun"], "samplers of the W2 split", ("fplab.reverse", "SAMPLERS")
        ),
        "n_steps": Option((list,), [20], "step counts of the W2 split"),
        "n_samples": Option((int,), 2000, "samples per sampler run", minimum=10),
        "t_end": Option((float,), 1e-3, "end time of sampling, > 0", minimum=0.0),
        "times": Option((list,), [], "times of the score-error curve (empty: 12 log-spaced)"),
    }

    def validate(self, spec: StudySpec, err: Any) -> None:
        from fplab.distributions import GaussianMixture
        from fplab.spec import build_problem

        try:
            from fplab.nn.external import load_score_model
            from fplab.nn.params import PARAMETERISATIONS, check_linear_sde
        except ImportError as exc:
            err.unavailable("kind", f"'score-model' needs fplab.nn (the extra fplab[nn]): {exc}")
        sde, p0, _ = build_problem(spec.problem)
        try:
            check_linear_sde(sde, "problem.sde")
        except (TypeError, ValueError) as exc:
            err("problem.sde", str(exc))
        if not isinstance(p0, GaussianMixture) or p0.dim > 2:
            err("problem.p0", "needs a 1-D or 2-D Gaussian mixture (exact scores and densities)")
        ref = spec.options["score_model"]
        if not ref:
            err("options.score_model", "missing", "'package.module:function'")
        try:
            load_score_model(ref)
        except ValueError as exc:
            err("options.score_model", str(exc).split(": ", 1)[-1])
        if spec.options["parameterisation"] not in PARAMETERISATIONS:
            err(
                "options.parameterisation",
                f"unknown parameterisation {spec.options['parameterisation']!r}",
                ", ".join(map(repr, PARAMETERISATIONS)),
            )
        for tier in TIERS:
            for key in ("n_steps", "times"):
                for v in spec.option(key, tier):
                    ok = isinstance(v, int) if key == "n_steps" else isinstance(v, int | float)
                    if isinstance(v, bool) or not ok or v <= 0:
                        err(f"options.{key}", f"must hold positive numbers, got {v!r}")
            if not spec.option("n_steps", tier):
                err("options.n_steps", "must not be empty", "a list of step counts")

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # the score curve on the grid (a few arrays per time), then per sampler run a few (n, d)
        # stage arrays; one model call per sample and step (x8 for the mixture scores and
        # multi-stage samplers), over every method and step count
        import numpy as np

        from fplab.studykinds._common import ConvergenceKind

        opts = config["options"]
        n = float(opts["n_samples"]) * ConvergenceKind.problem_dim(config)
        grid = config["problem"].get("grid") or {}
        cells = float(np.prod(np.atleast_1d(grid.get("n", 1))))
        steps = float(sum(opts["n_steps"])) * len(opts["methods"])
        times = len(opts["times"]) or 12
        return 8.0 * (16 * n + 8 * cells), 8.0 * n * steps + 8.0 * cells * times

    def cases(self, spec: StudySpec, tier: str) -> list[tuple[str, dict[str, Any]]]:
        config = {
            "problem": spec.problem,
            "options": {k: spec.option(k, tier) for k in spec.options},
            "seed": spec.seed,
        }
        return [(f"score-model ({tier})", config)]

    def run_case(self, config: dict[str, Any]) -> dict[str, Any]:
        from fplab.nn.external import evaluate_score_model, load_score_model
        from fplab.spec import build_problem

        sde, p0, grid = build_problem(config["problem"])
        opts = config["options"]
        result = evaluate_score_model(
            load_score_model(opts["score_model"]),
            sde,
            p0,
            parameterisation=opts["parameterisation"],
            grid=grid,
            times=opts["times"] or None,
            methods=opts["methods"],
            n_steps=opts["n_steps"],
            n_samples=int(opts["n_samples"]),
            t_end=float(opts["t_end"]),
            seed=int(config["seed"]),
        )
        return {"rows": [{k: _json(v) for k, v in r.items()} for r in result.rows()]}

    def summarize(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]]
    ) -> dict[str, Any]:
        rows = [r for _, res in results for r in res["rows"]]
        curve = [r for r in rows if "fisher" in r]
        runs = [r for r in rows if "total" in r]
        errors = {f"relL2 t={r['t']:.4g}": r["rel_l2"] for r in curve}
        errors.update({f"W2 {r.method} n={r.n_steps}": r["total"] for r in runs})
        return {
            "orders": [],
            "errors": errors,
            "tables": [
                {
                    "title": "Score error vs t (against the exact score)",
                    "columns": ["t", "Fisher divergence", "relative L2"],
                    "rows": [[r["t"], r["fisher"], r["rel_l2"]] for r in curve],
                },
                {
                    "title": "W2 to p0 split into score, discretisation, prior, t_min parts",
                    "columns": ["sampler", "n_steps", *_SPLIT, "total with exact score"],
                    "rows": [
                        [r.method, r.n_steps, *[r[k] for k in _SPLIT], r["total_exact_score"]]
                        for r in runs
                    ],
                },
            ],
        }

    def claims(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[Any]:
        """Per sampler run: the split bounds the total, W2(X^θ, p0) <= score + discretisation +
        prior + mc_floor (the triangle inequality along the chain of the module docstring; the
        prior term is the RMS of coupled pairs, itself >= their W2).  A failure means a bug in
        the split, not a bad model."""
        from fplab.records import Verdict

        out = []
        for r in (r for _, res in results for r in res["rows"] if "total" in r):
            parts = [r[k] for k in ("score", "discretisation", "prior", "mc_floor")]
            if any(p is None for p in parts):  # no exact p_T samples: the chain is incomplete
                continue
            ratio = r["total"] / sum(parts) if sum(parts) > 0 else float("inf")
            ok = ratio <= 1.0 + 1e-9  # round-off of the W2 solves
            out.append(
                Verdict(
                    claim=f"split[{r.method} n={r.n_steps}]",
                    statement=(
                        f"the W2 split of {r.method} at n_steps={r.n_steps} bounds its "
                        "total error (triangle inequality)"
                    ),
                    measured=float(ratio),
                    bound="total / (score + discretisation + prior + mc_floor) <= 1",
                    verdict="pass" if ok else "fail",
                    note="" if ok else "the parts do not bound the total: the split is wrong",
                    quantity="ratio",
                )
            )
        return out

    def figures(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        from fplab.studykinds._common import new_figure

        curve = [r for _, res in results for r in res["rows"] if "fisher" in r]
        if not curve:
            return []
        fig = new_figure()
        ax = fig.add_subplot()
        ax.loglog([r["t"] for r in curve], [r["rel_l2"] for r in curve], "o-", label="relative L2")
        ax.loglog([r["t"] for r in curve], [r["fisher"] for r in curve], "s-", label="Fisher")
        ax.set_xlabel("t")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{spec.name}: score error vs t", fontsize=9)
        return [("score error of the model vs t, against the exact score", fig)]


def _json(v: Any) -> Any:
    import math

    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else v
    return v
