"""``fplab.check.compare``: two-sided comparison of errors, orders and their intervals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fplab.check import compare, quantities
from fplab.study import load_study

ROOT = Path(__file__).resolve().parent.parent
SPEC = load_study(ROOT / "studies" / "em-law-ou-1d.toml")  # tolerances: orders ±0.02, errors 1 %


def _summary(errors: dict[str, float], order: float, ci: tuple[float, float], flags=()):
    return {
        "orders": [{"label": "em-law", "order": order, "ci": list(ci), "flags": list(flags)}],
        "errors": errors,
    }


BASE = quantities(_summary({"a": 0.1, "b": 0.05}, 1.0, (0.95, 1.05)))


def test_an_unchanged_run_passes_and_rounding_noise_is_tolerated():
    out = compare(
        SPEC, quantities(_summary({"a": 0.1 * (1 + 1e-9), "b": 0.05}, 1.0, (0.95, 1.05))), BASE
    )
    assert not out.regressions and not out.improvements


@pytest.mark.parametrize("factor, field", [(1.05, "regressions"), (1 / 1.05, "improvements")])
def test_an_error_moving_beyond_tolerance_either_way_is_reported(factor, field):
    # 5 % against the 1 % tolerance, in either direction
    out = compare(
        SPEC, quantities(_summary({"a": 0.1 * factor, "b": 0.05}, 1.0, (0.95, 1.05))), BASE
    )
    assert len(getattr(out, field)) == 1 and "'a'" in getattr(out, field)[0]
    other = "improvements" if field == "regressions" else "regressions"
    assert not getattr(out, other)


def test_w2_without_its_square_root_is_caught_as_a_change():
    # errors < 1 squared shrink: the planted "W2 without the square root" bug
    cur = quantities(_summary({"a": 0.1**2, "b": 0.05**2}, 2.0, (1.9, 2.1)))
    out = compare(SPEC, cur, BASE)
    assert len(out.improvements) == 2
    assert any("order of 'em-law'" in r for r in out.regressions)


def test_order_interval_ends_are_compared_with_the_order_tolerance():
    # same order, interval 0.03 wider at the top (tolerance 0.02 per end)
    out = compare(SPEC, quantities(_summary({"a": 0.1, "b": 0.05}, 1.0, (0.95, 1.08))), BASE)
    assert len(out.regressions) == 1 and "interval of the order" in out.regressions[0]
    out = compare(SPEC, quantities(_summary({"a": 0.1, "b": 0.05}, 1.0, (0.95, 1.06))), BASE)
    assert not out.regressions


def test_every_order_is_baselined_except_pure_round_off_fits():
    s = _summary({"a": 0.1}, 1.0, (0.9, 1.1), flags=["", "round-off"])
    s["orders"].append({"label": "exact", "order": 3.0, "ci": [0, 6], "flags": ["round-off"] * 2})
    q = quantities(s)
    assert set(q["orders"]) == {"em-law"} and q["order_cis"]["em-law"] == [0.9, 1.1]


def test_missing_and_non_finite_quantities_are_regressions():
    cur = quantities(_summary({"a": math.nan}, 1.0, (0.95, 1.05)))
    out = compare(SPEC, cur, BASE)
    assert any("'a'" in r for r in out.regressions) and any("'b'" in r for r in out.regressions)
