"""Learned score networks (torch), measured against exact and grid ground-truth scores.

Loaded lazily as ``fp.nn``: ``import fplab`` never imports torch.  Contents:

* :func:`train_score` — denoising score matching on a linear SDE (any ``LinearSDE``), with
  parameterisations score / eps / x0 / v (:func:`convert`, exact), weightings σ_t² and g(t)², EMA,
  fixed seeds, CPU or CUDA, checkpoints and resume.  Returns a :class:`LearnedScore`, a NumPy score
  callable s(x, t) for ``fp.sample_reverse``.
* :func:`train_flow` — conditional flow matching / rectified flow on the linear path.
* :func:`load_checkpoint` — a saved model back as a LearnedScore or LearnedFlow.
* measurements in :mod:`fplab.nn.evaluate` and :mod:`fplab.nn.likelihood`, and the study entry point
  :func:`run_experiment`.
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as err:  # pragma: no cover - torch comes with the extra fplab[nn]
    msg = "fplab.nn needs torch, which the extra fplab[nn] installs: pip install 'fplab[nn]'"
    raise ImportError(msg) from err

from fplab.nn.evaluate import (
    Reference,
    ScoreErrorCurve,
    convolution_reference,
    error_budget,
    exact_reference,
    fd_reference,
    sample_error_table,
    score_error_vs_t,
)
from fplab.nn.experiment import PROBLEMS, ExperimentConfig, ScoreNetworkResult, run_experiment
from fplab.nn.external import (
    ExternalScore,
    ScoreModelEvaluation,
    evaluate_score_model,
    load_score_model,
)
from fplab.nn.flow import FlowConfig, LearnedFlow, exact_velocity, sample_flow, train_flow
from fplab.nn.likelihood import LikelihoodResult, flow_log_likelihood, pf_ode_log_likelihood
from fplab.nn.load import load_checkpoint
from fplab.nn.models import GaussianFourierFeatures, TimeMLP, build_mlp, resolve_device
from fplab.nn.params import PARAMETERISATIONS, convert, marginal_coefficients_array
from fplab.nn.train import WEIGHTINGS, LearnedScore, TrainConfig, train_score

__all__ = [
    "PARAMETERISATIONS",
    "PROBLEMS",
    "WEIGHTINGS",
    "ExperimentConfig",
    "ExternalScore",
    "FlowConfig",
    "GaussianFourierFeatures",
    "LearnedFlow",
    "LearnedScore",
    "LikelihoodResult",
    "Reference",
    "ScoreErrorCurve",
    "ScoreModelEvaluation",
    "ScoreNetworkResult",
    "TimeMLP",
    "TrainConfig",
    "build_mlp",
    "convert",
    "convolution_reference",
    "error_budget",
    "evaluate_score_model",
    "exact_reference",
    "exact_velocity",
    "fd_reference",
    "flow_log_likelihood",
    "load_checkpoint",
    "load_score_model",
    "marginal_coefficients_array",
    "pf_ode_log_likelihood",
    "resolve_device",
    "run_experiment",
    "sample_error_table",
    "sample_flow",
    "score_error_vs_t",
    "train_flow",
    "train_score",
]
