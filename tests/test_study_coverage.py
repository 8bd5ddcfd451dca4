"""Every registry entry runs in some shipped study's quick tier, so ``fplab check`` covers it.

``fplab check`` reruns the quick tiers of ``studies/*.toml`` against ``tests/baselines``; an SDE,
schedule, scheme, boundary condition, MC method or sampler that no quick tier runs can break
without the check noticing.  The names a quick tier uses are read from its cases' configurations
(every string anywhere in them: compared methods, options, SDE names), with the defaults the spec
loader fills in (option defaults) and the SDE's own defaults (VP/sub-VP schedule 'linear').
Sampler options that switch a different formula on are covered the same way (DDIM's η > 0).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from fplab.fd import BOUNDARIES, SPACE_SCHEMES, TIME_SCHEMES
from fplab.mc import MC_METHODS
from fplab.reverse import SAMPLERS
from fplab.sdes import SDES
from fplab.sdes.schedules import SCHEDULES
from fplab.study import STUDY_KINDS, StudyUnavailable, load_study

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "studies").glob("*.toml"))

#: entries that cannot be swept in a quick tier, with the reason: adaptive samplers choose their
#: own steps, so the reverse kind's n_steps sweep does not apply (pf-ode-adaptive is the
#: reference the other samplers' tests compare with; both are pinned by one-step tests)
EXEMPT = {("sampler", k): "adaptive" for k, s in SAMPLERS.items() if getattr(s, "adaptive", False)}
#: SDEs that the claims study runs inside its claims (fplab/claims/density_claims.py): its
#: configuration names claims, not SDEs, so the reader below cannot see them
EXEMPT |= {("sde", "bounded"): "claims study", ("sde", "rotating-ou"): "claims study"}


def _strings(node: Any) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return {s for v in node.values() for s in _strings(v)}
    if isinstance(node, list | tuple):
        return {s for v in node for s in _strings(v)}
    return set()


def _quick_configs() -> list[dict[str, Any]]:
    out = []
    for path in SHIPPED:
        try:
            spec = load_study(path)
        except StudyUnavailable:  # e.g. torch missing: its study is not checked here either
            continue
        out += [{"kind": c.kind, **c.config} for c in spec.cases("quick")]
    return out


def _registry_of(module_attr: tuple[str, str] | None) -> str | None:
    """The registry attribute name ('MC_METHODS', ...) a kind's compare list or option names."""
    return None if module_attr is None else module_attr[1]


@functools.cache
def _used() -> dict[str, set[str]]:
    """Names each quick tier runs, found where the kind says they are: ``sweep.compare`` holds
    keys of the kind's ``compare`` registry, an option with ``choices_from`` keys of that
    registry; kinds with free-form options (experiments) are searched for sampler names."""
    by_registry: dict[str, set[str]] = {}
    used: dict[str, set[str]] = {"schedule": set(), "sampler-option": set(), "sde": set()}
    for config in _quick_configs():
        kind = STUDY_KINDS.get(config["kind"])
        problem = config.get("problem") or {}
        opts = config.get("options") or {}
        reg = _registry_of(kind.compare)
        if reg and config.get("compare"):
            by_registry.setdefault(reg, set()).add(config["compare"])
        for name, opt in kind.options.items():
            if opt.choices_from and name in opts:  # one key, or a list of them
                by_registry.setdefault(opt.choices_from[1], set()).update(_strings(opts[name]))
        if kind.free_options:
            by_registry.setdefault("SAMPLERS", set()).update(_strings(opts) & set(SAMPLERS.names()))
        sde = problem.get("sde") or opts.get("sde")
        used["sde"].add(sde)
        if sde in ("vp", "sub-vp"):
            params = problem.get("params") or opts.get("sde_params") or {}
            used["schedule"].add(params.get("schedule", "linear"))
        if config.get("compare") == "ddim" and float(opts.get("eta", 0.0)) > 0.0:
            used["sampler-option"].add("ddim eta > 0")
    for what, attr in [
        ("space scheme", "SPACE_SCHEMES"),
        ("time scheme", "TIME_SCHEMES"),
        ("boundary", "BOUNDARIES"),
        ("MC method", "MC_METHODS"),
        ("sampler", "SAMPLERS"),
    ]:
        used[what] = by_registry.get(attr, set())
    return used


def _required() -> dict[str, set[str]]:
    return {
        "sde": set(SDES.names()),
        "schedule": set(SCHEDULES.names()),
        "space scheme": set(SPACE_SCHEMES.names()),
        "time scheme": set(TIME_SCHEMES.names()),
        "boundary": set(BOUNDARIES.names()),
        "MC method": set(MC_METHODS.names()),
        "sampler": set(SAMPLERS.names()),
        "sampler-option": {"ddim eta > 0"},
    }


@pytest.mark.parametrize("what", list(_required()))
def test_every_registry_entry_runs_in_a_shipped_quick_tier(what):
    used = _used()
    missing = sorted(name for name in _required()[what] - used[what] if (what, name) not in EXEMPT)
    assert not missing, (
        f"{what}(s) {missing} appear in no studies/*.toml quick tier, so `fplab check` cannot "
        "see a bug in them: add them to a study's sweep.compare / options / problem (or a new "
        "small study) and record its baseline with `fplab check NAME --update`"
    )


def test_the_coverage_reader_sees_defaults_and_options():
    used = _used()
    assert "linear" in used["schedule"]  # VP studies without a schedule parameter
    assert "zero-flux" in used["boundary"]  # the fd kinds' default bc


#: SDE x network parameterisation pairs a shipped quick tier must run (score-model's
#: ``parameterisation``, score-network's ``train.parameterisation``, default 'eps'): every
#: conversion on VE (alpha_t = 1, the one SDE whose sigma_t is not bounded by 1) and eps on VP.
#: 'score' is the identity (no conversion to check); the other SDEs share ``convert`` and their
#: (alpha, sigma, c) are pinned to each SDE's transition in tests/test_nn_params.py.
REQUIRED_PARAMETERISATIONS = {("ve", "eps"), ("ve", "x0"), ("ve", "v"), ("vp", "eps")}


def _parameterisations_used() -> set[tuple[str, str]]:
    used = set()
    for config in _quick_configs():
        problem, opts = config.get("problem") or {}, config.get("options") or {}
        if config["kind"] == "score-model":
            used.add((problem.get("sde"), opts.get("parameterisation", "score")))
        elif config["kind"] == "score-network":
            train = opts.get("train") or {}
            used.add((opts.get("sde", "vp"), train.get("parameterisation", "eps")))
    return used


def test_every_required_sde_and_parameterisation_runs_in_a_shipped_quick_tier():
    pytest.importorskip("torch")
    from fplab.nn.params import PARAMETERISATIONS

    assert {p for _, p in REQUIRED_PARAMETERISATIONS} <= set(PARAMETERISATIONS)
    assert {p for p in PARAMETERISATIONS if p != "score"} <= {
        p for s, p in REQUIRED_PARAMETERISATIONS if s == "ve"
    }, "every non-identity parameterisation must be required on VE"
    missing = sorted(REQUIRED_PARAMETERISATIONS - _parameterisations_used())
    assert not missing, (
        f"(sde, parameterisation) pairs {missing} appear in no studies/*.toml quick tier: add a "
        "score-model study (a model from fplab.testing.models) and record its baseline with "
        "`fplab check NAME --update`"
    )
