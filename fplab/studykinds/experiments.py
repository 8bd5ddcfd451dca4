"""``backward-heat`` (and the base of the other one-call kinds): studies that are one call of a module's
``run_experiment(config) -> result`` (with ``result.rows()`` and ``result.summary()``).

The spec's ``[options]`` table is the experiment's configuration, passed through as a dict (a
value may be ``{quick = ..., full = ...}`` to differ per tier) and validated by the experiment's
own config class at load time.  One case per tier stores every row and the summary; the report
draws the figures from the stored rows and the check compares the headline summary numbers
(two-sided, relative tolerance ``error_rtol`` with an absolute floor for round-off-size numbers).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from fplab.records import Row
from fplab.spec import TIERS, StudySpec
from fplab.studykinds._common import legend_outside, method_style, new_figure
from fplab.studykinds.base import STUDY_KINDS, StudyKind

__all__ = ["BackwardHeat", "ExperimentKind"]


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class ExperimentKind(StudyKind):
    """Base of the one-call experiment kinds."""

    module: ClassVar[str] = ""
    config_class: ClassVar[str] = ""
    free_options: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ()
    #: summary keys (prefixes) the regression check compares; others are reported only
    checked: ClassVar[tuple[str, ...]] = ()

    def resolve(self, spec: StudySpec, tier: str) -> dict[str, Any]:
        """The options of ``tier``: per-tier tables {quick, full} resolved."""
        return {
            k: (v[tier] if isinstance(v, dict) and set(v) == set(TIERS) else v)
            for k, v in spec.options.items()
        }

    def validate(self, spec: StudySpec, err: Any) -> None:
        import importlib

        try:
            mod = importlib.import_module(self.module)
        except ImportError as exc:
            err.unavailable("kind", f"needs {self.module}, which is not available here ({exc})")
        cls = getattr(mod, self.config_class)
        for tier in TIERS:
            try:
                cls.from_dict(self.resolve(spec, tier))
            except (TypeError, ValueError, ArithmeticError) as exc:  # int(inf): OverflowError
                err(
                    "options",
                    f"{exc} (tier {tier})",
                    f"the fields of {self.module}.{self.config_class}",
                )

    def cases(self, spec: StudySpec, tier: str) -> list[tuple[str, dict[str, Any]]]:
        return [(f"{spec.kind} ({tier})", {"options": self.resolve(spec, tier), "seed": spec.seed})]

    def parsed(self, config: dict[str, Any]) -> Any:
        """The case's options as the kind's config class (defaults filled in; validated already)."""
        import importlib

        cls = getattr(importlib.import_module(self.module), self.config_class)
        return cls.from_dict(dict(config["options"]))

    def run_case(self, config: dict[str, Any]) -> dict[str, Any]:
        import importlib

        result = importlib.import_module(self.module).run_experiment(dict(config["options"]))
        return {
            "rows": _json_rows(result.rows()),
            "summary": _json_dict(result.summary()),
            **self.extra(result),
        }

    def extra(self, result: Any) -> dict[str, Any]:
        return {}

    def summarize(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]]
    ) -> dict[str, Any]:
        summary = results[0][1]["summary"] if results else {}
        values = {
            k: float(v) for k, v in summary.items() if _finite(v) and k.startswith(self.checked)
        }
        table = [[k, v] for k, v in summary.items()]
        return {
            "orders": [],
            "errors": {},
            "values": values,
            "tables": [
                {
                    "title": "Headline numbers (result.summary())",
                    "columns": ["quantity", "value"],
                    "rows": table,
                }
            ],
        }

    def case_rows(self, case: Any, res: dict[str, Any]) -> list[Row]:
        return list(res.get("rows", []))


def _json_dict(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in d.items()}


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.ndarray):
        return [_json_value(x) for x in v.tolist()]
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return _json_dict(v)
    return v


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_json_dict(r) for r in rows]


def _part(rows: list[Row], key: str, value: str) -> list[Row]:
    return [r for r in rows if r.get(key) == value]


def _num(v: Any) -> float:
    return float(v) if _finite(v) else math.nan


def _fmt_num(v: Any) -> str:
    return f"{v:.4g}" if _finite(v) else "not measured"


@STUDY_KINDS.register("backward-heat")
class BackwardHeat(ExperimentKind):
    """Backward heat equation: measured vs theoretical mode amplification, blow-up, regularisers, score."""

    module = "fplab.backward_heat"
    config_class = "BackwardHeatConfig"
    depends: ClassVar[tuple[str, ...]] = ("backward_heat", "fd", "reverse", "metrics")
    error_rtol = 0.01
    checked = ("growth_", "ou_", "blowup_", "rate_max", "naive_best", "reg_", "score_")
    bounds: ClassVar[dict[str, tuple[float, str]]] = {
        "symbol": (
            1e-6,
            "relative; a measured growth factor is a product of the exact discrete symbol, so only "
            "round-off amplified by the mode's own growth separates them (measured 1e-14 to 1e-9)",
        ),
        "blowup": (
            0.05,
            "relative; the prediction follows the top discrete mode alone and the blow-up is "
            "located on the time grid (dt / t_blowup <= 2 % here)",
        ),
        "regulariser-gain": (
            2.0,
            "naive early-stopping error over the regulariser's best error: a regulariser must "
            "at least halve the best the naive reversal can do",
        ),
        "score-w2-ratio": (
            2.0,
            "worst W2 of the score-based reversal over all noise levels over the Monte-Carlo "
            "floor (W2 of as many exact p0 samples): bounded, not blowing up",
        ),
    }

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # dense n x n operators (eigenvectors, their inverse, expm) and the (steps, n) history of
        # one naive run; work: O(n^3) per dense eig plus n per cell-step of every run, then the
        # reverse samplers of the score part (8 updates per sample and step)
        c = self.parsed(config)
        sizes = (c.n, c.ou_n, *c.blowup_n)
        n_max = float(max(sizes))
        steps = c.t_final / c.dt
        runs = (len(c.eps) + len(c.growth_schemes)) * c.n * max(steps, c.mode_steps)
        runs += sum(n * c.t_final / c.dt for n in c.blowup_n)
        runs += sum(c.n * c.t_final / dt for dt in c.blowup_dt) + len(c.eps) * c.n * steps
        paths = len(c.score_eps) * len(c.score_methods) * len(c.score_perturbations)
        score = 8.0 * c.n_samples * paths * (c.score_n_steps + sum(c.score_n_steps_sweep))
        mem = 8.0 * (4 * n_max * n_max + n_max * (max(steps, c.mode_steps) + 1) + 16 * c.n_samples)
        return mem, float(sum(s**3 for s in sizes)) + runs + score

    def claims(self, spec: StudySpec, results: list[Any], summary: dict[str, Any]) -> list[Any]:
        """Symbol match, blow-up time prediction, regularisers' gain, score-based bound."""
        from fplab.judge import judge_bound

        values = results[0][1].get("summary", {}) if results else {}
        out = []
        bound = self.bound(spec, "symbol")
        for key, v in values.items():
            if key.endswith("growth_max_rel_err") or (
                key.startswith("growth_") and key.endswith("_max_rel_err")
            ):
                scheme = (
                    "ou" if key.startswith("ou_") else key[len("growth_") : -len("_max_rel_err")]
                )
                out.append(
                    judge_bound(
                        f"symbol[{scheme}]",
                        f"{scheme}: measured mode amplification equals the discrete symbol",
                        v,
                        bound,
                        quantity="max relative error",
                        why="a growth factor is a product of the symbol: round-off only",
                    )
                )
        bound = self.bound(spec, "blowup")
        for key, v in values.items():
            if not key.startswith("blowup_time[") or key.endswith("eps=0]"):
                continue
            eps = key[len("blowup_time[") : -1]
            pred = values.get(f"blowup_time_predicted[{eps}]")
            rel = abs(v / pred - 1.0) if _finite(v) and _finite(pred) and pred else None
            out.append(
                judge_bound(
                    f"blowup[{eps}]",
                    f"blow-up time at {eps} matches the symbol's prediction",
                    rel,
                    bound,
                    quantity="|measured / predicted - 1|",
                    why="top-mode prediction, blow-up located on the time grid",
                    note=f"measured {_fmt_num(v)}, predicted {_fmt_num(pred)}",
                )
            )
        bound = self.bound(spec, "regulariser-gain")
        naive = values.get("reg_naive_early_stop_error")
        for key, v in values.items():
            if not (key.startswith("reg_") and key.endswith("_best_error")):
                continue
            method = key[len("reg_") : -len("_best_error")]
            gain = naive / v if _finite(naive) and _finite(v) and v > 0 else None
            out.append(
                judge_bound(
                    f"regulariser-gain[{method}]",
                    f"{method} beats naive reversal stopped at its best time",
                    gain,
                    bound,
                    relation=">=",
                    quantity="naive error / regularised error",
                    why="a regulariser must at least halve the naive error",
                    note=f"naive {_fmt_num(naive)}, {method} {_fmt_num(v)}",
                )
            )
        bound = self.bound(spec, "score-w2-ratio")
        floor = values.get("score_w2_floor")
        for key, v in values.items():
            if not (key.startswith("score_") and key.endswith("_max_w2")):
                continue
            which = key[len("score_") : -len("_max_w2")]
            ratio = v / floor if _finite(v) and _finite(floor) and floor > 0 else None  # type: ignore[operator]
            out.append(
                judge_bound(
                    f"score-bounded[{which}]",
                    f"score-based reversal ({which}) stays within a factor of the Monte-Carlo "
                    "floor at every noise level",
                    ratio,
                    bound,
                    quantity="max W2 / Monte-Carlo floor",
                    why="bounded, where naive reversal blows up",
                    note=f"max W2 {_fmt_num(v)}, floor {_fmt_num(floor)}",
                )
            )
        return out

    def figures(
        self, spec: StudySpec, results: list[Any], summary: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        rows = results[0][1]["rows"] if results else []
        figs = []
        for maker in (_amplification, _naive_error, _blowup, _regularisation, _score_vs_naive):
            fig = maker(rows, spec.name)
            if fig is not None:
                figs.append(fig)
        return figs


def _amplification(rows: list[Row], name: str) -> tuple[str, Any] | None:
    amp = _part(rows, "part", "amplification")
    if not amp:
        return None
    fig = new_figure(7.0, 4.4)
    ax = fig.add_subplot()
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in amp:
        groups[(r["problem"], r["scheme"])].append(r)
    for i, ((problem, scheme), rs) in enumerate(sorted(groups.items())):
        rs.sort(key=lambda r: _num(r["k"]))
        k = np.array([_num(r["k"]) for r in rs])
        colour, marker = method_style(scheme, i)
        dash = "-" if problem == "heat" else "--"
        ax.plot(
            k,
            [_num(r["rate_measured"]) for r in rs],
            marker,
            ms=3,
            mfc=colour if problem == "heat" else "none",  # same scheme, other problem: hollow
            color=colour,
            label=f"{problem} {scheme}: measured",
        )
        ax.plot(
            k,
            [_num(r["rate_discrete"]) for r in rs],
            dash,
            color=colour,
            lw=1,
            label=f"{problem} {scheme}: symbol",
        )
    heat = sorted(_part(amp, "problem", "heat"), key=lambda r: _num(r["k"]))
    if heat:
        ax.plot(
            [_num(r["k"]) for r in heat],
            [_num(r["rate_continuous"]) for r in heat],
            "k:",
            lw=1.5,
            label="continuous D k²",
        )
    ax.set_xlabel("wavenumber k (OU: eigenmode index scale)")
    ax.set_ylabel("growth rate per unit reversed time")
    ax.set_yscale("symlog", linthresh=1.0)
    legend_outside(ax, fontsize=7)
    ax.set_title(
        f"{name}: measured amplification vs discrete symbol and continuous theory", fontsize=9
    )
    return (
        "mode amplification rates in reversed time: measured (dots), exact discrete symbol (lines), "
        "continuous e^{D k² t} (dotted)",
        fig,
    )


def _naive_error(rows: list[Row], name: str) -> tuple[str, Any] | None:
    naive = [r for r in _part(rows, "part", "naive-error") if r.get("problem") == "heat"]
    if not naive:
        return None
    fig = new_figure()
    ax = fig.add_subplot()
    by_eps: dict[float, list[Row]] = defaultdict(list)
    for r in naive:
        by_eps[_num(r["eps"])].append(r)
    for i, (eps, rs) in enumerate(sorted(by_eps.items())):
        tau = [_num(r["tau"]) for r in rs]
        ax.semilogy(tau, [r.error for r in rs], "-", color=f"C{i}", label=f"ε = {eps:g}")
        ax.semilogy(tau, [_num(r["predicted_error"]) for r in rs], ":", color=f"C{i}")
    ax.set_xlabel("reversed time τ")
    ax.set_ylabel("relative error of u(T - τ)")
    legend_outside(ax, fontsize=8)
    ax.set_title(f"{name}: naive backward heat, measured (solid) vs predicted (dotted)", fontsize=9)
    return (
        "naive backward integration from noisy data: error vs reversed time per noise level",
        fig,
    )


def _blowup(rows: list[Row], name: str) -> tuple[str, Any] | None:
    pts = [
        r for r in _part(rows, "part", "blowup") if r.get("sweep") == "eps" and _num(r["eps"]) > 0
    ]
    if not pts:
        return None
    fig = new_figure()
    ax = fig.add_subplot()
    x = [math.log(1 / _num(r["eps"])) for r in pts]
    ax.plot(x, [_num(r["measured"]) for r in pts], "o", label="measured")
    ax.plot(x, [_num(r["predicted"]) for r in pts], "s", mfc="none", label="predicted (symbol)")
    ax.plot(x, [_num(r["asymptotic"]) for r in pts], "k:", label="ln(1/ε) / r_max")
    ax.set_xlabel("ln(1/ε)")
    ax.set_ylabel("time to blow-up")
    legend_outside(ax, fontsize=8)
    ax.set_title(f"{name}: blow-up time vs noise level", fontsize=9)
    return (
        "time to blow-up (relative error 100 %) vs ln(1/ε): measured, predicted, asymptotic",
        fig,
    )


def _regularisation(rows: list[Row], name: str) -> tuple[str, Any] | None:
    reg = _part(rows, "part", "regularisation")
    if not reg:
        return None
    fig = new_figure()
    ax = fig.add_subplot()
    by_method: dict[str, list[Row]] = defaultdict(list)
    for r in reg:
        by_method[r.method].append(r)
    for i, (method, rs) in enumerate(sorted(by_method.items())):
        rs.sort(key=lambda r: _num(r["value"]))
        ax.loglog(
            [_num(r["value"]) for r in rs],
            [r.error for r in rs],
            "-",
            color=f"C{i}",
            label=f"{method} ({rs[0]['parameter']})",
        )
        best = [r for r in rs if r.get("best")]
        if best:
            ax.plot([_num(best[0]["value"])], [best[0].error], "*", ms=12, color=f"C{i}")
    naive = _num(reg[0].get("naive_error"))
    if math.isfinite(naive) and naive > 0:
        ax.axhline(naive, color="k", ls=":", label="naive inversion")
    ax.set_xlabel("regularisation parameter")
    ax.set_ylabel("relative error of the reconstructed p0")
    legend_outside(ax, fontsize=8)
    ax.set_title(f"{name}: error vs regularisation, optimum starred", fontsize=9)
    return ("regularised inversions: error vs parameter, optimum marked", fig)


def _score_vs_naive(rows: list[Row], name: str) -> tuple[str, Any] | None:
    score = [r for r in _part(rows, "part", "score") if r.get("n_steps") is not None]
    final = _part(rows, "part", "naive-final")
    if not score:
        return None
    fig = new_figure()
    ax = fig.add_subplot()
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in score:
        groups[(r.method, r["perturbation"])].append(r)
    for i, ((method, pert), rs) in enumerate(sorted(groups.items())):
        by_eps: dict[float, float] = {}
        for r in rs:
            by_eps.setdefault(_num(r["eps"]), _num(r["tv"]))
        eps = sorted(by_eps)
        colour, marker = method_style(method, i)
        ax.plot(
            [max(e, 1e-16) for e in eps],
            [by_eps[e] for e in eps],
            "-" if i % 2 == 0 else "--",
            marker=marker,
            color=colour,
            label=f"score: {method}, {pert}",
        )
    if final:
        ax.plot(
            [max(_num(r["eps"]), 1e-16) for r in final],
            [min(_num(r["tv_p0"]), 1.0) for r in final],
            "kx--",
            label="naive backward heat",
        )
    ax.set_xscale("log")
    ax.set_xlabel("noise level ε (0 plotted at 1e-16)")
    ax.set_ylabel("TV to p0")
    legend_outside(ax, fontsize=7)
    ax.set_title(f"{name}: score-based reversal stays bounded", fontsize=9)
    return ("score-based reversal vs naive backward heat: TV distance to p0 vs noise level", fig)
