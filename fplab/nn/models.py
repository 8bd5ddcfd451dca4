"""Small MLP networks with a Gaussian-Fourier time embedding, for 1-D and 2-D score and velocity models.

The network maps (x, τ) with τ = t/T ∈ [0, 1] to an output of the shape of x; what the output *means*
(score, ε, x0, v or a flow velocity) is decided by the wrapper (:mod:`fplab.nn.train`,
:mod:`fplab.nn.flow`), not here.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["GaussianFourierFeatures", "TimeMLP", "build_mlp", "resolve_device"]


class GaussianFourierFeatures(nn.Module):
    """γ(τ) = [sin(2π W τ), cos(2π W τ)] with fixed W ~ N(0, scale²) (Tancik et al. 2020;
    Song et al. 2021).  τ of shape (n,) -> (n, 2 n_features)."""

    W: torch.Tensor

    def __init__(self, n_features: int, scale: float) -> None:
        super().__init__()
        self.register_buffer("W", torch.randn(n_features) * scale)

    def forward(self, tau: torch.Tensor) -> torch.Tensor:
        proj = 2.0 * math.pi * tau[:, None] * self.W[None, :]
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=1)


class TimeMLP(nn.Module):
    """MLP  (x, τ) -> y, y of the shape of x; input is [x, τ, γ(τ)] and the activation SiLU.

    Parameters
    ----------
    dim : int            data dimension d (1 or 2 in fplab's studies; any d works)
    hidden : int         width of the hidden layers
    depth : int          number of hidden layers (>= 1)
    n_features : int     Gaussian Fourier features of τ (output 2 n_features)
    fourier_scale : float  std of the Fourier frequencies
    """

    def __init__(
        self, dim: int, hidden: int, depth: int, n_features: int, fourier_scale: float
    ) -> None:
        super().__init__()
        self.dim = dim
        self.embed = GaussianFourierFeatures(n_features, fourier_scale)
        layers: list[nn.Module] = [nn.Linear(dim + 1 + 2 * n_features, hidden), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        layers.append(nn.Linear(hidden, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """x of shape (n, d), τ of shape (n,) -> (n, d)."""
        return self.net(torch.cat([x, tau[:, None], self.embed(tau)], dim=1))


def resolve_device(device: Any) -> torch.device:
    """``device`` ('cpu', 'cuda', 'cuda:1' or a torch.device) checked for availability.

    Raises ``ValueError`` for an unknown kind and ``RuntimeError`` for CUDA without a device, since
    silently training on CPU would make the timings the user asked for meaningless.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        msg = f"device must be 'cpu' or 'cuda' (optionally 'cuda:N'), got {device!r}"
        raise ValueError(msg) from err
    if dev.type not in ("cpu", "cuda"):
        msg = f"device must be 'cpu' or 'cuda' (optionally 'cuda:N'), got {device!r}"
        raise ValueError(msg)
    if dev.type == "cuda" and not torch.cuda.is_available():
        msg = f"device={device!r} was requested but torch sees no CUDA device; use device='cpu'"
        raise RuntimeError(msg)
    return dev


def build_mlp(
    dim: int, *, hidden: int, depth: int, n_features: int, fourier_scale: float, seed: int
) -> TimeMLP:
    """A :class:`TimeMLP` whose initial weights are a function of ``seed`` alone.

    The global torch RNG is forked, so building a model never perturbs the caller's random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TimeMLP(dim, hidden, depth, n_features, fourier_scale)
