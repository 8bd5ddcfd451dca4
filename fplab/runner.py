"""Run study cases in parallel with a per-case result cache, resume and a progress bar.

Every case is stored as one JSON file ``CACHE/<key[:2]>/<key>.json`` written atomically (a unique
temporary file in the same folder, then ``os.replace``) with a schema version and a checksum of its
payload (see :class:`ResultCache`: damaged entries are quarantined and recomputed), where ``key``
hashes the kind, the full case configuration and the code version (``fplab.__version__`` plus a
hash of the package source).  A re-run skips stored cases; an interrupted run (Ctrl-C, kill) loses
only the cases in flight.  Seeds come from the case configuration, so results do not depend on the
worker count, the order in which cases finish, or whether they ran in local processes or on a Dask cluster.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from fplab import records, version
from fplab._io import FileLock, atomic_writer
from fplab.records import CaseResult, Row
from fplab.studykinds.base import Case

__all__ = [
    "CacheWarning",
    "ResultCache",
    "RunOutcome",
    "default_workers",
    "run_cases",
]

#: environment for worker processes: one thread each, so N workers use N cores
_WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _identity(kind: Any, config: Any) -> str:
    return json.dumps([kind, config], sort_keys=True, separators=(",", ":"))


#: version of the on-disk cache entry layout: {"schema", "checksum", "entry"}
CACHE_SCHEMA = 2


class CacheWarning(UserWarning):
    """A cache entry could not be used; it was moved to ``CACHE/quarantine/`` and is recomputed."""


def _checksum(entry: Any) -> str:
    """sha256 of the canonical JSON of ``entry`` (sorted keys), so a changed byte is detected."""
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


#: fields every stored entry has (``CaseResult`` without defaults; written since the first cache)
_RECORD_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(CaseResult)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)


def _entry_problem(entry: Any, key: str | None, *, newer_ok: bool = False) -> str | None:
    """What is wrong with a decoded case entry's shape, or None when it is usable.

    ``newer_ok``: an entry of a newer record schema is not a problem (``latest_for`` scans
    every file of a cache a newer fplab may share, and skips those); under the key this code
    computed it is (the schema is part of the code hash, so no newer fplab wrote it)."""
    if not isinstance(entry, dict):
        return f"the entry is a JSON {type(entry).__name__}, not an object"
    for name, typ in (
        ("kind", str),
        ("config", dict),
        ("result", dict),
        ("study", str),
        ("label", str),
        ("code_version", str),
    ):
        required = name in ("kind", "config", "result")  # the others: see missing, below
        if (required or name in entry) and not isinstance(entry.get(name), typ):
            return f"'{name}' is missing or not a {typ.__name__}"
    schema = entry.get("schema", 0)
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 0:
        return f"'schema' is {schema!r}, not an integer >= 0"
    if schema > records.SCHEMA_VERSION and not newer_ok:
        return f"schema {schema} is newer than this fplab's {records.SCHEMA_VERSION}"
    seconds = entry.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return f"'seconds' is not a number ({seconds!r:.60})"
    timing = entry.get("timing", {})
    if not isinstance(timing, dict):
        return f"'timing' is not an object ({type(timing).__name__})"
    try:  # timing fields are merged into the rows for the report: they must read as rows too
        if isinstance(timing.get("row"), dict):
            records.Row.from_json(timing["row"])
        elif isinstance(timing.get("rows"), list):
            [records.Row.from_json(t) for t in timing["rows"]]
        elif timing:
            return f"'timing' holds neither a 'row' object nor a 'rows' list ({timing!r:.60})"
    except (TypeError, ValueError) as err:
        return f"timing: {err}"
    if key is not None and entry.get("key") != key:
        return f"its key {entry.get('key')!r} does not match the file name"
    result = entry["result"]
    if "row" in result:
        if not isinstance(result["row"], dict):
            return "result 'row' is not an object"
    elif not isinstance(result.get("rows"), list) or not all(
        isinstance(r, dict) for r in result["rows"]
    ):
        return "result has neither a 'row' object nor a 'rows' list of objects"
    missing = [f for f in _RECORD_FIELDS if f not in entry]
    if missing:
        return f"it lacks {', '.join(map(repr, missing))}"
    try:  # the rows must read as Row records (fields JSON scalars or flat lists of them)
        records.rows_records(result)
    except (TypeError, ValueError) as err:
        return str(err)
    if not isinstance(entry.get("finished_at", ""), str):
        return "'finished_at' is not a string"
    return None


class ResultCache:
    """Finished case results, one JSON file per case key, written atomically.

    On disk each file is ``{"schema": 2, "checksum": "sha256:...", "entry": {...}}``.  An entry
    that cannot be read (not UTF-8, not JSON), fails its checksum, has another schema or the
    wrong shape is moved to ``CACHE/quarantine/`` with a :class:`CacheWarning` naming the file,
    and reads as missing, so its case is recomputed: a damaged entry never stops ``fplab run``
    or ``fplab report``.  Entries written before the schema (plain case objects) are read
    without a checksum.  :meth:`lock` serialises the computation of one case across processes.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._by_config: dict[str, dict[str, Any]] | None = None

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def lock(self, key: str) -> FileLock:
        """The inter-process lock of case ``key`` (``CACHE/locks/<key>.lock``), not yet taken."""
        return FileLock(self.folder / "locks" / f"{key}.lock")

    def _read(
        self, path: Path, key: str | None, *, newer_ok: bool = False
    ) -> dict[str, Any] | None:
        """The entry stored at ``path``; None (after quarantining it) when it is unusable
        (``newer_ok``: see :func:`_entry_problem`)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            self._quarantine(path, f"cannot be read ({err.strerror})")
            return None
        try:
            stored = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            self._quarantine(path, "is not UTF-8 text")
            return None
        except json.JSONDecodeError as err:
            self._quarantine(path, f"is not valid JSON ({err.msg}, line {err.lineno})")
            return None
        # the envelope {schema, checksum, entry}; the entry itself may carry the record's own
        # "schema" (fplab.records.CaseResult), so the envelope is recognised by "entry"
        if isinstance(stored, dict) and "entry" in stored and "checksum" in stored:
            if stored.get("schema") != CACHE_SCHEMA:
                self._quarantine(path, f"has schema {stored.get('schema')!r}, not {CACHE_SCHEMA}")
                return None
            entry = stored.get("entry")
            if stored.get("checksum") != _checksum(entry):
                self._quarantine(path, "fails its checksum (the payload was changed or truncated)")
                return None
        else:
            entry = stored  # written before the schema: no checksum to verify
        problem = _entry_problem(entry, key, newer_ok=newer_ok)
        if problem is not None:
            self._quarantine(path, f"has the wrong shape: {problem}")
            return None
        return entry  # type: ignore[no-any-return]

    def _quarantine(self, path: Path, why: str) -> None:
        """Move a bad entry to ``CACHE/quarantine/`` (kept for inspection) and warn."""
        qdir = self.folder / "quarantine"
        # nanoseconds: the same key quarantined twice in a second must not overwrite its copy
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"
        dest = qdir / f"{path.stem}.{stamp}.{os.getpid()}{path.suffix}"
        try:
            qdir.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            where = f"moved to {dest}"
        except FileNotFoundError:
            return  # another process quarantined (or rewrote) it first
        except OSError as err:
            where = f"could not be moved to {qdir} ({err.strerror}); ignored"
        msg = f"cache entry {path} {why}; {where}; its case will be recomputed"
        warnings.warn(msg, CacheWarning, stacklevel=3)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored entry of case ``key``, or None (missing, or quarantined as unusable)."""
        return self._read(self.path(key), key)

    def latest_for(self, kind: str, config: dict[str, Any]) -> dict[str, Any] | None:
        """The newest stored entry for this kind and configuration under *any* code version
        (for ``fplab report`` after the code changed); None if there is none."""
        if self._by_config is None:
            self._by_config = {}
            for path in sorted(self.folder.glob("??/*.json")):
                entry = self._read(path, path.stem, newer_ok=True)
                if entry is None or int(entry.get("schema", 0)) > records.SCHEMA_VERSION:
                    continue  # unusable, or written by a newer fplab (which reads it itself)
                ident = _identity(entry.get("kind"), entry.get("config"))
                old = self._by_config.get(ident)
                if old is None or entry.get("finished_at", "") > old.get("finished_at", ""):
                    self._by_config[ident] = entry
        return self._by_config.get(_identity(kind, config))

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store ``entry`` for ``key`` atomically (unique temporary name, fsync, rename)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        stored = {"schema": CACHE_SCHEMA, "checksum": _checksum(entry), "entry": entry}
        with atomic_writer(target) as fh:
            json.dump(stored, fh, allow_nan=True)


def execute_case(
    kind: str, config: dict[str, Any], plugins: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Run one case (in a worker); returns ``{"result": ..., "seconds": ...}`` or ``{"error": ...}``.
    ``plugins``: plugin modules to import first (a spawned worker starts without them).

    The result stays JSON-ready (it goes straight into the cache), but its rows are checked
    here as :class:`fplab.records.Row` records, so a field that is no JSON scalar fails this
    case with a message naming the field instead of failing the cache write."""
    from fplab.studykinds.base import STUDY_KINDS

    start = time.perf_counter()
    try:
        if plugins:
            from fplab.plugins import ensure_loaded

            ensure_loaded(plugins)
        result = STUDY_KINDS.get(kind)().run_case(config)
        if not isinstance(result, dict):
            msg = f"run_case of kind {kind!r} returned a {type(result).__name__}, not a dict"
            raise TypeError(msg)
        # the cache refuses an entry without rows (it would be recomputed by every run)
        if "row" not in result and "rows" not in result:
            msg = (
                f"run_case of kind {kind!r} returned no 'row' (a dict of fields) or 'rows' "
                f"(a list of them); its keys: {', '.join(map(repr, result)) or 'none'}"
            )
            raise TypeError(msg)
        if "rows" in result and not isinstance(result["rows"], list | tuple):
            msg = (
                f"run_case of kind {kind!r}: 'rows' is a {type(result['rows']).__name__}; "
                "allowed: a list of dicts of fields"
            )
            raise TypeError(msg)
        result = records.rows_json(records.rows_records(result))
    except Exception as exc:  # reported per case; the run goes on
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result, timing = split_timing(result)
    return {"result": result, "seconds": time.perf_counter() - start, "timing": timing}


#: row fields that are wall-clock measurements (``studykinds._common.timed``): stored beside
#: the result, so that the result itself stays a function of the configuration and seed alone
TIMING_KEYS = ("seconds_warm", "seconds_cold", "compile_seconds", "n_warm", "n_calls")

R = TypeVar("R", bound=Mapping[str, Any])


def _strip(row: R) -> tuple[R, dict[str, Any]]:
    """(the row without its timing fields, of the row's own type; its timing fields)."""
    kept = {k: v for k, v in row.items() if k not in TIMING_KEYS}
    timing = {k: v for k, v in row.items() if k in TIMING_KEYS}
    return (Row.of(**kept) if isinstance(row, Row) else kept), timing  # type: ignore[return-value]


def split_timing(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(result without timing fields, ``{"row": {...}}`` or ``{"rows": [{...}, ...]}`` of them).

    Rows keep their type: dicts in a worker (before the cache), :class:`Row` records inward."""
    if isinstance(result.get("row"), Mapping):
        row, timing = _strip(result["row"])
        return {**result, "row": row}, ({"row": timing} if timing else {})
    if isinstance(result.get("rows"), list) and all(isinstance(r, Mapping) for r in result["rows"]):
        pairs = [_strip(r) for r in result["rows"]]
        timings = [t for _, t in pairs]
        return {**result, "rows": [r for r, _ in pairs]}, (
            {"rows": timings} if any(timings) else {}
        )
    return result, {}


def merge_timing(result: dict[str, Any], timing: dict[str, Any] | None) -> dict[str, Any]:
    """The inverse of ``split_timing``: the rows with their timing fields appended (for figures
    and ``results.csv``), as new :class:`Row` records (rows are immutable)."""
    if not timing:
        return result
    if "row" in timing and isinstance(result.get("row"), Mapping):
        return {**result, "row": Row.from_json(result["row"]).replace(**timing["row"])}
    if "rows" in timing and isinstance(result.get("rows"), list):
        rows = [Row.from_json(r).replace(**t) for r, t in zip(result["rows"], timing["rows"])]
        return {**result, "rows": rows}
    return result


def _plugin_modules() -> tuple[str, ...]:
    """The plugin modules loaded here, for workers to import (they start without them)."""
    from fplab.plugins import plugin_modules

    return tuple(plugin_modules())


#: how often a worker checks that the process that started it is still alive (seconds)
PARENT_POLL_SECONDS = 0.25


def _init_worker(parent_pid: int | None = None) -> None:
    os.environ.update(_WORKER_ENV)
    if parent_pid is not None:
        import threading

        threading.Thread(
            target=_watch_parent, args=(parent_pid,), name="fplab-parent-watch", daemon=True
        ).start()


def _watch_parent(parent_pid: int) -> None:
    """Exit this worker as soon as its parent is gone (killed by SIGKILL, a job scheduler or a
    timeout), so no case goes on computing as an orphan.  A reparented process sees another
    ``getppid()``; polling every ``PARENT_POLL_SECONDS`` bounds the delay.  ``os._exit``: the
    case in flight is abandoned, which is what the dead parent would want (it stores nothing).
    """
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent_pid:
            os._exit(1)


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
    # a case another process is computing (its lock is held) is waited for, not recomputed
    locks: dict[str, FileLock] = {}
    waiting: list[str] = []
    for key in list(todo):
        lock = cache.lock(key)
        if not lock.acquire(blocking=False):
            waiting.append(key)
            continue
        entry = cache.get(key)  # finished by another process since the scan above
        if entry is not None:
            lock.release()
            out.entries[key] = entry
            del todo[key]
        else:
            locks[key] = lock
    out.n_cached = len(out.entries)
    order = sorted(locks, key=lambda k: -(cost(todo[k]) if cost else 0.0))
    n_workers = 1 if scheduler is None and workers <= 1 else workers
    bar = Progress(out.n_cached + len(todo), out.n_cached, n_workers, progress)

    def finish(key: str, reply: dict[str, Any], running: int) -> None:
        case = todo[key]
        try:
            if "error" in reply:
                label = case.label if not case.study else f"{case.study}: {case.label}"
                out.failures[label] = reply["error"]
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
                code_version=version.code_version(case.kind),
                finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
            entry = record.to_json()  # typed until here; the cache stores its JSON form
            cache.put(key, entry)
            out.entries[key] = entry
            out.n_run += 1
            bar.update(running, reply["seconds"], finished=True)
        finally:
            if key in locks:
                locks.pop(key).release()

    try:
        if order:
            bar.update(min(n_workers, len(order)))
            if scheduler is not None:
                _run_dask(scheduler, order, todo, finish)
            elif n_workers <= 1:
                for i, key in enumerate(order):
                    reply = execute_case(todo[key].kind, todo[key].config)
                    finish(key, reply, int(i + 1 < len(order)))
            else:
                _run_pool(n_workers, order, todo, finish)
        elif progress is not None and not waiting:
            bar.update(0)
        for key in waiting:
            _wait_for_other_process(key, cache, todo, out, locks, finish, progress)
    finally:
        for lock in locks.values():
            lock.release()
    out.seconds = time.perf_counter() - start
    return out


def _wait_for_other_process(
    key: str,
    cache: ResultCache,
    todo: dict[str, Case],
    out: RunOutcome,
    locks: dict[str, FileLock],
    finish: Callable[..., None],
    progress: TextIO | None,
) -> None:
    """Block until the process computing case ``key`` releases its lock, then take its stored
    entry; compute the case here only if that process stored nothing (it failed or was killed)."""
    if progress is not None:
        progress.write(f"waiting for another fplab process to finish case {todo[key].label}\n")
        progress.flush()
    lock = cache.lock(key)
    lock.acquire()
    entry = cache.get(key)
    if entry is not None:
        lock.release()
        out.entries[key] = entry
        out.n_cached += 1
        return
    locks[key] = lock
    finish(key, execute_case(todo[key].kind, todo[key].config), 0)


def _run_pool(
    workers: int, order: list[str], todo: dict[str, Case], finish: Callable[..., None]
) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: workers start clean (no inherited numba/torch thread pools) with 1 thread each
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
    )
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

    with Client(address, timeout="10s") as client:
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
