"""The three verdicts and the flags of a convergence fit (``fplab.judge``), on hand-made fits
whose verdict follows from the documented rules."""

from __future__ import annotations

import math

import pytest

from fplab.judge import (
    MIN_POINTS,
    REFERENCE_FACTOR,
    ROUNDOFF_EPS,
    WIDTH_FACTOR,
    classify_flags,
    judge_bound,
    judge_order,
)
from fplab.records import totals_line


def fit(order, lo, hi, n=5, flags=None, errors=None):
    return {
        "order": order,
        "ci": [lo, hi],
        "n_points": n,
        "flags": flags or [""] * n,
        "errors": errors or [10.0 ** (-k) for k in range(n)],
    }


def test_order_inside_the_interval_passes():
    v = judge_order("order[x]", "x has order 2", fit(1.98, 1.95, 2.01), 2.0, 0.1)
    assert v.verdict == "pass" and v.measured == 1.98 and v.quantity == "order"


def test_planted_wrong_order_fails_and_names_the_interval():
    v = judge_order("order[x]", "x has order 3", fit(1.98, 1.95, 2.01), 3.0, 0.1)
    assert v.verdict == "fail" and "excludes 3" in v.note
    # the tolerance widens the interval on both sides: 2.1 is inside [1.95 - 0.1, 2.01 + 0.1]
    assert judge_order("o", "", fit(1.98, 1.95, 2.01), 2.1, 0.1).verdict == "pass"
    assert judge_order("o", "", fit(1.98, 1.95, 2.01), 2.12, 0.1).verdict == "fail"


def test_wide_interval_is_inconclusive_not_pass():
    # mc-weak-ou's Heun before this rule: 2.33 [1.61, 3.06] at tolerance 0.15 was a green "yes"
    v = judge_order("order[heun]", "", fit(2.33, 1.61, 3.06, n=4), 2.0, 0.15)
    assert v.verdict == "inconclusive" and "wide" in v.note
    assert 3.06 - 1.61 > WIDTH_FACTOR * 0.15
    # a wide interval that excludes the claim still fails: the data contradict it
    assert judge_order("o", "", fit(0.5, 0.1, 0.9), 2.0, 0.15).verdict == "fail"


def test_too_few_usable_points_are_inconclusive():
    two = fit(1.0, -math.inf, math.inf, n=2)
    assert judge_order("o", "", two, 1.0, 0.1).verdict == "inconclusive"
    # round-off and statistical-floor points do not count towards the MIN_POINTS levels
    flags = ["", "", "statistical floor", "round-off"]
    v = judge_order("o", "", fit(1.0, 0.99, 1.01, n=4, flags=flags), 1.0, 0.1)
    assert v.verdict == "inconclusive" and f">= {MIN_POINTS}" in v.note
    assert judge_order("o", "", fit(math.nan, math.nan, math.nan, n=1), 1.0, 0.1).verdict == (
        "inconclusive"
    )


def test_reference_error_within_ten_times_the_smallest_error_is_inconclusive():
    f = fit(1.0, 0.99, 1.01, errors=[1e-1, 1e-2, 1e-3])
    ok = judge_order("o", "", f, 1.0, 0.1, reference_error=1e-3 / REFERENCE_FACTOR / 1.01)
    bad = judge_order("o", "", f, 1.0, 0.1, reference_error=1e-3 / REFERENCE_FACTOR * 1.01)
    assert ok.verdict == "pass" and bad.verdict == "inconclusive"
    assert "reference" in bad.note and bad.extra["reference_error"] > 0


def test_round_off_flag_only_within_1e3_epsilons_of_the_scale():
    raw = ["pre-asymptotic", "", "round-off", "round-off", "noise"]
    err = [0.39, 5e-2, 5e-4, 0.9 * ROUNDOFF_EPS, 1e-3]
    # reverse-samplers-bimodal-1d called W2 errors of 5e-4 "round-off": that is a plateau
    assert classify_flags(raw, err, 1.0) == [
        "pre-asymptotic",
        "",
        "plateau",
        "round-off",
        "statistical floor",
    ]
    # the scale sets the floor: an error of 1e-12 on a quantity of size 1e4 is round-off
    assert classify_flags([""], [1e-12], 1e4) == ["round-off"]


def test_bound_claims_and_unmeasured_values():
    assert judge_bound("a", "", 0.2, 0.3).verdict == "pass"
    assert judge_bound("a", "", 0.4, 0.3).verdict == "fail"
    assert judge_bound("g", "", 26.0, 2.0, relation=">=").verdict == "pass"
    assert judge_bound("g", "", 1.5, 2.0, relation=">=").verdict == "fail"
    for missing in (None, math.nan):
        v = judge_bound("a", "", missing, 0.3)
        assert v.verdict == "inconclusive" and v.measured is None and v.note
    with pytest.raises(ValueError, match="relation"):
        judge_bound("a", "", 0.1, 0.3, relation="<")


def test_totals_line_counts_every_verdict():
    vs = [
        judge_bound("a", "", 0.1, 0.3),
        judge_bound("b", "", 0.5, 0.3),
        judge_bound("c", "", None, 0.3),
    ]
    assert totals_line(vs) == "claims: 3 checked, 1 passed, 1 failed, 1 inconclusive"


def test_pre_asymptotic_coarse_levels_are_left_out_of_the_judged_fit():
    from fplab.studykinds._common import fit_order

    # a second-order error whose coarsest level is off the fine slope (fd-space-double-well's
    # central fluxes at n = 16: local slopes 1.62, 2.0, 1.99)
    h = [1 / 16, 1 / 32, 1 / 64, 1 / 128]
    err = [2.39e-2, 7.80e-3, 1.95e-3, 4.90e-4]
    f = fit_order(h, err)
    assert f["flags"][0] == "pre-asymptotic" and f["asymptotic"]["n_points"] == 3
    assert f["ci"][1] - f["ci"][0] > 0.3  # the full fit is too wide to confirm order 2
    v = judge_order("order[central]", "", f, 2.0, 0.15)
    assert v.verdict == "pass" and "3 of 4 levels" in v.note
    # the asymptotic fit still fails a wrong claim
    assert judge_order("order[central]", "", f, 1.5, 0.15).verdict == "fail"


def test_warm_timing_leaves_out_compilation_done_in_the_same_process():
    import numba
    import numpy as np

    from fplab.studykinds._common import timed

    @numba.njit  # compiled on the first call, in this process
    def total(a):
        s = 0.0
        for v in a:
            s += v
        return s

    a = np.ones(1000)
    out, t = timed(total, a)
    assert out == 1000.0 and t["n_warm"] == 3 and t["n_calls"] >= 1
    # compiling takes > 10 ms; a warm call on 1000 numbers takes microseconds
    assert t["seconds_warm"] < 0.1 * t["seconds_cold"]
    assert t["compile_seconds"] == pytest.approx(t["seconds_cold"] - t["seconds_warm"])


def test_a_reference_too_coarse_to_judge_makes_a_contradicting_slope_inconclusive_not_fail():
    # the measured slope 1.0 contradicts a declared 2, but the reference's own error is the size
    # of the smallest error: the slope may be the reference's, so no failure is declared
    fit = {
        "order": 1.0,
        "ci": [0.95, 1.05],
        "n_points": 4,
        "flags": [],
        "errors": [1e-2, 5e-3, 2.5e-3, 1.25e-3],
    }
    v = judge_order("order[x]", "x has order 2", fit, 2.0, 0.1, reference_error=1e-3)
    assert v.verdict == "inconclusive" and "reference's own error" in v.note
    # with an accurate reference the same slope fails
    assert (
        judge_order("order[x]", "x has order 2", fit, 2.0, 0.1, reference_error=1e-6).verdict
        == "fail"
    )
