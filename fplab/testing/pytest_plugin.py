"""pytest plugin (entry point ``pytest11``): fplab's reference problems as fixtures.

Installed with fplab, so any test suite can ask for them::

    def test_my_sampler(fplab_vp_bimodal_1d):
        problem = fplab_vp_bimodal_1d            # a ReferenceProblem: sde, p0, x0, t_final
        fit = ft.check_sampler(my_step, expected_order=2, sde=problem.sde, p0=problem.p0)

One fixture per reference problem, named ``fplab_<name with - replaced by _>`` (the list comes
from ``fplab.testing.problems.REFERENCE_PROBLEMS``), plus ``fplab_problem``: a function
``name -> ReferenceProblem``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fplab.testing.problems import REFERENCE_PROBLEMS, ReferenceProblem, reference_problem


@pytest.fixture
def fplab_problem() -> Callable[[str], ReferenceProblem]:
    """``reference_problem``: a reference problem by name."""
    return reference_problem


def _make_fixture(name: str) -> Any:
    def fixture() -> ReferenceProblem:
        return reference_problem(name)

    fixture.__doc__ = f"fplab's reference problem {name!r}."
    fixture.__name__ = f"fplab_{name.replace('-', '_')}"
    return pytest.fixture(name=fixture.__name__)(fixture)


for _name in REFERENCE_PROBLEMS:
    globals()[f"fplab_{_name.replace('-', '_')}"] = _make_fixture(_name)
