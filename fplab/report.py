"""Reports: the only module that writes them.

``write_reports(out, specs, tier, cache)`` writes, for every study, ``out/<study>/`` with
``index.html`` (self-contained: figures inlined as base64 PNG, opens offline), ``report.md`` (with
the same figures as ``fig-N.png`` next to it), ``results.csv`` (one row per case) and
``meta.json`` (version, code hash, git commit, package versions, seed, configuration, times,
judged claims), plus ``out/index.html`` and its Markdown twin ``out/index.md`` linking all
studies.  Each page opens with the study's ``Verdict`` table (one row per claim, from
``StudyKind.claims``) and the claims totals line; the index carries the totals over all
studies.  Every number comes from a stored case result in the cache; cases that are not stored
are listed as missing, never recomputed here.
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
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fplab._io import atomic_write
from fplab.records import (
    REPORT_COLUMNS,
    CaseResult,
    Row,
    Verdict,
    json_default,
    strict_json,
    totals,
    totals_line,
)
from fplab.runner import ResultCache, merge_timing
from fplab.spec import StudySpec
from fplab.studykinds.base import Case
from fplab.version import code_version

__all__ = ["ReportOutcome", "StudyResults", "collect", "report_all", "write_reports"]

_PACKAGES = ("numpy", "scipy", "numba", "matplotlib", "torch", "pot", "dask", "distributed")


@dataclass
class StudyResults:
    """A study's stored results for one tier: (case, stored record) pairs, missing and failed
    cases.  The records' rows are :class:`fplab.records.Row` objects."""

    spec: StudySpec
    tier: str
    done: list[tuple[Case, CaseResult]] = field(default_factory=list)
    missing: list[Case] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    #: the kind's exception while summarising, judging or drawing ("" when none), and its
    #: traceback: the study then has the one failed claim ``report`` (``_drawing_failed``)
    error: str = ""
    error_traceback: str = ""

    def fail(self, exc: BaseException) -> dict[str, Any]:
        """Record the kind's exception ``exc``; returns the summary that stands in for its own."""
        self.error = f"{type(exc).__name__}: {exc}"
        self.error_traceback = traceback.format_exc()
        return {"orders": [], "errors": {}, "traceback": self.error_traceback}

    @property
    def results(self) -> list[tuple[Case, dict[str, Any]]]:
        """(case, case result) pairs, as the kinds' ``summarize``/``figures`` take them (rows
        with their wall-clock timing fields merged back in)."""
        return [(case, merge_timing(rec.result, rec.timing)) for case, rec in self.done]

    def summary(self) -> dict[str, Any]:
        """The kind's summary; the kind's code (a plugin's, perhaps) raising fails this study
        (:meth:`fail`), not the command (``fplab run``, ``report`` and ``check`` alike)."""
        if not self.done:
            return {"orders": [], "errors": {}}
        try:
            return self.spec.kind_obj.summarize(self.spec, self.results)
        except Exception as exc:
            return self.fail(exc)

    def verdicts(self, summary: dict[str, Any] | None = None) -> list[Verdict]:
        """The study's claims judged on the stored results (``StudyKind.claims``); with missing
        or failed cases every claim that does not fail is at most inconclusive.  After the
        kind raised, the one failed claim ``report``."""
        summary = self.summary() if summary is None else summary
        if not self.error:
            try:
                return _verdicts(self, summary)
            except Exception as exc:
                self.fail(exc)
        return [_drawing_failed(self.spec, self.error)]


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
    result of the same configuration from an older code version, listed in ``stale``.  This is
    where stored JSON becomes typed records (``CaseResult.from_json``: rows as ``Row``).
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
            out.done.append((case, CaseResult.from_json(entry)))
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
        "threads": _threads(),
    }


def _threads() -> str:
    """Threads a case may use: worker processes run with 1 (``fplab.runner``); in-process runs
    with numba's and torch's settings of this process."""
    parts = [f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}"]
    try:
        import numba

        parts.append(f"numba {getattr(numba.config, 'NUMBA_NUM_THREADS', '?')}")
    except ImportError:  # pragma: no cover - numba is a core dependency
        pass
    return ", ".join(parts) + "; parallel workers run 1 thread each"


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
    if v is None:  # a column this row does not record, or a non-finite value stored as null
        return "n/a"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if 1e-3 <= abs(v) < 1e5 or v == 0 else f"{v:.3e}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _order_cells(o: dict[str, Any], v: Verdict | None = None) -> list[str]:
    """A row of the orders table: the fit, the finest error beside the reference's own error
    estimate, the claim's verdict (or "no claim") and the points' flags."""
    ci = o.get("ci") or [math.nan, math.nan]
    flags = ", ".join(sorted(set(o.get("flags") or []) - {"ok", ""}))
    errors = [e for e in o.get("errors") or [] if e is not None]
    ref = o.get("reference_error")
    return [
        o["label"],
        o.get("quantity", ""),
        _fmt(o["order"]),
        f"[{_fmt(ci[0])}, {_fmt(ci[1])}]",
        _fmt(o.get("expected")) if o.get("expected") is not None else "no claim",
        v.verdict if v is not None else "no claim",
        _fmt(min(errors)) if errors else "no finite error",
        (_fmt(ref) if ref is not None else "no estimate") + f" ({o.get('reference_note', '')})",
        flags or "none",
    ]


#: rows of the cases table shown in report.md / index.html (results.csv holds them all)
_MAX_SHOWN_ROWS = 80

_ORDER_HEAD = [
    "compared",
    "quantity",
    "observed order",
    "95% interval",
    "theory",
    "verdict",
    "finest error",
    "reference error (estimate)",
    "flags",
]


def _case_rows(case: Case, rec: CaseResult) -> list[tuple[str, Row]]:
    """(label, row) of a stored case: its ``row``, or each of its ``rows`` (multi-level cases),
    with the rows' wall-clock timing fields."""
    res = merge_timing(rec.result, rec.timing)
    if "row" in res:
        return [(case.label, res["row"])]
    return [(str(r.get("label", case.label)), r) for r in res.get("rows", [])]


def _rows_table(results: list[tuple[Case, CaseResult]]) -> tuple[list[str], list[list[Any]]]:
    """The cases table: one column per row field in the order the kind wrote them (first
    seen first), the case's seconds and cache key last."""
    columns: list[str] = []
    for case, rec in results:
        for _, row in _case_rows(case, rec):
            columns += [k for k in row if k not in columns and k != "label"]
    rows = [
        [label, *[row.get(c) for c in columns], rec.seconds, case.key]
        for case, rec in results
        for label, row in _case_rows(case, rec)
    ]
    first, *last = REPORT_COLUMNS  # names a row field may not take (records.rows_records)
    return [first, *columns, *last], rows


def _png(fig: Any) -> bytes:
    """PNG at 2x resolution; the tight box keeps every label and the outside legend in view."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=2 * fig.dpi, bbox_inches="tight", pad_inches=0.1)
    except ValueError:
        # mathtext could not parse a label (a study named "a$b\\q$c" puts "$b\\q$" in a
        # title): draw every text literally instead of failing after the cases ran
        from matplotlib.text import Text

        for text in fig.findobj(Text):
            text.set_parse_math(False)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=2 * fig.dpi, bbox_inches="tight", pad_inches=0.1)
    return buf.getvalue()


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,td.t{text-align:left}
tr.v-pass td{background:#e3f6e3}tr.v-fail td{background:#fbe0e0}tr.v-inconclusive td{background:#fff4d6}
.scroll{overflow-x:auto;max-width:100%}
pre{background:#f6f6f6;padding:0.7em;overflow-x:auto;font-size:0.85em}figure{margin:1.5em 0}img{max-width:100%}
.missing{color:#b00}.totals{font-size:1.1em}"""


def _html_cell(text: str) -> str:
    """A table cell: numbers right-aligned (the default), prose left-aligned so it reads."""
    try:
        float(text.replace("×", "").replace("%", ""))
    except ValueError:
        if len(text) > 12:
            return f"<td class='t'>{html.escape(text)}</td>"
    return f"<td>{html.escape(text)}</td>"


def _html_table(head: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    out = [
        "<div class='scroll'><table><tr>",
        *[f"<th>{html.escape(h)}</th>" for h in head],
        "</tr>",
    ]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes else ""
        out.append(f"<tr{cls}>" + "".join(_html_cell(_fmt(c)) for c in row) + "</tr>")
    out.append("</table></div>")
    return "".join(out)


_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>#|"})


def _md_text(text: Any) -> str:
    """Spec-supplied text as literal Markdown: one line, markup characters backslash-escaped
    (a title "<script>" or "# x\n## y" must not become HTML or headings in report.md)."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def _md_table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [
        "| " + " | ".join(" ".join(_fmt(c).split()).replace("|", "/") for c in row) + " |"
        for row in rows
    ]
    return "\n".join(lines)


def _write_text(path: Path, text: str | bytes) -> None:
    # unique temporary name: concurrent `fplab report --out same` must not share one
    atomic_write(path, text)


# -- one study ------------------------------------------------------------------------------
_VERDICT_HEAD = ["claim", "measured", "bound", "Verdict", "note"]


@dataclass
class _Page:
    """Everything a study page shows, computed once from the stored results."""

    summary: dict[str, Any]
    verdicts: list[Verdict]
    figures: list[tuple[str, bytes]]  # (caption, PNG)
    head: list[str]
    rows: list[list[Any]]
    problems: list[str]
    meta: dict[str, Any]
    extra_files: dict[str, str] = field(default_factory=dict)


def _verdicts(sr: StudyResults, summary: dict[str, Any]) -> list[Verdict]:
    """The study's claims judged (none while nothing is stored); a missing or failed case makes
    every claim at most inconclusive, since the data behind it are incomplete."""
    if not sr.done:
        return []
    verdicts = list(sr.spec.kind_obj.claims(sr.spec, sr.results, summary))
    if sr.missing or sr.failures:
        gap = f"{len(sr.missing)} cases missing or failed; judged on the rest"
        verdicts = [
            v
            if v.verdict == "fail"
            else replace(v, verdict="inconclusive", note=f"{gap}; {v.note}".rstrip("; "))
            for v in verdicts
        ]
    return verdicts


def _build_page(sr: StudyResults, prov: dict[str, Any], fingerprint: str) -> _Page:
    spec = sr.spec
    kind = spec.kind_obj
    summary = sr.summary()  # guarded, as verdicts: the kind's error fails this study only
    verdicts = sr.verdicts(summary)
    figures: list[tuple[str, bytes]] = []
    extra: dict[str, str] = {}
    if sr.done and not sr.error:
        try:
            # rendered here, inside the guard: savefig is where a bad axis (no positive data
            # on a log scale) raises
            figs = kind.figures(spec, sr.results, summary)
            figures = [(caption, _png(fig)) for caption, fig in figs]
            extra = kind.extra_files(spec, sr.results, summary)
        except Exception as exc:
            summary = sr.fail(exc)
            figures, extra = [], {}
            verdicts = [_drawing_failed(spec, sr.error)]
    drawn_error = sr.error
    if drawn_error:
        fingerprint = ""  # never "unchanged": the next report tries again
    head, rows = _rows_table(sr.done)
    case_seconds = sum(float(rec.seconds or 0.0) for _, rec in sr.done)
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
        "case_code_versions": sorted({rec.code_version for _, rec in sr.done}),
        "config": spec.raw,
        "summary": summary,
        "claims": [v.to_json() for v in verdicts],
        "fingerprint": fingerprint,
    }
    problems = [f"missing (not run yet): {c.label}" for c in sr.missing]
    if drawn_error:
        meta["report_error"] = drawn_error
        problems.append(f"the report could not be drawn: {drawn_error}")
    if sr.stale:
        problems.append(
            f"{len(sr.stale)} cases come from an older code version "
            f"({', '.join(meta['case_code_versions'])}); `fplab run` refreshes them"
        )
    problems += [f"failed: {k}: {v}" for k, v in sr.failures.items()]
    return _Page(summary, verdicts, figures, head, rows, problems, meta, extra)


def _drawing_failed(spec: StudySpec, error: str) -> Verdict:
    """The failed claim of a study whose kind raised while summarising, judging or drawing."""
    return Verdict(
        claim="report",
        statement=f"study kind {spec.kind!r} summarises, judges and draws the stored results",
        measured=None,
        bound="no exception",
        verdict="fail",
        note=f"{error} (traceback in meta.json: summary.traceback)",
    )


def _write_data_files(folder: Path, sr: StudyResults, page: _Page) -> list[tuple[str, str, str]]:
    """results.csv, the kind's extra files and fig-N.png (2x resolution); returns (caption,
    file name, base64 PNG) per figure.  meta.json is written last, by ``write_study``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(page.head)
    writer.writerows([[("" if c is None else c) for c in r] for r in page.rows])
    _write_text(folder / "results.csv", buf.getvalue())
    for fname, text in page.extra_files.items():
        _write_text(folder / fname, text)
    pngs = []
    for i, (caption, data) in enumerate(page.figures, start=1):
        _write_text(folder / f"fig-{i}.png", data)
        pngs.append((caption, f"fig-{i}.png", base64.b64encode(data).decode("ascii")))
    for stale_fig in folder.glob("fig-*.png"):
        if stale_fig.name not in {p[1] for p in pngs}:
            stale_fig.unlink()
    return pngs


def _verdict_rows(verdicts: list[Verdict]) -> tuple[list[list[Any]], list[str]]:
    rows = [
        [
            f"{v.claim}: {v.statement}",
            _fmt(v.measured) if v.measured is not None else "not measured (see note)",
            v.bound,
            v.verdict,
            v.note,
        ]
        for v in verdicts
    ]
    return rows, [f"v-{v.verdict}" for v in verdicts]


def _orders_rows(page: _Page) -> tuple[list[list[Any]], list[str]]:
    by_claim = {v.claim: v for v in page.verdicts}
    rows, classes = [], []
    for o in page.summary.get("orders", []):
        v = by_claim.get(f"order[{o['label']}]")
        rows.append(_order_cells(o, v))
        classes.append(f"v-{v.verdict}" if v else "v-none")
    return rows, classes


def _no_claim_lines(summary: dict[str, Any]) -> list[str]:
    return [f"{n['label']}: {n['reason']}" for n in summary.get("no_claim", [])]


def _provenance_lines(meta: dict[str, Any]) -> list[str]:
    pk = meta.get("packages", {})
    commit = (meta.get("git_commit") or "unknown")[:12]
    dirty = {True: " (dirty: local changes)", False: " (clean)"}.get(
        bool(meta.get("git_dirty")), ""
    )
    if meta.get("git_dirty") is None:
        dirty = ""  # not a git checkout
    lines = [
        f"generated {meta['generated_at']}",
        f"fplab {meta['fplab_version']} (code {meta['code_version']}), commit {commit}{dirty}",
        f"Python {meta['python']}, numpy {pk.get('numpy', '-')}, numba {pk.get('numba', '-')}, "
        f"torch {pk.get('torch', 'not installed')}",
        f"CPU {meta['machine']}; threads: {meta.get('threads', 'unknown')}",
        f"tier {meta['tier']}, seed {meta['seed']}, {meta['n_cases'] - meta['n_missing']} stored "
        f"cases ({meta['case_seconds_total']:.1f} s of compute, compilation included)",
    ]
    if meta.get("plugins"):  # a plugin is code that ran: say which, in which version
        lines.append(
            "plugins: "
            + ", ".join(
                f"{p['module']} {p['version'] or '(not installed)'} (source {p['hash']})"
                for p in meta["plugins"]
            )
        )
    return lines


_LINKS = ("results.csv", "meta.json", "report.md")
_NA_NOTE = (
    "n/a: the row does not record that column (it belongs to other cases or levels), or the "
    "value was not finite (NaN or inf, stored as null; e.g. a blow-up time without noise)."
)


def _markdown_page(sr: StudyResults, page: _Page, pngs: list[tuple[str, str, str]]) -> str:
    spec = sr.spec
    tables = page.summary.get("tables", [])
    notes = page.summary.get("notes", [])
    vrows, _ = _verdict_rows(page.verdicts)
    md = [f"# {_md_text(spec.title)}", "", _md_text(spec.purpose), ""]
    md += ["## Verdict", "", f"**{totals_line(page.verdicts)}**", ""]
    if vrows:
        md += [_md_table(_VERDICT_HEAD, vrows), ""]
    else:
        md += ["No claims could be judged: no stored results.", ""]
    no_claim = _no_claim_lines(page.summary)
    if no_claim:
        md += ["Carry no claim:", "", *[f"- {n}" for n in no_claim], ""]
    md += ["Files: " + ", ".join(f"[{n}]({n})" for n in _LINKS), ""]
    md += ["## Provenance", "", *[f"- {line}" for line in _provenance_lines(page.meta)], ""]
    if pngs:
        md += ["## Figures", ""] + [
            f"![{_md_text(c)}]({name})\n\n*{_md_text(c)}*\n" for c, name, _ in pngs
        ]
    orows, _ = _orders_rows(page)
    if orows:
        md += ["## Observed orders", "", _md_table(_ORDER_HEAD, orows), ""]
    for t in tables:
        md += [
            f"## {_md_text(t['title'])}",
            "",
            _md_table(t["columns"], t["rows"]),
            "",
            _NA_NOTE,
            "",
        ]
    if notes:
        md += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    shown = page.rows[:_MAX_SHOWN_ROWS]
    more = _more(page.rows, shown)
    md += ["## Cases", "", _md_table(page.head, shown), "", more, "", _NA_NOTE, ""]
    if page.problems:
        md += ["## Missing or failed cases", "", *[f"- {p}" for p in page.problems], ""]
    md += ["## Configuration", "", f"`{spec.path}`:", "", "```toml", _config_text(spec), "```", ""]
    return "\n".join(md)


def _more(rows: list[Any], shown: list[Any]) -> str:
    return f"{len(rows) - len(shown)} more rows in results.csv" if len(rows) > len(shown) else ""


def _config_text(spec: StudySpec) -> str:
    text = spec.path.read_text(encoding="utf-8") if spec.path.is_file() else json.dumps(spec.raw)
    return text.rstrip()


def _html_page(sr: StudyResults, page: _Page, pngs: list[tuple[str, str, str]]) -> str:
    spec = sr.spec
    tables = page.summary.get("tables", [])
    notes = page.summary.get("notes", [])
    vrows, vcls = _verdict_rows(page.verdicts)
    links = " · ".join(f"<a href='{n}'>{n}</a>" for n in _LINKS)
    h = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(spec.title)}</title>",
        f"<style>{_CSS}</style></head><body><p><a href='../index.html'>all studies</a> · {links}</p>",
        f"<h1>{html.escape(spec.title)}</h1><p>{html.escape(spec.purpose)}</p>",
        f"<p class='totals'><strong>{html.escape(totals_line(page.verdicts))}</strong></p>",
    ]
    if vrows:
        h.append(_html_table(_VERDICT_HEAD, vrows, vcls))
    else:
        h.append("<p>No claims could be judged: no stored results.</p>")
    no_claim = _no_claim_lines(page.summary)
    if no_claim:
        h += ["<p>Carry no claim:</p><ul>", *[f"<li>{html.escape(n)}</li>" for n in no_claim]]
        h.append("</ul>")
    prov = "".join(f"<li>{html.escape(line)}</li>" for line in _provenance_lines(page.meta))
    h.append(f"<details><summary>Provenance</summary><ul>{prov}</ul></details>")
    for caption, _, b64 in pngs:
        h.append(
            f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{b64}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    orows, ocls = _orders_rows(page)
    if orows:
        tol = _fmt(float(spec.expect.get("tolerance", 0.1)))
        h += [
            "<h2>Observed orders</h2>",
            f"<p>Rows take the colour of their claim's verdict (tolerance {tol}); a row without "
            "a claim is uncoloured. Flags: round-off (error within 1e3 machine epsilons of the "
            "quantity's scale), statistical floor (error below 2 standard errors), plateau "
            "(fine-end floor above round-off), pre-asymptotic (coarse point off the fine slope).</p>",
            _html_table(_ORDER_HEAD, orows, ocls),
        ]
    for t in tables:
        h += [f"<h2>{html.escape(t['title'])}</h2>", _html_table(t["columns"], t["rows"])]
        h.append(f"<p>{html.escape(_NA_NOTE)}</p>")
    if notes:
        h += ["<h2>Notes</h2><ul>", *[f"<li>{html.escape(n)}</li>" for n in notes], "</ul>"]
    shown = page.rows[:_MAX_SHOWN_ROWS]
    more = _more(page.rows, shown)
    h += ["<h2>Cases</h2>", _html_table(page.head, shown), f"<p>{more}</p>" if more else ""]
    h.append(f"<p>{html.escape(_NA_NOTE)}</p>")
    if page.problems:
        h += [
            "<h2 class='missing'>Missing or failed cases</h2><ul>",
            *[f"<li class='missing'>{html.escape(p)}</li>" for p in page.problems],
            "</ul>",
        ]
    h += [
        f"<h2>Configuration</h2><p><code>{html.escape(str(spec.path))}</code></p>",
        f"<pre>{html.escape(_config_text(spec))}</pre></body></html>",
    ]
    return "\n".join(h)


def write_study(out: Path, sr: StudyResults, prov: dict[str, Any]) -> dict[str, Any]:
    """Write ``out/<study>/``; returns the index entry (name, purpose, verdicts, state)."""
    spec = sr.spec
    folder = out / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    prov = _study_plugins(sr, prov)
    fingerprint = _fingerprint(sr, prov)
    old = _read_meta(folder / "meta.json")
    if (
        old is not None
        and old.get("fingerprint") == fingerprint
        and (folder / "index.html").is_file()
    ):
        return _entry_from_meta(spec.name, old)  # same results, spec and code: nothing to redraw
    page = _build_page(sr, prov, fingerprint)
    pngs = _write_data_files(folder, sr, page)
    _write_text(folder / "report.md", _markdown_page(sr, page, pngs))
    _write_text(folder / "index.html", _html_page(sr, page, pngs))
    # last: its fingerprint says "this folder is complete and current", so a report killed
    # before this line is redrawn by the next one (first, it kept a half-old folder for good).
    # json_default: a record a kind put into its summary (a Row) is written by its to_json(),
    # never as its str(); strict_json: NaN/inf as null, so that any JSON parser reads the file
    meta = json.dumps(strict_json(page.meta), indent=2, default=json_default, allow_nan=False)
    _write_text(folder / "meta.json", meta)
    return _entry_from_meta(spec.name, page.meta)


def _study_plugins(sr: StudyResults, prov: dict[str, Any]) -> dict[str, Any]:
    """``prov`` with only the plugins this study uses: named in its spec or owning an entry (or
    the kind) its cases name; an installed plugin it never touches is not part of its story."""
    if not prov.get("plugins"):
        return prov
    from fplab.plugins import plugin_fingerprint

    used = set(sr.spec.raw.get("plugins", []))
    for case in [c for c, _ in sr.done] + sr.missing:
        used |= set(plugin_fingerprint(case.kind, case.config))
    out = {k: v for k, v in prov.items() if k != "plugins"}
    plugins = [p for p in prov["plugins"] if p["module"] in used]
    return {**out, "plugins": plugins} if plugins else out


def _fingerprint(sr: StudyResults, prov: dict[str, Any]) -> str:
    """Hash of everything a study's report shows: stored entries, missing/stale/failed cases,
    the spec, and the code and commit that draw it."""
    import hashlib

    blob = {
        "done": [(c.key, rec.finished_at, rec.code_version) for c, rec in sr.done],
        "missing": [c.key for c in sr.missing],
        "stale": sr.stale,
        "failures": sr.failures,
        "spec": [str(sr.spec.path), sr.spec.raw, sr.tier],
        "code": [prov["code_version"], prov["git_commit"], prov["git_dirty"]],
    }
    text = json.dumps(blob, sort_keys=True, default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, json.JSONDecodeError):
        return None


def _entry_from_meta(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The index entry of a study from its ``meta.json``: its judged claims and case counts."""
    verdicts = [Verdict.from_json(v) for v in meta.get("claims", [])]
    return {
        "name": name,
        "title": meta.get("title", name),
        "purpose": meta.get("purpose", ""),
        "kind": meta.get("kind", ""),
        "n_done": meta.get("n_cases", 0) - meta.get("n_missing", 0),
        "n_missing": meta.get("n_missing", 0),
        "n_failed": len(meta.get("failures", {})),
        "verdicts": verdicts,
        "no_claim": [n["label"] for n in meta.get("summary", {}).get("no_claim", [])],
        "report_error": meta.get("report_error", ""),
    }


def _study_verdict(e: dict[str, Any]) -> tuple[str, str]:
    """(css state, text) of a study's verdict cell: its counts and the claims not passing."""
    t = totals(e["verdicts"])
    if not t["checked"]:
        return "v-none", "no claims"
    state = "v-fail" if t["fail"] else "v-inconclusive" if t["inconclusive"] else "v-pass"
    text = f"{t['pass']}/{t['checked']} pass"
    for kind in ("fail", "inconclusive"):
        names = [v.claim for v in e["verdicts"] if v.verdict == kind]
        if names:
            text += f"; {kind}: {', '.join(names)}"
    return state, text


def _cases_text(e: dict[str, Any]) -> str:
    return (
        f"{e['n_done']}"
        + (f" ({e['n_missing']} missing)" if e["n_missing"] else "")
        + (f" ({e['n_failed']} failed)" if e["n_failed"] else "")
    )


def _index_header(tier: str, prov: dict[str, Any]) -> str:
    return (
        f"fplab {prov['fplab_version']}, code {prov['code_version']}, commit "
        f"{(prov['git_commit'] or 'unknown')[:12]}{' (dirty)' if prov.get('git_dirty') else ''}, "
        f"{prov['machine']}, {tier} tier, generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


_INDEX_HEAD = ["study", "purpose", "kind", "verdicts", "no claim", "cases"]


def write_index(out: Path, entries: list[dict[str, Any]], tier: str, prov: dict[str, Any]) -> Path:
    """``out/index.html`` and its Markdown twin ``out/index.md``: the claims totals over every
    study, then one row per study with its verdicts and the names that carry no claim."""
    all_verdicts = [v for e in entries for v in e["verdicts"]]
    line = totals_line(all_verdicts)
    rows = []
    md = [f"# fplab reports ({tier} tier)", "", f"**{line}**", "", f"*{_index_header(tier, prov)}*"]
    md += ["", "| " + " | ".join(_INDEX_HEAD) + " |", "|" + "---|" * len(_INDEX_HEAD)]
    for e in entries:
        state, verdict = _study_verdict(e)
        no_claim = ", ".join(e["no_claim"]) or "none"
        href = html.escape(quote(e["name"]))  # a folder name with spaces, quotes or brackets
        link = f"<a href='{href}/index.html'>{html.escape(e['name'])}</a>"
        cells = [
            link,
            html.escape(e["purpose"]),
            html.escape(e["kind"]),
            html.escape(verdict),
            html.escape(no_claim),
            _cases_text(e),
        ]
        # prose (purpose, verdicts, no-claim names) reads left-aligned; only the count is a number
        tds = [f"<td class='t'>{c}</td>" for c in cells[:-1]] + [f"<td>{cells[-1]}</td>"]
        rows.append(f"<tr class='{state}'>" + "".join(tds) + "</tr>")
        md_cells = [
            f"[{_md_text(e['name'])}]({quote(e['name'])}/report.md)",
            e["purpose"],
            e["kind"],
            verdict,
            no_claim,
            _cases_text(e),
        ]
        md.append("| " + " | ".join(c.replace("|", "/") for c in md_cells) + " |")
    page = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>fplab reports</title>"
        f"<style>{_CSS}</style></head><body><h1>fplab reports ({html.escape(tier)} tier)</h1>",
        f"<p class='totals'><strong>{html.escape(line)}</strong></p>",
        f"<p><em>{html.escape(_index_header(tier, prov))}</em> · <a href='index.md'>index.md</a></p>",
        "<div class='scroll'><table><tr>" + "".join(f"<th>{h}</th>" for h in _INDEX_HEAD) + "</tr>",
        *rows,
        "</table></div></body></html>",
    ]
    _write_text(out / "index.md", "\n".join(md) + "\n")
    path = out / "index.html"
    _write_text(path, "\n".join(page))
    return path


@dataclass
class ReportOutcome:
    """What ``report_all`` wrote: the index path and every reported study's judged claims."""

    index: Path
    verdicts: dict[str, list[Verdict]]

    @property
    def all_verdicts(self) -> list[Verdict]:
        return [v for vs in self.verdicts.values() for v in vs]

    def failed(self) -> list[str]:
        """``study: claim`` of every failed claim."""
        return [
            f"{name}: {v.claim}"
            for name, vs in self.verdicts.items()
            for v in vs
            if v.verdict == "fail"
        ]


def write_reports(
    out: str | Path,
    specs: list[StudySpec],
    tier: str,
    cache: ResultCache,
    failures: dict[str, str] | None = None,
    *,
    stale_ok: bool = False,
) -> Path:
    """Write every study's report folder and ``out/index.html``; returns the index path
    (``report_all`` also returns the verdicts)."""
    return report_all(out, specs, tier, cache, failures, stale_ok=stale_ok).index


def report_all(
    out: str | Path,
    specs: list[StudySpec],
    tier: str,
    cache: ResultCache,
    failures: dict[str, str] | None = None,
    *,
    stale_ok: bool = False,
) -> ReportOutcome:
    """Write every study's report folder, ``out/index.html`` and ``out/index.md`` from the
    stored results; returns the index path and the judged claims of the studies in ``specs``.

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
        if entries[spec.name]["report_error"]:
            print(
                f"fplab: error: study {spec.name!r}: its report could not be drawn "
                f"({entries[spec.name]['report_error']}); see {out / spec.name / 'report.md'}",
                file=sys.stderr,
            )
    verdicts = {name: e["verdicts"] for name, e in entries.items()}
    for meta_path in sorted(out.glob("*/meta.json")):
        name = meta_path.parent.name
        meta = _read_meta(meta_path)
        if name in entries or meta is None:
            continue
        # a study reported earlier and not part of this call stays linked while its spec exists
        spec_path = Path(str(meta.get("spec_path", "")))
        if spec_path.is_file():
            try:
                entries[name] = _entry_from_meta(name, meta)
            except (TypeError, ValueError, KeyError, AttributeError) as err:
                # written by another fplab version (a Verdict field more or less): it must
                # not stop the reports of this run
                print(
                    f"fplab: note: {meta_path} cannot be read by this fplab "
                    f"({type(err).__name__}: {err}); left out of the index until "
                    f"`fplab run {spec_path}` redraws it",
                    file=sys.stderr,
                )
    index = write_index(out, [entries[k] for k in sorted(entries)], tier, prov)
    return ReportOutcome(index, verdicts)
