"""Cache keys are complete: every spec field and every source file a kind depends on is in them.

A case's key hashes the kind, its configuration and ``code_version(kind)``; a stale hit reports
old numbers as new ones, so both halves are tested from the outside:

* spec fields: every leaf of a shipped spec of each kind (the one with the most fields: every
  option of every kind, the problem, the grid and the grid file, the sweep, the measure, the
  seed) is perturbed in a copy of the spec;
  the keys of the cases it affects must all change.  Only ``title``, ``[expect]`` and ``[check]``
  (which judge results but do not produce them) may leave keys unchanged.
* source: the fplab package is copied into a temporary tree and, in a fresh interpreter that
  imports the copy, one module of each sub-package is edited; every kind whose run can reach
  that sub-package (its import closure, found by reading the import statements of its module)
  must get new keys.  No monkeypatching: the edit is a real file edit.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import fplab
from fplab.errors import ConfigError
from fplab.study import STUDY_KINDS, StudyUnavailable, load_study

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "studies").glob("*.toml"))


def _richest_spec_per_kind() -> list[Path]:
    """For each study kind, the shipped spec with the most fields (every option of every kind
    is perturbed at least once; perturbing all 30 specs would take ~1 min on 2 cores)."""
    import tomllib

    best: dict[str, tuple[int, Path]] = {}
    for path in SHIPPED:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        n = len(_leaves(raw))
        kind = raw.get("kind", "")
        if kind not in best or n > best[kind][0]:
            best[kind] = (n, path)
    return sorted(p for _, p in best.values())


PKG = Path(fplab.__file__).resolve().parent
#: fields that judge results but do not produce them
NOT_IN_KEY = ("title", "expect", "check")
#: fields that may have no valid other value on their own (the rest of the spec pins them: the
#: params belong to the SDE, the p0 keys to its type, a kind allows one sweep parameter and maybe
#: one reference); changing them means changing other fields too, whose keys are tested
PINNED_BY_THE_REST = {
    ("problem", "sde"),
    ("problem", "p0", "type"),
    ("sweep", "param"),
    ("measure", "reference"),
    ("problem", "p0", "weights", 0),  # a one-component mixture's weight is 1
    ("problem", "grid"),  # a 2-D grid file has no 2-D sibling; edits to the file are tested
    ("options", "sde"),  # experiment kinds: the SDE with its sde_params, as problem.sde
    ("options", "score_model"),  # a 'module:function' reference; no second model is shipped
}


# -- a minimal TOML writer (the values of a parsed spec: tables, arrays, str, int, float, bool) --
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() else json.dumps(k)


def dump_toml(raw: dict[str, Any]) -> str:
    top = [f"{_key(k)} = {_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    tables = [
        f"[{k}]\n" + "\n".join(f"{_key(a)} = {_value(b)}" for a, b in v.items())
        for k, v in raw.items()
        if isinstance(v, dict)
    ]
    return "# perturbed copy\n" + "\n".join(top) + "\n\n" + "\n\n".join(tables) + "\n"


# -- perturbations ------------------------------------------------------------------------------
def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list) and node:
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


def _set(node: Any, path: tuple, value: Any) -> Any:
    node = json.loads(json.dumps(node))  # deep copy of JSON-like data
    parent = _get(node, path[:-1])
    parent[path[-1]] = value
    return node


def _all_registry_names() -> list[str]:
    from fplab import catalogue  # noqa: F401  (fills every registry)
    from fplab._registry import Registry

    names: set[str] = set()
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("fplab"):
            for obj in vars(mod).values():
                if isinstance(obj, Registry):
                    names.update(obj.names())
    return sorted(names)


def _candidates(value: Any) -> list[Any]:
    """Other values of the same type, most likely valid first."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [v for v in (value * 2, value + 1, value // 2, value - 1, value + 2) if v != value]
    if isinstance(value, float):
        cands = (value * 1.25, value * 0.8, value + 0.1, value * 2, value / 2, 1e-15)
        return [v for v in cands if v != value]
    if isinstance(value, str):
        grid_files = [f"grids/{p.name}" for p in sorted((ROOT / "grids").glob("*.toml"))]
        names = [*_all_registry_names(), "fine", "exact", "stationary", *grid_files]
        return [n for n in names if n != value]
    if isinstance(value, list):  # an empty list: one name in it
        return [[n] for n in _all_registry_names()]
    raise TypeError(type(value))


def _keys(path: Path) -> dict[str, set[str]]:
    spec = load_study(path)
    return {tier: {c.key for c in spec.cases(tier)} for tier in ("quick", "full")}


def _variants(raw: dict, leaf: tuple) -> list[dict]:
    """Specs with ``leaf`` changed: its own value first; where no single value is valid (weights
    summing to 1, a symmetric covariance, a list of distinct names) the list holding it is
    changed instead (reversed, its numbers scaled, or this element dropped)."""
    out = [_set(raw, leaf, c) for c in _candidates(_get(raw, leaf))]
    if isinstance(leaf[-1], int):
        seq = _get(raw, leaf[:-1])
        dropped = _set(raw, leaf[:-1], seq[: leaf[-1]] + seq[leaf[-1] + 1 :])
        for table in dropped.get("expect", {}).values():
            if isinstance(table, dict):  # a dropped method takes its order / no_claim with it
                table.pop(seq[leaf[-1]], None)
        if isinstance(seq[leaf[-1]], str):  # a list of names: its order carries no meaning
            return [*out, dropped]
        for depth in range(len(leaf) - 1, 0, -1):
            outer = _get(raw, leaf[:depth])
            if not isinstance(outer, list):
                break
            if leaf[0] != "sweep":  # a sweep's order means nothing: reversed, it is the same study
                out.append(_set(raw, leaf[:depth], outer[::-1]))
            out.append(_set(raw, leaf[:depth], _scaled(outer)))
        if all(isinstance(v, float) for v in seq) and len(seq) > 1:  # keep the sum (weights)
            i, j = leaf[-1], (leaf[-1] + 1) % len(seq)
            moved = list(seq)
            moved[i], moved[j] = seq[i] + 0.05, seq[j] - 0.05
            out.insert(0, _set(raw, leaf[:-1], moved))
        out.append(dropped)
    return out


def _scaled(node: Any) -> Any:
    if isinstance(node, list):
        return [_scaled(v) for v in node]
    return node * 1.25 if isinstance(node, float) else node


def _spec_strings(node: Any) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return {s for v in node.values() for s in _spec_strings(v)}
    if isinstance(node, list):
        return {s for v in node for s in _spec_strings(v)}
    return set()


def _perturbed_keys(tmp: Path, raw: dict, leaf: tuple) -> dict[str, set[str]] | None:
    """Keys after the first change of ``leaf`` (see ``_variants``) that still loads, or None.

    A string the loader rejects is retried with the names its message allows (``allowed: 'a',
    'b'``), so option choices need no list here."""
    target = tmp / "studies" / "perturbed.toml"
    todo = _variants(raw, leaf)
    if isinstance(_get(raw, leaf), str):  # other names the spec itself uses (labels, ...)
        todo += [_set(raw, leaf, v) for v in sorted(_spec_strings(raw)) if v != _get(raw, leaf)]
    tried: set[str] = set()
    value = _get(raw, leaf)
    while todo:
        variant = todo.pop(0)
        text = dump_toml(variant)
        if variant == raw or text in tried:
            continue
        tried.add(text)
        target.write_text(text, encoding="utf-8")
        try:
            return _keys(target)
        except ConfigError as exc:
            if isinstance(value, str) and "allowed:" in str(exc):
                allowed = re.findall(r"'([^']+)'", str(exc).split("allowed:")[-1])
                todo[:0] = [_set(raw, leaf, a) for a in allowed if a != value]
    return None


def _copy_tree(tmp: Path, spec_path: Path) -> Path:
    (tmp / "studies").mkdir(parents=True, exist_ok=True)
    if not (tmp / "grids").exists():
        shutil.copytree(ROOT / "grids", tmp / "grids")
    dest = tmp / "studies" / spec_path.name
    shutil.copy(spec_path, dest)
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("spec_path", _richest_spec_per_kind(), ids=lambda p: p.stem)
def test_changing_any_field_of_a_shipped_spec_changes_the_affected_keys(tmp_path, spec_path):
    import tomllib

    try:
        load_study(spec_path)
    except StudyUnavailable as exc:
        pytest.skip(str(exc))
    _copy_tree(tmp_path, spec_path)
    raw = tomllib.loads(spec_path.read_text(encoding="utf-8"))
    # round trip: the writer reproduces the spec's keys exactly
    (tmp_path / "studies" / "roundtrip.toml").write_text(dump_toml(raw), encoding="utf-8")
    before = _keys(tmp_path / "studies" / "roundtrip.toml")
    assert before == _keys(spec_path)
    stale, unperturbable = [], []
    for leaf in _leaves(raw):
        if leaf[0] in NOT_IN_KEY or leaf == ("kind",):
            continue
        after = _perturbed_keys(tmp_path, raw, leaf)
        if after is None:
            if leaf not in PINNED_BY_THE_REST:
                unperturbable.append(leaf)
            continue
        tiers = [t for t in ("quick", "full") if t in leaf] or ["quick", "full"]
        # a sweep value, a compared name or a list selecting cases (claims = []) changes its own
        # cases; any other field changes every case's configuration
        in_sweep = leaf[0] == "sweep" or isinstance(_get(raw, leaf), list)
        for tier in tiers:
            if in_sweep:
                # a changed sweep value or compared method changes (at least) its own cases
                ok = after[tier] != before[tier]
            else:
                ok = not (after[tier] & before[tier])
            if not ok:
                stale.append((".".join(map(str, leaf)), tier))
    assert not stale, f"{spec_path.name}: changing these fields left cached keys in place: {stale}"
    assert not unperturbable, f"{spec_path.name}: no valid other value found for {unperturbable}"


def test_editing_the_grid_file_changes_the_keys(tmp_path):
    spec_path = _copy_tree(tmp_path, ROOT / "studies" / "em-law-ou-1d.toml")
    before = _keys(spec_path)
    grid = tmp_path / "grids" / "line.toml"
    text = grid.read_text(encoding="utf-8")
    assert "-8.0" in text
    grid.write_text(text.replace("-8.0", "-9.0"), encoding="utf-8")
    after = _keys(spec_path)
    assert not (after["quick"] & before["quick"])


def test_the_toml_writer_round_trips():
    import tomllib

    raw = {"a": 1, "b": [1.5, "x"], "t": {"k-1": {"quick": 2, "full": [3]}, "s": True}}
    assert tomllib.loads(dump_toml(raw)) == raw


# -- source edits -------------------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    """fplab modules imported anywhere in a file (top level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("fplab"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if base.startswith("fplab"):
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _module_file(name: str) -> Path | None:
    rel = Path(*name.split(".")[1:])
    for cand in (PKG / rel.with_suffix(".py"), PKG / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


NOT_FOLLOWED = (
    "fplab",
    "fplab.studykinds",
    "fplab.catalogue",
    "fplab.plugins",
    "fplab.registration",
    "fplab.testing",
)


def reachable_subpackages(module: str) -> set[str]:
    """fplab sub-packages in the import closure of ``module``.

    Not followed: the modules in ``NOT_FOLLOWED``, which import every registry to fill it or to
    offer it (the public API, the kinds, plugin registration); none is code a kind's run calls
    into, and all are always hashed (they sit directly under ``fplab/``)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name in NOT_FOLLOWED:
            continue
        seen.add(name)
        f = _module_file(name)
        if f is not None:
            todo.extend(_imports(f))
    return {n.split(".")[1] for n in seen if n.count(".") >= 1 and (PKG / n.split(".")[1]).is_dir()}


_EDIT_SCRIPT = r"""
import json, sys
from pathlib import Path
import fplab
from fplab import catalogue
from fplab.version import code_version
from fplab.study import STUDY_KINDS, Case

root = Path(fplab.__file__).resolve().parent
assert str(root).startswith(sys.argv[1]), root   # the copy, not the worktree
packages = json.loads(sys.argv[2])

def keys():
    code_version.cache_clear()
    return {k: Case("s", k, "l", {"x": 1}).key for k in STUDY_KINDS.names()}

base = keys()
changed = {}
for pkg in packages:
    target = sorted((root / pkg).glob("*.py"))[-1]
    text = target.read_text(encoding="utf-8")
    target.write_text(text + "\n# an edit\n", encoding="utf-8")
    now = keys()
    target.write_text(text, encoding="utf-8")
    changed[pkg] = sorted(k for k in base if now[k] != base[k])
assert keys() == base
print(json.dumps({"changed": changed, "modules": {k: STUDY_KINDS.get(k).__module__ for k in base}}))
"""


@pytest.mark.slow
def test_editing_a_module_a_kind_reaches_changes_that_kinds_keys(tmp_path):
    tree = tmp_path / "pkgtree"
    shutil.copytree(PKG, tree / "fplab", ignore=shutil.ignore_patterns("__pycache__"))
    packages = sorted(p.name for p in (tree / "fplab").iterdir() if (p / "__init__.py").is_file())
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-c", _EDIT_SCRIPT, str(tree), json.dumps(packages)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    missing = []
    for kind, module in report["modules"].items():
        for pkg in sorted(reachable_subpackages(module)):
            if kind not in report["changed"][pkg]:
                missing.append(f"{kind} (module {module}) reaches fplab.{pkg}")
    assert not missing, (
        "editing these sub-packages leaves the kinds' cache keys unchanged; add them to the "
        f"kind's `depends`: {missing}"
    )


def test_import_closure_finds_the_packages_a_kind_uses():
    # guards the analysis: the mc kinds reach fplab.mc, the fd kinds fplab.fd
    assert "mc" in reachable_subpackages(STUDY_KINDS.get("mc-strong").__module__)
    assert "fd" in reachable_subpackages(STUDY_KINDS.get("fd-space").__module__)
