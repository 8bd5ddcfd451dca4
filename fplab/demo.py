"""A small self-contained check: Euler–Maruyama samples of an OU process vs its exact marginal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import fplab as fp
from fplab._io import atomic_write

__all__ = ["run_demo"]


def run_demo(
    out: Path, n_paths: int = 200_000, n_steps: int = 200, seed: int = 0
) -> dict[str, float]:
    """Simulate OU from a bimodal mixture with NumPy Euler–Maruyama; compare moments and a
    histogram with the exact Gaussian-mixture marginal.  Writes ``out/demo/result.json``."""
    sde = fp.OU(theta=1.0, mu=0.0, sigma=2**0.5)
    p0 = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
    t1 = 1.0
    rng = np.random.default_rng(seed)
    x = p0.sample(n_paths, seed=rng)
    dt = t1 / n_steps
    for k in range(n_steps):
        x = (
            x
            + sde.drift(x, k * dt) * dt
            + sde.diffusion(x, k * dt)[:, None] * np.sqrt(dt) * rng.standard_normal(x.shape)
        )
    exact = fp.exact_marginal(sde, p0, t1)
    grid = fp.Grid.uniform(-6.0, 6.0, 120)
    hist = grid.histogram(x)
    p = grid.sample_on(exact.pdf)
    result = {
        "mean_mc": float(x.mean()),
        "mean_exact": float(exact.mean()[0]),
        "var_mc": float(x.var()),
        "var_exact": float(exact.cov()[0, 0]),
        "mean_stderr": float(x.std() / np.sqrt(n_paths)),
        "l1_hist_vs_exact": float(grid.integrate(np.abs(hist - p))),
    }
    folder = out / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "result.json", json.dumps(result, indent=2))
    print(f"OU from a bimodal mixture, t = {t1}, Euler–Maruyama dt = {dt}, {n_paths} paths")
    print(
        f"  mean   MC {result['mean_mc']:+.4f}  exact {result['mean_exact']:+.4f}  (s.e. {result['mean_stderr']:.4f})"
    )
    print(f"  var    MC {result['var_mc']:.4f}   exact {result['var_exact']:.4f}")
    print(f"  L1(histogram, exact density) = {result['l1_hist_vs_exact']:.4f}")
    print(f"wrote {folder / 'result.json'}")
    return result
