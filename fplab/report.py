"""Reports: the only module that writes them.

``write_reports(out, specs, tier, cache)`` writes, for every study, ``out/<study>/`` with
``index.html`` (self-contained: figures inlined as base64 PNG, opens offline), ``report.md`` (with
the same figures as ``fig-N.png`` next to it), ``results.csv`` (one row per case) and
``meta.json`` (version, code hash, git commit, package versions, seed, configuration, times), plus
``out/index.html`` linking all studies.  Every number comes from a stored case result in the cache;
cases that are not stored are listed as missing, never recomputed here.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fplab.runner import ResultCache, code_version
from fplab.study import Case, StudySpec

__all__ = ["StudyResults", "collect", "write_reports"]

_PACKAGES = ("numpy", "scipy", "numba", "matplotlib", "torch", "pot", "dask", "distributed")


@dataclass
class StudyResults:
    """A study's stored results for one tier: (case, cache entry) pairs, missing and failed cases."""

    spec: StudySpec
    tier: str
    done: list[tuple[Case, dict[str, Any]]] = field(default_factory=list)
    missing: list[Case] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def results(self) -> list[tuple[Case, dict[str, Any]]]:
        """(case, case result) pairs, as the kinds' ``summarize``/``figures`` take them."""
        return [(case, entry["result"]) for case, entry in self.done]

    def summary(self) -> dict[str, Any]:
        if not self.done:
            return {"orders": [], "errors": {}}
        return self.spec.kind_obj.summarize(self.spec, self.results)


def collect(
    spec: StudySpec,
    tier: str,
    cache: ResultCache,
    failures: dict[str, str] | None = None,
    *,
    stale_ok: bool = False,
) -> StudyResults:
    """The stored results of ``spec``'s cases of ``tier``.

    With ``stale_ok`` a case not stored for the current code version falls back to the newest
    result of the same configuration from an older code version, listed in ``stale``.
    """
    out = StudyResults(spec, tier)
    for case in spec.cases(tier):
        entry = cache.get(case.key)
        if entry is None and stale_ok:
            entry = cache.latest_for(case.kind, case.config)
            if entry is not None:
                out.stale.append(case.label)
        if entry is None:
            out.missing.append(case)
        else:
            out.done.append((case, entry))
    prefix = f"{spec.name}: "
    out.failures = {
        k[len(prefix) :]: v for k, v in (failures or {}).items() if k.startswith(prefix)
    }
    return out


# -- provenance -----------------------------------------------------------------------------
def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """fplab version, code hash, git commit (with a dirty flag), Python and package versions, CPU."""
    from importlib import metadata

    import fplab

    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "fplab")
    from fplab.plugins import loaded_plugins

    plugins = [p.to_json() for p in loaded_plugins()]  # module, version, source hash, entries
    return {
        **({"plugins": plugins} if plugins else {}),
        "fplab_version": fplab.__version__,
        "code_version": code_version(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "packages": versions,
        "machine": f"{platform.machine()} {_cpu_name()}, {os.cpu_count()} cores",
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# -- formatting -----------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if 1e-3 <= abs(v) < 1e5 or v == 0 else f"{v:.3e}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _order_cells(o: dict[str, Any]) -> tuple[list[str], str]:
    ci = o.get("ci") or [math.nan, math.nan]
    state = {True: "match", False: "mismatch", None: "none"}[o.get("match")]
    flags = ", ".join(sorted(set(o.get("flags") or []) - {"ok", ""}))
    cells = [
        o["label"],
        o.get("quantity", ""),
        _fmt(o["order"]),
        f"[{_fmt(ci[0])}, {_fmt(ci[1])}]",
        _fmt(o.get("expected")),
        {"match": "yes", "mismatch": "NO", "none": "-"}[state],
        flags,
    ]
    return cells, state


#: rows of the cases table shown in report.md / index.html (results.csv holds them all)
_MAX_SHOWN_ROWS = 80

_ORDER_HEAD = [
    "compared",
    "quantity",
    "observed order",
    "95% interval",
    "theory",
    "matches",
    "flags",
]


def _case_rows(case: Case, entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, row) of a stored case: its ``row``, or each of its ``rows`` (multi-level cases)."""
    res = entry["result"]
    if "row" in res:
        return [(case.label, res["row"])]
    return [(r.get("label", case.label), r) for r in res.get("rows", [])]


def _rows_table(results: list[tuple[Case, dict[str, Any]]]) -> tuple[list[str], list[list[Any]]]:
    columns: list[str] = []
    for case, entry in results:
        for _, row in _case_rows(case, entry):
            columns += [k for k in row if k not in columns and k != "label"]
    rows = [
        [label, *[row.get(c) for c in columns], entry.get("seconds"), case.key]
        for case, entry in results
        for label, row in _case_rows(case, entry)
    ]
    return ["case", *columns, "case seconds", "cache key"], rows


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td:first-child{text-align:left}tr.match td{background:#e3f6e3}tr.mismatch td{background:#fbe0e0}
pre{background:#f6f6f6;padding:0.7em;overflow-x:auto;font-size:0.85em}figure{margin:1.5em 0}img{max-width:100%}
.missing{color:#b00}"""


def _html_table(head: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    out = ["<table><tr>", *[f"<th>{html.escape(h)}</th>" for h in head], "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes else ""
        out.append(
            f"<tr{cls}>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>"
        )
    out.append("</table>")
    return "".join(out)


def _md_table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_fmt(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _write_text(path: Path, text: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- one study ------------------------------------------------------------------------------
def write_study(out: Path, sr: StudyResults, prov: dict[str, Any]) -> dict[str, Any]:
    """Write ``out/<study>/``; returns the index entry (name, purpose, order matches, state)."""
    spec = sr.spec
    folder = out / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(sr, prov)
    old = _read_meta(folder / "meta.json")
    if (
        old is not None
        and old.get("fingerprint") == fingerprint
        and (folder / "index.html").is_file()
    ):
        return _entry_from_meta(spec.name, old)  # same results, spec and code: nothing to redraw
    summary = sr.summary()
    figures = spec.kind_obj.figures(spec, sr.results, summary) if sr.done else []
    order_rows, order_cls = [], []
    for o in summary.get("orders", []):
        cells, state = _order_cells(o)
        order_rows.append(cells)
        order_cls.append(state)
    head, rows = _rows_table(sr.done)
    shown = rows[:_MAX_SHOWN_ROWS]
    more = f"{len(rows) - len(shown)} more rows in results.csv" if len(rows) > len(shown) else ""
    case_seconds = sum(float(e.get("seconds") or 0.0) for _, e in sr.done)
    meta = {
        "study": spec.name,
        "title": spec.title,
        "purpose": spec.purpose,
        "kind": spec.kind,
        "spec_path": str(spec.path.resolve()),
        "tier": sr.tier,
        "seed": spec.seed,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **prov,
        "n_cases": len(sr.done) + len(sr.missing),
        "n_missing": len(sr.missing),
        "n_stale": len(sr.stale),
        "failures": sr.failures,
        "case_seconds_total": case_seconds,
        "case_code_versions": sorted({e.get("code_version", "") for _, e in sr.done}),
        "config": spec.raw,
        "summary": summary,
        "fingerprint": fingerprint,
    }
    _write_text(folder / "meta.json", json.dumps(meta, indent=2, default=str))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    writer.writerows([[("" if c is None else c) for c in r] for r in rows])
    _write_text(folder / "results.csv", buf.getvalue())
    if sr.done:
        for fname, text in spec.kind_obj.extra_files(spec, sr.results, summary).items():
            _write_text(folder / fname, text)

    pngs = []
    for i, (caption, fig) in enumerate(figures, start=1):
        data = _png(fig)
        _write_text(folder / f"fig-{i}.png", data)
        pngs.append((caption, f"fig-{i}.png", base64.b64encode(data).decode("ascii")))
    for stale_fig in folder.glob("fig-*.png"):
        if stale_fig.name not in {p[1] for p in pngs}:
            stale_fig.unlink()

    provenance_line = (
        f"fplab {prov['fplab_version']} (code {prov['code_version']}, commit "
        f"{(prov['git_commit'] or 'unknown')[:12]}{' + local changes' if prov['git_dirty'] else ''}), "
        f"tier {sr.tier}, seed {spec.seed}, {len(sr.done)} stored cases "
        f"({case_seconds:.1f} s of compute), {prov['machine']}"
    )
    if prov.get("plugins"):  # a plugin is code that ran: say which, in which version
        provenance_line += "; plugins: " + ", ".join(
            f"{p['module']} {p['version'] or '(not installed)'} (source {p['hash']})"
            for p in prov["plugins"]
        )
    config_text = (
        spec.path.read_text(encoding="utf-8") if spec.path.is_file() else json.dumps(spec.raw)
    )
    tables = summary.get("tables", [])
    notes = summary.get("notes", [])
    problems = [f"missing (not run yet): {c.label}" for c in sr.missing]
    if sr.stale:
        problems.append(
            f"{len(sr.stale)} cases come from an older code version "
            f"({', '.join(meta['case_code_versions'])}); `fplab run` refreshes them"
        )
    problems += [f"failed: {k}: {v}" for k, v in sr.failures.items()]

    # report.md
    md = [f"# {spec.title}", "", f"{spec.purpose}", "", f"*{provenance_line}*", ""]
    if order_rows:
        md += ["## Observed orders", "", _md_table(_ORDER_HEAD, order_rows), ""]
    for t in tables:
        md += [f"## {t['title']}", "", _md_table(t["columns"], t["rows"]), ""]
    if notes:
        md += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    if pngs:
        md += ["## Figures", ""] + [f"![{c}]({name})\n\n*{c}*\n" for c, name, _ in pngs]
    md += ["## Cases", "", _md_table(head, shown), "", more]
    if problems:
        md += ["## Missing or failed cases", "", *[f"- {p}" for p in problems], ""]
    md += [
        "## Configuration",
        "",
        f"`{spec.path}`:",
        "",
        "```toml",
        config_text.rstrip(),
        "```",
        "",
    ]
    _write_text(folder / "report.md", "\n".join(md))

    # index.html
    h = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(spec.title)}</title>",
        f"<style>{_CSS}</style></head><body><p><a href='../index.html'>all studies</a></p>",
        f"<h1>{html.escape(spec.title)}</h1><p>{html.escape(spec.purpose)}</p>",
        f"<p><em>{html.escape(provenance_line)}</em></p>",
    ]
    if order_rows:
        h += [
            "<h2>Observed orders</h2>",
            "<p>Green: theory lies in the interval widened by the "
            f"study's tolerance ({_fmt(float(spec.expect.get('tolerance', 0.1)))}); red: it does not.</p>",
            _html_table(_ORDER_HEAD, order_rows, order_cls),
        ]
    for t in tables:
        h += [f"<h2>{html.escape(t['title'])}</h2>", _html_table(t["columns"], t["rows"])]
    if notes:
        h += ["<h2>Notes</h2><ul>", *[f"<li>{html.escape(n)}</li>" for n in notes], "</ul>"]
    for caption, _, b64 in pngs:
        h.append(
            f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{b64}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    h += ["<h2>Cases</h2>", _html_table(head, shown), f"<p>{more}</p>" if more else ""]
    if problems:
        h += [
            "<h2 class='missing'>Missing or failed cases</h2><ul>",
            *[f"<li class='missing'>{html.escape(p)}</li>" for p in problems],
            "</ul>",
        ]
    h += [
        f"<h2>Configuration</h2><p><code>{html.escape(str(spec.path))}</code></p>",
        f"<pre>{html.escape(config_text)}</pre></body></html>",
    ]
    _write_text(folder / "index.html", "\n".join(h))

    return _entry_from_meta(spec.name, meta)


def _fingerprint(sr: StudyResults, prov: dict[str, Any]) -> str:
    """Hash of everything a study's report shows: stored entries, missing/stale/failed cases,
    the spec, and the code and commit that draw it."""
    import hashlib

    blob = {
        "done": [(c.key, e.get("finished_at"), e.get("code_version")) for c, e in sr.done],
        "missing": [c.key for c in sr.missing],
        "stale": sr.stale,
        "failures": sr.failures,
        "spec": [str(sr.spec.path), sr.spec.raw, sr.tier],
        "code": [prov["code_version"], prov["git_commit"], prov["git_dirty"]],
    }
    text = json.dumps(blob, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, json.JSONDecodeError):
        return None


def _entry_from_meta(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The index entry of a study from its ``meta.json``."""
    orders = meta.get("summary", {}).get("orders", [])
    matches = [o.get("match") for o in orders]
    return {
        "name": name,
        "title": meta.get("title", name),
        "purpose": meta.get("purpose", ""),
        "kind": meta.get("kind", ""),
        "n_done": meta.get("n_cases", 0) - meta.get("n_missing", 0),
        "n_missing": meta.get("n_missing", 0),
        "n_failed": len(meta.get("failures", {})),
        "orders_matched": sum(m is True for m in matches),
        "orders_checked": sum(m is not None for m in matches),
        "orders": [f"{o['label']} {_fmt(o['order'])}" for o in orders],
    }


def write_index(out: Path, entries: list[dict[str, Any]], tier: str, prov: dict[str, Any]) -> Path:
    """``out/index.html`` linking every study with its order verdicts."""
    rows, classes = [], []
    for e in entries:
        state = "none"
        if e["orders_checked"]:
            state = "match" if e["orders_matched"] == e["orders_checked"] else "mismatch"
        link = f"<a href='{html.escape(e['name'])}/index.html'>{html.escape(e['name'])}</a>"
        cells = [
            link,
            html.escape(e["purpose"]),
            html.escape(e["kind"]),
            f"{e['orders_matched']}/{e['orders_checked']}" if e["orders_checked"] else "-",
            html.escape("; ".join(e["orders"])),
            f"{e['n_done']}"
            + (f" ({e['n_missing']} missing)" if e["n_missing"] else "")
            + (f" ({e['n_failed']} failed)" if e["n_failed"] else ""),
        ]
        rows.append(f"<tr class='{state}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        classes.append(state)
    head = ["study", "purpose", "kind", "orders matching theory", "observed orders", "cases"]
    page = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>fplab reports</title>"
        f"<style>{_CSS}</style></head><body><h1>fplab reports ({html.escape(tier)} tier)</h1>",
        f"<p><em>fplab {prov['fplab_version']}, code {prov['code_version']}, commit "
        f"{(prov['git_commit'] or 'unknown')[:12]}, {html.escape(prov['machine'])}, generated "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}</em></p>",
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>",
        *rows,
        "</table></body></html>",
    ]
    path = out / "index.html"
    _write_text(path, "\n".join(page))
    return path


def write_reports(
    out: str | Path,
    specs: list[StudySpec],
    tier: str,
    cache: ResultCache,
    failures: dict[str, str] | None = None,
    *,
    stale_ok: bool = False,
) -> Path:
    """Write every study's report folder and ``out/index.html`` from the stored results.

    Studies already reported in ``out`` but not in ``specs`` keep their folders and stay linked
    from the index while their spec file exists (entries re-read from their ``meta.json``).  A
    study whose stored results, spec and code are unchanged since its last report is not redrawn.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prov = provenance()
    entries = {}
    for spec in specs:
        entries[spec.name] = write_study(
            out, collect(spec, tier, cache, failures, stale_ok=stale_ok), prov
        )
    for meta_path in sorted(out.glob("*/meta.json")):
        name = meta_path.parent.name
        meta = _read_meta(meta_path)
        if name in entries or meta is None:
            continue
        # a study reported earlier and not part of this call stays linked while its spec exists
        spec_path = Path(str(meta.get("spec_path", "")))
        if spec_path.is_file():
            entries[name] = _entry_from_meta(name, meta)
    return write_index(out, [entries[k] for k in sorted(entries)], tier, prov)
