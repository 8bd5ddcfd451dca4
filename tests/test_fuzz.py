"""Property-based fuzz tests (issue 13): mutated shipped specs and random public-API inputs end in
a result or a clear error, never a traceback from internals, a hang or a silent NaN.

The generators and the classification live in ``tests/fuzzing.py``; these tests run a bounded
number of examples (about 20 s together on 2 cores).  ``python -m tests.fuzzing N`` runs N of
each and prints the closing table of the issue.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzzing import api_calls, classify_api, classify_spec, spec_mutants

_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.slow
@_SETTINGS
@given(mutant=spec_mutants())
def test_mutated_shipped_spec_is_accepted_or_refused_with_file_and_key(tmp_path_factory, mutant):
    desc, body = mutant
    path = tmp_path_factory.mktemp("studies") / "mutant.toml"
    path.write_bytes(body)
    outcome, detail = classify_spec(path, limit=60.0)
    assert outcome in ("ok", "clear"), f"{desc}\n-> {outcome}: {detail}"


@pytest.mark.slow
@_SETTINGS
@given(call=api_calls())
def test_random_public_api_input_gives_a_result_or_a_named_error(call):
    outcome, detail = classify_api(*call, limit=60.0)
    assert outcome in ("ok", "clear"), f"{outcome}: {detail}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b'kind = "em-law"\n[problem\n', "clear"), (b"\xff\xfe", "clear")],
)
def test_spec_classifier_sees_clear_errors(tmp_path, body, expected):
    # the classifier itself: broken TOML and non-UTF-8 bytes are FILE-named ConfigErrors
    path = tmp_path / "s.toml"
    path.write_bytes(body)
    assert classify_spec(path)[0] == expected


def test_api_classifier_flags_a_silent_nan_and_an_unnamed_error():
    import math

    assert classify_api("w2", lambda: math.nan, ("x", "y"))[0] == "wrong"
    assert classify_api("tv", lambda: 1.5, ("p", "q", "grid"))[0] == "wrong"

    def unnamed():
        raise ValueError("something broke")

    assert classify_api("w2", unnamed, ("x", "y"))[0] == "internal"
    assert classify_api("w2", lambda: [][1], ("x", "y"))[0] == "internal"


def test_api_classifier_accepts_an_infinite_kl_only_with_its_support_warning():
    import numpy as np

    import fplab as fp

    g = fp.Grid.uniform(-4.0, 4.0, 16)
    q = np.ones(16)
    q[:8] = 0.0
    assert classify_api("kl", lambda: fp.metrics.kl(np.ones(16), q, g), ("p", "q"))[0] == "ok"
    assert classify_api("kl", lambda: float("inf"), ("p", "q"))[0] == "wrong"
