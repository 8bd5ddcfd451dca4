"""Typed records of the study layer: rows of case results, stored case results, verdicts.

A leaf module: it imports nothing from fplab, so every layer may use it.

The boundary: a study kind's ``run_case`` returns a JSON-ready dict (it runs in a worker and goes
straight into the cache); :class:`CaseResult` turns its ``"row"`` / each of its ``"rows"`` into a
:class:`Row`, and everything inward of the cache (``summarize``, ``figures``, ``claims``, report
tables and ``results.csv``, ``fplab check``) reads ``Row`` objects.  JSON is written only by the
cache (``CaseResult.to_json``) and by the report writers (through :func:`json_default`).

Contract shared by every study kind: ``StudyKind.claims(spec, results, summary)`` returns a list of
:class:`Verdict`, one per claim the study states.  ``fplab run`` / ``fplab check`` count them
(``claims: N checked, P passed, F failed, I inconclusive``) and exit 1 when any verdict is ``fail``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "VERDICTS",
    "CaseResult",
    "Row",
    "Verdict",
    "json_default",
    "rows_json",
    "rows_records",
    "totals",
    "totals_line",
]

#: version of the stored case-result layout (``CaseResult``); bump it when the layout changes.
#: 2: every row is a :class:`Row` (fields JSON scalars or flat lists of them, validated when read).
#: The JSON layout of a row did not change from 1 (an object in the kind's field order), so
#: entries of schema 0 and 1 read through the same path (their rows validated as ``Row``); an
#: entry whose row fails validation is quarantined by the cache and recomputed.
SCHEMA_VERSION = 2


def _scalar(name: str, value: Any, where: str = "holds") -> Any:
    """``value`` as a row field keeps it, or a TypeError naming the field: bool and None as
    they are, a str/int/float subclass (numpy.float64) as the builtin type (exactly)."""
    if value is None or isinstance(value, bool):
        return value
    for typ in (float, int, str):
        if isinstance(value, typ):
            return value if type(value) is typ else typ(value)
    msg = (
        f"row field {name!r} {where} a {_type_name(value)} ({value!r:.60}); allowed: a JSON "
        "scalar (float, int, str, bool, None) or a flat list of them; curves and tables go "
        "beside the row in the case result"
    )
    raise TypeError(msg)


def _field_value(name: str, value: Any) -> Any:
    """A row field's value: a JSON scalar, or a list/tuple of scalars kept as a tuple."""
    if isinstance(value, list | tuple):
        return tuple(_scalar(name, v, "is a list holding") for v in value)
    return _scalar(name, value)


@dataclass(frozen=True, eq=False)
class Row(Mapping[str, Any]):
    """One row of a case result: named fields in the order the study kind wrote them.

    A read-only ``Mapping`` (``row["error"]``, ``row.get(...)``, ``dict(row)``, iteration in
    field order), so study kinds that read rows as dicts (plugins included) keep working, plus
    typed properties for the fields most kinds share (``h``, ``error``, ``stderr``,
    ``n_steps``, ``label``, ``method``).  Immutable and hashable; build a changed copy with
    :meth:`replace`.

    Parameters
    ----------
    fields : tuple of (str, value) pairs
        The fields in column order.  Values are JSON scalars (float, int, str, bool, None;
        numpy float64 is stored as float) or flat lists of them (held as tuples, so the row
        stays immutable and hashable; read and written as a fresh list each time, as from a
        dict); anything else is a TypeError naming the field.

    Notes
    -----
    Equality: two rows are equal when their fields and field order are; a row equals a plain
    mapping with the same items (as a dict would).  NaN fields make a row unequal to itself,
    as NaN is; compare ``to_json()`` bitwise where NaN matters.
    """

    fields: tuple[tuple[str, Any], ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.fields, tuple):
            msg = (
                "Row fields must be a tuple of (name, value) pairs, got "
                f"{type(self.fields).__name__}; use Row.of(...) or Row.from_json(dict)"
            )
            raise TypeError(msg)
        seen: set[str] = set()
        checked = []
        for pair in self.fields:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                msg = f"Row fields must be (str name, value) pairs, got {pair!r:.60}"
                raise TypeError(msg)
            name, value = pair
            if name in seen:
                msg = f"row field {name!r} appears twice; a row's field names are unique"
                raise ValueError(msg)
            seen.add(name)
            checked.append((name, _field_value(name, value)))
            _check_shared_field(name, checked[-1][1])
        object.__setattr__(self, "fields", tuple(checked))
        object.__setattr__(self, "_index", {name: i for i, (name, _) in enumerate(checked)})

    # -- construction and JSON ------------------------------------------------------------
    @classmethod
    def of(cls, **fields: Any) -> Row:
        """A row from keyword fields, in the order given: ``Row.of(h=0.1, error=2e-3)``."""
        return cls(tuple(fields.items()))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        """The row of a JSON object (a dict; its insertion order is the column order)."""
        if isinstance(data, Row):
            return data
        if not isinstance(data, Mapping):
            msg = f"a row must be a JSON object (dict), got {type(data).__name__}"
            raise TypeError(msg)
        return cls(tuple(data.items()))

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict in field order (lists for list fields)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.fields}

    def replace(self, **fields: Any) -> Row:
        """A new row with ``fields`` changed in place or, when new, appended (as ``{**row,
        **fields}`` orders a dict)."""
        out = dict(self.fields)
        out.update(fields)
        return Row(tuple(out.items()))

    # -- Mapping ---------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        i = self._index.get(name)
        if i is None:
            msg = f"row has no field {name!r}; its fields: {', '.join(self._index) or 'none'}"
            raise KeyError(msg)
        value = self.fields[i][1]
        return list(value) if isinstance(value, tuple) else value

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self.fields == other.fields
        if isinstance(other, Mapping):
            return self.to_json() == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.fields)

    def __repr__(self) -> str:
        return f"Row({', '.join(f'{k}={v!r}' for k, v in self.fields)})"

    # -- typed fields shared by most kinds -------------------------------------------------
    def _typed(self, name: str) -> Any:
        i = self._index.get(name)
        if i is None:
            msg = f"row has no field {name!r}; its fields: {', '.join(self._index) or 'none'}"
            raise AttributeError(msg)
        return self.fields[i][1]

    def _float(self, name: str) -> float:
        # a number or None: construction refused anything else (_check_shared_field)
        value = self._typed(name)
        if value is None:  # not measured (experiment kinds store non-finite numbers as null)
            return math.nan
        return float(value)

    @property
    def h(self) -> float:
        """Step or cell size of the row (convergence kinds); a missing field: AttributeError."""
        return self._float("h")

    @property
    def error(self) -> float:
        """The measured error (None, not measured, reads as nan)."""
        return self._float("error")

    @property
    def stderr(self) -> float:
        """Standard error of a Monte-Carlo ``error`` (None reads as nan)."""
        return self._float("stderr")

    @property
    def n_steps(self) -> int:
        """Number of steps of the row's run."""
        value = self._typed("n_steps")
        if value is None:  # allowed in a row (not run), but no step count to return
            _refuse_n_steps(value)
        return int(value)

    @property
    def label(self) -> str:
        """The row's own label (rows of multi-level cases)."""
        return str(self._typed("label"))

    @property
    def method(self) -> str:
        """The method the row measures (experiment kinds)."""
        return str(self._typed("method"))


#: the fields every kind that has them means the same thing by: numbers (null: not measured)
_NUMBER_FIELDS = ("h", "error", "stderr")


def _check_shared_field(name: str, value: Any) -> None:
    """A shared field with a value no reader can use (an ``error`` that is a string, an
    ``n_steps`` of 2.5) is refused where the row is built -- in the worker, or when a cache
    entry is read (which then is quarantined and recomputed) -- not in a figure later."""
    shown = list(value) if isinstance(value, tuple) else value  # list fields are kept as tuples
    if name in _NUMBER_FIELDS:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            msg = f"row field {name!r} is {shown!r:.60}, not a number (or null: not measured)"
            raise TypeError(msg)
    elif name == "n_steps" and value is not None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value != int(value)
        ):
            _refuse_n_steps(shown)


def _refuse_n_steps(value: Any) -> None:
    msg = f"row field 'n_steps' is {value!r:.60}, not an integer"
    raise TypeError(msg)


def json_default(obj: Any) -> Any:
    """``default=`` for ``json.dump`` of report files: records by their ``to_json()`` (a Row
    as its field dict, never its ``str``), other objects (paths, numpy scalars) as ``str``."""
    to_json = getattr(obj, "to_json", None)
    if callable(to_json):
        return to_json()
    if isinstance(obj, Mapping):
        return dict(obj)
    return str(obj)


def strict_json(obj: Any) -> Any:
    """``obj`` for a report file as strict JSON (RFC 8259): non-finite floats (an unbounded
    interval, a NaN error) as None, since ``NaN``/``Infinity`` are no JSON that ``JSON.parse``
    or ``jq`` read; records by their ``to_json()``, other dataclasses by their fields; NumPy
    arrays and scalars by ``tolist()``; tuples as lists.  Anything else is left for
    :func:`json_default` (its ``str``)."""
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, Row) or callable(getattr(obj, "to_json", None)):
        return strict_json(obj.to_json())
    if isinstance(obj, Mapping):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    if is_dataclass(obj) and not isinstance(obj, type):  # e.g. an OrderFit in a summary
        return {f.name: strict_json(getattr(obj, f.name)) for f in fields(obj)}
    if callable(getattr(obj, "tolist", None)):  # NumPy arrays and scalars: lists, numbers
        return strict_json(obj.tolist())
    return obj


#: the three verdicts, in the order pages list them
VERDICTS = ("pass", "fail", "inconclusive")


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim of a study.

    Parameters
    ----------
    claim : str
        Short stable id of the claim within its study, e.g. ``"order[heun]"``.
    statement : str
        The claim in words, e.g. ``"Heun has weak order 2"``.
    measured : float or None
        The number that decides it (None only when nothing could be measured; say why in ``note``).
    bound : str
        The relation and bound it is judged by, in words, e.g. ``"|p - 2| <= 0.15 + CI half-width"``.
    verdict : str
        ``"pass"``, ``"fail"`` or ``"inconclusive"``.
    note : str
        Why (required for inconclusive and fail): interval, flags, reference error, …
    quantity : str
        What ``measured`` is (``"order"``, ``"W2"``, ``"ratio"``, …).
    extra : dict
        JSON-ready extra numbers (interval, tolerance, …).
    """

    claim: str
    statement: str
    measured: float | None
    bound: str
    verdict: str
    note: str = ""
    quantity: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            msg = f"verdict must be one of {VERDICTS}, got {self.verdict!r}"
            raise ValueError(msg)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(**data)


@dataclass(frozen=True)
class CaseResult:
    """One finished case as the result cache stores it (the only place it meets JSON).

    Parameters
    ----------
    key : str
        The case key (hash of kind, configuration and code version).
    study, label, kind : str
        The case's study, label and study kind.
    config : dict
        The case's JSON-ready configuration.
    result : dict
        What ``StudyKind.run_case`` returned (``row`` or ``rows``, curves, ...).
    seconds : float
        Wall time of the whole case in its worker (first run: compilation and reference included).
    code_version : str
        ``fplab.version.code_version(kind)`` when it ran.
    timing : dict
        Wall-clock fields of the rows (warm/cold seconds, compilation), kept out of ``result``
        so that ``result`` is a function of the configuration and seed alone.
    finished_at : str
        UTC time stamp, ISO 8601.
    schema : int
        ``SCHEMA_VERSION`` of the layout; entries written before it existed read as 0.
    """

    key: str
    study: str
    label: str
    kind: str
    config: dict[str, Any]
    result: dict[str, Any]
    seconds: float
    code_version: str
    finished_at: str
    timing: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # the rows become Row records here (validated: a non-JSON field is a TypeError naming it)
        object.__setattr__(self, "result", rows_records(self.result))

    @property
    def rows(self) -> list[Row]:
        """The case's rows: its ``row``, or each of its ``rows`` (multi-level cases)."""
        if "row" in self.result:
            return [self.result["row"]]
        return list(self.result.get("rows", []))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (floats round-trip exactly through ``json``: shortest repr); rows
        as objects in their field order."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out["config"] = _json_copy(self.config, what="config field")
        out["timing"] = _json_copy(self.timing, what="timing field")
        out["result"] = rows_json(self.result)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        """The record of a stored entry; unknown keys (e.g. a checksum the cache adds) are
        ignored, and a newer schema than this code knows is refused.  Entries of schema 0 and
        1 hold rows in the same JSON layout: they are read (and their rows validated) the same
        way."""
        schema = int(data.get("schema", 0))
        if schema > SCHEMA_VERSION:
            msg = (
                f"case result {data.get('key', '?')!r} has schema {schema}, newer than this "
                f"fplab's {SCHEMA_VERSION}; upgrade fplab or use another --cache"
            )
            raise ValueError(msg)
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names} | {"schema": schema})


#: the columns ``results.csv`` and the cases table add around the row fields; a row field of
#: one of these names would make two columns of that name
REPORT_COLUMNS = ("case", "case seconds", "cache key")


def _case_row(data: Mapping[str, Any]) -> Row:
    row = Row.from_json(data)
    for name in REPORT_COLUMNS:
        if name in row:
            msg = (
                f"row field {name!r} is a column results.csv adds itself; allowed: any other "
                f"name (reserved: {', '.join(map(repr, REPORT_COLUMNS))})"
            )
            raise ValueError(msg)
    return row


def rows_records(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with its ``"row"`` (an object) and ``"rows"`` (a list of objects) as
    :class:`Row` records; other entries (curves, summaries) unchanged.  A row field named as
    one of :data:`REPORT_COLUMNS` is a ValueError."""
    out = dict(result)
    if "row" in out:
        out["row"] = _case_row(out["row"])
    if isinstance(out.get("rows"), list | tuple):
        out["rows"] = [_case_row(r) for r in out["rows"]]
    return out


def rows_json(result: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`rows_records`: rows as JSON objects, the rest deep-copied."""
    out = _json_copy({k: v for k, v in result.items() if k not in ("row", "rows")})
    for k, v in result.items():
        if k == "row":
            out[k] = v.to_json() if isinstance(v, Row) else dict(v)
        elif k == "rows":
            out[k] = [r.to_json() if isinstance(r, Row) else dict(r) for r in v]
    return {k: out[k] for k in result}  # the result's own key order


def _type_name(value: Any) -> str:
    """``float`` for builtins, ``numpy.ndarray`` for others: "holds a bool" must not name
    numpy.bool_, which is not a JSON bool."""
    typ = type(value)
    module = typ.__module__.split(".")[0]
    return typ.__qualname__ if module == "builtins" else f"{module}.{typ.__qualname__}"


def _json_copy(value: Any, path: str = "", what: str = "result field") -> Any:
    """A deep copy of JSON data as builtin types (dicts with str keys, lists, JSON scalars;
    Rows by ``to_json``; numpy.float64 as float), or a TypeError naming the field's ``path``
    (``curves.t[1]``): json.dump would otherwise fail later, at the cache write, naming nothing."""
    if isinstance(value, Row):
        return value.to_json()
    if value is None or isinstance(value, bool):
        return value
    for typ in (float, int, str):
        if isinstance(value, typ):
            return value if type(value) is typ else typ(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                msg = (
                    f"{what} {path or 'result'!r} has a key {k!r} ({_type_name(k)}); "
                    "allowed: str keys (JSON objects)"
                )
                raise TypeError(msg)
            out[k] = _json_copy(v, f"{path}.{k}" if path else k, what)
        return out
    if isinstance(value, list | tuple):
        return [_json_copy(v, f"{path}[{i}]", what) for i, v in enumerate(value)]
    msg = (
        f"{what} {path!r} holds a {_type_name(value)} ({value!r:.60}); allowed: JSON "
        "data (dicts with str keys, lists, float, int, str, bool, None); convert NumPy "
        "arrays with .tolist() and NumPy scalars with float() or int()"
    )
    raise TypeError(msg)


def totals(verdicts: list[Verdict]) -> dict[str, int]:
    """Counts ``{"checked", "pass", "fail", "inconclusive"}`` of a list of verdicts."""
    out = {v: 0 for v in VERDICTS}
    for v in verdicts:
        out[v.verdict] += 1
    return {"checked": len(verdicts), **out}


def totals_line(verdicts: list[Verdict]) -> str:
    """``claims: N checked, P passed, F failed, I inconclusive`` (the line runs and pages end with)."""
    t = totals(verdicts)
    return (
        f"claims: {t['checked']} checked, {t['pass']} passed, {t['fail']} failed, "
        f"{t['inconclusive']} inconclusive"
    )
