"""``score-network``: train a score network on an exact problem and measure it (one call of
``fplab.nn.experiment.run_experiment``; see :mod:`fplab.studykinds.experiments` for the shared base).

Its own module so that only this kind's cache keys depend on ``fplab.nn`` (the backward-heat,
guidance and work-precision kinds share the base class, not the network code).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from fplab.records import Row
from fplab.spec import TIERS, StudySpec
from fplab.studykinds._common import downsample_curve, legend_outside, method_style, new_figure
from fplab.studykinds.base import STUDY_KINDS
from fplab.studykinds.experiments import (
    ExperimentKind,
    _finite,
    _is_int,
    _num,
    _part,
)

__all__ = ["ScoreNetwork"]


#: allowed values of the score-network training options that name a choice
_TRAIN_CHOICES: dict[str, tuple[str, ...]] = {
    "parameterisation": ("eps", "score", "x0", "v"),
    "weighting": ("sigma2", "g2"),
    "target": ("dsm", "stf"),
    "time_input": ("log-sigma", "t"),
    "dtype": ("float32", "float64"),
}
#: numeric training options: (lowest, highest, lowest excluded)
_TRAIN_RANGES: dict[str, tuple[float, float, bool]] = {
    "n_steps": (1, math.inf, False),
    "batch_size": (1, math.inf, False),
    "lr": (0.0, math.inf, True),
    "lr_min_ratio": (0.0, 1.0, False),
    "ema_decay": (0.0, 1.0, False),
    "t_min": (0.0, math.inf, True),
    "n_reference": (1, math.inf, False),
    "hidden": (1, math.inf, False),
    "depth": (1, math.inf, False),
    "n_features": (1, math.inf, False),
    "fourier_scale": (0.0, math.inf, True),
    "grad_clip": (0.0, math.inf, False),
    "seed": (0, math.inf, False),
}


def _check_score_network(opts: dict[str, Any], tier: str, err: Any) -> None:
    """Every score-network option's value (names, ranges, horizon) before training starts.

    ``ExperimentConfig.from_dict`` only rejects unknown keys; a bad value (``lr = -1``,
    ``methods = ["bogus"]``, ``t_end`` past T) used to fail after minutes of training.
    """
    from fplab.nn.experiment import PROBLEMS, ExperimentConfig
    from fplab.reverse import SAMPLERS
    from fplab.sdes import SDES, build_sde
    from fplab.spec import check_registry_name

    def bad(key: str, what: str, allowed: str) -> None:
        err(f"options.{key}", f"{what} (tier {tier})", allowed)

    cfg = ExperimentConfig.from_dict(opts)
    if cfg.problem not in PROBLEMS:
        bad("problem", f"unknown problem {cfg.problem!r}", ", ".join(map(repr, PROBLEMS)))
    check_registry_name(cfg.sde, "fplab.sdes", "SDES", "options.sde", err)
    if not getattr(SDES.get(cfg.sde), "linear", False):
        bad(
            "sde",
            f"{cfg.sde!r} is not linear (the exact score needs a closed form)",
            "a linear SDE",
        )
    if not isinstance(cfg.sde_params, dict):
        bad("sde_params", f"must be a table, got {type(cfg.sde_params).__name__}", "a table")
    try:
        sde = build_sde(cfg.sde, **cfg.sde_params)
    except (TypeError, ValueError) as exc:
        bad("sde_params", str(exc), "the SDE's constructor arguments")
    horizon = float(getattr(sde, "T", None) or 1.0)
    for key in ("methods", "n_steps", "score_times"):
        if isinstance(opts.get(key), str | dict) or not isinstance(getattr(cfg, key), tuple):
            bad(key, f"must be a list, got {opts.get(key)!r}", "a list")
    for i, name in enumerate(cfg.methods):
        check_registry_name(name, "fplab.reverse", "SAMPLERS", f"options.methods[{i}]", err)
    if not cfg.methods:
        bad("methods", "must name at least one sampler", ", ".join(map(repr, SAMPLERS.names())))
    if cfg.budget_method:
        check_registry_name(
            cfg.budget_method, "fplab.reverse", "SAMPLERS", "options.budget_method", err
        )
    ints = {"n_steps": cfg.n_steps, "budget_n_ref": [cfg.budget_n_ref],
            "likelihood_steps": [cfg.likelihood_steps]}  # fmt: skip
    for key, values in ints.items():
        if not values or not all(_is_int(v) and v >= 1 for v in values):
            bad(key, f"must be integers >= 1, got {values!r}", "integers >= 1")
    if cfg.n_samples is not None and not (_is_int(cfg.n_samples) and cfg.n_samples >= 10):
        bad("n_samples", f"must be an integer >= 10, got {cfg.n_samples!r}", "integers >= 10")
    if not (_is_int(cfg.likelihood_points) and cfg.likelihood_points >= 0):
        bad("likelihood_points", f"must be an integer >= 0, got {cfg.likelihood_points!r}", ">= 0")
    if not (_finite(cfg.t_end) and 0.0 < cfg.t_end < horizon):
        bad("t_end", f"must lie in (0, T) = (0, {horizon:g}), got {cfg.t_end!r}", "0 < t_end < T")
    if not cfg.score_times or not all(_finite(v) and 0.0 < v <= 1.0 for v in cfg.score_times):
        bad("score_times", f"must be fractions of T in (0, 1], got {cfg.score_times!r}", "(0, 1]")
    if not isinstance(cfg.quantile_prior, bool):
        bad("quantile_prior", f"must be true or false, got {cfg.quantile_prior!r}", "a boolean")
    if not (_is_int(cfg.seed) and cfg.seed >= 0):
        bad("seed", f"must be an integer >= 0, got {cfg.seed!r}", "integers >= 0")
    if not isinstance(cfg.train, dict):
        bad("train", f"must be a table, got {type(cfg.train).__name__}", "TrainConfig fields")
    try:
        train = cfg.train_config().to_dict()
    except (TypeError, ValueError) as exc:
        bad("train", str(exc), "the fields of fplab.nn.TrainConfig")
    for key, choices in _TRAIN_CHOICES.items():
        if train.get(key) not in choices:
            bad(f"train.{key}", f"unknown value {train.get(key)!r}", ", ".join(map(repr, choices)))
    for key, (lo, hi, open_lo) in _TRAIN_RANGES.items():
        value = train.get(key)
        integral = isinstance(lo, int)
        ok = _is_int(value) if integral else _finite(value)
        if ok:
            v = float(value)  # type: ignore[arg-type]  # a number: checked just above
            ok = (v > lo if open_lo else v >= lo) and v <= hi
        if not ok:
            rng = f"{'(' if open_lo else '['}{lo:g}, {hi:g}]"
            bad(
                f"train.{key}",
                f"must be {'an integer' if integral else 'a number'} in {rng}, got {value!r}",
                rng,
            )
    if train["t_min"] >= horizon:
        bad("train.t_min", f"must be < T = {horizon:g}, got {train['t_min']!r}", "0 < t_min < T")


@STUDY_KINDS.register("score-network")
class ScoreNetwork(ExperimentKind):
    """Learned score network (torch): score error vs t and sample error, learned vs exact score."""

    module = "fplab.nn"
    config_class = "ExperimentConfig"
    depends: ClassVar[tuple[str, ...]] = ("nn", "reverse", "fd", "metrics")
    # torch training reduces in thread-count-dependent order: results move by ~1e-3 relative
    error_rtol = 0.2
    checked = ("max_rel_l2", "w2_ratio")
    bounds: ClassVar[dict[str, tuple[float, str]]] = {
        "score-rel-l2": (
            0.3,
            "target: relative L2 error of the learned score for t >= 0.05 T (below that the "
            "score's scale ~1/sqrt(t) makes a relative error meaningless)",
        ),
        "w2-ratio": (
            2.0,
            "target: W2 to p0 with the learned score over W2 with the reference score, per "
            "sampler and n_steps: the network costs at most a factor 2",
        ),
    }

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # counted in activations (a dense layer's row is one vectorised BLAS update, not width
        # scalar ones): width x depth per network call. Training: a batch through the MLP (x3 for
        # forward + backward) and the batch x n_reference weights of the 'stf' target; memory
        # x4 for autograd and Adam state. Sampling: one network call per sample, step and
        # method (x2 for two-stage samplers), plus the (n_samples, d) stage arrays
        from fplab.nn.experiment import QUICK_TRAIN
        from fplab.nn.train import TrainConfig

        c = self.parsed(config)
        t = TrainConfig(**{**QUICK_TRAIN, **c.train})  # the training run's own defaults
        d = 2 if c.problem.endswith("2d") else 1
        width, depth, batch = float(t.hidden), float(t.depth), float(t.batch_size)
        n_ref, feats = float(t.n_reference), 2 * float(t.n_features)
        params = width * width * depth + width * (d + feats)
        acts = width * depth + feats + d
        n = float(c.n_samples if c.n_samples is not None else (2000 if d == 1 else 800))
        mem = 8.0 * (4 * batch * acts + batch * n_ref + 4 * params + 16 * n * d)
        train = float(t.n_steps) * batch * (3 * acts + n_ref * d)
        sample = n * float(sum(c.n_steps)) * len(c.methods) * 2 * acts
        return mem, train + sample

    def claims(self, spec: StudySpec, results: list[Any], summary: dict[str, Any]) -> list[Any]:
        """The score-error target and the learned/reference W2 ratio target per sampler and n."""
        from fplab.judge import judge_bound

        values = results[0][1].get("summary", {}) if results else {}
        out = [
            judge_bound(
                "score-rel-l2",
                "learned score's relative L2 error for t >= 0.05 T is within target",
                values.get("max_rel_l2_t_ge_0.05T"),
                self.bound(spec, "score-rel-l2"),
                quantity="max relative L2",
                why="target, t >= 0.05 T",
            )
        ]
        bound = self.bound(spec, "w2-ratio")
        for key, v in values.items():
            if key.startswith("w2_ratio["):
                which = key[len("w2_ratio[") : -1]
                out.append(
                    judge_bound(
                        f"w2-ratio[{which}]",
                        f"{which}: W2 with the learned score within target of the reference",
                        v,
                        bound,
                        quantity="W2 learned / W2 reference",
                        why="target",
                    )
                )
        return out

    def validate(self, spec: StudySpec, err: Any) -> None:
        super().validate(spec, err)  # unknown keys, importability
        for tier in TIERS:
            _check_score_network(self.resolve(spec, tier), tier, err)

    def extra(self, result: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        losses = np.asarray(getattr(result, "losses", []), dtype=np.float64)
        if losses.ndim == 1 and losses.size:
            # the per-step loss is noisy (one mini-batch each): store a running mean over 50 steps
            k = min(50, losses.size)
            smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
            out["loss"] = downsample_curve(np.arange(k, losses.size + 1), smooth)
        x = np.asarray(getattr(result, "density_x", []), dtype=np.float64)
        if x.ndim != 1 or x.size == 0:
            return out
        curves = [
            getattr(result, n) for n in ("density_exact", "density_reference", "density_learned")
        ]
        out["curve"] = {
            **downsample_curve(x, *curves),
            "names": ["exact p0", "exact-score samples", "learned-score samples"],
        }
        return out

    def figures(
        self, spec: StudySpec, results: list[Any], summary: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        if not results:
            return []
        res = results[0][1]
        rows = res["rows"]
        figs = []
        loss = res.get("loss")
        if loss:
            fig = new_figure()
            ax = fig.add_subplot()
            ax.plot(loss["x"], loss["y0"], "-", color="#1f77b4", lw=1)
            ax.set_xlabel("training step")
            ax.set_ylabel("denoising score-matching loss (running mean of 50 steps)")
            ax.set_title(f"{spec.name}: training loss", fontsize=9)
            figs.append(("training-loss curve: denoising score-matching loss per step", fig))
        score = _part(rows, "section", "score-error")
        if score:
            fig = new_figure()
            ax = fig.add_subplot()
            t = [_num(r.get("t")) for r in score]
            for key in ("rel_l2", "fisher"):
                if key in score[0]:
                    ax.loglog(t, [_num(r[key]) for r in score], "o-", label=key)
            ax.set_xlabel("t")
            ax.set_ylabel("score error")
            legend_outside(ax, fontsize=8)
            ax.set_title(f"{spec.name}: learned score error vs t", fontsize=9)
            figs.append(("learned vs reference score: error vs diffusion time", fig))
        samples = _part(rows, "section", "samples")
        if samples:
            fig = new_figure()
            ax = fig.add_subplot()
            groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
            for r in samples:
                groups[(r.method, r["score"])].append(r)
            for i, ((method, which), rs) in enumerate(sorted(groups.items())):
                rs.sort(key=lambda r: r.n_steps)
                colour, marker = method_style(method, i)
                ax.loglog(
                    [r.n_steps for r in rs],
                    [_num(r["w2"]) for r in rs],
                    "-" if which == "learned" else "--",
                    marker=marker,
                    mfc=colour if which == "learned" else "none",
                    color=colour,
                    label=f"{method}, {which}",
                )
            ax.set_xlabel("n_steps")
            ax.set_ylabel("W2 to p0")
            legend_outside(ax, fontsize=7)
            ax.set_title(f"{spec.name}: samplers with learned vs exact score", fontsize=9)
            figs.append(
                (
                    "W2 vs n_steps per sampler, learned score (solid) vs reference score (dashed)",
                    fig,
                )
            )
        curve = res.get("curve")
        if curve:
            fig = new_figure()
            ax = fig.add_subplot()
            for j, label in enumerate(curve["names"]):
                ax.plot(curve["x"], curve[f"y{j}"], ["k-", "--", ":"][j % 3], label=label)
            ax.set_xlabel("x")
            ax.set_ylabel("density")
            legend_outside(ax, fontsize=8)
            ax.set_title(f"{spec.name}: density overlay", fontsize=9)
            figs.append(
                ("density overlay: exact vs exact-score samples vs learned-score samples", fig)
            )
        return figs
