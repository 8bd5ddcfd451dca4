"""Analytic test problems: (SDE, Gaussian-mixture p0, final time, grid) with exact marginals.

The single source of exact cases for the test suite: solver and sampler tests parametrise over
these instead of redefining problems locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fplab as fp


@dataclass(frozen=True)
class Problem:
    name: str
    sde: Any
    p0: Any
    t_final: float
    grid: Any
    t0: float = 0.0

    def exact(self, t: float | None = None) -> Any:
        return fp.exact_marginal(self.sde, self.p0, self.t_final if t is None else t, t0=self.t0)

    def __repr__(self) -> str:  # readable pytest ids
        return self.name


BIMODAL_1D = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
BIMODAL_2D = fp.GaussianMixture(
    [0.45, 0.55],
    [[-1.5, -0.5], [1.2, 1.0]],
    [[[0.6, 0.2], [0.2, 0.4]], [[0.35, -0.1], [-0.1, 0.5]]],
)

LINE = fp.Grid.uniform(lo=-8.0, hi=8.0, n=256)
SQUARE = fp.Grid.uniform(lo=(-6.0, -6.0), hi=(6.0, 6.0), n=(64, 64))

#: 1-D linear problems: the exact marginal is a Gaussian mixture
LINEAR_1D = [
    Problem("ou-1d", fp.OU(theta=1.0, mu=0.0, sigma=2**0.5), BIMODAL_1D, 0.5, LINE),
    Problem("heat-1d", fp.Heat(D=0.5), BIMODAL_1D, 0.4, LINE),
    Problem("vp-1d", fp.VP(beta_min=0.1, beta_max=20.0, T=1.0), BIMODAL_1D, 0.3, LINE),
    Problem("ve-1d", fp.VE(sigma_min=0.01, sigma_max=2.0, T=1.0), BIMODAL_1D, 0.8, LINE),
    Problem("subvp-1d", fp.SubVP(beta_min=0.1, beta_max=20.0, T=1.0), BIMODAL_1D, 0.3, LINE),
]

#: 2-D linear problems with full covariances
LINEAR_2D = [
    Problem("ou-2d", fp.OU(theta=1.0, mu=0.0, sigma=1.0), BIMODAL_2D, 0.5, SQUARE),
    Problem("heat-2d", fp.Heat(D=0.3), BIMODAL_2D, 0.4, SQUARE),
    Problem("vp-2d", fp.VP(beta_min=0.1, beta_max=20.0, T=1.0), BIMODAL_2D, 0.3, SQUARE),
    Problem("ve-2d", fp.VE(sigma_min=0.01, sigma_max=2.0, T=1.0), BIMODAL_2D, 0.8, SQUARE),
]

#: geometric Brownian motion with a log-normal start: exact log-normal marginal
GBM_LOGNORMAL = Problem(
    "gbm-lognormal",
    fp.GBM(mu=0.05, sigma=0.4),
    fp.LogNormal(0.0, 0.25),
    1.0,
    fp.Grid.uniform(lo=0.0, hi=8.0, n=512),
)

ALL_LINEAR = LINEAR_1D + LINEAR_2D
