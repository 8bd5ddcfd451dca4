"""Mutation score of fplab's numerics: plant each curated one-line bug, see who catches it.

For every mutant in ``tools/mutation/mutants.toml`` (or the ids given on the command line) this
copies the repository's ``fplab``, ``tests``, ``studies``, ``grids`` and ``pyproject.toml`` into a
scratch folder (numba's cache files come along with their time stamps, so only the mutated
module recompiles), applies the edit, and runs

1. ``pytest -x`` on the mutant's test files: caught when any test fails or errors;
2. ``fplab check`` on the mutant's studies (the shipped quick tiers that run the mutated line),
   with a result cache shared between mutants (``--cache``; keys include the code version, so a
   mutated package reruns and everything else is read back): caught when the check fails.

A mutant nobody catches is a *survivor*; ``docs/testing.md`` lists each with the reason it is
acceptable (or the test it calls for).  Results go to ``--out`` (JSON) and a Markdown table on
stdout.  Not part of CI: about a minute per mutant on two cores.

Usage::

    python tools/mutation/run.py [ID ...] [--cache DIR] [--out FILE] [--no-check]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COPIED = ("fplab", "tests", "studies", "grids", "pyproject.toml")
TIMEOUT_S = 900


def load_mutants(path: Path) -> list[dict[str, Any]]:
    """The mutants, each checked to apply: ``old`` occurs exactly once in ``file``."""
    mutants = tomllib.loads(path.read_text(encoding="utf-8"))["mutant"]
    for m in mutants:
        text = (ROOT / m["file"]).read_text(encoding="utf-8")
        count = text.count(m["old"])
        if count != 1:
            msg = f"mutant {m['id']}: 'old' occurs {count} times in {m['file']} (need exactly 1)"
            raise SystemExit(msg)
    return mutants


def scratch_copy(dest: Path, source: Path = ROOT) -> None:
    """Copy the parts of the repository the tests and the check need from ``source``."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in COPIED:
        src = source / name
        if src.is_dir():
            # copy2 keeps modification times: numba's cache index stays valid for unmutated files
            shutil.copytree(src, dest / name, copy_function=shutil.copy2, symlinks=True)
        else:
            shutil.copy2(src, dest / name)


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired:
        rc, out = 124, f"timed out after {TIMEOUT_S} s"
    return rc, time.perf_counter() - t0, out


def evaluate(m: dict[str, Any], work: Path, cache: Path, do_check: bool) -> dict[str, Any]:
    dest = work / m["id"]
    scratch_copy(dest, work / "_base")
    target = dest / m["file"]
    target.write_text(
        target.read_text(encoding="utf-8").replace(m["old"], m["new"]), encoding="utf-8"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(dest),
        "MPLBACKEND": "Agg",
        "NUMBA_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    py = sys.executable
    rc, secs, out = run(
        [py, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m["tests"]], dest, env
    )
    res: dict[str, Any] = {
        "id": m["id"],
        "why": m["why"],
        "file": m["file"],
        "tests_caught": rc != 0,
        "tests_seconds": round(secs, 1),
        "tests_tail": out.strip().splitlines()[-3:] if out.strip() else [],
        "studies": m["studies"],
        "check_caught": None,
    }
    if do_check and m["studies"]:
        rc, secs, out = run(
            [py, "-m", "fplab", "check", *m["studies"], "--workers", "1", "--cache", str(cache),
             "--quiet"],
            dest,
            env,
        )  # fmt: skip
        res["check_caught"] = rc != 0
        res["check_seconds"] = round(secs, 1)
        res["check_tail"] = [ln for ln in out.splitlines() if "REGRESSION" in ln][:3]
    shutil.rmtree(dest, ignore_errors=True)
    return res


def table(results: list[dict[str, Any]]) -> str:
    mark = {True: "caught", False: "**survived**", None: "-"}
    lines = [
        "| mutant | bug | pytest | fplab check |",
        "|---|---|---|---|",
        *(
            f"| {r['id']} | {r['why']} | {mark[r['tests_caught']]} | {mark[r['check_caught']]} |"
            for r in results
        ),
    ]
    n = len(results)
    by_tests = sum(r["tests_caught"] for r in results)
    with_study = [r for r in results if r["check_caught"] is not None]
    by_check = sum(bool(r["check_caught"]) for r in with_study)
    either = sum(r["tests_caught"] or bool(r["check_caught"]) for r in results)
    lines += [
        "",
        f"mutants run: {n}; caught by pytest: {by_tests}/{n}; caught by fplab check: "
        f"{by_check}/{len(with_study)} (of those a shipped study runs); caught by either: "
        f"{either}/{n}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ids", nargs="*", help="mutant ids (default: all)")
    p.add_argument("--mutants", default=str(HERE / "mutants.toml"))
    p.add_argument("--work", default="/tmp/fplab-mutation", help="scratch folder")
    p.add_argument("--cache", default="/tmp/fplab-mutation-cache", help="shared result cache")
    p.add_argument("--out", default="/tmp/fplab-mutation/results.json")
    p.add_argument("--no-check", action="store_true", help="run pytest only")
    args = p.parse_args(argv)
    mutants = load_mutants(Path(args.mutants))
    if args.ids:
        unknown = sorted(set(args.ids) - {m["id"] for m in mutants})
        if unknown:
            msg = f"unknown mutant id(s) {unknown}"
            raise SystemExit(msg)
        mutants = [m for m in mutants if m["id"] in args.ids]
    work, cache = Path(args.work), Path(args.cache)
    work.mkdir(parents=True, exist_ok=True)
    # one snapshot of the working tree at the start: edits made while the run goes on (a merge,
    # say) do not leak into later mutants
    scratch_copy(work / "_base")
    results = []
    for i, m in enumerate(mutants, 1):
        r = evaluate(m, work, cache, not args.no_check)
        results.append(r)
        print(
            f"[{i}/{len(mutants)}] {m['id']}: pytest {'caught' if r['tests_caught'] else 'SURVIVED'}"
            f" ({r['tests_seconds']} s), check {r['check_caught']}",
            file=sys.stderr,
            flush=True,
        )
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
