"""Typed records: Row (one row of a case result) through the cache, the report and the kinds."""

from __future__ import annotations

import dataclasses
import json
import math
import struct

import numpy as np
import pytest

from fplab.records import SCHEMA_VERSION, CaseResult, Row, json_default
from fplab.report import _rows_table, collect
from fplab.runner import CacheWarning, ResultCache, merge_timing, run_cases, split_timing
from fplab.study import load_study
from fplab.studykinds.em_law import EulerLaw
from tests.test_study import GOOD, write

#: floats JSON must carry exactly: the shortest repr of each reads back to the same bits
AWKWARD = [0.1 + 0.2, 1e-300, 5e-324, -0.0, 1 / 3, 2.0**60 + 1, math.inf, -math.inf, math.nan]


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def record(result: dict, **kw) -> CaseResult:
    return CaseResult(
        key="cd" * 16,
        study="s",
        label="x",
        kind="em-law",
        config={"value": 1},
        result=result,
        seconds=0.5,
        code_version="0+test",
        finished_at="2026-01-01T00:00:00Z",
        **kw,
    )


@pytest.fixture
def spec(tmp_path):
    return load_study(write(tmp_path, GOOD.replace("quick = [4, 8, 16]", "quick = [4, 8]")))


def test_row_round_trips_the_cache_bit_exactly_in_field_order(tmp_path):
    # field names deliberately not sorted: the kind's order is the column order
    fields = {"zeta": "a", "h": 0.25, **{f"v{i}": v for i, v in enumerate(AWKWARD)}}
    fields |= {"n": 2**53 + 1, "ok": True, "none": None, "xs": [1, 2.5, None, "s", False]}
    rec = record({"rows": [fields, {"b": 1, "a": 2}], "curve": {"x": [0.0, 1.0]}})
    assert all(isinstance(r, Row) for r in rec.rows)
    cache = ResultCache(tmp_path / "c")
    cache.put(rec.key, rec.to_json())
    back = CaseResult.from_json(cache.get(rec.key))
    row = back.rows[0]
    assert isinstance(row, Row) and list(row) == list(fields) and list(back.rows[1]) == ["b", "a"]
    assert [bits(row[f"v{i}"]) for i in range(len(AWKWARD))] == [bits(v) for v in AWKWARD]
    assert row["n"] == 2**53 + 1 and type(row["n"]) is int and row["ok"] is True
    assert row["none"] is None and row["xs"] == [1, 2.5, None, "s", False]
    assert back.result["curve"] == {"x": [0.0, 1.0]}  # other parts of the result untouched
    # writing the read-back record gives the same bytes as the first write
    first = cache.path(rec.key).read_bytes()
    cache.put(rec.key, back.to_json())
    assert cache.path(rec.key).read_bytes() == first
    assert back.schema == SCHEMA_VERSION == 2


def test_row_is_an_immutable_read_only_mapping():
    row = Row.of(h=0.1, error=2e-3, label="em n=4", xs=[1, 2])
    assert row["error"] == 2e-3 and row.get("missing", 7) == 7 and "h" in row
    assert dict(row) == {"h": 0.1, "error": 2e-3, "label": "em n=4", "xs": [1, 2]}
    assert list(row) == ["h", "error", "label", "xs"] and len(row) == 4
    assert row == {"xs": [1, 2], "label": "em n=4", "error": 2e-3, "h": 0.1}  # as a dict compares
    assert row != Row.of(error=2e-3, h=0.1, label="em n=4", xs=[1, 2])  # field order differs
    assert hash(row) == hash(Row.from_json(row.to_json()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.fields = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        row["h"] = 1.0  # type: ignore[index]
    row["xs"].append(3)  # a list field reads as a fresh list: changing it changes no row
    assert row["xs"] == [1, 2] and row.fields[-1] == ("xs", (1, 2))
    changed = row.replace(error=1.0, seconds_warm=0.2)
    assert changed["error"] == 1.0 and list(changed)[-1] == "seconds_warm"
    assert row["error"] == 2e-3  # the original is unchanged
    with pytest.raises(KeyError, match="no field 'err'; its fields: h, error, label, xs"):
        row["err"]


def test_row_typed_fields():
    row = Row.of(h=1, error=None, stderr=0.5, n_steps=8, label="a", method="ddim")
    assert (row.h, row.stderr, row.n_steps, row.label, row.method) == (1.0, 0.5, 8, "a", "ddim")
    assert type(row.h) is float and math.isnan(row.error)  # None (not measured) reads as nan
    with pytest.raises(AttributeError, match="no field 'h'; its fields: error"):
        Row.of(error=1.0).h
    with pytest.raises(TypeError, match="'error' is 'big', not a number"):
        Row.of(error="big").error
    with pytest.raises(TypeError, match=r"'n_steps' is 2\.5, not an integer"):
        Row.of(n_steps=2.5).n_steps


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ({"x": [1.0]}, "holds a dict"),
        (np.int64(3), "holds a numpy.int64"),
        (np.arange(3), "holds a numpy.ndarray"),
        ([[1.0], [2.0]], "is a list holding a list"),
        (1 + 2j, "holds a complex"),
    ],
)
def test_a_non_json_field_is_refused_naming_the_field(value, what):
    with pytest.raises(TypeError, match=rf"row field 'curve' {what}.*allowed: a JSON scalar"):
        Row.of(h=0.1, curve=value)
    # numpy float64 is a float: stored as the same float, exactly
    assert type(Row.of(e=np.float64(0.1))["e"]) is float and Row.of(e=np.float64(0.1))["e"] == 0.1


def test_a_kind_returning_a_non_json_row_fails_its_case_naming_the_field(
    tmp_path, spec, monkeypatch
):
    monkeypatch.setattr(EulerLaw, "run_one", lambda self, config: {"row": {"h": 0.1, "error": {}}})
    cache = ResultCache(tmp_path / "c")
    out = run_cases(spec.cases("quick")[:1], cache=cache, progress=None)
    (message,) = out.failures.values()
    assert message.startswith("TypeError: row field 'error' holds a dict") and out.n_run == 0
    assert not list(cache.folder.glob("??/*.json"))  # nothing half-written


def test_entries_of_the_previous_schemas_read_as_rows(tmp_path, spec):
    cache = ResultCache(tmp_path / "c")
    cases = spec.cases("quick")
    run_cases(cases, cache=cache, progress=None)
    before = collect(spec, "quick", cache)
    for case in cases:  # rewrite as schema 1 wrote them (the same JSON layout) and as schema 0
        entry = cache.get(case.key)
        assert entry["schema"] == SCHEMA_VERSION
        old = {**entry, "schema": 1} if case is cases[0] else dict(entry)
        if case is not cases[0]:
            del old["schema"]
        cache.put(case.key, old)
    after = collect(spec, "quick", cache)
    assert [r.schema for _, r in after.done] == [1, 0]
    assert all(isinstance(row, Row) for _, r in after.done for row in r.rows)
    assert after.summary() == before.summary()
    assert _rows_table(after.done) == _rows_table(before.done)


def test_a_stored_row_that_is_no_record_is_quarantined_and_recomputed(tmp_path, spec):
    cache = ResultCache(tmp_path / "c")
    cases = spec.cases("quick")[:1]
    run_cases(cases, cache=cache, progress=None)
    entry = cache.get(cases[0].key)
    entry["result"]["row"]["error"] = {"nested": 1.0}  # a layout no fplab wrote
    cache.put(cases[0].key, entry)
    with pytest.warns(CacheWarning, match="wrong shape: row field 'error' holds a dict"):
        again = run_cases(cases, cache=cache, progress=None)
    assert again.n_run == 1 and isinstance(cache.get(cases[0].key)["result"]["row"]["error"], float)


def test_report_lookup_skips_an_entry_of_a_newer_schema(tmp_path, spec):
    cache = ResultCache(tmp_path / "c")
    case = spec.cases("quick")[0]
    run_cases([case], cache=cache, progress=None)
    cache.put(case.key, {**cache.get(case.key), "schema": SCHEMA_VERSION + 1})
    assert ResultCache(cache.folder).latest_for(case.kind, case.config) is None
    # the scan leaves it in place (a newer fplab sharing the cache reads it itself) ...
    stored = json.loads(cache.path(case.key).read_text())["entry"]
    with pytest.raises(ValueError, match=f"schema {SCHEMA_VERSION + 1}, newer than"):
        CaseResult.from_json(stored)
    # ... but under the key this code computed (the schema is in the code hash) it is damage
    with pytest.warns(CacheWarning, match=f"schema {SCHEMA_VERSION + 1} is newer"):
        assert cache.get(case.key) is None


def test_timing_fields_split_off_and_merge_back_as_rows_in_order():
    row = Row.of(h=0.1, seconds_warm=0.3, error=0.01, n_warm=3)
    result, timing = split_timing({"row": row, "curve": {}})
    assert result["row"] == Row.of(h=0.1, error=0.01) and isinstance(result["row"], Row)
    assert timing == {"row": {"seconds_warm": 0.3, "n_warm": 3}}
    merged = merge_timing(result, timing)["row"]
    assert isinstance(merged, Row) and list(merged) == ["h", "error", "seconds_warm", "n_warm"]
    # in a worker the rows are still dicts and stay dicts
    plain, _ = split_timing({"rows": [{"h": 0.1, "seconds_warm": 0.3}]})
    assert type(plain["rows"][0]) is dict


def test_results_csv_columns_follow_the_kinds_field_order():
    case = type("C", (), {"label": "c", "key": "k"})()
    rec = record({"row": {"zeta": 1, "alpha": 2, "h": 0.5}}, timing={"row": {"seconds_warm": 0.1}})
    head, rows = _rows_table([(case, rec)])
    assert head == ["case", "zeta", "alpha", "h", "seconds_warm", "case seconds", "cache key"]
    assert rows == [["c", 1, 2, 0.5, 0.1, 0.5, "k"]]


def test_json_writers_write_a_row_by_its_fields_not_its_str():
    row = Row.of(h=0.1, error=math.inf, xs=[1])
    text = json.dumps({"best": row, "rows": [row]}, default=json_default)
    assert json.loads(text) == {"best": row.to_json(), "rows": [row.to_json()]}
    assert "Row(" not in text


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"error": "abc"}, "row field 'error' is 'abc', not a number"),
        ({"h": True}, "row field 'h' is True, not a number"),
        ({"stderr": [0.1, 0.2]}, "row field 'stderr' is [0.1, 0.2], not a number"),
        ({"n_steps": 2.5}, "row field 'n_steps' is 2.5, not an integer"),
        ({"n_steps": float("inf")}, "row field 'n_steps' is inf, not an integer"),
    ],
)
def test_shared_fields_of_the_wrong_type_are_refused_where_the_row_is_built(fields, fragment):
    # a kind (or a damaged cache entry) with error = "abc" used to pass the row check and fail
    # later, in a figure or a claim, naming neither the field nor the case
    with pytest.raises(TypeError) as info:
        Row.of(**fields)
    assert fragment in str(info.value), str(info.value)


def test_shared_fields_accept_numbers_nan_and_null():
    row = Row.of(h=1, error=float("nan"), stderr=None, n_steps=8.0)
    assert math.isnan(row.error) and math.isnan(row.stderr) and row.h == 1.0 and row.n_steps == 8
