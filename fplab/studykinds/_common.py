"""Shared machinery of the convergence-type study kinds: cases over (compared name x sweep value),
order fits with intervals, the check quantities, and the standard figures.

A convergence kind implements ``run_one(config) -> row`` where ``row`` has at least ``h`` (the
step being refined: dx, dt, ...) and ``error``; everything else (orders, tables, the log-log
figure, density overlays) comes from here.  Figures are matplotlib ``Figure`` objects built
without pyplot; ``fplab.report`` is the only module that writes them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from fplab.study import Case, StudyKind, StudySpec

__all__ = [
    "ConvergenceKind",
    "density_metric",
    "downsample_curve",
    "fit_order",
    "loglog_figure",
    "new_figure",
    "overlay_figure",
]

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


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


def fit_order(
    h: list[float], err: list[float], stderr: list[float] | None = None, scale: float | None = None
) -> dict[str, Any]:
    """``fp.observed_order`` on the positive finite points, as a JSON-ready dict."""
    from fplab.convergence import observed_order

    pts = [
        (hh, ee, ss)
        for hh, ee, ss in zip(h, err, stderr or [None] * len(h))  # type: ignore[list-item]
        if ee is not None and math.isfinite(ee) and ee > 0 and math.isfinite(hh)
    ]
    if len(pts) < 2:
        return {"order": math.nan, "ci": [math.nan, math.nan], "flags": [], "n_points": len(pts)}
    kw: dict[str, Any] = {} if scale is None else {"scale": scale}
    if stderr is not None and all(s is not None and s > 0 for _, _, s in pts):
        kw["err_stderr"] = [s for _, _, s in pts]
    fit = observed_order([p[0] for p in pts], [p[1] for p in pts], **kw)
    return {
        "order": float(fit.order),
        "ci": [float(fit.ci[0]), float(fit.ci[1])],
        "constant": float(fit.constant),
        "flags": list(fit.flags),
        "local_orders": [float(v) for v in fit.local_orders],
        "n_points": int(fit.n_points),
    }


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


class ConvergenceKind(StudyKind):
    """Base of kinds that refine one parameter and fit an order per compared name."""

    h_name: ClassVar[str] = "h"
    error_name: ClassVar[str] = "error"

    #: size of the measured quantity for the fit's round-off test (None: the largest error)
    error_scale: ClassVar[float | None] = None

    def declared_order(self, spec: StudySpec, name: str | None) -> float | None:
        """The order theory predicts for ``name``: from ``[expect] order`` when the spec gives one
        (a table is complete: a name it omits has no claim), else the registry's declared order."""
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
    def case_rows(case: Case, res: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        """(label, compared name, row) of every row of a case: one ``row``, or ``rows`` (each
        with its own ``label`` and optionally ``compare``) when a case runs several levels."""
        name = case.config.get("compare") or ""
        if "row" in res:
            return [(case.label, name, res["row"])]
        return [(r["label"], r.get("compare", name), r) for r in res["rows"]]

    def groups(self, results: list[tuple[Case, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for case, res in results:
            for _, name, row in self.case_rows(case, res):
                out.setdefault(name, []).append(row)
        for rows in out.values():
            rows.sort(key=lambda r: -r["h"])
        return out

    def summarize(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]]
    ) -> dict[str, Any]:
        tol = float(spec.expect.get("tolerance", 0.1))
        orders, errors = [], {}
        for name, rows in self.groups(results).items():
            h = [r["h"] for r in rows]
            err = [r["error"] for r in rows]
            stderr = [r["stderr"] for r in rows] if all("stderr" in r for r in rows) else None
            fit = fit_order(h, err, stderr, self.error_scale)
            orders.append(
                order_row(
                    name or spec.kind,
                    f"{spec.measure.get('metric', self.error_name)} vs {self.h_name}",
                    fit,
                    self.declared_order(spec, name),
                    tol,
                )
            )
        for case, res in results:
            for label, _, row in self.case_rows(case, res):
                errors[label] = row["error"]
        return {"orders": orders, "errors": errors}

    def figures(
        self, spec: StudySpec, results: list[tuple[Case, dict[str, Any]]], summary: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        err_name = spec.measure.get("metric", self.error_name)
        figs = [
            loglog_figure(self.groups(results), summary["orders"], self.h_name, err_name, spec.name)
        ]
        over = overlay_figure(results, spec.name)
        if over is not None:
            figs.append(over)
        return figs


def loglog_figure(
    groups: dict[str, list[dict[str, Any]]],
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
        colour = _COLOURS[i % len(_COLOURS)]
        h = np.array([r["h"] for r in rows])
        e = np.array([r["error"] for r in rows], dtype=np.float64)
        ok = np.isfinite(e) & (e > 0)
        o = by_label.get(name) or (orders[i] if i < len(orders) else None)
        label = name or "error"
        if o is not None and math.isfinite(o["order"]):
            label += f": slope {o['order']:.2f} [{o['ci'][0]:.2f}, {o['ci'][1]:.2f}]"
        if "stderr" in rows[0]:
            ax.errorbar(
                h[ok],
                e[ok],
                yerr=2 * np.array([r["stderr"] for r in rows])[ok],
                fmt="o",
                color=colour,
                label=label,
                capsize=2,
            )
        else:
            ax.plot(h[ok], e[ok], "o", color=colour, label=label)
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
    ax.legend(fontsize=8)
    ax.set_title(f"{title}: fitted slopes (solid), theory (dotted)", fontsize=9)
    return (f"{err_name} vs {h_name} (log-log), fitted and theoretical slopes", fig)


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
        h = res["row"]["h"] if "row" in res else min(r["h"] for r in res["rows"])
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
            ax.plot(
                curve["x"],
                curve[f"y{j}"],
                "--",
                color=_COLOURS[(i + j - 1) % len(_COLOURS)],
                lw=1,
                label=f"{names[j]} {name} (h={h:.3g})".replace("  ", " "),
            )
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(f"{title}: densities at the finest level", fontsize=9)
    return ("density overlay at the finest level: reference vs numerical", fig)
