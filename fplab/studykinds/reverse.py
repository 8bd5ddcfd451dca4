"""``reverse``: reverse-time samplers compared on a known target, error vs n_steps per sampler.

Samples start at ``t_start`` from the exact marginal p_{t_start} (``options.start = "exact"``:
isolates the sampler's discretisation error), at its n stratified quantiles (``"quantiles"``, 1-D:
a deterministic sampler's flow map is monotone in 1-D, so it carries quantiles to quantiles and
the W2 error against the target's quantiles has no sampling floor at all -- random starts put
a binomial number of samples in each mode, and on a well-separated bimodal target that imbalance
alone costs W2 ~ gap * (n^(-1/2))^(1/2), about 0.1 at n = 20000), or from N(0, I) (``"prior"``:
adds the prior mismatch), and are integrated down to ``t_end`` with the exact score (``fp.exact_score``).
References:

- ``exact``: a distance between the samples and the exact law p_{t_end}
  (``measure.metric``: a sample metric such as 'w2' / 'sliced-w2' / 'mmd', compared with
  reference points -- in 1-D the exact quantiles at (i + 1/2)/n, which removes the reference's
  own sampling noise -- or 'kl-from-samples' against the exact density on ``problem.grid``).
  The error has a sampling floor of order n_samples^(-1/2); orders are fitted above it.
- ``fine``: pathwise, mean |x_h - x_fine| from the same starting points, where x_fine is the same
  sampler with ``reference_factor`` times the finest n_steps (deterministic samplers only): the
  sampler's global order with no sampling floor.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from fplab.spec import StudySpec
from fplab.studykinds._common import ConvergenceKind, downsample_curve, timed
from fplab.studykinds.base import STUDY_KINDS, Option

__all__ = ["ReverseSamplers"]


def _quantiles(law: Any, n: int) -> Any:
    """The n stratified points law.ppf((i + 1/2)/n), shape (n, 1) (1-D laws)."""
    # the mixture's Newton iteration divides by tiny tail densities on its way (overflow to inf
    # is guarded there by np.where); the quantiles themselves are finite
    with np.errstate(over="ignore", divide="ignore"):
        q = law.ppf((np.arange(n) + 0.5) / n)
    return np.asarray(q, dtype=np.float64).reshape(n, 1)


def _start_and_end(config: dict[str, Any], sde: Any) -> tuple[float, float]:
    opts = config["options"]
    t_start = opts["t_start"] if opts["t_start"] > 0 else float(getattr(sde, "T", 1.0))
    return float(t_start), float(opts["t_end"])


@STUDY_KINDS.register("reverse")
class ReverseSamplers(ConvergenceKind):
    """Reverse samplers with the exact score: KL/W2 to the exact law (or pathwise error) vs n_steps."""

    sweep_params: ClassVar[tuple[str, ...]] = ("n_steps",)
    compare: ClassVar[tuple[str, str] | None] = ("fplab.reverse", "SAMPLERS")
    references: ClassVar[tuple[str, ...]] = ("exact", "fine")
    needs: ClassVar[tuple[str, ...]] = ("sde", "p0")
    # fd: fplab.reverse imports it (grid scores); tests/test_cache_keys.py checks depends against
    # the import closure of the kind's module
    depends: ClassVar[tuple[str, ...]] = ("reverse", "fd", "metrics")
    h_name = "step h = (t_start - t_end) / n_steps"
    per_level_reference = True  # each level's fine reference is r times finer than that level
    order_atol = 0.02
    error_rtol = 0.01
    options: ClassVar[dict[str, Option]] = {
        "n_samples": Option((int,), 20_000, "samples per case (per tier allowed)", minimum=10),
        "t_start": Option((float,), 0.0, "start time (0: the SDE's T)", minimum=0.0),
        "t_end": Option((float,), 1e-3, "end time, > 0 for VP-family samplers", minimum=0.0),
        "start": Option(
            (str,),
            "exact",
            "'exact' (samples of p_{t_start}), 'quantiles' (1-D: its n stratified quantiles) "
            "or 'prior' (N(0, I))",
        ),
        "reference_factor": Option(
            (int,), 8, "reference='fine': steps of the pathwise reference", minimum=2
        ),
        # sampler options, passed to sample_reverse (samplers that do not use one ignore it)
        "eta": Option((float,), 0.0, "DDIM noise level in [0, 1] ('ddim')", minimum=0.0),
        "snr": Option(
            (float,),
            0.16,
            "Langevin corrector signal-to-noise ratio ('predictor-corrector')",
            minimum=1e-12,
        ),
        "n_corrector": Option(
            (int,), 1, "corrector steps per predictor step ('predictor-corrector')", minimum=0
        ),
    }

    def registry_order(self, spec: StudySpec, name: str | None) -> float | None:
        if spec.measure["reference"] == "exact":
            # against the law the order shows only above the sampling floor: no default claim
            return None
        from fplab.reverse import SAMPLERS

        return float(SAMPLERS.get(name).order)

    def no_claim_reason(self, spec: StudySpec, name: str | None) -> str:
        if "order" in spec.expect or name in spec.expect.get("no_claim", {}):
            return super().no_claim_reason(spec, name)
        return (
            "against the exact law the order shows only above the sampling floor, so the "
            "registry's pathwise order is not claimed ([expect] order can state one)"
        )

    def validate(self, spec: StudySpec, err: Any) -> None:
        from fplab.distributions import GaussianMixture
        from fplab.reverse import SAMPLERS
        from fplab.spec import build_problem

        sde, p0, grid = build_problem(spec.problem)
        self._check_times(spec, sde, err)
        if not isinstance(p0, GaussianMixture):
            err(
                "problem.p0",
                "the reverse study needs a Gaussian-mixture target",
                "'gaussian-mixture'",
            )
        if spec.options["start"] not in ("exact", "quantiles", "prior"):
            err(
                "options.start",
                f"unknown start {spec.options['start']!r}",
                "'exact', 'quantiles', 'prior'",
            )
        if spec.options["start"] == "quantiles" and p0.dim != 1:
            err("options.start", "'quantiles' needs a 1-D target", "'exact', 'prior'")
        for tier in ("quick", "full"):
            if not 0.0 <= float(spec.option("eta", tier)) <= 1.0:
                err(
                    "options.eta", f"must lie in [0, 1], got {spec.option('eta', tier)!r}", "0 to 1"
                )
        for i, name in enumerate(spec.sweep["compare"]):
            sampler = SAMPLERS.get(name)
            if getattr(sampler, "adaptive", False):
                err(
                    f"sweep.compare[{i}]",
                    f"{name!r} chooses its own steps; n_steps cannot be swept",
                )
            stochastic = not getattr(sampler, "deterministic", False) or (
                name == "ddim" and float(spec.option("eta", "quick")) > 0.0
            )
            if spec.measure["reference"] == "fine" and stochastic:
                err(
                    f"sweep.compare[{i}]",
                    f"{name!r} is stochastic: a pathwise 'fine' reference needs a "
                    "deterministic sampler",
                    "reference = 'exact' for stochastic samplers",
                )
        if spec.measure["reference"] == "exact":
            from fplab.metrics import METRICS

            if "metric" not in spec.measure:
                err(
                    "measure.metric",
                    "missing (reference 'exact' compares laws)",
                    "'w2', 'sliced-w2', 'mmd', 'kl-from-samples'",
                )
            fn = METRICS.get(spec.measure["metric"])
            args = tuple(getattr(fn, "args", ()))
            if args not in (("x", "y"), ("x", "q", "grid")):
                err(
                    "measure.metric",
                    f"{spec.measure['metric']!r} does not take samples",
                    ", ".join(
                        repr(n) for n, f in METRICS.items() if getattr(f, "kind", "") == "samples"
                    ),
                )
            if args == ("x", "q", "grid") and grid is None:
                err("problem.grid", f"missing: {spec.measure['metric']!r} needs a grid")

    # required only with reference 'exact' (checked in validate)
    needs_metric: ClassVar[bool] = False
    accepts_metric: ClassVar[bool] = True

    def cost(self, config: dict[str, Any]) -> float:
        return float(config["value"]) * float(config["options"]["n_samples"])

    @staticmethod
    def _check_times(spec: StudySpec, sde: Any, err: Any) -> None:
        """t_start within the SDE's horizon, 0 < t_end < t_start where the SDE has a horizon
        (the score of a diffusion-model SDE is singular at t = 0), for both tiers."""
        from fplab.sdes.schedules import check_usable_time
        from fplab.spec import TIERS

        horizon = getattr(sde, "T", None)
        for tier in TIERS:
            t_start = float(spec.option("t_start", tier)) or float(horizon or 1.0)
            t_end = float(spec.option("t_end", tier))
            if spec.option("t_start", tier):
                try:
                    check_usable_time(sde, t_start, "t_start")
                except ValueError as exc:
                    err("options.t_start", f"{exc} (tier {tier})")
            if t_end >= t_start:
                err(
                    "options.t_end", f"must be < t_start = {t_start:g}, got {t_end:g} (tier {tier})"
                )
            if horizon is not None and t_end <= 0.0:
                err(
                    "options.t_end",
                    f"must be > 0 for {type(sde).__name__} (its score is singular at t = 0), "
                    f"got {t_end:g} (tier {tier})",
                    f"0 < t_end < t_start, e.g. 1e-3 (T = {horizon:g})",
                )

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # a few (n, d) stage arrays; one score evaluation per sample and step (x8 for mixture
        # scores and multi-stage samplers)
        n = float(config["options"]["n_samples"]) * self.problem_dim(config)
        return 8.0 * 16 * n, 8.0 * n * float(config["value"])

    def _x_start(self, config: dict[str, Any], sde: Any, p0: Any, t_start: float) -> Any:
        n = int(config["options"]["n_samples"])
        rng = np.random.default_rng([int(config["seed"]), 0xA11CE])
        if config["options"]["start"] == "prior":
            return rng.standard_normal((n, p0.dim))
        from fplab.exact import exact_marginal

        law = exact_marginal(sde, p0, t_start)
        if config["options"]["start"] == "quantiles":
            return _quantiles(law, n)
        return law.sample(n, seed=rng)

    def run_one(self, config: dict[str, Any]) -> dict[str, Any]:
        from fplab.exact import exact_marginal, exact_score
        from fplab.reverse import sample_reverse
        from fplab.spec import build_problem

        sde, p0, grid = build_problem(config["problem"])
        t_start, t_end = _start_and_end(config, sde)
        x_start = self._x_start(config, sde, p0, t_start)
        score = exact_score(sde, p0)
        n = int(config["value"])
        kw = {
            "t_start": t_start,
            "t_end": t_end,
            "method": config["compare"],
            "seed": int(config["seed"]),
            **{k: config["options"][k] for k in ("eta", "snr", "n_corrector")},
        }
        (x, info), timing = timed(
            sample_reverse, sde, score, x_start, n_steps=n, return_info=True, **kw
        )
        x = np.asarray(x, dtype=np.float64).reshape(x_start.shape)
        row: dict[str, Any] = {
            "n_steps": n,
            "h": (t_start - t_end) / n,
            "n_score_evals": int(info.n_score_evals),
            **timing,
        }
        target = exact_marginal(sde, p0, t_end)
        if config["measure"]["reference"] == "fine":
            n_ref = n * int(config["options"]["reference_factor"])
            x_ref = np.asarray(sample_reverse(sde, score, x_start, n_steps=n_ref, **kw)).reshape(
                x.shape
            )
            dist = np.linalg.norm(x - x_ref, axis=1)
            row["error"] = float(dist.mean())
            row["stderr"] = float(dist.std(ddof=1) / math.sqrt(dist.size))
        else:
            row["error"] = self._law_error(config, x, target, grid)
        out: dict[str, Any] = {"row": row}
        if p0.dim == 1 and grid is not None:
            hist = grid.histogram(x)
            out["curve"] = {
                **downsample_curve(grid.axes[0], grid.sample_on(target.pdf), hist),
                "names": ["exact p(t_end)", "samples (histogram)"],
            }
        return out

    def _law_error(self, config: dict[str, Any], x: Any, target: Any, grid: Any) -> float:
        from fplab.metrics import METRICS

        fn = METRICS.get(config["measure"]["metric"])
        if tuple(getattr(fn, "args", ())) == ("x", "q", "grid"):
            return float(fn(x, grid.sample_on(target.pdf), grid))
        n = x.shape[0]
        if x.shape[1] == 1:
            y = _quantiles(target, n)
        else:
            y = target.sample(n, seed=np.random.default_rng([int(config["seed"]), 0x7A6E7]))
        return float(fn(x, y))

    def summarize(self, spec: StudySpec, results: list[Any]) -> dict[str, Any]:
        out = super().summarize(spec, results)
        table = []
        for name, rows in self.groups(results).items():
            for r in rows:
                table.append([name, r.n_steps, r["n_score_evals"], r.error])
        out["tables"] = [
            {
                "title": "Error and cost (score evaluations) per sampler",
                "columns": ["sampler", "n_steps", "score evaluations", "error"],
                "rows": table,
            }
        ]
        if spec.measure["reference"] == "exact":
            n = spec.options["n_samples"]
            out["notes"] = [
                f"errors against the exact law level off at the sampling floor of "
                f"~n^(-1/2) (n_samples = {n}); fitted orders include every point"
            ]
        return out

    def figures(
        self, spec: StudySpec, results: list[Any], summary: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        from fplab.studykinds._common import legend_outside, method_style, new_figure

        figs = super().figures(spec, results, summary)
        fig = new_figure()
        ax = fig.add_subplot()
        for i, (name, rows) in enumerate(self.groups(results).items()):
            colour, marker = method_style(name, i)
            ax.loglog(
                [r["n_score_evals"] for r in rows],
                [r.error for r in rows],
                "-",
                marker=marker,
                color=colour,
                label=name,
            )
        ax.set_xlabel("score evaluations")
        ax.set_ylabel(spec.measure.get("metric", "pathwise error"))
        ax.grid(True, which="both", alpha=0.3)
        legend_outside(ax)
        ax.set_title(f"{spec.name}: error vs cost", fontsize=9)
        figs.append(("error vs score evaluations per sampler (equal-cost comparison)", fig))
        return figs
