"""``fd-space`` and ``fd-time``: observed orders of the finite-volume Fokker–Planck solver.

fd-space refines the grid (``sweep.param = "n"``, cells per axis; h = dx of the first axis) at a
fixed small time step and compares space schemes; fd-time refines the time step
(``sweep.param = "dt"``) on a fixed grid and compares time schemes.  References:

- ``exact``: ``fp.exact_marginal`` sampled at the cell centres (linear SDEs, GBM);
- ``stationary``: ``sde.stationary_pdf`` (double well; run to a large ``t_final``);
- ``fine``: the same problem solved more finely -- fd-space: on ``reference_factor`` times as many
  cells, interpolated to the coarse centres by cubic splines (interpolation error
  O((dx/reference_factor)^4), far below an O(dx^2) discretisation error); fd-time: on the same grid
  with Crank–Nicolson at dt_min / ``reference_factor`` (the compared scheme itself when its order
  is above 2), which isolates the time error from the space error (both runs share the space
  discretisation).

The error is ``METRICS[measure.metric](p_numerical, p_reference, grid)``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from fplab.spec import StudySpec
from fplab.studykinds._common import ConvergenceKind, density_metric, downsample_curve, timed
from fplab.studykinds.base import STUDY_KINDS, Option

__all__ = ["FDSpace", "FDTime"]


def metric_power(name: str) -> int:
    """How a density metric grows with a small density error δ: 1 for norms and distances (tv,
    hellinger, w1-density: ∝ |δ|), 2 for divergences (kl, relative Fisher information: ∝ δ²).

    The METRICS entry's declared ``power`` (``fplab.metrics.metric(..., power=)``).  A metric
    registered without one (``METRICS.register``) is measured: the metric between N(0, 1) and
    N(0, 1) + ε x N(0, 1) on 64 cells of [-6, 6] at ε = 1e-3 and 2e-3 grows by 2^power.  A
    scheme of order p is then of order power · p in the metric.
    """
    from fplab.metrics import METRICS

    declared = getattr(METRICS.get(name), "power", None)
    if declared is not None:
        return int(declared)
    return measured_metric_power(name)


def measured_metric_power(name: str) -> int:
    """The power of a (p, q, grid) metric measured as :func:`metric_power` describes (1 when the
    metric cannot take the test pair)."""
    from fplab.grid import Grid

    grid = Grid.uniform(-6.0, 6.0, 64)
    x = grid.axes[0]
    p = np.exp(-0.5 * x**2) / np.sqrt(2.0 * np.pi)
    try:
        small, large = (density_metric(name, p + eps * x * p, p, grid) for eps in (1e-3, 2e-3))
    except (ValueError, TypeError, ArithmeticError):
        return 1  # a plugin metric that cannot take this pair: the registry order as declared
    return 2 if large > 3.0 * small else 1


def _reference_density(kind: str, sde: Any, p0: Any, grid: Any, t0: float, t1: float) -> Any:
    if kind == "exact":
        from fplab.exact import exact_marginal

        return grid.sample_on(exact_marginal(sde, p0, t1, t0=t0).pdf)
    return grid.sample_on(sde.stationary_pdf)


def _reference_time_scheme(name: str) -> str:
    """Time scheme of fd-time's fine reference: Crank–Nicolson for schemes of order <= 2 (its
    error at dt_min / factor is below theirs), the compared scheme itself above (CN's O(dt²)
    would hide an O(dt⁴) error)."""
    from fplab.fd import TIME_SCHEMES

    return "crank-nicolson" if TIME_SCHEMES.get(name).order <= 2 else name


def _interpolate(fine: Any, fine_grid: Any, grid: Any) -> Any:
    """Cubic-spline interpolation of a fine-grid density to the coarse cell centres.

    With an odd refinement factor every coarse centre is a fine centre, and the fine values
    are taken as they are: scipy 1.17's ``RegularGridInterpolator(method="cubic")`` is off by
    ~7e-6 even at its own nodes on 3600 points (1e-9 at 1800), which would swamp a
    fourth-order error.
    """
    from scipy.interpolate import RegularGridInterpolator

    factors = [nf // nc for nf, nc in zip(fine_grid.n, grid.n)]
    if all(r % 2 == 1 and r * nc == nf for r, nc, nf in zip(factors, grid.n, fine_grid.n)):
        centres = tuple(slice(r // 2, None, r) for r in factors)
        return np.maximum(np.asarray(fine)[centres], 0.0)

    interp = RegularGridInterpolator(
        fine_grid.axes, fine, method="cubic", bounds_error=False, fill_value=None
    )
    return np.maximum(interp(grid.points()).reshape(grid.shape), 0.0)


class _FDKind(ConvergenceKind):
    needs: ClassVar[tuple[str, ...]] = ("sde", "p0", "grid", "t_final")
    needs_metric: ClassVar[bool] = True
    references: ClassVar[tuple[str, ...]] = ("exact", "stationary", "fine")
    depends: ClassVar[tuple[str, ...]] = ("fd", "metrics")
    error_scale = 1.0  # density metrics (TV, Hellinger, KL) of O(1) densities: round-off ~ 1e-13
    #: the spec key a case's unstable explicit dt is reported under
    dt_key: ClassVar[str] = "options.dt"

    def solver_arguments(self, config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """(grid, solve_fokker_planck keywords) of one case."""
        raise NotImplementedError

    def validate(self, spec: StudySpec, err: Any) -> None:
        from fplab.spec import build_problem

        sde, p0, grid = build_problem(spec.problem)
        ref = spec.measure["reference"]
        if ref == "exact":
            from fplab.exact import exact_marginal

            try:
                exact_marginal(
                    sde, p0, float(spec.problem["t_final"]), t0=float(spec.problem.get("t0", 0.0))
                )
            except (TypeError, ValueError) as exc:
                err(
                    "measure.reference",
                    f"'exact' is not available here: {exc}",
                    "'fine', 'stationary'",
                )
        if ref == "stationary" and not hasattr(sde, "stationary_pdf"):
            err(
                "measure.reference",
                f"{spec.problem['sde']!r} has no stationary density",
                "'exact', 'fine'",
            )
        if not hasattr(p0, "pdf"):
            err(
                "problem.p0",
                "the grid solver needs an initial density",
                "'gaussian-mixture', 'lognormal-mixture'",
            )
        if getattr(p0, "dim", 1) != grid.ndim:
            err(
                "problem.p0",
                f"dimension {getattr(p0, 'dim', 1)} differs from the grid's {grid.ndim}",
            )
        self._check_cases(spec, err)

    def _check_cases(self, spec: StudySpec, err: Any) -> None:
        """Every case's solver arguments (explicit stability bound, periodic boundary with the
        SDE's coefficients, ...) through ``solve_fokker_planck(check_only=True)``, before any
        case runs."""
        from fplab.fd import solve_fokker_planck
        from fplab.spec import TIERS, build_problem

        sde, p0, _ = build_problem(spec.problem)
        t0, t1 = float(spec.problem.get("t0", 0.0)), float(spec.problem["t_final"])
        for tier in TIERS:
            for label, config in self.cases(spec, tier):
                grid, kw = self.solver_arguments(config)
                try:
                    solve_fokker_planck(sde, p0, grid, t1, t0=t0, check_only=True, **kw)
                except ValueError as exc:
                    text = str(exc)
                    key = "options.bc" if "periodic" in text else self.dt_key
                    err(key, f"case {label!r}: {text}")

    def solve(self, config: dict[str, Any], grid: Any, **kw: Any) -> Any:
        from fplab.fd import solve_fokker_planck
        from fplab.spec import build_problem

        sde, p0, _ = build_problem(config["problem"])
        opts = config["options"]
        prob = config["problem"]
        kw.setdefault("bc", opts["bc"])
        return solve_fokker_planck(
            sde, p0, grid, float(prob["t_final"]), t0=float(prob.get("t0", 0.0)), **kw
        ).density

    def finish(
        self, config: dict[str, Any], grid: Any, p: Any, ref: Any, row: dict[str, Any]
    ) -> dict[str, Any]:
        if not np.all(np.isfinite(p)):
            row["error"] = float("nan")
        else:
            # schemes without positivity (central fluxes on coarse grids) undershoot; the undershoot
            # is recorded as min_density and clipped so the metric compares densities
            row["min_density"] = float(p.min())
            row["mass"] = float(grid.integrate(p))
            p = np.maximum(p, 0.0)
            row["error"] = density_metric(config["measure"]["metric"], p, ref, grid)
        out: dict[str, Any] = {"row": row}
        if grid.ndim == 1:
            names = [config["measure"]["reference"], "grid"]
            out["curve"] = {**downsample_curve(grid.axes[0], ref, p), "names": names}
        else:  # 2-D: overlay the x1-marginals
            dy = grid.spacing[1]
            names = [f"{config['measure']['reference']} (x1-marginal)", "grid (x1-marginal)"]
            out["curve"] = {
                **downsample_curve(grid.axes[0], ref.sum(axis=1) * dy, p.sum(axis=1) * dy),
                "names": names,
            }
        return out


@STUDY_KINDS.register("fd-space")
class FDSpace(_FDKind):
    """Space order of the Fokker–Planck solver: error vs dx per space scheme (fixed small dt)."""

    sweep_params: ClassVar[tuple[str, ...]] = ("n",)
    compare: ClassVar[tuple[str, str] | None] = ("fplab.fd", "SPACE_SCHEMES")
    options: ClassVar[dict[str, Option]] = {
        "time_scheme": Option(
            (str,), "crank-nicolson", "time scheme (TIME_SCHEMES key)", ("fplab.fd", "TIME_SCHEMES")
        ),
        "dt": Option(
            (float,),
            1e-3,
            "time step, small enough that the time error is negligible",
            minimum=1e-12,
        ),
        "bc": Option(
            (str,), "zero-flux", "boundary condition (BOUNDARIES key)", ("fplab.fd", "BOUNDARIES")
        ),
        "reference_factor": Option(
            (int,), 4, "reference='fine': refinement factor of the reference grid", minimum=2
        ),
        "reference_target": Option(
            (float, int),
            0.0,
            "reference='fine': choose each level's reference resolution so that its estimated "
            "error is <= this (Richardson from 3x the cells); 0: a fixed reference_factor",
            minimum=0.0,
        ),
    }
    h_name = "dx"
    #: the largest refinement a targeted reference may use, and its cells in all (memory)
    TARGET_MAX_FACTOR: ClassVar[int] = 15
    TARGET_MAX_CELLS: ClassVar[int] = 1 << 22
    per_level_reference = True  # each level's fine reference is r times finer than that level

    def registry_order(self, spec: StudySpec, name: str | None) -> float | None:
        from fplab.fd import SPACE_SCHEMES

        # in kl / relative Fisher information the error of an order-p scheme falls as h^(2p)
        return float(SPACE_SCHEMES.get(name).order) * metric_power(spec.measure["metric"])

    def cost(self, config: dict[str, Any]) -> float:
        return float(config["value"]) ** len(np.atleast_1d(config["problem"]["grid"]["n"]))

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # ~16 arrays of the finest grid (density, coefficients, tridiagonal work arrays) and one
        # update per cell per time step; the 'fine' reference grid is reference_factor^d larger
        d = self.problem_dim(config)
        opts = config["options"]
        fine = opts["reference_factor"] if config["measure"].get("reference") == "fine" else 1
        cells = (float(config["value"]) * fine) ** d
        if fine > 1 and float(opts.get("reference_target", 0.0)) > 0:
            # a targeted reference may refine up to TARGET_MAX_FACTOR, within TARGET_MAX_CELLS
            big = (float(config["value"]) * self.TARGET_MAX_FACTOR) ** d
            cells = max(cells, min(big, float(self.TARGET_MAX_CELLS)))
        steps = self.time_span(config) / float(config["options"]["dt"])
        return 16.0 * 8.0 * cells, cells * steps

    dt_key: ClassVar[str] = "options.dt"

    def solver_arguments(self, config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """(grid, solve_fokker_planck keywords) of one case."""
        from fplab.grid import Grid
        from fplab.spec import build_problem

        _, _, base = build_problem(config["problem"])
        n = int(config["value"])
        grid = Grid.uniform(base.lo, base.hi, (n,) * base.ndim if base.ndim > 1 else n)
        opts = config["options"]
        kw = {
            "dt": opts["dt"],
            "time_scheme": opts["time_scheme"],
            "space_scheme": config["compare"],
            "bc": opts["bc"],
        }
        return grid, kw

    def validate(self, spec: StudySpec, err: Any) -> None:
        super().validate(spec, err)
        for tier in ("quick", "full"):
            if (
                float(spec.option("reference_target", tier)) > 0
                and spec.measure["reference"] != "fine"
            ):
                err(
                    "options.reference_target",
                    f"a target accuracy chooses a 'fine' reference, but measure.reference is "
                    f"{spec.measure['reference']!r}",
                    "0 (the default), or measure.reference = 'fine'",
                )
                return
        if spec.measure["reference"] == "fine":
            self._check_references(spec, err)

    def _check_references(self, spec: StudySpec, err: Any) -> None:
        """Every level's 'fine' reference grid through ``solve_fokker_planck(check_only=True)``
        before any case runs: an explicit dt stable on the levels may not be on a grid r times
        finer (the limit falls as dx²).  A targeted reference needs at least 3x the cells."""
        from fplab.fd import solve_fokker_planck
        from fplab.spec import TIERS, build_problem

        sde, p0, _ = build_problem(spec.problem)
        t0, t1 = float(spec.problem.get("t0", 0.0)), float(spec.problem["t_final"])
        for tier in TIERS:
            for label, config in self.cases(spec, tier):
                opts = config["options"]
                targeted = float(opts.get("reference_target", 0.0)) > 0
                r = 3 if targeted else int(opts["reference_factor"])
                grid, kw = self.solver_arguments(config)
                try:
                    solve_fokker_planck(sde, p0, grid.refine(r), t1, t0=t0, check_only=True, **kw)
                except ValueError as exc:
                    err(self.dt_key, f"case {label!r}: on its {r}x finer reference grid: {exc}")
                    return

    def _targeted_reference(
        self, config: dict[str, Any], grid: Any, kw: dict[str, Any], p: Any, target: float
    ) -> tuple[Any, dict[str, Any]]:
        """The level's reference at the resolution a target accuracy asks for.

        The level is solved on 3x its cells (odd: the level's centres are fine centres, so no
        interpolation error enters).  By Richardson that solve's error field is
        d = (p_3n - p_n) / (3^q - 1) (q: the scheme's declared order), and an r x solve's is
        d (3 / r)^q; its error in the study's metric is estimated as metric(E - d (3/r)^q, E)
        with E = p_3n + d, which holds for norms (tv, hellinger, w1) and for divergences that
        grow as the square of the difference (kl, relative Fisher information) alike.  r is the
        smallest odd factor whose estimate meets the target (at most ``TARGET_MAX_FACTOR`` and
        ``TARGET_MAX_CELLS``); with an explicit time scheme it falls to the finest odd factor
        whose grid keeps dt stable (3x is validated).
        """
        from fplab.fd import SPACE_SCHEMES

        q = float(SPACE_SCHEMES.get(config["compare"]).order)
        d = grid.ndim
        fine3 = grid.refine(3)
        p3 = _interpolate(self.solve(config, fine3, **kw), fine3, grid)
        field = (p3 - p) / (3.0**q - 1.0)
        # no correction where p_3n or E is not positive (the far tails, undershoot of a scheme
        # without positivity): there the densities stay clipped at 0 as finish clips the level,
        # and KL / Fisher information see no support mismatch the solves do not have
        field = np.where((p3 > 0.0) & (p3 + field > 0.0), field, 0.0)
        base = np.maximum(p3, 0.0)
        metric = config["measure"]["metric"]

        def estimate(r: int) -> float:
            return density_metric(metric, base + field * (1.0 - (3.0 / r) ** q), base + field, grid)

        cap = min(self.TARGET_MAX_FACTOR, int((self.TARGET_MAX_CELLS / grid.size) ** (1.0 / d)))
        r = 3
        while estimate(r) > target and r + 2 <= cap:
            r += 2
        while r > 3 and not self._reference_solvable(config, grid.refine(r), kw):
            r -= 2  # an explicit dt stable on 3x the cells (validated) may not be on r x
        ref = p3
        if r > 3:
            fine = grid.refine(r)
            ref = _interpolate(self.solve(config, fine, **kw), fine, grid)
        est = estimate(r)
        info = {
            "reference_n": int(grid.n[0]) * r,
            "reference_error": est,
            "reference_target_met": bool(est <= target),
        }
        return ref, info

    def _reference_solvable(self, config: dict[str, Any], fine: Any, kw: dict[str, Any]) -> bool:
        """Whether the level's solver arguments pass ``check_only`` on the reference grid."""
        from fplab.fd import solve_fokker_planck
        from fplab.spec import build_problem

        sde, p0, _ = build_problem(config["problem"])
        prob = config["problem"]
        args = dict(kw, bc=kw.get("bc", config["options"]["bc"]))
        try:
            solve_fokker_planck(
                sde, p0, fine, float(prob["t_final"]), t0=float(prob.get("t0", 0.0)),
                check_only=True, **args,
            )  # fmt: skip
        except ValueError:
            return False
        return True

    def summarize(
        self, spec: StudySpec, results: list[tuple[Any, dict[str, Any]]]
    ) -> dict[str, Any]:
        summary = super().summarize(spec, results)
        if not results or spec.measure["reference"] != "fine":
            return summary
        target = float(results[0][0].config["options"].get("reference_target", 0.0))
        if target <= 0:
            return summary
        groups = self.groups(results)
        for o in summary["orders"]:
            # levels with a positive, finite error and reference estimate: a zero error (a
            # level equal to its reference) or a NaN one (a blown-up solve) says nothing of the
            # reference's relative accuracy, and must not make the ratio depend on row order
            rows = [
                r
                for r in groups.get(o["label"], [])
                if "reference_error" in r
                and math.isfinite(r.error)
                and r.error > 0
                and math.isfinite(float(r["reference_error"]))
            ]
            if not rows:
                continue
            # each level is judged against its own reference: the worst ratio of a reference's
            # error to its level's error, scaled to the smallest error (what the judge compares
            # the reference with), so a coarse level's large reference error counts only
            # relative to that level's large error
            ratio = max(float(r["reference_error"]) / r.error for r in rows)
            n_max = max(int(r["reference_n"]) for r in rows)
            unmet = sum(1 for r in rows if not r["reference_target_met"])
            o["reference_error"] = ratio * min(r.error for r in rows)
            capped = f"; {unmet} level(s) capped at {self.TARGET_MAX_FACTOR}x" if unmet else ""
            o["reference_note"] = (
                f"per-level fine references chosen for an estimated error <= {target:g} "
                f"(Richardson from 3x the cells; up to {n_max} cells{capped}); "
                f"worst reference/level error ratio {ratio:.2g}"
            )
            o["reference_judges"] = True
        return summary

    def run_one(self, config: dict[str, Any]) -> dict[str, Any]:
        from fplab.spec import build_problem

        sde, p0, _ = build_problem(config["problem"])
        n = int(config["value"])
        opts = config["options"]
        grid, kw = self.solver_arguments(config)
        p, timing = timed(self.solve, config, grid, **kw)
        t0, t1 = float(config["problem"].get("t0", 0.0)), float(config["problem"]["t_final"])
        target = float(opts.get("reference_target", 0.0))
        extra: dict[str, Any] = {}
        if config["measure"]["reference"] == "fine" and target > 0:
            ref, extra = self._targeted_reference(config, grid, kw, p, target)
        elif config["measure"]["reference"] == "fine":
            fine_grid = grid.refine(int(opts["reference_factor"]))
            ref = _interpolate(self.solve(config, fine_grid, **kw), fine_grid, grid)
        else:
            ref = _reference_density(config["measure"]["reference"], sde, p0, grid, t0, t1)
        return self.finish(config, grid, p, ref, {"n": n, "h": grid.spacing[0], **timing, **extra})


@STUDY_KINDS.register("fd-time")
class FDTime(_FDKind):
    """Time order of the Fokker–Planck solver: error vs dt per time scheme (fixed grid)."""

    sweep_params: ClassVar[tuple[str, ...]] = ("dt",)
    compare: ClassVar[tuple[str, str] | None] = ("fplab.fd", "TIME_SCHEMES")
    references: ClassVar[tuple[str, ...]] = ("fine", "exact", "stationary")
    options: ClassVar[dict[str, Option]] = {
        "space_scheme": Option(
            (str,),
            "chang-cooper",
            "space scheme (SPACE_SCHEMES key)",
            ("fplab.fd", "SPACE_SCHEMES"),
        ),
        "bc": Option(
            (str,), "zero-flux", "boundary condition (BOUNDARIES key)", ("fplab.fd", "BOUNDARIES")
        ),
        "reference_factor": Option(
            (int,), 16, "reference='fine': Crank–Nicolson at dt_min / this factor", minimum=2
        ),
    }
    h_name = "dt"

    def registry_order(self, spec: StudySpec, name: str | None) -> float | None:
        from fplab.fd import TIME_SCHEMES

        return float(TIME_SCHEMES.get(name).order) * metric_power(spec.measure["metric"])

    def case_config(
        self, spec: StudySpec, tier: str, name: str | None, value: float
    ) -> dict[str, Any]:
        config = super().case_config(spec, tier, name, value)
        # the fine reference is shared by all levels of a tier: its dt comes from the finest level
        config["dt_reference"] = min(spec.sweep_values(tier)) / spec.option(
            "reference_factor", tier
        )
        return config

    def cost(self, config: dict[str, Any]) -> float:
        return 1.0 / float(config["value"])

    dt_key: ClassVar[str] = "sweep.quick"

    def solver_arguments(self, config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """(grid, solve_fokker_planck keywords) of one case."""
        from fplab.spec import build_problem

        _, _, grid = build_problem(config["problem"])
        kw = {
            "dt": float(config["value"]),
            "time_scheme": config["compare"],
            "space_scheme": config["options"]["space_scheme"],
            "bc": config["options"]["bc"],
        }
        return grid, kw

    def resources(self, config: dict[str, Any]) -> tuple[float, float]:
        # the reference run with dt_reference dominates: one update per cell per step
        cells = float(np.prod(np.atleast_1d(config["problem"]["grid"]["n"])))
        dt = min(float(config["value"]), float(config.get("dt_reference", config["value"])))
        return 16.0 * 8.0 * cells, cells * self.time_span(config) / dt

    def reference_error(
        self,
        spec: StudySpec,
        name: str | None,
        fits: dict[str, dict[str, Any]],
        config: dict[str, Any],
    ) -> tuple[float | None, str]:
        """The fine reference is ``_reference_time_scheme(name)`` at dt_min / reference_factor
        (Crank–Nicolson for orders <= 2, the scheme itself above): Richardson on that scheme's
        own errors when it is compared, else no estimate."""
        if spec.measure["reference"] != "fine":
            return super().reference_error(spec, name, fits, config)
        from fplab.studykinds._common import richardson_estimate

        ref = "crank-nicolson" if name is None else _reference_time_scheme(name)
        label = "Crank–Nicolson" if ref == "crank-nicolson" else ref
        if ref not in fits:
            return None, f"fine reference ({label}): no estimate, it is not compared"
        factor = config.get("options", {}).get("reference_factor")
        return richardson_estimate(fits[ref], factor, label)

    def run_one(self, config: dict[str, Any]) -> dict[str, Any]:
        from fplab.spec import build_problem

        sde, p0, grid = build_problem(config["problem"])
        opts = config["options"]
        dt = float(config["value"])
        p, timing = timed(
            self.solve,
            config,
            grid,
            dt=dt,
            time_scheme=config["compare"],
            space_scheme=opts["space_scheme"],
        )
        t0, t1 = float(config["problem"].get("t0", 0.0)), float(config["problem"]["t_final"])
        if config["measure"]["reference"] == "fine":
            ref = self.solve(
                config,
                grid,
                dt=config["dt_reference"],
                time_scheme=_reference_time_scheme(config["compare"]),
                space_scheme=opts["space_scheme"],
            )
        else:
            ref = _reference_density(config["measure"]["reference"], sde, p0, grid, t0, t1)
        return self.finish(config, grid, p, ref, {"dt": dt, "h": dt, **timing})
