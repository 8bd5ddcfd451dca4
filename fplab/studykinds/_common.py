"""Shared machinery of the convergence-type study kinds: cases over (compared name x sweep value),
order fits with intervals, the check quantities, and the standard figures.

A convergence kind implements ``run_one(config) -> {"row": {...}}`` where the row (a JSON-ready
dict in the worker; a :class:`fplab.records.Row` once read back from the cache) has at least
``h`` (the step being refined: dx, dt, ...) and ``error``; everything else (orders, tables, the log-log
figure, density overlays) comes from here.  Figures are matplotlib ``Figure`` objects built
without pyplot; ``fplab.report`` is the only module that writes them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from fplab.records import Row
from fplab.spec import StudySpec
from fplab.studykinds.base import Case, StudyKind

__all__ = [
    "ConvergenceKind",
    "density_metric",
    "downsample_curve",
    "fit_order",
    "legend_outside",
    "loglog_figure",
    "method_style",
    "new_figure",
    "overlay_figure",
    "richardson_estimate",
    "style_map",
    "timed",
    "work_precision_figure",
]

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

#: the registries whose entries are drawn as methods; their names, in this order, index the styles
_STYLE_REGISTRIES = (
    ("fplab.fd", "SPACE_SCHEMES"),
    ("fplab.fd", "TIME_SCHEMES"),
    ("fplab.mc", "MC_METHODS"),
    ("fplab.reverse", "SAMPLERS"),
)
#: 20 colours that stay distinguishable on white: matplotlib's tab10, then 10 darker others
#: (no pale tints, so a method late in the registries is drawn as clearly as the first)
_PALETTE = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#000075", "#800000", "#469990", "#4b0082", "#006400", "#ff1493",
    "#9a6324", "#000000", "#808000", "#00a2ff", "#f58231", "#911eb4", "#3cb44b", "#e6194b",
    "#4363d8", "#aa6e28", "#008080", "#c71585", "#556b2f", "#b8860b", "#483d8b", "#2f4f4f",
    "#cd5c5c", "#1e90ff", "#6b8e23", "#8b008b",
]  # fmt: skip
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p"]


def style_map() -> dict[str, tuple[str, str]]:
    """Method name -> (colour, marker), fixed across every figure of every study.

    Built from the registries (space and time schemes, MC methods, samplers, in that order, each
    sorted): a name gets the next colour and marker when first seen, so the same name in two
    registries (euler-maruyama) keeps one style and adding an entry appends a new style.
    """
    import importlib

    names: list[str] = []
    for module, attr in _STYLE_REGISTRIES:
        try:
            reg = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):  # pragma: no cover - a registry not installed
            continue
        names += [n for n in reg.names() if n not in names]
    return {
        n: (_PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]) for i, n in enumerate(names)
    }


def method_style(name: str, fallback: int = 0) -> tuple[str, str]:
    """(colour, marker) of method ``name`` (``style_map``); other names cycle through the
    palette's end by ``fallback`` so they never take a method's colour in the same figure."""
    styles = style_map()
    if name in styles:
        return styles[name]
    k = len(styles) + fallback
    return "#333333" if not name else _PALETTE[k % len(_PALETTE)], _MARKERS[k % len(_MARKERS)]


def legend_outside(ax: Any, **kw: Any) -> None:
    """A legend to the right of the axes, off the data (saved with bbox_inches='tight')."""
    kw.setdefault("fontsize", 8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)


def new_figure(width: float = 6.4, height: float = 4.2) -> Any:
    """A matplotlib Figure with an Agg canvas and no pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # a fixed layout: constrained layout costs ~4x the drawing time of the whole figure
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.92)
    FigureCanvasAgg(fig)
    return fig


def density_metric(name: str, p: Any, q: Any, grid: Any) -> float:
    """``METRICS[name](p, q, grid)`` for densities ``p``, ``q`` of shape ``grid.shape``."""
    from fplab.metrics import METRICS

    return float(METRICS.get(name)(p, q, grid))


def downsample_curve(x: Any, *ys: Any, n_max: int = 400) -> dict[str, list[float]]:
    """Every k-th point of a 1-D curve so that stored results stay small (JSON lists)."""
    x = np.asarray(x, dtype=np.float64)
    step = max(1, math.ceil(x.size / n_max))
    out = {"x": x[::step].tolist()}
    for i, y in enumerate(ys):
        out[f"y{i}"] = np.asarray(y, dtype=np.float64)[::step].tolist()
    return out


#: warm samples per timed call: the work-precision figure plots their median
WARM_REPEATS = 3
#: a warm sample lasts at least this long (short calls are repeated within a sample)
_MIN_SAMPLE = 0.02


def timed(
    fn: Any, *args: Any, repeats: int = WARM_REPEATS, **kw: Any
) -> tuple[Any, dict[str, Any]]:
    """``fn(*args, **kw)`` and its timing: the first (cold) call, then the median of ``repeats``
    warm samples.  The first call in a process includes numba compilation (or loading compiled
    kernels from numba's cache); ``compile_seconds`` = cold - warm median is reported separately
    and never enters the work-precision figure.  A call shorter than ``_MIN_SAMPLE`` seconds is
    repeated ``n_calls`` times per sample (as ``timeit`` does), so sub-millisecond runs are not
    timed at the clock's and the scheduler's resolution.  Returns (first result, row fields).
    """
    import statistics
    import time

    start = time.perf_counter()
    out = fn(*args, **kw)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    fn(*args, **kw)
    first_warm = time.perf_counter() - start
    n_calls = max(1, min(1000, math.ceil(_MIN_SAMPLE / max(first_warm, 1e-9))))
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n_calls):
            fn(*args, **kw)
        warm.append((time.perf_counter() - start) / n_calls)
    median = statistics.median(warm)
    return out, {
        "seconds_warm": median,
        "seconds_cold": cold,
        "compile_seconds": max(cold - median, 0.0),
        "n_warm": repeats,
        "n_calls": n_calls,
    }


def _left_out_why(h: float, error: float | None) -> str:
    """Why a level cannot enter a log-log fit ("" when it can); "exact (0)" is the only
    reason that is no sign of a broken measurement (``ConvergenceKind.claims``)."""
    if not math.isfinite(h):
        return f"h is {h}"
    if error is None:
        return "not measured (None)"
    if math.isnan(error):
        return "NaN or not measured"
    if math.isinf(error):
        return "infinite (diverged?)"
    if error < 0:
        return f"negative ({error:.3g})"
    if error == 0:
        return "exact (0)"
    return ""


def fit_order(
    h: list[float], err: list[float], stderr: list[float] | None = None, scale: float | None = None
) -> dict[str, Any]:
    """``fp.observed_order`` on the positive finite points, as a JSON-ready dict.

    ``flags`` are renamed from the data (``fplab.judge.classify_flags``): "round-off" only for
    errors within 1e3 epsilons of ``scale`` (default 1), "plateau" for a fine-end floor above
    that, "statistical floor" for errors below 2 standard errors.  ``h`` and ``errors`` are the
    fitted points, coarse to fine.
    """
    from fplab.convergence import observed_order
    from fplab.judge import classify_flags

    pts = [
        (hh, ee, ss)
        for hh, ee, ss in zip(h, err, stderr or [None] * len(h))  # type: ignore[list-item]
        if ee is not None and math.isfinite(ee) and ee > 0 and math.isfinite(hh)
    ]
    left_out = [
        {"h": hh, "error": ee, "why": _left_out_why(hh, ee)}
        for hh, ee in zip(h, err)
        if _left_out_why(hh, ee)
    ]
    if len(pts) < 2:
        return {
            "order": math.nan,
            "ci": [math.nan, math.nan],
            "flags": [],
            "n_points": len(pts),
            "h": [p[0] for p in pts],
            "errors": [p[1] for p in pts],
            "left_out": left_out,
        }
    scale = 1.0 if scale is None else scale
    kw: dict[str, Any] = {"scale": scale}
    if stderr is not None and all(s is not None and s > 0 for _, _, s in pts):
        kw["err_stderr"] = [s for _, _, s in pts]
    fit = observed_order([p[0] for p in pts], [p[1] for p in pts], **kw)
    flags = classify_flags(list(fit.flags), list(fit.err), scale)
    out = {
        "order": float(fit.order),
        "ci": [float(fit.ci[0]), float(fit.ci[1])],
        "constant": float(fit.constant),
        "flags": flags,
        "local_orders": [float(v) for v in fit.local_orders],
        "n_points": int(fit.n_points),
        "h": list(fit.h),
        "errors": list(fit.err),
        "left_out": left_out,
    }
    # coarse points off the fine-level slope: the claim is judged on the asymptotic levels
    # when at least 3 remain (fplab.judge.judge_order); the full fit stays on the page
    keep = [i for i, f in enumerate(flags) if f != "pre-asymptotic"]
    if len(keep) < len(flags) and len(keep) >= 3:
        # fit.h / err / err_stderr are sorted coarse to fine, as the flags are
        kept_stderr = None if fit.err_stderr is None else [fit.err_stderr[i] for i in keep]
        asym = observed_order(
            [fit.h[i] for i in keep],
            [fit.err[i] for i in keep],
            scale=scale,
            err_stderr=kept_stderr,
        )
        out["asymptotic"] = {
            "order": float(asym.order),
            "ci": [float(asym.ci[0]), float(asym.ci[1])],
            "n_points": int(asym.n_points),
            "flags": [flags[i] for i in keep],
            "errors": [fit.err[i] for i in keep],
        }
    return out


def _with_left_out(verdict: Any, left_out: list[dict[str, Any]]) -> Any:
    """``verdict`` naming the levels its fit left out; a NaN, infinite, negative or missing
    error is a broken or diverged level, so the claim cannot pass on the other levels."""
    if not left_out:
        return verdict
    from dataclasses import replace

    levels = ", ".join(f"h={p['h']:.6g}: {p['why']}" for p in left_out)
    note = f"{verdict.note}; left out of the fit: {levels}"
    broken = any(p["why"] != "exact (0)" for p in left_out)
    if broken and verdict.verdict == "pass":
        return replace(verdict, verdict="inconclusive", note=note)
    return replace(verdict, note=note)


def order_row(
    label: str, quantity: str, fit: dict[str, Any], expected: float | None, tol: float
) -> dict[str, Any]:
    """One row of the orders table; ``match`` is whether the expected order lies in the interval
    widened by ``tol`` (``[expect] tolerance``), None without an expectation."""
    lo, hi = fit["ci"]
    match = None
    if expected is not None and math.isfinite(lo):
        match = bool(lo - tol <= expected <= hi + tol)
    return {"label": label, "quantity": quantity, **fit, "expected": expected, "match": match}


def richardson_estimate(
    fit: dict[str, Any] | None, factor: Any, what: str
) -> tuple[float | None, str]:
    """Richardson estimate e_min / (r^p - 1) of a ``factor``-times-finer reference's error."""
    if not fit or not factor or not fit.get("errors"):
        return None, "fine reference: no estimate"
    p = float(fit.get("order", math.nan))
    r = float(factor)
    if not math.isfinite(p) or p <= 0.05:
        return None, f"fine reference ({what}, {r:g}x finer): no estimate (fitted order {p:.3g})"
    est = min(fit["errors"]) / (r**p - 1.0)
    return est, f"Richardson: e_min / ({r:g}^{p:.2f} - 1), {what} {r:g}x finer"


class ConvergenceKind(StudyKind):
    """Base of kinds that refine one parameter and fit an order per compared name."""

    h_name: ClassVar[str] = "h"
    error_name: ClassVar[str] = "error"

    #: size of the measured quantity for the round-off flag (None: 1; the shipped problems'
    #: densities, states and samples are O(1), so round-off is ~1e3 eps ~ 2e-13 absolute)
    error_scale: ClassVar[float | None] = None

    #: a ``fine`` reference is built per level at a fixed ratio (each level against itself r
    #: times finer): the measured error is C h^p (1 - r^-p), the slope is unbiased, and the
    #: reference's error estimate is shown but does not make an order claim inconclusive
    per_level_reference: ClassVar[bool] = False

    def declared_order(self, spec: StudySpec, name: str | None) -> float | None:
        """The order theory predicts for ``name``: from ``[expect] order`` when the spec gives one
        (a table is complete: a name it omits has no claim), else the registry's declared order;
        a name in ``[expect] no_claim`` has none."""
        if name in spec.expect.get("no_claim", {}):
            return None
        if "order" in spec.expect:
            return spec.expected_order(name or "")
        return self.registry_order(spec, name)

    def registry_order(self, spec: StudySpec, name: str | None) -> float | None:
        """The declared order of ``name`` in the compared registry (None: no claim)."""
        return None

    def case_config(
        self, spec: StudySpec, tier: str, name: str | None, value: float
    ) -> dict[str, Any]:
        return {
            "problem": spec.problem,
            "compare": name,
            "param": spec.sweep.get("param"),
            "value": value,
            "measure": spec.measure,
            "options": {k: spec.option(k, tier) for k in spec.options},
            "seed": spec.seed,
        }

    def cases(self, spec: StudySpec, tier: str) -> list[tuple[str, dict[str, Any]]]:
        names = spec.sweep.get("compare") or [None]
        out = []
        for name in names:
            for value in spec.sweep_values(tier):
                label = (
                    f"{name} {spec.sweep['param']}={value:g}"
                    if name
                    else f"{spec.sweep['param']}={value:g}"
                )
                out.append((label, self.case_config(spec, tier, name, value)))
        return out

    def run_case(self, config: dict[str, Any]) -> dict[str, Any]:
        return self.run_one(config)

    @staticmethod
    def problem_dim(config: dict[str, Any]) -> int:
        """The state dimension d of a case (grid dimension, else the p0 mean's length)."""
        prob = config["problem"]
        if prob.get("grid"):
            return len(np.atleast_1d(prob["grid"]["n"]))
        means = prob.get("p0", {}).get("means")
        return len(means[0]) if means and isinstance(means[0], list) else 1

    @staticmethod
    def time_span(config: dict[str, Any]) -> float:
        prob = config["problem"]
        return float(prob.get("t_final", 1.0)) - float(prob.get("t0", 0.0))

    def run_one(self, config: dict[str, Any]) -> dict[str, Any]:
        """Returns ``{"row": {"h": ..., "error": ..., ...}, "curve": optional overlay}``."""
        raise NotImplementedError

    @staticmethod
    def case_rows(case: Case, res: dict[str, Any]) -> list[tuple[str, str, Row]]:
        """(label, compared name, row) of every row of a case: one ``row``, or ``rows`` (each
        with its own ``label`` and optionally ``compare``) when a case runs several levels."""
        name = case.config.get("compare") or ""
        if "row" in res:
            return [(case.label, name, res["row"])]
        return [(r.label, r.get("compare", name), r) for r in res["rows"]]

    def groups(self, results: list[tuple[Case, dict[str, Any]]]) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        for case, res in results:
            for _, name, row in self.case_rows(case, res):
                out.setdefault(name, []).append(row)
        for rows in out.values():
            rows.sort(key=lambda r: -r.h)
        return out

    def summarize(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]]
    ) -> dict[str, Any]:
        tol = float(spec.expect.get("tolerance", 0.1))
        orders, errors = [], {}
        fits: dict[str, dict[str, Any]] = {}
        for name, rows in self.groups(results).items():
            h = [r.h for r in rows]
            err = [r.error for r in rows]
            stderr = [r.stderr for r in rows] if all("stderr" in r for r in rows) else None
            fits[name] = fit_order(h, err, stderr, self.error_scale)
        config = results[0][0].config if results else {}
        no_claim = []
        for name, fit in fits.items():
            expected = self.declared_order(spec, name)
            row = order_row(
                name or spec.kind,
                f"{spec.measure.get('metric', self.error_name)} vs {self.h_name}",
                fit,
                expected,
                tol,
            )
            row["reference_error"], row["reference_note"] = self.reference_error(
                spec, name, fits, config
            )
            row["reference_judges"] = not (
                self.per_level_reference and spec.measure.get("reference") == "fine"
            )
            if not row["reference_judges"]:
                row["reference_note"] += "; per-level reference at a fixed ratio: slope unbiased"
            orders.append(row)
            if expected is None:
                no_claim.append({"label": row["label"], "reason": self.no_claim_reason(spec, name)})
        for case, res in results:
            for label, _, case_row in self.case_rows(case, res):
                errors[label] = case_row.error
        return {"orders": orders, "errors": errors, "no_claim": no_claim}

    def no_claim_reason(self, spec: StudySpec, name: str | None) -> str:
        """Why ``name`` carries no order claim: ``[expect] no_claim``, else a default."""
        given = spec.expect.get("no_claim", {})
        if name in given:
            return str(given[name])
        if "order" in spec.expect:
            return "[expect] order states no order for it"
        return "its registry entry declares no order for this problem"

    def reference_error(
        self,
        spec: StudySpec,
        name: str | None,
        fits: dict[str, dict[str, Any]],
        config: dict[str, Any],
    ) -> tuple[float | None, str]:
        """(estimate of the reference's own error, how it was estimated).

        ``exact`` / ``stationary``: a closed form, so round-off (1e3 eps x scale).  ``fine``: the
        same method on ``r = reference_factor`` times finer steps, whose error is ~ e_min / (r^p
        - 1) by Richardson (e_min the finest measured error, p the fitted order).
        """
        from fplab.judge import ROUNDOFF_EPS

        ref = spec.measure.get("reference", "exact")
        scale = 1.0 if self.error_scale is None else self.error_scale
        if ref in ("exact", "stationary"):
            return ROUNDOFF_EPS * scale, f"{ref} reference: closed form, round-off"
        factor = config.get("options", {}).get("reference_factor")
        return richardson_estimate(fits.get(name or ""), factor, "same method")

    def claims(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[Any]:
        """One order claim per compared name with a declared order (``fplab.judge.judge_order``)."""
        from fplab.judge import judge_order

        tol = float(spec.expect.get("tolerance", 0.1))
        out = []
        for o in summary.get("orders", []):
            if o.get("expected") is None:
                continue
            statement = f"{o['label']} has order {o['expected']:g} in {o['quantity']}"
            verdict = judge_order(
                f"order[{o['label']}]",
                statement,
                o,
                float(o["expected"]),
                tol,
                reference_error=o.get("reference_error") if o.get("reference_judges") else None,
                reference_note=o.get("reference_note", ""),
            )
            out.append(_with_left_out(verdict, o.get("left_out", [])))
        return out

    def figures(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        err_name = spec.measure.get("metric", self.error_name)
        groups = self.groups(results)
        figs = [loglog_figure(groups, summary["orders"], self.h_name, err_name, spec.name)]
        wp = work_precision_figure(groups, err_name, spec.name)
        if wp is not None:
            figs.append(wp)
        over = overlay_figure(results, spec.name)
        if over is not None:
            figs.append(over)
        return figs


def loglog_figure(
    groups: dict[str, list[Row]],
    orders: list[dict[str, Any]],
    h_name: str,
    err_name: str,
    title: str,
) -> tuple[str, Any]:
    """Error vs h per compared name on log-log axes, with the fitted slope (solid) and the
    expected slope through the finest point (dotted)."""
    fig = new_figure()
    ax = fig.add_subplot()
    by_label = {o["label"]: o for o in orders}
    for i, (name, rows) in enumerate(groups.items()):
        colour, marker = method_style(name, i)
        h = np.array([r.h for r in rows])
        e = np.array([r.error for r in rows], dtype=np.float64)
        ok = np.isfinite(e) & (e > 0)
        o = by_label.get(name) or (orders[i] if i < len(orders) else None)
        label = name or "error"
        if o is not None and math.isfinite(o["order"]):
            label += f": slope {o['order']:.2f} [{o['ci'][0]:.2f}, {o['ci'][1]:.2f}]"
        if "stderr" in rows[0]:
            ax.errorbar(
                h[ok],
                e[ok],
                yerr=2 * np.array([r.stderr for r in rows])[ok],
                fmt=marker,
                color=colour,
                label=label,
                capsize=2,
            )
        else:
            ax.plot(h[ok], e[ok], marker, color=colour, label=label, ls="none")
        if o is not None and math.isfinite(o["order"]) and ok.sum() >= 2:
            hh = np.geomspace(h[ok].min(), h[ok].max(), 20)
            ax.plot(hh, o["constant"] * hh ** o["order"], "-", color=colour, lw=1)
            if o.get("expected") is not None:
                h0, e0 = h[ok].min(), e[ok][np.argmin(h[ok])]
                ax.plot(hh, e0 * (hh / h0) ** o["expected"], ":", color=colour, lw=1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(h_name)
    ax.set_ylabel(err_name)
    ax.grid(True, which="both", alpha=0.3)
    legend_outside(ax)
    ax.set_title(f"{title}: fitted slopes (solid), theory (dotted)", fontsize=9)
    return (f"{err_name} vs {h_name} (log-log), fitted and theoretical slopes", fig)


def work_precision_figure(
    groups: dict[str, list[Row]], err_name: str, title: str
) -> tuple[str, Any] | None:
    """Error vs warm wall time per compared name (the DiffEqDevTools work-precision diagram):
    median of ``WARM_REPEATS`` warm runs of the method alone (no reference, no compilation)."""
    timed_groups = {
        n: [r for r in rows if r.get("seconds_warm") and r.get("error")]
        for n, rows in groups.items()
    }
    if not any(timed_groups.values()):
        return None
    fig = new_figure()
    ax = fig.add_subplot()
    compile_max = 0.0
    for i, (name, rows) in enumerate(timed_groups.items()):
        if not rows:
            continue
        colour, marker = method_style(name, i)
        rows = sorted(rows, key=lambda r: -r.h)  # joined in refinement order
        ax.loglog(
            [r["seconds_warm"] for r in rows],
            [r.error for r in rows],
            "-",
            marker=marker,
            color=colour,
            label=name or "error",
        )
        compile_max = max(compile_max, *(r.get("compile_seconds", 0.0) for r in rows))
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    lo, hi = ax.get_xlim()
    if hi / lo < 30.0:  # under ~1.5 decades one or no decade tick shows: label 2x and 5x too
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(
            LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2, 2))
        )
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on longer ranges
    ax.set_xlabel(f"warm wall time per run, s (median of {WARM_REPEATS})")
    ax.set_ylabel(err_name)
    ax.grid(True, which="both", alpha=0.3)
    legend_outside(ax)
    ax.set_title(f"{title}: work-precision", fontsize=9)
    caption = (
        f"work-precision: {err_name} vs warm wall time of the method alone (median of "
        f"{WARM_REPEATS} runs after a first one; compilation, up to {compile_max:.2g} s, "
        "measured separately and left out)"
    )
    return (caption, fig)


def overlay_figure(
    results: list[tuple[Case, dict[str, Any]]], title: str
) -> tuple[str, Any] | None:
    """Density overlays stored by the cases (``result["curve"]``): for each compared name, the
    finest case's curves (reference vs numerical)."""
    finest: dict[str, tuple[float, dict[str, Any]]] = {}
    for case, res in results:
        curve = res.get("curve")
        if not curve:
            continue
        name = case.config.get("compare") or ""
        # one level per case ("row"), or all levels of a method in one case ("rows": the curve
        # belongs to the finest of them)
        h = res["row"].h if "row" in res else min(r.h for r in res["rows"])
        if name not in finest or h < finest[name][0]:
            finest[name] = (h, curve)
    if not finest:
        return None
    fig = new_figure()
    ax = fig.add_subplot()
    ref_drawn = False
    for i, (name, (h, curve)) in enumerate(finest.items()):
        names = curve.get("names", ["reference", "numerical"])
        if not ref_drawn:
            ax.plot(curve["x"], curve["y0"], "k-", lw=2, alpha=0.5, label=names[0])
            ref_drawn = True
        for j in range(1, len(names)):
            colour = method_style(name, i)[0] if j == 1 else _COLOURS[(i + j) % len(_COLOURS)]
            ax.plot(
                curve["x"],
                curve[f"y{j}"],
                "--",
                color=colour,
                lw=1,
                label=f"{names[j]} {name} (h={h:.3g})".replace("  ", " "),
            )
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    legend_outside(ax)
    ax.set_title(f"{title}: densities at the finest level", fontsize=9)
    return ("density overlay at the finest level: reference vs numerical", fig)
