"""The ``claims`` study kind: spec validation, verdict mapping, claims.json and the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fplab.claims import ClaimResult
from fplab.errors import ConfigError
from fplab.report import collect, write_reports
from fplab.runner import ResultCache, run_cases
from fplab.study import load_study
from fplab.studykinds.claims import Claims, claims_json, to_verdict

ROOT = Path(__file__).resolve().parent.parent


def _spec(tmp_path: Path, options: str) -> Path:
    path = tmp_path / "studies" / "c.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'# tiny claims study\nkind = "claims"\n[options]\n{options}\n')
    return path


def test_shipped_spec_measures_every_claim_in_the_issues_order():
    from fplab.claims import ordered_ids

    spec = load_study(ROOT / "studies" / "claims.toml")
    labels = [c.label for c in spec.cases("quick")]
    assert labels == ordered_ids() and len(labels) == 26


def test_unknown_claim_id_is_a_config_error_naming_the_key(tmp_path):
    with pytest.raises(
        ConfigError, match=r"options\.claims: unknown claim 'cosine-bta'.*cosine-beta"
    ):
        load_study(_spec(tmp_path, 'claims = ["cosine-bta"]'))
    with pytest.raises(ConfigError, match=r"options\.claims: wrong type"):
        load_study(_spec(tmp_path, 'claims = "cosine-beta"'))


def test_verdicts_pass_when_conclusive_and_fail_when_undecided():
    base = {"statement": "s", "value": 0.3, "uncertainty": 0.01, "detail": "d", "quantity": "q"}
    for cv in ("holds", "fails"):
        v = to_verdict(ClaimResult("x", verdict=cv, **base))
        assert v.verdict == "pass" and f"textbook claim {cv}" in v.note and v.measured == 0.3
    v = to_verdict(ClaimResult("x", verdict="holds-when", condition="c only", **base))
    assert v.verdict == "pass" and "holds when c only" in v.note
    v = to_verdict(ClaimResult("x", verdict="undecided", **base))
    assert v.verdict == "fail" and "could not decide" in v.note
    v = to_verdict(ClaimResult("x", verdict="fails", **{**base, "value": math.nan}))
    assert v.measured is None


def test_a_run_writes_claims_json_the_table_and_a_figure(tmp_path):
    path = _spec(tmp_path, 'claims = ["cosine-beta", "cubic-drift-multimodal", "ve-second-moment"]')
    spec = load_study(path)
    cache = ResultCache(tmp_path / "cache")
    assert run_cases(spec.cases("quick"), cache=cache, progress=None).failures == {}
    sr = collect(spec, "quick", cache)
    verdicts = Claims().claims(spec, sr.results, sr.summary())
    assert [v.claim for v in verdicts] == [
        "cubic-drift-multimodal",
        "ve-second-moment",
        "cosine-beta",
    ]
    assert all(v.verdict == "pass" for v in verdicts)
    index = write_reports(tmp_path / "r", [spec], "quick", cache)
    folder = index.parent / "c"
    items = json.loads((folder / "claims.json").read_text(encoding="utf-8"))
    assert {"id", "statement", "verdict", "value", "detail"} <= set(items[0])
    assert {i["id"]: i["verdict"] for i in items} == {
        "cubic-drift-multimodal": "fails",
        "ve-second-moment": "holds-when",
        "cosine-beta": "fails",
    }
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert "## Textbook claims" in md and "cubic-drift-multimodal: fails" in md
    assert (folder / "fig-1.png").is_file()  # the stationary density of the cubic drift
    assert json.loads(claims_json([])) == []
