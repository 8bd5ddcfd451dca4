"""Reverse-time sampling with a score: ``sample_reverse``, the ``SAMPLERS`` registry and
``grid_score`` (a score interpolated from a finite-difference Fokker–Planck solution)."""

from __future__ import annotations

from fplab.reverse.chain import ddpm_betas, ddpm_chain_law
from fplab.reverse.gridscore import GridScore, grid_score
from fplab.reverse.sample import SampleInfo, ScoreValueError, sample_reverse
from fplab.reverse.samplers import SAMPLERS, Sampler, StepContext
from fplab.reverse.timegrids import TIME_GRIDS

__all__ = [
    "SAMPLERS",
    "TIME_GRIDS",
    "GridScore",
    "SampleInfo",
    "Sampler",
    "ScoreValueError",
    "StepContext",
    "ddpm_betas",
    "ddpm_chain_law",
    "grid_score",
    "sample_reverse",
]
