"""``fplab.testing``: convergence-order assertions for other projects' test suites.

    import fplab.testing as ft

    ft.assert_order(steps, errors, expected=2)                      # AssertionError with a table
    fit = ft.check_sampler(my_step, expected_order=2)                # a step function or a name
    fit = ft.check_mc_method("my-milstein", expected_order=1.0, kind="strong")

``check_sampler`` and ``check_mc_method`` pick reference problems with exact answers
(:mod:`fplab.testing.problems`), refine the step, measure the error against the exact (or an
independent high-accuracy) answer, fit the order with ``fp.observed_order`` and assert it with
:func:`assert_order`.  They return the :class:`fplab.OrderFit`.

The pytest plugin :mod:`fplab.testing.pytest_plugin` (entry point ``pytest11``, so it is active
wherever fplab is installed) offers the reference problems as fixtures.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from fplab.convergence import OrderFit, observed_order
from fplab.testing.problems import REFERENCE_PROBLEMS, ReferenceProblem, reference_problem

__all__ = [
    "REFERENCE_PROBLEMS",
    "ReferenceProblem",
    "assert_order",
    "check_mc_method",
    "check_sampler",
    "order_table",
    "reference_problem",
    "step_context",
]

_counter = itertools.count()


def order_table(steps: Sequence[float], errors: Sequence[float], fit: OrderFit) -> str:
    """A plain-text table: h, error, local slope between neighbours, then the fitted order."""
    h = np.asarray(steps, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    idx = np.argsort(-h)
    h, e = h[idx], e[idx]
    lines = [f"{'h':>12}  {'error':>12}  {'local slope':>11}"]
    for i in range(h.size):
        slope = ""
        if i > 0 and e[i] > 0 and e[i - 1] > 0:
            slope = f"{math.log(e[i - 1] / e[i]) / math.log(h[i - 1] / h[i]):.3f}"
        lines.append(f"{h[i]:12.4g}  {e[i]:12.4g}  {slope:>11}")
    lo, hi = fit.ci
    lines.append(
        f"fitted order {fit.order:.3f}, {100 * fit.confidence:.0f}% interval [{lo:.3f}, {hi:.3f}]"
    )
    if any(fit.flags):
        lines.append(f"flags: {', '.join(f for f in fit.flags if f)}")
    return "\n".join(lines)


def assert_order(
    steps: Sequence[float],
    errors: Sequence[float],
    expected: float,
    *,
    tol: float = 0.15,
    err_stderr: Sequence[float] | None = None,
    label: str = "",
    max_width: float | None = None,
) -> OrderFit:
    """Fit the observed order of ``errors`` vs ``steps`` and assert that ``expected`` lies in its
    interval widened by ``tol`` (and, with ``max_width``, that the interval is narrow enough to
    tell orders apart).

    Parameters
    ----------
    steps : sequence of float, shape (m,), m >= 3
        Step sizes h (positive, distinct).
    errors : sequence of float, shape (m,)
        Positive errors at those steps.
    expected : float
        The order theory predicts.
    tol : float >= 0
        Allowed distance between ``expected`` and the fitted 95% interval (pre-asymptotic
        curvature of the coarsest level; 0.15 as in fplab's own order tests).
    err_stderr : sequence of float, optional
        Monte-Carlo standard errors of the errors (weighted fit, wider interval).
    label : str
        What is tested, for the message.
    max_width : float > 0, optional
        Largest allowed width hi - lo of the fitted interval (default None: no limit).  A wide
        interval means the levels are not in the asymptotic range (the local slopes still
        drift), and it holds wrong orders as well as the right one: a first-order RK2 variant
        of Heun (weights 0.45/0.55) fits 1.24 [0.36, 2.11] over 32…256 steps on the default VP
        problem.  With a limit such a fit fails as inconclusive instead of passing.

    Returns
    -------
    OrderFit

    Raises
    ------
    AssertionError
        The expected order lies outside [lo - tol, hi + tol], or the interval is wider than
        ``max_width``; the message holds the table of h, error, local slopes and the fit.
    ValueError
        Fewer than 3 steps (2 points give an unbounded interval: the assertion could not
        fail), lengths that differ, non-positive errors, a negative or non-finite ``tol`` or
        ``expected``, a ``max_width`` that is not > 0.
    """
    from fplab._validate import check_nonnegative, check_positive, check_real

    expected = check_real(expected, "expected")
    tol = check_nonnegative(tol, "tol")
    width_limit = None if max_width is None else check_positive(max_width, "max_width")
    n_levels, n_errors = np.size(steps), np.size(errors)
    if n_levels != n_errors:
        msg = f"steps and errors must have the same length, got {n_levels} and {n_errors}"
        raise ValueError(msg)
    if n_levels < 3:
        # two points fit a line exactly: the interval is (-inf, inf) and any order would pass
        msg = (
            f"assert_order needs at least 3 steps (got {n_levels}): with 2 the fitted interval is "
            "unbounded and every expected order would pass; add a refinement level"
        )
        raise ValueError(msg)
    kw: dict[str, Any] = {} if err_stderr is None else {"err_stderr": err_stderr}
    fit = observed_order(steps, errors, **kw)
    if not fit.contains(expected, tol=tol):
        who = f"{label}: " if label else ""
        msg = (
            f"{who}observed order {fit.order:.3f} (interval [{fit.ci[0]:.3f}, {fit.ci[1]:.3f}]) "
            f"does not match the expected order {expected:g} within tol={tol:g}\n"
            + order_table(steps, errors, fit)
        )
        raise AssertionError(msg)
    width = fit.ci[1] - fit.ci[0]
    if width_limit is not None and not width <= width_limit:
        who = f"{label}: " if label else ""
        msg = (
            f"{who}inconclusive: the interval [{fit.ci[0]:.3f}, {fit.ci[1]:.3f}] of the observed "
            f"order {fit.order:.3f} is {width:.3f} wide, more than max_width={width_limit:g}, so "
            f"it cannot tell order {expected:g} from its neighbours; the local slopes still "
            "drift: the levels are pre-asymptotic (use finer step counts or more levels) or the "
            "errors level off (a method converging to something else)\n"
            + order_table(steps, errors, fit)
        )
        raise AssertionError(msg)
    return fit


# -- reverse samplers -------------------------------------------------------------------------
def step_context(sde: Any, score: Callable[..., Any], **options: Any) -> Any:
    """The ``ctx`` a sampler step receives (``fplab.reverse.samplers.StepContext``), for pinned
    one-step tests: ``step(step_context(sde, score), x, t, s, rng)`` against the paper's update.
    ``options`` are the sampler options of ``fp.sample_reverse`` (``eta``, ``snr``, ...)."""
    from fplab.reverse.samplers import StepContext

    return StepContext(sde=sde, score=score, **options)


#: attributes ``register_sampler`` sets on a step function
_SAMPLER_ATTRS = ("order", "deterministic", "adaptive", "requires", "registry_name")


def _restore_attrs(fn: Any, attrs: Sequence[str], before: dict[str, Any]) -> None:
    """Undo a temporary registration's attributes on ``fn`` (the user's own function)."""
    for a in attrs:
        if a in before:
            setattr(fn, a, before[a])
        else:
            with contextlib.suppress(AttributeError):
                delattr(fn, a)


@contextlib.contextmanager
def _named_as(who: str, fn: Any) -> Iterator[None]:
    """Errors of a temporarily registered step name the user's function, not the temporary key
    (``sampler 'check-sampler-0' returned shape ...`` -> ``sampler 'my_step' returned ...``)."""
    from fplab.errors import NumericalError

    try:
        yield
    except (TypeError, ValueError, NumericalError) as err:
        text = str(err)
        if who not in text:
            raise
        kind = who.split(" ", 1)[0]
        label = getattr(fn, "__qualname__", None) or repr(fn)
        raise type(err)(text.replace(who, f"{kind} {label!r}")) from err


@contextlib.contextmanager
def _registered_name(
    method: Any,
    registry: Any,
    listing: str,
    what: str,
    prefix: str,
    register: Callable[[str], Any],
    attrs: tuple[str, ...],
) -> Iterator[str]:
    """A ``registry`` name for ``method``: the name itself, the name a registered step function
    carries, or a temporary registration of a bare step function by ``register(name)`` (removed
    afterwards, with the attributes ``attrs`` it set on the function restored).  ``listing`` names
    the registry in messages (``"SAMPLERS"``), ``what`` the entry (``"sampler"``), ``prefix`` the
    temporary key (``"check-sampler"``)."""
    if isinstance(method, str):
        registry.get(method)
        yield method
        return
    name = getattr(method, "registry_name", None)
    if isinstance(name, str) and name in registry:
        yield name
        return
    if not callable(method):
        msg = f"method must be {listing} name or a step function, got {type(method).__name__}"
        raise TypeError(msg)
    name = f"{prefix}-{next(_counter)}"
    before = {a: getattr(method, a) for a in attrs if hasattr(method, a)}
    register(name)(method)
    try:
        with _named_as(f"{what} {name!r}", method):
            yield name
    finally:
        registry.remove(name)
        _restore_attrs(method, attrs, before)


def _sampler_name(method: Any, deterministic: bool) -> Any:
    """:func:`_registered_name` over ``SAMPLERS`` (a bare function is declared order 1)."""
    from fplab.registration import register_sampler
    from fplab.reverse.samplers import SAMPLERS

    return _registered_name(
        method,
        SAMPLERS,
        "a SAMPLERS",
        "sampler",
        "check-sampler",
        lambda name: register_sampler(name, order=1.0, deterministic=deterministic),
        _SAMPLER_ATTRS,
    )


def check_sampler(
    method: str | Callable[..., Any],
    *,
    expected_order: float | None = None,
    sde: Any = None,
    p0: Any = None,
    kind: str | None = None,
    n_steps: Sequence[int] | None = None,
    n_samples: int | None = None,
    t_start: float = 1.0,
    t_end: float = 1e-3,
    time_grid: str | None = None,
    seed: int = 0,
    tol: float = 0.15,
    max_width: float | None = 0.5,
) -> OrderFit:
    """Measure a reverse sampler's order on a problem with an exact answer and assert it.

    Parameters
    ----------
    method : str or callable
        A ``SAMPLERS`` name, or a step function ``step(ctx, x, t, s, rng) -> x_s`` (registered
        or not).
    expected_order : float, optional
        The order to assert (pathwise for deterministic samplers, weak for stochastic ones);
        default the sampler's declared ``order``.
    sde, p0 : optional
        The problem (a linear SDE and a Gaussian mixture, so that the exact score and marginals
        are known); default the bimodal VP problem ``reference_problem("vp-bimodal-1d")``.
    kind : {'pathwise', 'weak'}, optional
        'pathwise': RMS distance at t_end to the probability-flow ODE solved by 'pf-ode-adaptive'
        at rtol 1e-11 from the same start points (deterministic samplers).  'weak': |E x^2 - exact|
        at t_end over ``n_samples`` samples started from the exact marginal (stochastic ones),
        fitted with the Monte-Carlo standard errors.  Default: from the sampler's
        ``deterministic`` flag ('pathwise' for a bare function).
    n_steps : sequence of int, optional
        Step counts.  Default (32, 64, 128, 256) for 'pathwise' (no sampling noise, 200 paths:
        ~0.3 s per sampler; at 8…64 the fits are pre-asymptotic, dpm-solver-3 gives
        3.39 [2.44, 4.35], and a first-order RK2 variant of Heun fits 2.00 [1.87, 2.13] and
        passes), (8, 16, 32, 64) for 'weak' (h = 1/8 is still pre-asymptotic for the weak error
        of Euler-type samplers on the default VP problem, local slope 1.6).
    n_samples : int, optional
        Start points (default 200 pathwise, 200_000 weak).
    t_start, t_end, seed, tol
        Time interval, seed of the start points and noise, and the tolerance of
        :func:`assert_order`.
    max_width : float or None
        For 'pathwise': the largest width of the fitted interval (:func:`assert_order`'s
        ``max_width``; default 0.5, where the built-in deterministic samplers measure
        0.02–0.11 at the default levels).  Ignored for 'weak', whose width is set by the
        Monte-Carlo noise.  None: no limit.
    time_grid : str, optional
        A ``TIME_GRIDS`` key.  Default: 'log-snr' for samplers that require the VP family (they
        are derived in λ = log(α/σ) and their order is in the λ step, which a uniform-t grid
        makes huge near t_end: dpm-solver-3 shows 2.1 [1.7, 2.5] on it), else 'uniform'.

    Returns
    -------
    OrderFit
        The fit (``fit.order``, ``fit.ci``); ``fit.h`` and ``fit.err`` hold the data.

    Raises
    ------
    AssertionError
        The expected order is outside the fitted interval ± tol, or (pathwise) the interval is
        wider than ``max_width`` (message: a table).
    ValueError
        Unknown name or ``kind``; an adaptive sampler (no fixed-step order);
        ``kind='pathwise'`` for a stochastic sampler; fewer than 3
        distinct ``n_steps`` or a count < 1.
    TypeError
        No closed-form answers for the problem (``exact_marginal`` covers linear SDEs with a
        Gaussian mixture).
    """
    from fplab.exact import exact_marginal, exact_score
    from fplab.reverse import SAMPLERS, sample_reverse

    if kind not in (None, "pathwise", "weak"):
        msg = f"kind must be 'pathwise' or 'weak', got {kind!r}"
        raise ValueError(msg)
    if max_width is not None:
        from fplab._validate import check_positive

        max_width = check_positive(max_width, "max_width")
    if sde is None or p0 is None:
        ref = reference_problem("vp-bimodal-1d")
        sde = ref.sde if sde is None else sde
        p0 = ref.p0 if p0 is None else p0
    with _sampler_name(method, deterministic=kind != "weak") as name:
        sampler = SAMPLERS.get(name)
        if expected_order is None:
            if not isinstance(method, str) and name.startswith("check-sampler-"):
                msg = "expected_order is required for a step function that is not registered"
                raise TypeError(msg)
            expected_order = float(sampler.order)
        if kind is None:
            kind = "pathwise" if sampler.deterministic else "weak"
        if getattr(sampler, "adaptive", False):
            # n_steps is only a hint to an adaptive sampler: no fixed-step order exists (the
            # error follows its tolerance; pf-ode-adaptive 'fits' 0.00, adaptive-sde -0.5)
            msg = (
                f"{name!r} is adaptive: it chooses its own steps, so there is no fixed-step "
                "order to check; check it against its tolerance instead (rtol/atol)"
            )
            raise ValueError(msg)
        if kind == "pathwise" and not sampler.deterministic:
            # a stochastic step never approaches the ODE path: the 'order' would be ~0
            msg = (
                f"kind='pathwise' compares with the probability-flow ODE path and needs a "
                f"deterministic sampler; {name!r} is stochastic: use kind='weak'"
            )
            raise ValueError(msg)
        default_steps = [32, 64, 128, 256] if kind == "pathwise" else [8, 16, 32, 64]
        steps = _levels(default_steps if n_steps is None else n_steps)
        n = int(n_samples) if n_samples is not None else (200 if kind == "pathwise" else 200_000)
        score = exact_score(sde, p0)
        x_T = exact_marginal(sde, p0, t_start).sample(n, seed=np.random.default_rng([seed, 1]))
        if time_grid is None:
            time_grid = "log-snr" if "vp-family" in sampler.requires else "uniform"
        kw: dict[str, Any] = {"t_start": t_start, "t_end": t_end}
        h = [(t_start - t_end) / m for m in steps]
        stderr: list[float] | None = None
        if kind == "pathwise":
            # independent reference: the probability-flow ODE by the adaptive Dormand–Prince
            # solver at rtol 1e-11 (error ~1e-10, far below the finest level's)
            ref_x = sample_reverse(
                sde, score, x_T, method="pf-ode-adaptive", rtol=1e-11, atol=1e-12, **kw
            )
            errs = []
            for m in steps:
                x = sample_reverse(
                    sde, score, x_T, n_steps=m, method=name, seed=seed, time_grid=time_grid, **kw
                )
                errs.append(float(np.sqrt(np.mean(np.sum((x - ref_x) ** 2, axis=1)))))
        else:
            exact_m2 = _second_moment(exact_marginal(sde, p0, t_end))
            errs, stderr = [], []
            for i, m in enumerate(steps):
                x = sample_reverse(
                    sde,
                    score,
                    x_T,
                    n_steps=m,
                    method=name,
                    seed=np.random.default_rng([seed, 2, i]),
                    time_grid=time_grid,
                    **kw,
                )
                sq = np.sum(x * x, axis=1)
                errs.append(abs(float(sq.mean()) - exact_m2))
                stderr.append(float(sq.std(ddof=1) / math.sqrt(sq.size)))
        label = f"sampler {getattr(method, '__name__', name) if not isinstance(method, str) else name!r}"
        return assert_order(
            h,
            errs,
            expected_order,
            tol=tol,
            err_stderr=stderr,
            label=f"{label} ({kind})",
            max_width=max_width if kind == "pathwise" else None,
        )


def _levels(n_steps: Any) -> list[int]:
    """``n_steps`` as a list of distinct step counts >= 1 (at least 3: see assert_order)."""
    from fplab._validate import check_int

    try:
        steps = [check_int(v, "n_steps", minimum=1) for v in n_steps]
    except TypeError:
        if isinstance(n_steps, Sequence) or np.ndim(n_steps) == 1:
            raise
        msg = f"n_steps must be a sequence of step counts, got {type(n_steps).__name__}"
        raise TypeError(msg) from None
    if len(steps) < 3 or len(set(steps)) != len(steps):
        msg = f"n_steps must hold at least 3 distinct step counts, got {steps}"
        raise ValueError(msg)
    return steps


def _second_moment(law: Any) -> float:
    """E|X|^2 of a Gaussian mixture: Σ w_k (|m_k|^2 + tr C_k)."""
    w = np.asarray(law.weights)
    m = np.asarray(law.means)
    c = np.asarray(law.covs)
    return float(np.sum(w * (np.sum(m * m, axis=1) + np.trace(c, axis1=1, axis2=2))))


# -- forward integrators ----------------------------------------------------------------------
def _method_name(method: Any) -> Any:
    """:func:`_registered_name` over ``MC_METHODS``."""
    from fplab.mc.methods import MC_METHODS
    from fplab.registration import register_mc_method

    return _registered_name(
        method,
        MC_METHODS,
        "an MC_METHODS",
        "method",
        "check-mc-method",
        lambda name: register_mc_method(name, strong_order=1.0, weak_order=1.0),
        ("registry_name",),
    )


def _declared_mc_order(entry: Any, kind: str, sde: Any, dim: int) -> float:
    """The entry's declared ``kind`` order on this problem: ``Method.order(sde, kind, dim)``, the
    one place that knows SDE-dependent orders (heun-frozen-g: weak 2 when g is constant, 1
    otherwise; milstein: strong 1/2 for 2-D multiplicative noise)."""
    value = entry.order(sde, kind, dim)
    if value is None:
        noise = "additive" if sde.additive else "multiplicative"
        msg = f"method {entry.registry_name!r} declares no {kind} order for {noise} noise"
        raise ValueError(msg)
    return float(value)


def _strong_reference(sde: Any, dim: int, name: str, expected: float) -> str:
    """The reference method of a strong check without a closed-form path: 'srk' (strong 1.5,
    additive noise) or else 'milstein' (strong 1 for 1-D multiplicative noise), the first that
    is not the method under test and declares at least the ``expected`` order here (on 16x
    finer steps its error is then <= 1/16 of the finest level's); ``name`` itself otherwise
    (e.g. 'srk' on additive noise, where Milstein at 16x would be as coarse as srk)."""
    from fplab.mc.methods import MC_METHODS

    for ref in ("srk", "milstein"):
        order = MC_METHODS.get(ref).order(sde, "strong", dim)
        if ref != name and order is not None and order >= expected:
            return ref
    return name


def check_mc_method(
    method: str | Callable[..., Any],
    *,
    expected_order: float | None = None,
    kind: str = "strong",
    sde: Any = None,
    x0: Any = None,
    t1: float = 1.0,
    n_steps: Sequence[int] = (4, 8, 16, 32),
    n_paths: int = 20_000,
    seed: int = 0,
    tol: float = 0.15,
    max_width: float | None = 0.5,
) -> OrderFit:
    """Measure a forward integrator's strong or weak order against exact answers and assert it.

    Parameters
    ----------
    method : str or callable
        An ``MC_METHODS`` name, or a step function ``step(x, h, dw, dz, F, G, Gx)`` (registered
        or not; a bare function is evaluated at stage 0 only).
    expected_order : float, optional
        The order to assert (default: the method's declared order for the problem's noise;
        required for a step function that is not registered, which declares nothing).
    kind : {'strong', 'weak'}
        'strong': E|X_h(T) - X(T)| on the same Brownian paths, where X(T) is GBM's pathwise
        solution (default problem ``gbm``) — or, for an ``sde`` other than GBM, the same method
        on 16x the finest step (default problem ``double-well`` for methods that declare no
        order for multiplicative noise).  'weak': |E[X_h(T)^2] - E[X(T)^2]| estimated by the coupled
        difference with the 'exact' method (exact in law for linear SDEs) on the same increments,
        which removes the sampling noise of the moment itself (default problem ``vp``: time-dependent
        drift and diffusion).
    sde, x0 : optional
        The problem (defaults: ``reference_problem("gbm")`` / ``reference_problem("vp")``).
    t1, n_steps, n_paths, seed, tol
        End time, step counts (each dividing the largest), paths, seed, assert tolerance.
    max_width : float or None
        For 'strong': the largest width of the fitted interval (:func:`assert_order`'s
        ``max_width``; default 0.5; the built-in methods measure 0.02–0.34).  An inconsistent
        method's errors level off and its fit widens (Euler with drift x 1.2 on the double
        well: 0.59 [0.08, 1.10]).  Ignored for 'weak' (Monte-Carlo noise sets the width).

    Returns
    -------
    OrderFit

    Raises
    ------
    AssertionError
        The expected order is outside the fitted interval ± tol (message: a table).
    TypeError
        ``expected_order`` missing for an unregistered step function.
    ValueError
        Unknown name or ``kind``; ``x0`` missing with a user ``sde``.
    """
    from fplab.mc import MC_METHODS, simulate_coupled
    from fplab.sdes.linear import LinearSDE
    from fplab.sdes.nonlinear import GBM

    if kind not in ("strong", "weak"):
        msg = f"kind must be 'strong' or 'weak', got {kind!r}"
        raise ValueError(msg)
    if x0 is None and sde is not None:
        msg = "x0 is required with a user sde: the initial state(s), shape (n, d) or (d,)"
        raise ValueError(msg)
    if max_width is not None:
        from fplab._validate import check_positive

        max_width = check_positive(max_width, "max_width")
    steps = _levels(n_steps)
    h = [t1 / m for m in steps]
    with _method_name(method) as name:
        entry = MC_METHODS.get(name)
        if expected_order is None and not isinstance(method, str):
            if name.startswith("check-mc-method-"):
                # the temporary registration's orders are placeholders, not a declaration
                msg = "expected_order is required for a step function that is not registered"
                raise TypeError(msg)
        if sde is None:
            # GBM has a pathwise solution; a method for additive noise only gets the double well
            multiplicative = entry.strong_order.get("multiplicative") is not None
            # weak: VP, whose drift and diffusion depend on t, so stage-time and frozen-
            # coefficient errors show (on OU, heun-frozen-g is Heun and looks order 2)
            pick = ("gbm" if multiplicative else "double-well") if kind == "strong" else "vp"
            ref = reference_problem(pick)
            sde, x0 = ref.sde, ref.x0
        x0_arr = np.atleast_1d(np.asarray(x0, dtype=np.float64))
        if expected_order is None:
            expected_order = _declared_mc_order(entry, kind, sde, x0_arr.shape[-1])
            if math.isinf(expected_order):
                msg = (
                    f"method {name!r} declares an infinite {kind} order (exact transitions): "
                    "there is no order to check; compare its law with fp.exact_marginal instead"
                )
                raise ValueError(msg)
        paths: dict[str, Any] = {}
        if x0_arr.ndim == 1:  # one state, repeated on n_paths paths
            x0_arr, paths = x0_arr.reshape(1, -1), {"n_paths": n_paths}
        stderr: list[float] | None = None
        if kind == "strong":
            if isinstance(sde, GBM):
                run = simulate_coupled(
                    sde, x0_arr, t1=t1, n_steps=steps, method=name, seed=seed, **paths
                )
                ref_x = sde.exact_solution(x0_arr, t1, run.w)
            else:
                # no closed-form path: an independent built-in method on 16x finer steps of the
                # same Brownian path; the same method would hide a method that converges, at
                # its order, to the solution of another SDE (drift x 1.2 fitted 1.16 and passed)
                fine = 16 * max(steps)
                ref_name = _strong_reference(sde, x0_arr.shape[-1], name, expected_order)
                run = simulate_coupled(
                    sde,
                    x0_arr,
                    t1=t1,
                    n_steps=[*steps, fine],
                    method=name if ref_name == name else [name, ref_name],
                    seed=seed,
                    **paths,
                )
                ref_x = run.final(fine, None if ref_name == name else ref_name)
            errs, stderr = [], []
            for m in steps:
                x_m = run.final(m, None if run.single_method else name)
                d = np.sqrt(np.sum((x_m - ref_x) ** 2, axis=1))
                errs.append(float(d.mean()))
                stderr.append(float(d.std(ddof=1) / math.sqrt(d.size)))
        else:
            if not isinstance(sde, LinearSDE):
                msg = f"kind='weak' needs a linear SDE (exact transitions), got {sde!r}"
                raise ValueError(msg)
            errs, stderr = [], []
            run = simulate_coupled(
                sde, x0_arr, t1=t1, n_steps=steps, method=[name, "exact"], seed=seed, **paths
            )
            for m in steps:
                a, b = run.final(m, name), run.final(m, "exact")
                diff = np.sum(a * a - b * b, axis=1)
                errs.append(abs(float(diff.mean())))
                stderr.append(float(diff.std(ddof=1) / math.sqrt(diff.size)))
        label = (
            f"method {getattr(method, '__name__', name) if not isinstance(method, str) else name!r}"
        )
        return assert_order(
            h,
            errs,
            expected_order,
            tol=tol,
            err_stderr=stderr,
            label=f"{label} ({kind})",
            max_width=max_width if kind == "strong" else None,
        )
