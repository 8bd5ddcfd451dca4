"""Fuzzers of issue 13: mutated study specs and random public-API inputs, classified.

Each input ends in one of

* ``ok``          a result (API: finite and inside the metric's range) or an accepted spec;
* ``clear``       the documented clear error: ``ConfigError`` starting ``FILE: key`` for specs;
                  ``ValueError``/``TypeError`` (or ``NumericalError``) naming an argument for the API;
* ``internal``    any other exception, or a clear type whose message names no argument;
* ``hang``        no answer within the time limit;
* ``wrong``       a silent wrong answer: NaN/inf or an out-of-range metric returned with no error.

``tests/test_fuzz.py`` runs a bounded number of examples in CI and asserts that only ``ok`` and
``clear`` occur.  ``python -m tests.fuzzing N`` runs N examples of each fuzzer and prints the
closing table of issue 13.
"""

from __future__ import annotations

import copy
import json
import math
import re
import signal
import tomllib
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fplab as fp
from fplab.errors import ConfigError, NumericalError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "studies").glob("*.toml"))


class Hang(Exception):
    """Raised by :func:`time_limit` when an input takes longer than allowed."""


@contextmanager
def time_limit(seconds: float):
    """SIGALRM-based limit (main thread only); a no-op where signals are unavailable."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise Hang

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- TOML writing (tomllib reads only) -------------------------------------------------------
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    msg = f"cannot write {type(v).__name__} as TOML"
    raise TypeError(msg)


def to_toml(doc: dict[str, Any]) -> str:
    """A TOML document: top-level scalars first, then one ``[table]`` per top-level table."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_value(b)}" for a, b in v.items()]
    return "\n".join(lines) + "\n"


# -- spec mutations --------------------------------------------------------------------------
JUNK = st.one_of(
    st.sampled_from(
        [
            math.nan, math.inf, -math.inf, 0, -1, 1, 2, 0.0, -0.5, 0.5, 1e-300, 1e300,
            10**15, -(10**15), 10**12, "", "bogus", "ou", "vp", "exact", "fine", "tv",
            "crank-nicolson", "periodic", "explicit", True, False, [], [0], [1e12],
            [1, "a"], [[1.0]], {}, {"quick": 1}, {"quick": [4], "full": [8]}, {"x": {"y": 1}},
            "grids/line.toml", "../../etc/passwd", "a$b\\q$c",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
    st.text(max_size=12),
    st.lists(st.floats(allow_nan=False, min_value=-1e6, max_value=1e6), max_size=5),
)  # fmt: skip


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path (tuple of keys / list indices) inside a parsed spec."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any, delete: bool = False) -> None:
    for k in path[:-1]:
        doc = doc[k]
    if delete:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


@st.composite
def spec_mutants(draw: Any) -> tuple[str, bytes]:
    """(description, file bytes) of a shipped spec with one to three random mutations."""
    src = draw(st.sampled_from(SHIPPED))
    text = src.read_text()
    if draw(st.integers(0, 9)) == 0:  # byte-level damage: truncation or a flipped byte
        raw = bytearray(text.encode())
        i = draw(st.integers(0, len(raw) - 1))
        if draw(st.booleans()):
            return f"{src.stem}: truncated at {i}", bytes(raw[:i])
        raw[i] = draw(st.integers(0, 255))
        return f"{src.stem}: byte {i} -> {raw[i]}", bytes(raw)
    doc = tomllib.loads(text)
    notes = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if op == "add" or not paths:
            table = draw(st.sampled_from(["", "problem", "sweep", "measure", "options", "expect"]))
            key = draw(st.sampled_from(["bogus", "dt", "t_end", "n_paths", "params", "x"]))
            target = doc.setdefault(table, {}) if table else doc
            if not isinstance(target, dict):
                continue
            target[key] = copy.deepcopy(draw(JUNK))  # sampled values are shared objects
            notes.append(f"add {table}.{key}")
            continue
        path = draw(st.sampled_from(paths))
        if op == "delete" and not isinstance(path[-1], int):
            _set(doc, path, None, delete=True)
            notes.append(f"delete {path}")
        else:
            value = copy.deepcopy(draw(JUNK))
            _set(doc, path, value)
            notes.append(f"{path} = {value!r}")
    try:
        body = to_toml(doc)
    except TypeError:
        body = text
    return f"{src.stem}: " + "; ".join(notes), body.encode()


def classify_spec(path: Path, limit: float = 60.0) -> tuple[str, str]:
    """(outcome, detail) of ``load_study(path)``: 'ok', 'clear', 'internal' or 'hang'."""
    from fplab.study import StudyUnavailable, load_study

    try:
        with time_limit(limit), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_study(path)
    except Hang:
        return "hang", f"no answer within {limit:g} s"
    except StudyUnavailable as exc:
        return "clear", str(exc)
    except ConfigError as exc:
        msg = str(exc)
        if msg.startswith(f"{path}: "):
            return "clear", msg
        return "internal", f"ConfigError without 'FILE: key:': {msg}"
    except Exception as exc:  # every other exception is the defect counted here
        return "internal", f"{type(exc).__name__}: {exc}"
    return "ok", "accepted"


# -- public-API inputs -----------------------------------------------------------------------
_SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(10**6), 10**6),
    st.sampled_from([0.0, -1.0, 1.0, 1e-300, 1e300, math.nan, math.inf, True, None, "x", 1j]),
)
_DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.complex128, np.bool_])


def _arrays(max_dims: int = 3, max_side: int = 4) -> Any:
    shaped = _DTYPES.flatmap(
        lambda dt: hnp.arrays(
            dt, hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side)
        )
    )
    return st.one_of(shaped, _SCALARS, st.lists(_SCALARS, max_size=4))


def _good_or_junk(good: Any, junk: Any | None = None) -> Any:
    """Mostly well-formed values (to reach deep code), sometimes junk."""
    return st.one_of(good, good, junk if junk is not None else _arrays())


_MEANS = hnp.arrays(np.float64, st.integers(1, 3), elements=st.floats(-5, 5))
_COVS = st.integers(1, 3).flatmap(
    lambda d: hnp.arrays(np.float64, (d, d), elements=st.floats(-2, 2)).map(
        lambda a: a @ a.T + 0.1 * np.eye(d)
    )
)
_SAMPLES = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 2)),
    elements=st.floats(-10, 10),
)
_SDES = st.sampled_from(
    [fp.OU(), fp.Heat(), fp.VP(), fp.VE(), fp.SubVP(), fp.GBM(), fp.DoubleWell(), "ou", None]
)
_TIMES = st.one_of(st.floats(-2, 6), _SCALARS)
#: step and sample counts: small, degenerate, or huge (refused by a memory estimate)
_COUNTS = st.one_of(
    st.integers(-2, 50),
    st.sampled_from([0, -1, 10**12, 2**62, 1.5, "x", None, True, math.nan]),
)
_GRID1 = fp.Grid.uniform(-4.0, 4.0, 16)
_P0 = fp.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[0.3]], [[0.4]]])
_DENS = st.one_of(hnp.arrays(np.float64, 16, elements=st.floats(0, 5)), _arrays(), st.just(_P0))


def _call(name: str, fn: Callable[..., Any], **kw: Any) -> tuple[str, Callable[[], Any], tuple]:
    def thunk() -> Any:
        return fn(**kw)

    thunk.kw = kw  # type: ignore[attr-defined]  # shown when a call hangs
    return name, thunk, tuple(kw)


@st.composite
def api_calls(draw: Any) -> tuple[str, Callable[[], Any], tuple]:
    """(name, thunk, argument names) of one random public-API call."""
    m = fp.metrics
    which = draw(st.sampled_from(range(15)))
    if which <= 3:
        fn = [m.kl_gaussian, m.hellinger_gaussian, m.w2_gaussian, m.mmd_gaussian][which]
        kw = {k: draw(_good_or_junk(g)) for k, g in
              (("m1", _MEANS), ("c1", _COVS), ("m2", _MEANS), ("c2", _COVS))}  # fmt: skip
        if which == 3:
            kw["bandwidth"] = draw(_good_or_junk(st.floats(0.1, 3), _SCALARS))
        return _call(fn.__name__, fn, **kw)
    if which == 4:
        kw = {k: draw(_good_or_junk(_MEANS if k.startswith("m") else _COVS))
              for k in ("m", "c", "ma", "ca", "mb", "cb")}  # fmt: skip
        return _call("fisher_divergence_gaussian", m.fisher_divergence_gaussian, **kw)
    if which == 5:
        fn = draw(st.sampled_from([m.w2, m.mmd, m.sliced_w2]))
        return _call(
            fn.__name__, fn, x=draw(_good_or_junk(_SAMPLES)), y=draw(_good_or_junk(_SAMPLES))
        )
    if which == 6:
        fn = draw(st.sampled_from([m.kl, m.tv, m.hellinger, m.w2_density]))
        grid = draw(st.sampled_from([_GRID1, _GRID1, None, "grid"]))
        return _call(fn.__name__, fn, p=draw(_DENS), q=draw(_DENS), grid=grid)
    if which == 7:
        return _call("Grid.uniform", fp.Grid.uniform, lo=draw(_arrays(1)), hi=draw(_arrays(1)),
                     n=draw(st.one_of(st.integers(-3, 40), _arrays(1))))  # fmt: skip
    if which == 8:
        k = draw(st.integers(1, 3))
        return _call(
            "GaussianMixture",
            fp.GaussianMixture,
            weights=draw(_good_or_junk(hnp.arrays(np.float64, k, elements=st.floats(0, 1)))),
            means=draw(_good_or_junk(hnp.arrays(np.float64, (k, 1), elements=st.floats(-3, 3)))),
            covs=draw(_good_or_junk(hnp.arrays(np.float64, (k, 1, 1), elements=st.floats(0, 2)))),
        )
    if which == 9:
        return _call("exact_marginal", fp.exact_marginal, sde=draw(_SDES),
                     p0=draw(st.one_of(st.just(_P0), _arrays(1))), t=draw(_TIMES))  # fmt: skip
    if which == 10:
        return _call(
            "simulate",
            fp.simulate,
            sde=draw(_SDES),
            x0=draw(_good_or_junk(_SAMPLES)),
            t1=draw(_TIMES),
            n_steps=draw(_COUNTS),
            method=draw(
                st.sampled_from(["euler-maruyama", "milstein", "heun", "srk", "exact", "x"])
            ),
            seed=draw(st.one_of(st.integers(-1, 5), _SCALARS)),
        )
    if which == 11:
        sde = draw(st.sampled_from([fp.VP(), fp.VE(), fp.OU()]))
        return _call(
            "sample_reverse",
            fp.sample_reverse,
            sde=sde,
            score=draw(st.sampled_from([fp.exact_score(sde, _P0), None, "score"])),
            x_T=draw(_good_or_junk(hnp.arrays(np.float64, 5, elements=st.floats(-3, 3)))),
            t_end=draw(st.one_of(st.floats(-0.5, 1.5), _SCALARS)),
            n_steps=draw(_COUNTS),
            method=draw(st.sampled_from(["euler-maruyama", "pf-ode-heun", "ddim", "bogus"])),
        )
    if which == 12:
        return _call(
            "solve_fokker_planck",
            fp.solve_fokker_planck,
            sde=draw(_SDES),
            p0=draw(_DENS),
            grid=draw(st.sampled_from([_GRID1, None])),
            t_final=draw(_TIMES),
            dt=draw(st.one_of(st.floats(1e-3, 0.5), _SCALARS)),
            time_scheme=draw(st.sampled_from(["explicit", "implicit", "crank-nicolson", "x"])),
            bc=draw(st.sampled_from(["zero-flux", "dirichlet", "periodic", "x"])),
        )
    if which == 13:
        return _call("observed_order", fp.observed_order, h=draw(_arrays(2)), err=draw(_arrays(2)))
    return _call("load_grid", fp.load_grid, path=draw(st.one_of(_SCALARS, st.text(max_size=8))))


#: results that must lie in a range, by function name (metric axioms)
_RANGES = {
    "hellinger_gaussian": (0.0, 1.0), "hellinger": (0.0, 1.0), "tv": (0.0, 1.0),
    "kl_gaussian": (0.0, math.inf), "kl": (0.0, math.inf), "w2_gaussian": (0.0, math.inf),
    "w2": (0.0, math.inf), "w2_density": (0.0, math.inf), "sliced_w2": (0.0, math.inf),
    "fisher_divergence_gaussian": (0.0, math.inf), "mmd_gaussian": (-1e-12, 2.0),
}  # fmt: skip


def classify_api(
    name: str, thunk: Callable[[], Any], args: tuple, limit: float = 60.0
) -> tuple[str, str]:
    """(outcome, detail) of one API call: 'ok', 'clear', 'internal', 'hang' or 'wrong'."""
    try:
        with (
            time_limit(limit),
            warnings.catch_warnings(record=True) as caught,
            np.errstate(all="ignore"),
        ):
            warnings.simplefilter("always")
            out = thunk()
    except Hang:
        kw = {k: v for k, v in getattr(thunk, "kw", {}).items() if np.isscalar(v) or v is None}
        return "hang", f"{name}: no answer within {limit:g} s; scalar arguments {kw}"
    except (ValueError, TypeError, NumericalError) as exc:
        msg = str(exc)
        named = any(re.search(rf"(?<![A-Za-z_]){re.escape(a)}(?![A-Za-z_])", msg) for a in args)
        named = named or "Gaussian" in msg or isinstance(exc, ConfigError)
        if named:
            return "clear", f"{name}: {type(exc).__name__}: {msg}"
        return "internal", f"{name}: {type(exc).__name__} naming no argument: {msg}"
    except Exception as exc:  # every other exception is the defect counted here
        return "internal", f"{name}: {type(exc).__name__}: {exc}"
    values = (
        out
        if isinstance(out, np.ndarray)
        else np.asarray(
            [getattr(out, "order", out)] if np.isscalar(getattr(out, "order", out)) else [0.0]
        )
    )
    if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
        from fplab.metrics import SupportWarning

        # an infinite divergence (p has mass where q has none) is the right answer when the
        # documented SupportWarning says so
        if any(issubclass(w.category, SupportWarning) for w in caught):
            return "ok", f"{name}: inf with SupportWarning"
        return "wrong", f"{name}: non-finite result returned without an error"
    lo, hi = _RANGES.get(name, (-math.inf, math.inf))
    if np.isscalar(out) and not lo - 1e-9 <= float(out) <= hi + 1e-9:
        return "wrong", f"{name}: {out!r} outside [{lo}, {hi}]"
    return "ok", name


def main(n: int) -> None:  # pragma: no cover - the closing-note run, not a test
    import tempfile
    import time

    from hypothesis import HealthCheck, given, settings

    specs_tally: Counter = Counter()
    api_tally: dict[str, Counter] = {}
    examples: dict[str, list[str]] = {"internal": [], "hang": [], "wrong": []}
    folder = Path(tempfile.mkdtemp(prefix="fplab-fuzz-")) / "studies"
    folder.mkdir()
    cfg = settings(max_examples=n, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))  # fmt: skip

    @cfg
    @given(spec_mutants())
    def specs(mutant):
        desc, body = mutant
        path = folder / "mutant.toml"
        path.write_bytes(body)
        outcome, detail = classify_spec(path)
        specs_tally[outcome] += 1
        if outcome in examples:
            examples[outcome].append(f"{desc} -> {detail}")

    @cfg
    @given(api_calls())
    def api(call):
        outcome, detail = classify_api(*call)
        api_tally.setdefault(call[0], Counter())[outcome] += 1
        if outcome in examples:
            examples[outcome].append(detail)

    start = time.perf_counter()
    specs()
    api()
    rows = [("spec mutations (load_study)", specs_tally)]
    total = Counter()
    for name in sorted(api_tally):
        total.update(api_tally[name])
    rows.append(("public API (all)", total))
    rows += [(f"API: {name}", c) for name, c in sorted(api_tally.items())]
    print(f"{sum(specs_tally.values()) + sum(total.values())} cases in "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    print("| category | tried | clear error | accepted / result | traceback from internals "
          "| hang | silent wrong answer |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for cat, c in rows:
        print(f"| {cat} | {sum(c.values())} | {c['clear']} | {c['ok']} | {c['internal']} | "
              f"{c['hang']} | {c['wrong']} |")  # fmt: skip
    for kind, items in examples.items():
        for item in items[:25]:
            print(f"{kind}: {item[:400]}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
