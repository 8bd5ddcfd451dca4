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
