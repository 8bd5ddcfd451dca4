"""Run study cases in parallel with a per-case result cache, resume and a progress bar.

Every case is stored as one JSON file ``CACHE/<key[:2]>/<key>.json`` written atomically (temporary
file in the same folder, then ``os.replace``), where ``key`` hashes the kind, the full case
configuration and the code version (``fplab.__version__`` plus a hash of the package source).  A
re-run skips stored cases; an interrupted run (Ctrl-C, kill) loses only the cases in flight.  Seeds
come from the case configuration, so results do not depend on the worker count, the order in
which cases finish, or whether they ran in local processes or on a Dask cluster.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from fplab.records import CaseResult
from fplab.study import Case

__all__ = ["ResultCache", "RunOutcome", "code_version", "default_workers", "run_cases"]

#: environment for worker processes: one thread each, so N workers use N cores
_WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


@functools.cache
def code_version(kind: str | None = None) -> str:
    """``fplab.__version__`` + a short hash of the source a study kind's results depend on.

    With ``kind`` the hash covers every module directly under ``fplab/`` (grid, exact, metrics
    glue, convergence, study, runner, ...), the ``sdes`` and ``studykinds`` packages, and the
    sub-packages the kind declares in ``depends`` (e.g. ``("fd", "metrics")``); an edit to an
    unrelated sub-package (say ``nn``) then leaves FD results cached.  Without ``kind``: the whole
    package.
    """
    import fplab

    root = Path(fplab.__file__).resolve().parent
    if kind is None:
        paths = sorted(root.rglob("*.py"))
    else:
        from fplab.study import STUDY_KINDS

        packages = ("sdes", "studykinds", *STUDY_KINDS.get(kind).depends)
        paths = sorted(root.glob("*.py"))
        for pkg in packages:
            paths += sorted((root / pkg).rglob("*.py"))
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return f"{fplab.__version__}+{h.hexdigest()[:12]}"


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _identity(kind: Any, config: Any) -> str:
    return json.dumps([kind, config], sort_keys=True, separators=(",", ":"))


class ResultCache:
    """Finished case results, one JSON file per case key, written atomically."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._by_config: dict[str, dict[str, Any]] | None = None

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            text = self.path(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return json.loads(text)  # type: ignore[no-any-return]
        except json.JSONDecodeError:  # a torn file cannot happen with os.replace; be safe anyway
            return None

    def latest_for(self, kind: str, config: dict[str, Any]) -> dict[str, Any] | None:
        """The newest stored entry for this kind and configuration under *any* code version
        (for ``fplab report`` after the code changed); None if there is none."""
        if self._by_config is None:
            self._by_config = {}
            for path in sorted(self.folder.glob("??/*.json")):
                try:
                    entry = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError):
                    continue
                ident = _identity(entry.get("kind"), entry.get("config"))
                old = self._by_config.get(ident)
                if old is None or entry.get("finished_at", "") > old.get("finished_at", ""):
                    self._by_config[ident] = entry
        return self._by_config.get(_identity(kind, config))

    def put(self, key: str, entry: dict[str, Any]) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, allow_nan=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def execute_case(
    kind: str, config: dict[str, Any], plugins: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Run one case (in a worker); returns ``{"result": ..., "seconds": ...}`` or ``{"error": ...}``.
    ``plugins``: plugin modules to import first (a spawned worker starts without them)."""
    from fplab.study import STUDY_KINDS

    start = time.perf_counter()
    try:
        if plugins:
            from fplab.plugins import ensure_loaded

            ensure_loaded(plugins)
        result = STUDY_KINDS.get(kind)().run_case(config)
    except Exception as exc:  # reported per case; the run goes on
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result, timing = split_timing(result)
    return {"result": result, "seconds": time.perf_counter() - start, "timing": timing}


#: row fields that are wall-clock measurements (``studykinds._common.timed``): stored beside
#: the result, so that the result itself stays a function of the configuration and seed alone
TIMING_KEYS = ("seconds_warm", "seconds_cold", "compile_seconds", "n_warm", "n_calls")


def split_timing(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(result without timing fields, ``{"row": {...}}`` or ``{"rows": [{...}, ...]}`` of them)."""

    def strip(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {k: v for k, v in row.items() if k not in TIMING_KEYS},
            {k: v for k, v in row.items() if k in TIMING_KEYS},
        )

    if isinstance(result.get("row"), dict):
        row, timing = strip(result["row"])
        return {**result, "row": row}, ({"row": timing} if timing else {})
    if isinstance(result.get("rows"), list) and all(isinstance(r, dict) for r in result["rows"]):
        pairs = [strip(r) for r in result["rows"]]
        timings = [t for _, t in pairs]
        return {**result, "rows": [r for r, _ in pairs]}, (
            {"rows": timings} if any(timings) else {}
        )
    return result, {}


def merge_timing(result: dict[str, Any], timing: dict[str, Any] | None) -> dict[str, Any]:
    """The inverse of ``split_timing``: the rows with their timing fields back (for figures)."""
    if not timing:
        return result
    if "row" in timing and isinstance(result.get("row"), dict):
        return {**result, "row": {**result["row"], **timing["row"]}}
    if "rows" in timing and isinstance(result.get("rows"), list):
        rows = [{**r, **t} for r, t in zip(result["rows"], timing["rows"])]
        return {**result, "rows": rows}
    return result


def _plugin_modules() -> tuple[str, ...]:
    """The plugin modules loaded here, for workers to import (they start without them)."""
    from fplab.plugins import plugin_modules

    return tuple(plugin_modules())


def _init_worker() -> None:
    os.environ.update(_WORKER_ENV)


@dataclass
class RunOutcome:
    """What ``run_cases`` did: stored entries per case key, counts, failures and wall time."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_cached: int = 0
    n_run: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class Progress:
    """A one-line progress bar on ``stream``: cases done / total, running, ETA."""

    def __init__(
        self, total: int, done: int, workers: int, stream: TextIO | None, width: int = 28
    ) -> None:
        self.total, self.done, self.workers, self.stream, self.width = (
            total,
            done,
            workers,
            stream,
            width,
        )
        self.start = time.perf_counter()
        self.busy_seconds = 0.0
        self.n_timed = 0
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._last = 0.0

    def update(self, running: int, seconds: float | None = None, finished: bool = False) -> None:
        if finished:
            self.done += 1
        if seconds is not None:
            self.busy_seconds += seconds
            self.n_timed += 1
        if self.stream is None:
            return
        now = time.perf_counter()
        last = self.done == self.total
        if not self.tty and not last and now - self._last < 5.0:
            return  # logs and pipes get a line every 5 s, not a line per case
        self._last = now
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * self.width) + "." * (self.width - int(frac * self.width))
        remaining = self.total - self.done
        if self.n_timed:
            per_case = self.busy_seconds / self.n_timed
            eta = f"ETA {_clock(per_case * remaining / max(1, self.workers))}"
        else:
            eta = "ETA --:--"
        line = f"[{bar}] {self.done}/{self.total} cases, {running} running, {eta}"
        # on a terminal: back to the line start and clear it (ESC [K), so a shorter line leaves
        # no tail of the longer one it replaces
        start = "\r\x1b[K" if self.tty else ""
        end = "" if self.tty and not last else "\n"
        self.stream.write(start + line + end)
        self.stream.flush()


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def run_cases(
    cases: Iterable[Case],
    *,
    cache: ResultCache,
    workers: int = 1,
    scheduler: str | None = None,
    progress: TextIO | None = sys.stderr,
    cost: Callable[[Case], float] | None = None,
) -> RunOutcome:
    """Run the cases not in ``cache`` and store each as it finishes.

    Parameters
    ----------
    cases : iterable of Case
    cache : ResultCache
    workers : int
        Local worker processes (1: run in this process).  Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:port``); cases run there instead.
    progress : text stream or None
        Where the progress bar goes (default stderr).
    cost : callable, optional
        Estimated cost per case; costly cases are submitted first to balance the workers.

    Returns
    -------
    RunOutcome
    """
    start = time.perf_counter()
    out = RunOutcome()
    todo: dict[str, Case] = {}
    for case in cases:
        key = case.key
        entry = cache.get(key)
        if entry is not None:
            out.entries[key] = entry
        elif key not in todo:
            todo[key] = case
    out.n_cached = len(out.entries)
    order = sorted(todo, key=lambda k: -(cost(todo[k]) if cost else 0.0))
    n_workers = 1 if scheduler is None and workers <= 1 else workers
    bar = Progress(out.n_cached + len(todo), out.n_cached, n_workers, progress)

    def finish(key: str, reply: dict[str, Any], running: int) -> None:
        case = todo[key]
        if "error" in reply:
            out.failures[case.label if not case.study else f"{case.study}: {case.label}"] = reply[
                "error"
            ]
            bar.update(running, finished=True)
            return
        record = CaseResult(
            key=key,
            study=case.study,
            label=case.label,
            kind=case.kind,
            config=case.config,
            result=reply["result"],
            seconds=reply["seconds"],
            timing=reply.get("timing") or {},
            code_version=code_version(case.kind),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        entry = record.to_json()  # typed until here; the cache stores its JSON form
        cache.put(key, entry)
        out.entries[key] = entry
        out.n_run += 1
        bar.update(running, reply["seconds"], finished=True)

    if todo:
        bar.update(min(n_workers, len(todo)))
        if scheduler is not None:
            _run_dask(scheduler, order, todo, finish)
        elif n_workers <= 1:
            for i, key in enumerate(order):
                finish(key, execute_case(todo[key].kind, todo[key].config), int(i + 1 < len(order)))
        else:
            _run_pool(n_workers, order, todo, finish)
    elif progress is not None:
        bar.update(0)
    out.seconds = time.perf_counter() - start
    return out


def _run_pool(
    workers: int, order: list[str], todo: dict[str, Case], finish: Callable[..., None]
) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: workers start clean (no inherited numba/torch thread pools) with 1 thread each
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker)
    try:
        plugins = _plugin_modules()
        pending = {
            pool.submit(execute_case, todo[k].kind, todo[k].config, plugins): k for k in order
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                key = pending.pop(fut)
                finish(key, fut.result(), min(workers, len(pending)))
    except BaseException:
        # our own workers only (finished cases are already stored): stop them, then the pool
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        raise
    pool.shutdown(wait=True)


def _run_dask(
    address: str, order: list[str], todo: dict[str, Case], finish: Callable[..., None]
) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        msg = "--scheduler needs Dask distributed, which the extra fplab[dask] installs: pip install 'fplab[dask]'"
        raise ImportError(msg) from None

    with Client(address) as client:
        n_threads = sum(client.nthreads().values()) or 1
        futures = {
            client.submit(
                execute_case,
                todo[k].kind,
                todo[k].config,
                _plugin_modules(),
                key=f"fplab-case-{k}",
                pure=False,
            ): k
            for k in order
        }
        remaining = len(futures)
        for fut in as_completed(list(futures)):
            remaining -= 1
            finish(futures[fut], fut.result(), min(n_threads, remaining))
