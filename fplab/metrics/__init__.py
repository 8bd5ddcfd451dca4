"""Measurements: distances between densities on a grid and between sample sets, score errors,
entropy and Fisher information.

Every metric is an entry of :data:`METRICS` tagged ``kind`` ("density" | "samples") and ``args``
(its positional arguments), so studies name them by key and ``fplab list`` shows them.  Closed
forms between Gaussians, used as references, live in :mod:`fplab.metrics.gaussian`.
"""

from __future__ import annotations

from fplab.metrics._base import METRICS, SupportWarning
from fplab.metrics.density import (
    fisher_divergence,
    hellinger,
    hpd_mask,
    kl,
    score_rel_l2,
    tv,
    w1_density,
    w2_density,
)
from fplab.metrics.gaussian import (
    fisher_divergence_gaussian,
    hellinger_gaussian,
    kl_gaussian,
    mmd_gaussian,
    w2_gaussian,
)
from fplab.metrics.information import (
    entropy,
    fisher_information,
    log_density_gradient,
    relative_fisher_information,
)
from fplab.metrics.samples import ExactOTSizeWarning, kl_from_samples, mmd, sliced_w2, w2

__all__ = [
    "METRICS",
    "ExactOTSizeWarning",
    "SupportWarning",
    "entropy",
    "fisher_divergence",
    "fisher_divergence_gaussian",
    "fisher_information",
    "hellinger",
    "hellinger_gaussian",
    "hpd_mask",
    "kl",
    "kl_from_samples",
    "kl_gaussian",
    "log_density_gradient",
    "mmd",
    "mmd_gaussian",
    "relative_fisher_information",
    "score_rel_l2",
    "sliced_w2",
    "tv",
    "w1_density",
    "w2",
    "w2_density",
    "w2_gaussian",
]
