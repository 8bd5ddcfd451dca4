"""Packaging: the public names resolve, import and --help are fast, the version is reported."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fplab as fp

API_NAMES = [
    "Grid", "load_grid", "OU", "Heat", "VP", "VE", "SubVP", "GBM", "DoubleWell", "CustomSDE",
    "GaussianMixture", "exact_marginal", "exact_score", "solve_fokker_planck", "simulate",
    "sample_reverse", "metrics", "observed_order",
]  # fmt: skip


@pytest.mark.parametrize("name", API_NAMES)
def test_api_name_resolves(name):
    assert getattr(fp, name) is not None
    assert name in fp.__all__


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = fp.nope


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout


def test_import_is_fast_and_lazy():
    # One fresh interpreter: import time well under a second, and no heavy module loaded.
    out = _run(
        "import time, sys; t = time.perf_counter(); import fplab; "
        "print(time.perf_counter() - t); "
        "print(','.join(m for m in ('torch', 'numba', 'scipy', 'matplotlib', 'ot', 'dask') if m in sys.modules))"
    )
    seconds, heavy = out.strip().splitlines() + [""] * (2 - len(out.strip().splitlines()))
    assert float(seconds) < 1.0
    assert heavy == ""


def test_cli_help_and_version_are_fast():
    code = (
        "import time, sys, contextlib, io; t = time.perf_counter(); from fplab.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        "print(time.perf_counter() - t); print('torch' in sys.modules)"
    )
    seconds, torch_loaded = _run(code).strip().splitlines()
    assert float(seconds) < 1.0
    assert torch_loaded == "False"
    version = subprocess.run(
        [sys.executable, "-m", "fplab", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == f"fplab {fp.__version__}"


def _import_cycles(*, lazy: bool = True) -> list[list[str]]:
    """Strongly connected components (> 1 module) of fplab's import graph, from a static scan of
    every ``import`` / ``from ... import`` in each module: with ``lazy`` also those inside
    functions, else only the module-level ones (what runs when the module is imported).  Imports
    under ``if TYPE_CHECKING:`` never run (annotations only), so they are no edges."""
    import ast
    from pathlib import Path

    root = Path(fp.__file__).resolve().parent
    mods = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str:
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in mods else ""

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        edges = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):  # drop `if TYPE_CHECKING:` bodies before walking
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        for node in ast.walk(tree) if lazy else tree.body:
            if isinstance(node, ast.Import):
                edges |= {owner(a.name) for a in node.names if a.name.startswith("fplab")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fplab"):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    edges.add(full if full in mods else owner(node.module))
        graph[mod] = edges - {mod, ""}
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_module_level_import_cycle():
    # the kinds no longer register through an import at the end of study.py: STUDY_KINDS
    # discovers them (pkgutil) on its first look-up
    assert _import_cycles(lazy=False) == []


def test_nn_checkpoint_is_a_leaf_even_counting_lazy_imports():
    # the checkpoint <-> train/flow circle is gone: load_checkpoint lives in nn/load.py
    assert [c for c in _import_cycles() if "fplab.nn.checkpoint" in c] == []


def test_no_import_cycle_at_all():
    # issue 12: counting imports inside functions too, no module reaches itself (the study layer
    # runs version -> studykinds.base -> spec -> kinds; registries call plugins through a hook)
    assert _import_cycles() == []


def test_the_cycle_scan_sees_lazy_and_type_checking_imports_correctly(tmp_path, monkeypatch):
    # the scan must find a circle made only of function-level imports, and must not count one
    # closed only by an `if TYPE_CHECKING:` import (it never runs)
    import ast

    src = {
        "a.py": "def f():\n    from fplab.b import g\n",
        "b.py": "from fplab import a\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fplab.d import X\n",
        "d.py": "from fplab import c\n",
    }
    assert all(ast.parse(text) for text in src.values())
    pkg = tmp_path / "fplab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, text in src.items():
        (pkg / name).write_text(text)
    monkeypatch.setattr(fp, "__file__", str(pkg / "__init__.py"))
    assert _import_cycles() == [["fplab.a", "fplab.b"]]
    assert _import_cycles(lazy=False) == []


def test_version_module_is_a_leaf():
    # code_version is read by the cache keys, the runner and the report; it must import nothing
    # from fplab (the study-kind layer installs the kind -> depends lookup into it)
    import ast
    from pathlib import Path

    import fplab.version

    tree = ast.parse(Path(fplab.version.__file__).read_text(encoding="utf-8"))
    imported = [
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    ]
    assert not [m for m in imported if m and m.split(".")[0] == "fplab"], imported
    assert fplab.version.__version__ == fp.__version__
