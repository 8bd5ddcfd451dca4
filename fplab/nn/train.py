"""Denoising score matching (DSM) for linear-SDE diffusion models, with EMA, seeds and resumable checkpoints.

Objective (Vincent 2011; Song et al. 2021, eq. 7), with X_t = α_t x0 + c_t + σ_t ε:

    L(θ) = E_{t ~ U[t_min, T]} E_{x0, ε} λ(t) ‖ s_θ(X_t, t) + ε/σ_t ‖²
         = E λ(t)/σ_t² ‖ ε_θ(X_t, t) - ε ‖²,

where ε_θ is the network output mapped to the noise parameterisation (exact, :mod:`fplab.nn.params`).
Weightings: ``"sigma2"`` λ = σ_t² (the ε-prediction loss of Ho et al. 2020) and ``"g2"`` λ = g(t)²
(likelihood weighting, Song et al. 2021b).

Randomness: step k draws its batch, times and noise from ``numpy.random.default_rng([seed, k])`` and
the weights are initialised from ``seed``, so a run is a function of its configuration alone and a
run resumed at step k repeats none of steps 0..k-1 yet ends on the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from fplab._typing import FloatArray
from fplab._validate import as_samples, check_int, check_nonnegative, check_positive, restore_shape
from fplab.nn.checkpoint import read_checkpoint, write_checkpoint
from fplab.nn.models import TimeMLP, build_mlp, resolve_device
from fplab.nn.params import (
    PARAMETERISATIONS,
    check_linear_sde,
    convert,
    horizon,
    marginal_coefficients_array,
)
from fplab.sdes.base import SDES
from fplab.sdes.linear import LinearSDE

__all__ = ["WEIGHTINGS", "LearnedScore", "TrainConfig", "train_score"]

#: DSM weightings λ(t)
WEIGHTINGS: tuple[str, ...] = ("sigma2", "g2")

#: regression targets of the score loss
TARGETS: tuple[str, ...] = ("dsm", "stf")

#: what the network sees of t
TIME_INPUTS: tuple[str, ...] = ("log-sigma", "t")

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class ConfigDict:
    """``to_dict``/``from_dict`` for the frozen training-config dataclasses (JSON round trip)."""

    _what: ClassVar[str] = "training"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-able)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Any:
        """Inverse of :meth:`to_dict`; unknown keys are a ``ValueError`` naming them."""
        allowed = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - allowed)
        if unknown:
            msg = f"unknown {cls._what} option(s) {unknown}; allowed: {sorted(allowed)}"
            raise ValueError(msg)
        return cls(**values)


@dataclass(frozen=True)
class TrainConfig(ConfigDict):
    """Everything that determines a training run (the device does not: results move between devices).

    Attributes
    ----------
    parameterisation : str   network output: 'eps' (default), 'score', 'x0' or 'v'
    weighting : str          λ(t): 'sigma2' (σ_t², default) or 'g2' (g(t)², likelihood weighting)
    n_steps : int            optimiser steps in total (a resumed run continues up to this)
    batch_size : int
    lr : float               Adam learning rate, cosine-decayed to lr · lr_min_ratio at n_steps
    lr_min_ratio : float
    ema_decay : float        EMA of weights, warm-started as min(decay, (1+k)/(10+k)); 0 disables
    t_min : float            training times t ~ U[t_min, T]
    target : str             regression target: 'dsm' (ε, the plain denoising target, default) or
                             'stf' (stable target field, Xu et al. 2023: the posterior average of ε
                             over a reference batch of n_reference data plus the sample's own x0)
    n_reference : int        reference batch of the 'stf' target
    time_input : str         what the network sees of t: 'log-sigma' (default; u = log σ_t rescaled
                             to [0, 1] on [t_min, T], which resolves small t) or 't' (τ = t/T)
    hidden, depth : int      MLP width and number of hidden layers
    n_features : int         Gaussian Fourier features of τ = t/T
    fourier_scale : float    std of the Fourier frequencies
    grad_clip : float        max gradient norm (0 disables)
    dtype : str              'float32' (default) or 'float64'
    seed : int               initial weights and every batch
    """

    parameterisation: str = "eps"
    weighting: str = "sigma2"
    n_steps: int = 2000
    batch_size: int = 512
    lr: float = 2e-3
    lr_min_ratio: float = 0.05
    ema_decay: float = 0.999
    t_min: float = 1e-3
    time_input: str = "log-sigma"
    target: str = "dsm"
    n_reference: int = 1024
    hidden: int = 128
    depth: int = 3
    n_features: int = 16
    fourier_scale: float = 4.0
    grad_clip: float = 1.0
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        from fplab._validate import check_choice

        check_choice(self.parameterisation, "parameterisation", PARAMETERISATIONS)
        check_choice(self.weighting, "weighting", WEIGHTINGS)
        check_choice(self.dtype, "dtype", tuple(_DTYPES))
        check_choice(self.time_input, "time_input", TIME_INPUTS)
        check_choice(self.target, "target", TARGETS)
        for name in ("n_steps", "batch_size", "hidden", "depth", "n_features", "n_reference"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.seed, "seed", minimum=0)
        for name in ("lr", "t_min", "fourier_scale"):
            check_positive(getattr(self, name), name)
        for name in ("lr_min_ratio", "grad_clip"):
            check_nonnegative(getattr(self, name), name)
        if not 0.0 <= self.ema_decay < 1.0:
            msg = f"ema_decay must lie in [0, 1), got {self.ema_decay!r}"
            raise ValueError(msg)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Data:
    """Training data: a law with ``sample(n, seed)`` (fresh batch every step) or a fixed array."""

    dim: int
    law: Any = None
    array: FloatArray | None = None
    fingerprint: str = field(default="")

    def batch(self, n: int, rng: np.random.Generator) -> FloatArray:
        if self.array is not None:
            return self.array[rng.integers(0, self.array.shape[0], size=n)]
        out = np.asarray(self.law.sample(n, seed=rng), dtype=np.float64)
        return out.reshape(n, self.dim)


def as_training_data(data: Any, name: str = "data") -> _Data:
    """Wrap a law with ``sample`` or an array of samples (n, d) / (n,) as training data."""
    if hasattr(data, "sample") and callable(data.sample):
        probe = np.asarray(data.sample(2, seed=np.random.default_rng(0)), dtype=np.float64)
        dim = 1 if probe.ndim == 1 else int(probe.shape[1])
        return _Data(dim=dim, law=data, fingerprint=f"law:{data!r}")
    if isinstance(data, np.ndarray | list | tuple):
        xs, _ = as_samples(data, name=name)
        if xs.shape[0] < 2:
            msg = f"{name} must hold at least 2 samples, got {xs.shape[0]}"
            raise ValueError(msg)
        digest = hashlib.sha256(xs.tobytes()).hexdigest()[:16]
        return _Data(dim=xs.shape[1], array=xs, fingerprint=f"array:{xs.shape}:{digest}")
    msg = (
        f"{name} must be a distribution with a sample(n, seed) method (e.g. fp.GaussianMixture) "
        f"or an array of samples of shape (n, d), got {type(data).__name__}"
    )
    raise TypeError(msg)


def time_feature(sde: LinearSDE, config: Any, t: FloatArray, sigma: FloatArray) -> FloatArray:
    """Network time input for times t (n,) with marginal stds σ_t (n,): τ = t/T, or
    u = (log σ_t - log σ_{t_min}) / (log σ_T - log σ_{t_min}) for ``time_input='log-sigma'``."""
    T = horizon(sde)
    if config.time_input == "t":
        return t / T
    _, s_ends, _ = marginal_coefficients_array(sde, [config.t_min, T])
    lo, hi = np.log(s_ends)
    return (np.log(sigma) - lo) / (hi - lo)


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The random stream of optimiser step ``step``: a function of (seed, step) alone."""
    return np.random.default_rng([seed, step])


# --------------------------------------------------------------------------------------------
# the trained model
# --------------------------------------------------------------------------------------------
class LearnedScore:
    """A trained score network as a plain NumPy score callable s(x, t) (usable by fp.sample_reverse).

    Attributes
    ----------
    sde : LinearSDE          the forward SDE the model was trained for
    config : TrainConfig
    net : TimeMLP            the network (EMA weights), in eval mode
    device : torch.device
    losses : ndarray of float64, shape (steps,)   training loss per step
    train_seconds : float    wall time of the training calls (summed over resumes)
    """

    def __init__(
        self,
        net: TimeMLP,
        sde: LinearSDE,
        config: TrainConfig,
        *,
        device: torch.device,
        losses: FloatArray | None = None,
        train_seconds: float = 0.0,
    ) -> None:
        self.net = net.eval()
        self.sde = sde
        self.config = config
        self.device = device
        self.dtype = _DTYPES[config.dtype]
        self.T = horizon(sde)
        self.losses = np.zeros(0) if losses is None else np.asarray(losses, dtype=np.float64)
        self.train_seconds = float(train_seconds)
        #: torch threads for evaluation (1: small batches gain nothing from more, see torch_threads)
        self.n_threads: int | None = 1

    @property
    def dim(self) -> int:
        return self.net.dim

    # -- torch side (differentiable in x) -------------------------------------------------------
    def torch_predict(self, x: torch.Tensor, t: FloatArray, kind: str = "score") -> torch.Tensor:
        """Prediction in parameterisation ``kind`` for x of shape (n, d) (tensor) and t of shape (n,)."""
        tt = np.asarray(t, dtype=np.float64)
        a_np, s_np, c_np = marginal_coefficients_array(self.sde, tt)
        as_t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
        alpha, sigma, c = as_t(a_np[:, None]), as_t(s_np[:, None]), as_t(c_np)
        out = self.net(x, as_t(time_feature(self.sde, self.config, tt, s_np)))
        return convert(out, self.config.parameterisation, kind, x, alpha, sigma, c)

    # -- NumPy side ------------------------------------------------------------------------------
    def predict(self, x: Any, t: Any, kind: str = "score", *, chunk: int = 65536) -> FloatArray:
        """Prediction in parameterisation ``kind`` ('score', 'eps', 'x0', 'v') as float64.

        x : shape (n, d) or (n,) in 1-D;  t : float or shape (n,), t > 0.
        Returns the shape of x.
        """
        xs, flat = as_samples(x, self.dim)
        tt = np.broadcast_to(np.asarray(t, dtype=np.float64).reshape(-1), (xs.shape[0],)).copy()
        if tt.shape[0] and np.min(tt) <= 0.0:
            msg = f"t must be > 0 for a learned score (σ_0 = 0), got min t = {np.min(tt)}"
            raise ValueError(msg)
        out = np.empty_like(xs)
        with torch.no_grad(), torch_threads(self.n_threads):
            for i in range(0, xs.shape[0], chunk):
                xb = torch.as_tensor(xs[i : i + chunk], dtype=self.dtype, device=self.device)
                yb = self.torch_predict(xb, tt[i : i + chunk], kind)
                out[i : i + chunk] = yb.double().cpu().numpy()
        return restore_shape(out, flat)

    def __call__(self, x: Any, t: Any) -> FloatArray:
        """s_θ(x, t) ≈ ∇ log p_t(x); x of shape (n, d) (or (n,) in 1-D), t float or (n,)."""
        return self.predict(x, t, "score")

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write model + configuration (EMA weights as the model) to ``path``."""
        state = _state(
            "score", self.sde, self.config, self.net, self.net, None, len(self.losses), self.losses
        )
        state["train_seconds"] = self.train_seconds
        return write_checkpoint(path, state)

    @classmethod
    def from_state(cls, state: dict[str, Any], *, device: Any = "cpu") -> LearnedScore:
        dev = resolve_device(device)
        config = TrainConfig.from_dict(state["config"])
        sde = sde_from_spec(state["sde"])
        net = _new_net(state["dim"], config).to(dev)
        net.load_state_dict(state["ema"])
        return cls(
            net.to(_DTYPES[config.dtype]),
            sde,
            config,
            device=dev,
            losses=state["losses"].numpy(),
            train_seconds=float(state.get("train_seconds", 0.0)),
        )

    def __repr__(self) -> str:
        c = self.config
        return (
            f"LearnedScore({type(self.sde).__name__}, {c.parameterisation}, {c.weighting}, "
            f"{c.hidden}x{c.depth}, steps={len(self.losses)}, device={self.device})"
        )


def sde_spec(sde: LinearSDE) -> dict[str, Any]:
    """{'name': registry key, 'params': constructor parameters} — enough to rebuild the SDE."""
    name = getattr(sde, "registry_name", "custom")
    if name not in SDES:
        msg = f"cannot checkpoint an SDE of type {type(sde).__name__}: it is not in fp.SDES"
        raise TypeError(msg)
    return {"name": name, "params": sde.params()}


def sde_from_spec(spec: dict[str, Any]) -> Any:
    """Inverse of :func:`sde_spec`."""
    return SDES.get(spec["name"])(**spec["params"])


def _new_net(dim: int, config: TrainConfig) -> TimeMLP:
    net = build_mlp(
        dim,
        hidden=config.hidden,
        depth=config.depth,
        n_features=config.n_features,
        fourier_scale=config.fourier_scale,
        seed=config.seed,
    )
    return net.to(_DTYPES[config.dtype])


def _state(
    kind: str,
    sde: Any,
    config: Any,
    net: torch.nn.Module,
    ema: torch.nn.Module,
    opt: torch.optim.Optimizer | None,
    step: int,
    losses: Any,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cpu = lambda sd: {k: v.detach().cpu().clone() for k, v in sd.items()}  # noqa: E731
    return {
        "kind": kind,
        "sde": None if sde is None else sde_spec(sde),
        "config": config.to_dict(),
        "dim": int(net.dim),  # type: ignore[arg-type]
        "step": int(step),
        "model": cpu(net.state_dict()),
        "ema": cpu(ema.state_dict()),
        "optimizer": None if opt is None else _optimizer_state_cpu(opt),
        "losses": torch.as_tensor(np.asarray(losses, dtype=np.float64)),
        **(extra or {}),
    }


def _optimizer_state_cpu(opt: torch.optim.Optimizer) -> dict[str, Any]:
    sd = opt.state_dict()
    state = {
        k: {n: (v.detach().cpu().clone() if torch.is_tensor(v) else v) for n, v in s.items()}
        for k, s in sd["state"].items()
    }
    return {"state": state, "param_groups": sd["param_groups"]}


# --------------------------------------------------------------------------------------------
# the optimisation loop shared by score and flow models
# --------------------------------------------------------------------------------------------
@dataclass
class _Run:
    net: TimeMLP
    ema: TimeMLP
    losses: list[float]
    seconds: float


def optimise(
    kind: str,
    sde: Any,
    config: Any,
    dim: int,
    loss_fn: Callable[[TimeMLP, int], torch.Tensor],
    *,
    device: torch.device,
    fingerprint: str,
    checkpoint: str | Path | None,
    checkpoint_every: int,
    resume: bool,
    callback: Callable[[int, float], Any] | None,
) -> _Run:
    """Adam + cosine LR + EMA + gradient clipping, checkpointing every ``checkpoint_every`` steps.

    ``loss_fn(net, step)`` returns the loss of step ``step`` (it draws its batch from
    :func:`step_rng`).  With ``resume`` and an existing checkpoint, training restarts after the
    checkpoint's step; the checkpoint must come from the same configuration and data.
    """
    net = _new_net(dim, config).to(device)
    ema = _new_net(dim, config).to(device)
    ema.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    start, losses, seconds = 0, [], 0.0
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = read_checkpoint(checkpoint)
        _check_resumable(state, kind, sde, config, fingerprint, checkpoint)
        net.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        if state["optimizer"] is not None:
            opt.load_state_dict(state["optimizer"])
        start = int(state["step"])
        losses = [float(v) for v in state["losses"]]
        seconds = float(state.get("train_seconds", 0.0))
    tick = time.perf_counter()

    def save(step: int) -> None:
        extra = {"fingerprint": fingerprint, "train_seconds": seconds + time.perf_counter() - tick}
        write_checkpoint(checkpoint, _state(kind, sde, config, net, ema, opt, step, losses, extra))  # type: ignore[arg-type]

    net.train()
    for step in range(start, config.n_steps):
        frac = step / config.n_steps
        lr = config.lr * (
            config.lr_min_ratio + (1 - config.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * frac))
        )
        for group in opt.param_groups:
            group["lr"] = lr
        loss = loss_fn(net, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        opt.step()
        decay = min(config.ema_decay, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters(), strict=True):
                pe.mul_(decay).add_(p, alpha=1.0 - decay)
        value = float(loss.detach())
        if not math.isfinite(value):
            from fplab.errors import NumericalError

            msg = f"training loss became {value} at step {step}; lower lr or raise t_min"
            raise NumericalError(msg)
        losses.append(value)
        if checkpoint is not None and (
            (step + 1) % checkpoint_every == 0 or step + 1 == config.n_steps
        ):
            save(step + 1)
        if callback is not None:
            callback(step + 1, value)
    net.eval()
    ema.eval()
    return _Run(net, ema, losses, seconds + time.perf_counter() - tick)


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n_threads)`` and restore the previous count after.

    Small MLPs gain nothing from a second intra-op thread on a quiet machine (3.3 vs 3.4 ms per
    step, 128x3, batch 512) and lose 5-10x when the cores are shared, so training defaults to one.
    """
    if n_threads is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(check_int(n_threads, "n_threads", minimum=1))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _check_resumable(
    state: dict[str, Any], kind: str, sde: Any, config: Any, fingerprint: str, path: Any
) -> None:
    problems = []
    if state.get("kind") != kind:
        problems.append(f"model kind {state.get('kind')!r} != {kind!r}")
    if sde is not None and state.get("sde") != sde_spec(sde):
        problems.append(f"sde {state.get('sde')} != {sde_spec(sde)}")
    old = state.get("config", {})
    diff = sorted(k for k, v in config.to_dict().items() if old.get(k) != v)
    if diff:
        problems.append(
            "config differs in "
            + ", ".join(f"{k} ({old.get(k)!r} -> {getattr(config, k)!r})" for k in diff)
        )
    if state.get("fingerprint") != fingerprint:
        problems.append("training data differ")
    if problems:
        msg = (
            f"cannot resume from checkpoint {str(path)!r}: "
            + "; ".join(problems)
            + "; use a new checkpoint path or resume=False"
        )
        raise ValueError(msg)


def _dsm_loss_fn(
    sde: LinearSDE, data: _Data, config: TrainConfig, device: torch.device
) -> Callable[[TimeMLP, int], torch.Tensor]:
    """The DSM loss of step k (module docstring), batch drawn from ``step_rng(seed, k)``."""
    T = horizon(sde)
    dtype = _DTYPES[config.dtype]

    def loss_fn(net: TimeMLP, step: int) -> torch.Tensor:
        rng = step_rng(config.seed, step)
        x0 = data.batch(config.batch_size, rng)
        t = config.t_min + (T - config.t_min) * rng.random(config.batch_size)
        eps = rng.standard_normal(x0.shape)
        alpha, sigma, c = marginal_coefficients_array(sde, t)
        xt = alpha[:, None] * x0 + c + sigma[:, None] * eps
        # λ(t)/σ_t² multiplies ‖ε_θ - ε‖² (module docstring)
        w = np.ones_like(t) if config.weighting == "sigma2" else sde.g2(t) / sigma**2
        if config.target == "stf":
            eps = stf_target(xt, x0, data.batch(config.n_reference, rng), alpha, sigma, c)
        tens = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        xt_t = tens(xt)
        out = net(xt_t, tens(time_feature(sde, config, t, sigma)))
        eps_hat = convert(
            out,
            config.parameterisation,
            "eps",
            xt_t,
            tens(alpha[:, None]),
            tens(sigma[:, None]),
            tens(c),
        )
        return torch.mean(tens(w) * torch.sum((eps_hat - tens(eps)) ** 2, dim=1))

    return loss_fn


def stf_target(
    xt: FloatArray,
    x0: FloatArray,
    ref: FloatArray,
    alpha: FloatArray,
    sigma: FloatArray,
    c: FloatArray,
) -> FloatArray:
    """Stable-target-field ε target (Xu et al. 2023, eq. 6), shapes (n, d) -> (n, d).

    ε̃_i = Σ_j w_ij (x_i - α_i y_j - c_i)/σ_i over y = {x0_i} ∪ ref, w_ij ∝ N(x_i; α_i y_j + c_i, σ_i² I):
    the noise implied by the posterior over the reference set.  Its mean is the exact ε-target of
    the (1 + n_ref)-point empirical law; the bias vanishes as n_ref grows while the variance at
    small σ_t drops by roughly the number of reference points within σ_t/α_t of x.
    """
    as_t = lambda arr: torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))  # noqa: E731
    y = as_t(xt - c)  # (n, d)
    own, r = as_t(x0), as_t(ref)
    a, s2 = as_t(alpha)[:, None], as_t(sigma)[:, None] ** 2
    # log N(x_i; α_i y_j + c_i, σ_i²) up to a per-row constant, by |y - α r|² = |y|² - 2α y·r + α²|r|²;
    # float64 throughout: the terms are O(1/σ²) and cancel to O(1) at small t
    logw_ref = (a * (y @ r.T) - 0.5 * a * a * (r * r).sum(1)[None, :]) / s2
    logw_own = (
        a * (y * own).sum(1, keepdim=True) - 0.5 * a * a * (own * own).sum(1, keepdim=True)
    ) / s2
    w = torch.softmax(torch.cat([logw_own, logw_ref], dim=1), dim=1)
    x0_post = w[:, :1] * own + w[:, 1:] @ r  # posterior mean of x0 over {x0_i} ∪ ref
    return ((y - a * x0_post) / as_t(sigma)[:, None]).numpy()


def train_score(
    sde: LinearSDE,
    data: Any,
    config: TrainConfig | None = None,
    *,
    device: Any = "cpu",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    callback: Callable[[int, float], Any] | None = None,
    n_threads: int | None = 1,
    **options: Any,
) -> LearnedScore:
    """Train a score network by denoising score matching on a linear SDE.

    Parameters
    ----------
    sde : LinearSDE
        Forward SDE (a ``LinearSDE``); its Gaussian transition gives X_t from x0.
    data : distribution with ``sample(n, seed)`` or array of float64, shape (n, d) or (n,)
        Training law p0 (a fresh batch every step) or a fixed set of samples (mini-batches).
    config : TrainConfig, optional
        Training options; keyword ``options`` override single fields (``train_score(sde, p0, n_steps=500)``).
    device : str
        'cpu' (default) or 'cuda' ('cuda' without a device raises ``RuntimeError``).
    checkpoint : path, optional
        File written every ``checkpoint_every`` steps and at the end.
    resume : bool
        Continue from ``checkpoint`` if it exists (same config and data), repeating no finished step.
    callback : callable(step, loss), optional
        Called after every step; an exception raised there stops training (the last checkpoint stays).
    n_threads : int or None
        torch intra-op threads while training (default 1, restored afterwards; None leaves torch's).

    Returns
    -------
    LearnedScore
        NumPy score callable s(x, t) with the EMA weights; ``.losses``, ``.train_seconds``.
    """
    sde = check_linear_sde(sde)
    cfg = config if config is not None else TrainConfig()
    if not isinstance(cfg, TrainConfig):
        msg = f"config must be a TrainConfig, got {type(cfg).__name__}"
        raise TypeError(msg)
    if options:
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **options})
    T = horizon(sde)
    if cfg.t_min >= T:
        msg = f"t_min must be < T = {T}, got t_min={cfg.t_min}"
        raise ValueError(msg)
    train_data = as_training_data(data)
    sde.check_dim(train_data.dim, "data")
    check_int(checkpoint_every, "checkpoint_every", minimum=1)
    dev = resolve_device(device)
    with torch_threads(n_threads):
        run = optimise(
            "score",
            sde,
            cfg,
            train_data.dim,
            _dsm_loss_fn(sde, train_data, cfg, dev),
            device=dev,
            fingerprint=train_data.fingerprint,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
            callback=callback,
        )
    return LearnedScore(
        run.ema if cfg.ema_decay > 0 else run.net,
        sde,
        cfg,
        device=dev,
        losses=np.array(run.losses),
        train_seconds=run.seconds,
    )
