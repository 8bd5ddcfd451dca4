"""``fplab run``, ``fplab report`` and ``fplab check`` (hooked into ``fplab.cli``).

Exit status: 0 success, 1 failed cases, failed claims or regressions (``run`` and ``check``
write every report / compare every study first), 2 bad input (spec errors, found before
anything runs).  ``run``, ``report`` and ``check`` end with the claims totals line
``claims: N checked, P passed, F failed, I inconclusive`` naming each failed claim.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_commands", "add_plugin_option"]


def add_plugin_option(p: argparse.ArgumentParser) -> None:
    """``--plugin MODULE`` (repeatable): import a plugin module before the command runs."""
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this plugin module first (repeatable); a plugin is code that runs",
    )


def _studies(n: int) -> str:
    return f"{n} study" if n == 1 else f"{n} studies"


_DEFAULT_CACHE = ".fplab-cache"


_SUFFIX = {"": 1.0, "K": 2.0**10, "M": 2.0**20, "G": 2.0**30, "T": 2.0**40}


def _size(text: str) -> float:
    """A positive number, optionally with a binary suffix K, M, G or T (``8G``): an argparse type."""
    raw = text.strip().upper().removesuffix("B")
    suffix = raw[-1:] if raw[-1:] in _SUFFIX else ""
    try:
        value = float(raw[: len(raw) - len(suffix)]) * _SUFFIX[suffix]
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < float("inf")):
        msg = f"{text!r} is not a size; allowed: a positive number, optionally with K, M, G or T"
        raise argparse.ArgumentTypeError(msg)
    return value


def _apply_limits(args: argparse.Namespace) -> None:
    """--max-memory / --max-work override the environment limits of the resource check; set
    before the specs load (and inherited by worker processes)."""
    import os

    for option, name in (("max_memory", "FPLAB_MAX_MEMORY"), ("max_work", "FPLAB_MAX_WORK")):
        value = getattr(args, option, None)
        if value is not None:
            os.environ[name] = repr(value)


def _common(p: argparse.ArgumentParser, *, tier: bool = True, run: bool = True) -> None:
    p.add_argument(
        "studies",
        nargs="*",
        metavar="STUDY",
        help="study files or names under studies/ (default: every study)",
    )
    add_plugin_option(p)
    if tier:
        p.add_argument(
            "--tier", choices=("quick", "full"), default="quick", help="sweep tier (default: quick)"
        )
    p.add_argument(
        "--max-memory",
        type=_size,
        default=None,
        metavar="BYTES",
        help="memory one case may need, e.g. 8e9 or 8G (default: half the RAM; "
        "sets FPLAB_MAX_MEMORY)",
    )
    p.add_argument(
        "--max-work",
        type=_size,
        default=None,
        metavar="UPDATES",
        help="elementary updates one case may need (default: 1e12; sets FPLAB_MAX_WORK)",
    )
    p.add_argument(
        "--cache",
        default=_DEFAULT_CACHE,
        help=f"per-case result cache folder (default: {_DEFAULT_CACHE})",
    )
    if run:
        from fplab.runner import default_workers

        p.add_argument(
            "--workers",
            type=int,
            default=default_workers(),
            help="parallel worker processes (default: the cores available)",
        )
        p.add_argument(
            "--scheduler",
            default=None,
            metavar="ADDRESS",
            help="run the cases on this Dask distributed scheduler instead",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_commands(sub: Any) -> None:
    """Add ``run``, ``report`` and ``check`` to the ``fplab`` sub-command parser."""
    p_run = sub.add_parser("run", help="run studies (resumable, parallel) and write their reports")
    _common(p_run)
    p_run.add_argument("--out", default="reports", help="report folder (default: reports)")
    p_run.set_defaults(func=cmd_run)

    p_rep = sub.add_parser("report", help="write reports from the stored results (runs nothing)")
    _common(p_rep, run=False)
    p_rep.add_argument("--out", default="reports", help="report folder (default: reports)")
    p_rep.set_defaults(func=cmd_report)

    p_chk = sub.add_parser("check", help="rerun the quick tier and compare with tests/baselines")
    _common(p_chk, tier=False)
    p_chk.add_argument("--update", action="store_true", help="rewrite the baselines deliberately")
    p_chk.add_argument(
        "--allow-improvements",
        action="store_true",
        help="pass when errors shrank beyond tolerance (default: such a change fails; "
        "accept it into the baselines with --update)",
    )
    p_chk.add_argument(
        "--baselines",
        default=None,
        help="baseline folder (default: tests/baselines next to studies/)",
    )
    p_chk.set_defaults(func=cmd_check)


def _usage_error(msg: str) -> None:
    print(f"fplab: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def _check_folders(args: argparse.Namespace) -> None:
    """--cache / --out / --baselines must be folders we can create or write, checked before any
    case runs (a file there used to fail only when the first result was stored)."""
    import os

    for option in ("cache", "out", "baselines"):
        value = getattr(args, option, None)
        if value is None:
            continue
        path = Path(value)
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            what = "names a file" if probe == path else f"lies under the file {probe}"
            _usage_error(f"--{option} {value}: {what}; allowed: a folder (created if missing)")
        if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
            _usage_error(f"--{option} {value}: {probe} is not writable; allowed: a writable folder")


#: seconds `fplab run --scheduler` waits for a TCP connection before giving up (exit 2)
SCHEDULER_TIMEOUT = 5.0


def _check_scheduler(address: str) -> None:
    """Exit 2 within ``SCHEDULER_TIMEOUT`` s when the Dask scheduler cannot be reached (an
    unreachable address used to raise OSError after 30 s)."""
    import socket
    from urllib.parse import urlsplit

    allowed = "allowed: tcp://HOST:PORT of a running Dask scheduler"
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if parts.scheme not in ("tcp", "tls") or not host or port is None:
        _usage_error(f"--scheduler {address!r}: not an address; {allowed}")
    try:
        with socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        _usage_error(
            f"--scheduler {address}: cannot connect within {SCHEDULER_TIMEOUT:g} s ({reason}); "
            f"{allowed}"
        )
    try:  # something listens there: is it a Dask scheduler?
        from distributed import Client

        with Client(address, timeout=f"{SCHEDULER_TIMEOUT:g}s"):
            pass
    except ImportError:
        _usage_error("--scheduler needs the 'distributed' package (pip install distributed)")
    except Exception as exc:  # any failure of the handshake: not a usable scheduler
        _usage_error(
            f"--scheduler {address}: no Dask scheduler answered within {SCHEDULER_TIMEOUT:g} s "
            f"({type(exc).__name__}); {allowed}"
        )


def _run(args: argparse.Namespace, specs: list[Any], tier: str) -> Any:
    from fplab.runner import ResultCache, run_cases

    _check_folders(args)
    if args.scheduler is not None:
        _check_scheduler(args.scheduler)
    if args.workers < 1:
        print(f"fplab: error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        raise SystemExit(2)
    cases = [c for spec in specs for c in spec.cases(tier)]
    kinds = {spec.kind: spec.kind_obj for spec in specs}

    def cost(case: Any) -> float:
        fn = getattr(kinds[case.kind], "cost", None)
        return float(fn(case.config)) if fn else 1.0

    return run_cases(
        cases,
        cache=ResultCache(args.cache),
        workers=args.workers,
        scheduler=args.scheduler,
        progress=None if args.quiet else sys.stderr,
        cost=cost,
    )


def _claims_footer(verdicts: list[Any], failed: list[str]) -> str:
    """The closing ``claims: ...`` line, naming each failed claim."""
    from fplab.records import totals_line

    line = totals_line(verdicts)
    if failed:
        line += " (failed: " + "; ".join(failed) + ")"
    return line


def cmd_run(args: argparse.Namespace) -> int:
    from fplab.report import report_all
    from fplab.runner import ResultCache
    from fplab.spec import find_studies

    start = time.perf_counter()
    _apply_limits(args)
    specs = find_studies(args.studies)  # every spec validated before anything runs
    outcome = _run(args, specs, args.tier)
    # every report is written first; the exit status then says whether any claim failed
    rep = report_all(args.out, specs, args.tier, ResultCache(args.cache), outcome.failures)
    n = outcome.n_cached + outcome.n_run + len(outcome.failures)
    print(
        f"fplab run: {_studies(len(specs))}, {n} cases ({outcome.n_cached} cached, "
        f"{outcome.n_run} run, {len(outcome.failures)} failed) in "
        f"{time.perf_counter() - start:.1f} s wall (reports included); report: {rep.index}"
    )
    for label, error in outcome.failures.items():
        print(f"  failed: {label}: {error}", file=sys.stderr)
    failed = rep.failed()
    print(_claims_footer(rep.all_verdicts, failed))
    return 1 if outcome.failures or failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from fplab.report import collect, report_all
    from fplab.runner import ResultCache
    from fplab.spec import find_studies

    _apply_limits(args)
    specs = find_studies(args.studies)
    _check_folders(args)
    cache = ResultCache(args.cache)
    found = [collect(s, args.tier, cache, stale_ok=True) for s in specs]
    missing = sum(len(sr.missing) for sr in found)
    stale = sum(len(sr.stale) for sr in found)
    rep = report_all(args.out, specs, args.tier, cache, stale_ok=True)
    note = f" ({missing} cases not run yet: `fplab run` fills them in)" if missing else ""
    if stale:
        note += f" ({stale} cases from an older code version: `fplab run` refreshes them)"
    print(f"fplab report: {_studies(len(specs))} -> {rep.index}{note}")
    # report renders what is stored and runs nothing: it states the claims but exits 0
    print(_claims_footer(rep.all_verdicts, rep.failed()))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from fplab.check import (
        BaselineError,
        compare,
        default_baselines_dir,
        load_baseline,
        quantities,
        write_baseline,
    )
    from fplab.report import collect, provenance
    from fplab.runner import ResultCache
    from fplab.spec import find_studies

    _apply_limits(args)
    specs = find_studies(args.studies)
    folder = Path(args.baselines) if args.baselines else default_baselines_dir()
    outcome = _run(args, specs, "quick")
    cache = ResultCache(args.cache)
    prov = provenance()
    regressions: list[str] = []
    changed: list[str] = []  # improvements beyond tolerance, without --allow-improvements
    notes: list[str] = []
    for label, error in outcome.failures.items():
        regressions.append(f"{label}: case failed: {error}")
    verdicts, failed = [], []
    for spec in specs:
        sr = collect(spec, "quick", cache)
        summary = sr.summary()
        judged = sr.verdicts(summary)
        verdicts += judged
        failed += [f"{spec.name}: {v.claim}" for v in judged if v.verdict == "fail"]
        current = quantities(summary)
        if args.update:
            if sr.missing:
                regressions.append(f"{spec.name}: not updated, {len(sr.missing)} cases failed")
                continue
            if sr.error:  # the kind raised: its summary is empty, never a baseline
                regressions.append(f"{spec.name}: not updated, the study kind raised: {sr.error}")
                continue
            path = write_baseline(folder, spec, current, prov)
            notes.append(f"{spec.name}: baseline written to {path}")
            continue
        try:
            baseline = load_baseline(folder, spec)
        except BaselineError as exc:
            regressions.append(f"{spec.name}: {exc}")
            continue
        if baseline is None:
            regressions.append(
                f"{spec.name}: no baseline in {folder}; run `fplab check {spec.name} --update`"
            )
            continue
        res = compare(spec, current, baseline)
        regressions += res.regressions
        notes += res.notes
        if args.allow_improvements:
            notes += [f"improved: {line}" for line in res.improvements]
        else:  # a shrunk error is a change too (a bug can shrink errors); labelled apart
            changed += [
                f"{line} (an improvement: accept it with --update, or pass --allow-improvements)"
                for line in res.improvements
            ]
    for line in notes:
        print(f"  note: {line}")
    for line in regressions:
        print(f"  REGRESSION: {line}")
    for line in changed:
        print(f"  CHANGED: {line}")
    for line in failed:
        print(f"  FAILED CLAIM: {line}")
    bad = regressions or changed or failed
    verdict = "FAILED" if bad else "ok"
    counts = f"{len(regressions)} regressions"
    if changed:
        counts += f", {len(changed)} changed"
    print(f"fplab check: {_studies(len(specs))}, {counts}: {verdict}")
    print(_claims_footer(verdicts, failed))
    return 1 if bad else 0
