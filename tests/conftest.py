"""Shared fixtures: fixed-seed rng, floating-point errors raised, gpu skip."""

from __future__ import annotations

import numpy as np
import pytest


def pytest_configure(config):
    # the suite tests fplab's own catalogue: plugins installed next to it (entry points
    # "fplab.plugins", e.g. examples/my-sampler) must not join the registries mid-run
    from fplab.plugins import ignore_entry_points

    ignore_entry_points()


@pytest.fixture(autouse=True)
def _raise_on_fp_errors():
    # Overflow / invalid / divide-by-zero in fplab code are bugs; underflow (exp of large
    # negative log densities) is expected and harmless.
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config, items):
    if any(item.get_closest_marker("gpu") for item in items) and not _cuda_available():
        skip = pytest.mark.skip(reason="no CUDA device on this machine")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip)
