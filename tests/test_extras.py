"""``pip install fplab`` without the extras: the core works, nn/dask parts name their extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import importlib.abc
import sys


class _NotInstalled(importlib.abc.MetaPathFinder):
    # as if fplab[nn] and fplab[dask] were not installed: the import fails and, unlike
    # sys.modules[m] = None, nothing named torch/dask sits in sys.modules (scipy probes it there)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "distributed", "dask"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
import fplab as fp
sde, p0 = fp.VP(), fp.GaussianMixture([1.0], [[0.0]], [[[1.0]]])
x = fp.simulate(sde, p0, n_paths=50, n_steps=4, seed=0)
y = fp.sample_reverse(sde, fp.exact_score(sde, p0), x, n_steps=4)
assert fp.metrics.w2(x, y) > 0
from fplab.study import find_studies
kinds = {s.kind for s in find_studies()}      # studies needing torch are skipped with a message
assert "score-network" not in kinds and "reverse" in kinds, kinds
try:
    import fplab.nn
except ImportError as err:
    print("NN:", err)
"""


@pytest.mark.slow
def test_core_runs_without_torch_and_dask_and_names_the_missing_extra():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "NN: fplab.nn needs torch, which the extra fplab[nn] installs" in proc.stdout
    assert "skipping score-network-1d.toml" in proc.stderr
