"""Why reversing diffusion needs the score: a quantified backward-heat instability study.

Entry point: :func:`run_experiment` -> :class:`BackwardHeatResult` (``rows()``, ``summary()``).
Pieces: generators and exact symbols (``operators``), per-mode growth and naive reversal from
noisy data (``naive``), regularised inversions (``regularise``), score-based reversal (``score``).
See docs/backward_heat.md for the maths and measured figures.
"""

from __future__ import annotations

from fplab.backward_heat.experiment import (
    BackwardHeatConfig,
    BackwardHeatResult,
    BlowupPoint,
    run_experiment,
)
from fplab.backward_heat.naive import (
    ModeGrowth,
    NaiveReversal,
    add_noise,
    measure_mode_growth,
    naive_reversal,
)
from fplab.backward_heat.operators import (
    DIRECTIONS,
    SCHEMES,
    LinearGenerator,
    Stepper,
    apply_spectral,
    continuous_symbol,
    fokker_planck_generator,
    heat_generator,
    laplacian_symbol,
    propagate_exact,
    step_factor,
    wavenumbers,
)
from fplab.backward_heat.regularise import (
    REGULARISERS,
    RegularisationCurve,
    default_parameters,
    expected_error,
    naive_inversion,
    quasi_reversibility,
    regularisation_curve,
    regularisation_filter,
    spectral_cutoff,
    tikhonov,
)
from fplab.backward_heat.score import (
    PERTURBATIONS,
    ScoreReversal,
    score_reversal,
    smooth_field,
    w2_to_mixture,
)

__all__ = [
    "DIRECTIONS",
    "PERTURBATIONS",
    "REGULARISERS",
    "SCHEMES",
    "BackwardHeatConfig",
    "BackwardHeatResult",
    "BlowupPoint",
    "LinearGenerator",
    "ModeGrowth",
    "NaiveReversal",
    "RegularisationCurve",
    "ScoreReversal",
    "Stepper",
    "add_noise",
    "apply_spectral",
    "continuous_symbol",
    "default_parameters",
    "expected_error",
    "fokker_planck_generator",
    "heat_generator",
    "laplacian_symbol",
    "measure_mode_growth",
    "naive_inversion",
    "naive_reversal",
    "propagate_exact",
    "quasi_reversibility",
    "regularisation_curve",
    "regularisation_filter",
    "run_experiment",
    "score_reversal",
    "smooth_field",
    "spectral_cutoff",
    "step_factor",
    "tikhonov",
    "w2_to_mixture",
    "wavenumbers",
]
