"""Guidance with an exact target: guided scores of a labelled Gaussian mixture and the tilted law.

For a labelled mixture p(x, y) = Σ_k w_k N(x; m_k, C_k) 1[y = label_k] diffused by a linear SDE,
every quantity guidance uses is exact:

    unconditional score    s_t(x)      = ∇ log p_t(x)
    conditional score      s_t(x | y)  = ∇ log p_t(x | y)        (the components labelled y)
    classifier             p_t(y | x)  = Σ_{k: label_k = y} w_k N_k,t(x) / Σ_k w_k N_k,t(x)

Guided score at strength w >= 0 (w = 0 unconditional, w = 1 conditional):

    cfg          s_t(x) + w [s_t(x | y) - s_t(x)]        (Ho & Salimans 2022)
    classifier   s_t(x) + w ∇ log p_t(y | x)              (Dhariwal & Nichol 2021)

By Bayes, ∇ log p_t(y | x) = s_t(x | y) - s_t(x), so with exact scores the two agree to
round-off; here the classifier gradient is computed independently, from the responsibilities:
∇ log p_t(y | x) = Σ_k (r^y_k(x) - r_k(x)) ∇ log N_k,t(x), r the component posteriors of p_t and
r^y those of p_t(· | y).

The guided score at t = 0 is the score of the *tilted* law

    p_w(x) ∝ p(x | y)^w p(x)^{1-w} = p(x) p(y | x)^w / p(y)^w,

but for t > 0 it is not the score of the diffused tilted law, so guided sampling does not
sample p_w exactly; ``tilted_density`` gives p_w on a grid (1-D and 2-D) to measure how far it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fplab._registry import Registry
from fplab._typing import Density, FloatArray
from fplab._validate import as_samples, check_real, restore_shape
from fplab.distributions import GaussianMixture
from fplab.exact import ExactScore, exact_marginal, exact_score
from fplab.sdes.base import SDE

__all__ = ["GUIDANCE_KINDS", "GuidedScore", "guided_score", "tilted_density", "tilted_logpdf"]

#: how the guidance direction is computed, by the key users pass as ``kind=``
GUIDANCE_KINDS: Registry[Callable[..., FloatArray]] = Registry("kind")


@GUIDANCE_KINDS.register("cfg")
def _cfg_direction(guided: GuidedScore, x: FloatArray, t: float) -> FloatArray:
    """Classifier-free direction s_t(x | y) - s_t(x), shape (n, d)."""
    return np.asarray(guided.conditional(x, t)) - np.asarray(guided.unconditional(x, t))


@GUIDANCE_KINDS.register("classifier")
def _classifier_direction(guided: GuidedScore, x: FloatArray, t: float) -> FloatArray:
    """∇ log p_t(y | x) = Σ_k (r^y_k - r_k) ∇ log N_k,t(x) from the exact marginal, shape (n, d)."""
    pt = exact_marginal(guided.sde, guided.p0, t, t0=guided.t0)
    # both posteriors from log w_k + log N_k: normalising the label's share of r instead gives
    # 0/0 = NaN where every component of the label underflows against another one (narrow
    # components at small t)
    comp = pt._component_logpdf(x)  # (n, K)
    r = np.exp(comp - pt._logsumexp_rows(comp)[:, None])
    comp_y = np.where(guided.mask[None, :], comp, -np.inf)
    ry = np.exp(comp_y - pt._logsumexp_rows(comp_y)[:, None])
    out = np.zeros_like(x)
    for k in range(pt.n_components):
        comp = (pt.means[k] - x) @ pt._prec[k].T  # ∇ log N(x; m_k, C_k)
        out += (ry[:, k] - r[:, k])[:, None] * comp
    return out


class GuidedScore:
    """s(x, t) = s_t(x) + w · direction(x, t), the guided score of a labelled mixture.

    Call with x of shape (n, d) (or (n,) in 1-D) and t a float or an array of shape (n,) (one
    time per sample, as ``fp.exact_score`` takes); returns the shape of x.
    Attributes: ``sde``, ``p0``, ``label``, ``w``, ``kind``, ``unconditional`` and
    ``conditional`` (the two exact scores).
    """

    def __init__(self, sde: SDE, p0: GaussianMixture, label: Any, w: float, kind: str, t0: float):
        self.sde, self.p0, self.label, self.w, self.kind, self.t0 = sde, p0, label, w, kind, t0
        self.mask = p0.label_mask(label)
        self.unconditional: ExactScore = exact_score(sde, p0, t0=t0)
        self.conditional: ExactScore = exact_score(sde, p0, t0=t0, label=label)
        self._direction = GUIDANCE_KINDS.get(kind)

    def __call__(self, x: Any, t: Any) -> FloatArray:
        xs, flat = as_samples(x, self.p0.dim)
        tt = np.asarray(t, dtype=np.float64)
        # the exact scores validate t (finite, >= t0, inside the horizon) and its length
        s_u = np.asarray(self.unconditional(xs, t if tt.ndim == 0 else tt))
        if self.w == 0.0:
            return restore_shape(s_u, flat)
        if tt.ndim == 0:
            return restore_shape(s_u + self.w * self._direction(self, xs, float(tt)), flat)
        # one time per sample (as exact_score takes for denoising score matching): the
        # direction of each distinct time on its samples
        tt = tt.reshape(-1)
        direction = np.empty_like(xs)
        for ti in np.unique(tt):
            sel = tt == ti
            direction[sel] = self._direction(self, xs[sel], float(ti))
        return restore_shape(s_u + self.w * direction, flat)


def _check_guidance(p0: Any, label: Any, w: Any) -> tuple[Any, float]:
    if not isinstance(p0, GaussianMixture):
        msg = f"p0 must be a labelled fp.GaussianMixture, got {type(p0).__name__}"
        raise TypeError(msg)
    label = p0.check_label(label)
    # p(x | y) is undefined when p(y) = 0; tilted_logpdf would return 0·(-inf) = NaN silently
    p0.conditional(label)
    wv = check_real(w, "w")
    if wv < 0.0:
        msg = (
            f"w must be >= 0 (0: unconditional, 1: conditional, > 1: amplified guidance), got {wv}"
        )
        raise ValueError(msg)
    return label, wv


def guided_score(
    sde: SDE, p0: GaussianMixture, label: Any, w: float, *, kind: str = "cfg", t0: float = 0.0
) -> GuidedScore:
    """The exact guided score s_t(x) + w [s_t(x | y) - s_t(x)] of a labelled Gaussian mixture.

    Parameters
    ----------
    sde : SDE
        A linear SDE (OU, Heat, VP, VE, SubVP).
    p0 : GaussianMixture
        Data law with ``labels=[...]``.
    label : int or str
        The class y to guide towards; one of ``p0.labels``.
    w : float >= 0
        Guidance strength: 0 gives the unconditional score, 1 the conditional one.
    kind : str
        A key of ``GUIDANCE_KINDS``: 'cfg' (classifier-free, Ho & Salimans 2022) or
        'classifier' (the exact classifier gradient ∇ log p_t(y | x), Dhariwal & Nichol 2021);
        equal to round-off for exact scores.
    t0 : float
        Time at which X ~ p0 (default 0).

    Returns
    -------
    GuidedScore
        Callable (x (n, d), t float or (n,)) -> (n, d), usable as ``fp.sample_reverse``'s score.

    Raises
    ------
    ValueError
        A label not in the mixture, w < 0 or non-finite, an unknown ``kind``.
    TypeError
        p0 not a GaussianMixture.
    """
    label, wv = _check_guidance(p0, label, w)
    GUIDANCE_KINDS.get(kind)
    return GuidedScore(sde, p0, label, wv, kind, check_real(t0, "t0"))


def tilted_logpdf(p0: GaussianMixture, label: Any, w: float, x: Any) -> FloatArray:
    """Unnormalised log p_w(x) = log p(x) + w log p(y | x), shape (n,), for x of shape (n, d).

    Equal to w log p(x | y) + (1 - w) log p(x) + w log p(y); the classifier form stays finite
    for w > 1, where p(x)^{1-w} alone would overflow in the tails.
    """
    label, wv = _check_guidance(p0, label, w)
    xs, _ = as_samples(x, p0.dim)
    comp = p0._component_logpdf(xs)  # (n, K): log w_k + log N_k
    log_p = p0._logsumexp_rows(comp)
    mask = p0.label_mask(label)
    log_joint = p0._logsumexp_rows(np.where(mask[None, :], comp, -np.inf))
    return log_p + wv * (log_joint - log_p)


def tilted_density(p0: GaussianMixture, label: Any, w: float, grid: Any) -> Density:
    """The tilted law p_w ∝ p(x | y)^w p(x)^{1-w} on a grid (1-D or 2-D), normalised to mass 1.

    Parameters
    ----------
    p0 : GaussianMixture with labels
    label : the class y
    w : float >= 0
    grid : Grid
        Of the mixture's dimension; the box must hold p_w's mass (the normalisation is the
        grid's midpoint rule).

    Returns
    -------
    p : ndarray of float64, shape ``grid.shape``
    """
    if getattr(grid, "ndim", None) != getattr(p0, "dim", None):
        msg = f"grid must have the dimension of p0 ({getattr(p0, 'dim', '?')}), got {grid!r}"
        raise ValueError(msg)
    logp = tilted_logpdf(p0, label, w, grid.points()).reshape(grid.shape)
    p = np.exp(logp - logp.max())
    return p / grid.integrate(p)
