"""Conditional flow matching / rectified flow on the linear path (Lipman et al. 2023; Liu et al. 2023).

Path (time runs like a diffusion: data at t = 0, noise at t = 1):

    x_t = (1 - t) x0 + t z,   z ~ N(0, I),   target velocity u = z - x0,
    L(θ) = E_{t ~ U[0,1]} E ‖v_θ(x_t, t) - (z - x0)‖²,

whose minimiser is v*(x, t) = E[z - x0 | x_t = x]; the ODE dx/dt = v* carries N(0, I) at t = 1 to
p0 at t = 0.  The learned velocity is sampled with the same ODE solvers as a probability-flow ODE:
for any additive SDE (f, g), the 'score' s = 2 (f - v)/g² makes the PF-ODE drift f - ½ g² s equal
to v exactly, so ``fp.sample_reverse(sde, flow.pf_ode_score(sde), x1, t_start=1, t_end=0,
method='pf-ode-rk4')`` integrates dx/dt = v (default sde: Heat(D=0.5), g² = 1, s = -2 v).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fplab._typing import FloatArray
from fplab._validate import as_samples, check_int, check_nonnegative, check_positive, restore_shape
from fplab.nn.checkpoint import write_checkpoint
from fplab.nn.models import TimeMLP, resolve_device
from fplab.nn.train import (
    _DTYPES,
    ConfigDict,
    _new_net,
    _state,
    as_training_data,
    optimise,
    step_rng,
    torch_threads,
)

__all__ = ["FlowConfig", "LearnedFlow", "exact_velocity", "sample_flow", "train_flow"]


@dataclass(frozen=True)
class FlowConfig(ConfigDict):
    """Training options of a flow-matching model (meanings as in :class:`fplab.nn.TrainConfig`)."""

    _what = "flow training"

    n_steps: int = 2000
    batch_size: int = 512
    lr: float = 2e-3
    lr_min_ratio: float = 0.05
    ema_decay: float = 0.999
    hidden: int = 128
    depth: int = 3
    n_features: int = 16
    fourier_scale: float = 4.0
    grad_clip: float = 1.0
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        from fplab._validate import check_choice

        check_choice(self.dtype, "dtype", tuple(_DTYPES))
        for name in ("n_steps", "batch_size", "hidden", "depth", "n_features"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.seed, "seed", minimum=0)
        for name in ("lr", "fourier_scale"):
            check_positive(getattr(self, name), name)
        for name in ("lr_min_ratio", "grad_clip"):
            check_nonnegative(getattr(self, name), name)
        if not 0.0 <= self.ema_decay < 1.0:
            msg = f"ema_decay must lie in [0, 1), got {self.ema_decay!r}"
            raise ValueError(msg)


class LearnedFlow:
    """A trained velocity field v_θ(x, t) of the linear path, t ∈ [0, 1] (data at 0, noise at 1)."""

    def __init__(
        self,
        net: TimeMLP,
        config: FlowConfig,
        *,
        device: torch.device,
        losses: FloatArray | None = None,
        train_seconds: float = 0.0,
    ) -> None:
        self.net = net.eval()
        self.config = config
        self.device = device
        self.dtype = _DTYPES[config.dtype]
        self.losses = np.zeros(0) if losses is None else np.asarray(losses, dtype=np.float64)
        self.train_seconds = float(train_seconds)

    @property
    def dim(self) -> int:
        return self.net.dim

    def torch_velocity(self, x: torch.Tensor, t: FloatArray) -> torch.Tensor:
        """v_θ for x (n, d) tensor and t (n,) array, differentiable in x."""
        tau = torch.as_tensor(np.asarray(t, dtype=np.float64), dtype=self.dtype, device=self.device)
        return self.net(x, tau)

    def velocity(self, x: Any, t: Any) -> FloatArray:
        """v_θ(x, t) as float64; x (n, d) or (n,), t float or (n,)."""
        xs, flat = as_samples(x, self.dim)
        tt = np.broadcast_to(np.asarray(t, dtype=np.float64).reshape(-1), (xs.shape[0],)).copy()
        with torch.no_grad(), torch_threads(1):
            xb = torch.as_tensor(xs, dtype=self.dtype, device=self.device)
            out = self.torch_velocity(xb, tt).double().cpu().numpy()
        return restore_shape(out, flat)

    __call__ = velocity

    def pf_ode_score(self, sde: Any = None) -> Callable[[FloatArray, float], FloatArray]:
        """A score callable for ``fp.sample_reverse`` whose PF-ODE drift equals v_θ (module docstring)."""
        from fplab.sdes.linear import Heat

        base = Heat(D=0.5) if sde is None else sde

        def score(x: FloatArray, t: float) -> FloatArray:
            g2 = np.asarray(base.diffusion(x, t)) ** 2
            drift = np.asarray(base.drift(x, t)).reshape(np.shape(x))
            return 2.0 * (drift - self.velocity(x, t)) / g2.reshape(-1, *([1] * (np.ndim(x) - 1)))

        return score

    def save(self, path: str | Path) -> Path:
        state = _state(
            "flow", None, self.config, self.net, self.net, None, len(self.losses), self.losses
        )
        state["train_seconds"] = self.train_seconds
        return write_checkpoint(path, state)

    @classmethod
    def from_state(cls, state: dict[str, Any], *, device: Any = "cpu") -> LearnedFlow:
        dev = resolve_device(device)
        config = FlowConfig.from_dict(state["config"])
        net = _new_net(state["dim"], config).to(dev)  # type: ignore[arg-type]
        net.load_state_dict(state["ema"])
        return cls(
            net,
            config,
            device=dev,
            losses=state["losses"].numpy(),
            train_seconds=float(state.get("train_seconds", 0.0)),
        )

    def __repr__(self) -> str:
        c = self.config
        return f"LearnedFlow({c.hidden}x{c.depth}, steps={len(self.losses)}, device={self.device})"


def train_flow(
    data: Any,
    config: FlowConfig | None = None,
    *,
    device: Any = "cpu",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    callback: Callable[[int, float], Any] | None = None,
    n_threads: int | None = 1,
    **options: Any,
) -> LearnedFlow:
    """Train a rectified-flow velocity model on ``data`` (a law with ``sample`` or samples (n, d)).

    Options, checkpoints, resume and seeds behave as in :func:`fplab.nn.train_score`.
    """
    cfg = config if config is not None else FlowConfig()
    if not isinstance(cfg, FlowConfig):
        msg = f"config must be a FlowConfig, got {type(cfg).__name__}"
        raise TypeError(msg)
    if options:
        cfg = FlowConfig.from_dict({**cfg.to_dict(), **options})
    train_data = as_training_data(data)
    check_int(checkpoint_every, "checkpoint_every", minimum=1)
    dev = resolve_device(device)
    dtype = _DTYPES[cfg.dtype]

    def loss_fn(net: TimeMLP, step: int) -> torch.Tensor:
        rng = step_rng(cfg.seed, step)
        x0 = train_data.batch(cfg.batch_size, rng)
        t = rng.random(cfg.batch_size)
        z = rng.standard_normal(x0.shape)
        xt = (1.0 - t[:, None]) * x0 + t[:, None] * z
        tens = lambda a: torch.as_tensor(a, dtype=dtype, device=dev)  # noqa: E731
        return torch.mean(torch.sum((net(tens(xt), tens(t)) - tens(z - x0)) ** 2, dim=1))

    with torch_threads(n_threads):
        run = optimise(
            "flow",
            None,
            cfg,
            train_data.dim,
            loss_fn,
            device=dev,
            fingerprint=train_data.fingerprint,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
            callback=callback,
        )
    net = run.ema if cfg.ema_decay > 0 else run.net
    return LearnedFlow(net, cfg, device=dev, losses=np.array(run.losses), train_seconds=run.seconds)


def exact_velocity(p0: Any) -> Callable[[Any, Any], FloatArray]:
    """v*(x, t) = E[z - x0 | x_t = x] for a GaussianMixture p0 on the linear path (ground truth).

    With α = 1 - t, σ = t and m(x) = E[x0 | x_t = x] (Gaussian-mixture posterior mean),
    v* = (x - α m)/σ - m for t >= 1/2 and, equivalently, v* = -σ s - (x + σ² s)/α with
    s = ∇ log p_t for t < 1/2 (each form avoids its own 0/0 at t = 0 or t = 1).
    """
    from fplab.distributions import GaussianMixture

    if not isinstance(p0, GaussianMixture):
        msg = f"exact_velocity needs a GaussianMixture p0, got {type(p0).__name__}"
        raise TypeError(msg)
    eye = np.eye(p0.dim)

    def velocity(x: Any, t: Any) -> FloatArray:
        xs, flat = as_samples(x, p0.dim)
        tt = np.asarray(t, dtype=np.float64).reshape(-1)
        if tt.size not in (1, xs.shape[0]):
            msg = f"t must be a scalar or hold one time per sample ({xs.shape[0]}), got {tt.size}"
            raise ValueError(msg)
        out = np.empty_like(xs)
        for tv in np.unique(tt):  # rows sharing a time share one Gaussian mixture p_t
            rows = slice(None) if tt.size == 1 else tt == tv
            out[rows] = at_time(xs[rows], float(tv))
        return restore_shape(out, flat)

    def at_time(xs: FloatArray, t: float) -> FloatArray:
        a, s = 1.0 - t, t
        pt = GaussianMixture(p0.weights, a * p0.means, a * a * p0.covs + s * s * eye[None])
        if t < 0.5:
            sc = pt.score(xs)
            out = -s * sc - (xs + s * s * sc) / a
        else:
            r = pt.responsibilities(xs)  # (n, K)
            m = np.zeros_like(xs)
            for k in range(p0.n_components):
                cov_t = a * a * p0.covs[k] + s * s * eye
                gain = a * p0.covs[k] @ np.linalg.inv(cov_t)
                m += r[:, k : k + 1] * (p0.means[k] + (xs - a * p0.means[k]) @ gain.T)
            out = (xs - a * m) / s - m
        return out

    return velocity


def sample_flow(
    flow: Any,
    x1: Any,
    *,
    n_steps: int,
    method: str = "pf-ode-heun",
    t_end: float = 0.0,
    seed: Any = 0,
) -> FloatArray:
    """Integrate dx/dt = v(x, t) from t = 1 (x1, e.g. N(0, I) samples) down to t_end with a PF-ODE solver.

    ``flow`` is a LearnedFlow or any velocity callable v(x, t); ``method`` an ODE key of
    ``fp.reverse.SAMPLERS`` (the 'pf-ode-*' keys).
    """
    from fplab.reverse import sample_reverse
    from fplab.sdes.linear import Heat

    if not method.startswith("pf-ode"):
        from fplab.reverse import SAMPLERS

        solvers = ", ".join(repr(k) for k in SAMPLERS if k.startswith("pf-ode"))
        msg = f"method must be a probability-flow ODE solver ({solvers}) to sample a flow, got {method!r}"
        raise ValueError(msg)
    heat = Heat(D=0.5)

    def score(x: FloatArray, t: float) -> FloatArray:
        return -2.0 * np.asarray(flow(x, t)).reshape(np.shape(x))

    return sample_reverse(
        heat, score, x1, t_start=1.0, t_end=t_end, n_steps=n_steps, method=method, seed=seed
    )
