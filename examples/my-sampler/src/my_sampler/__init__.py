"""An fplab plugin: Ralston's second-order Runge–Kutta method on the probability-flow ODE.

Importing this module registers the sampler ``"ralston"`` in ``fplab.reverse.SAMPLERS``; after
``pip install`` fplab finds it through the entry point ``fplab.plugins`` (see pyproject.toml).
"""

from __future__ import annotations

import fplab as fp

__all__ = ["ralston"]
__version__ = "0.1.0"


@fp.register_sampler("ralston", order=2, deterministic=True)
def ralston(ctx, x, t, s, rng):
    """Ralston's RK2 on the probability-flow ODE dx/dt = v(x, t) (order 2, 2 scores/step).

    Notes
    -----
    With h = t - s (time runs backwards):
        k1 = v(x_t, t),  k2 = v(x_t - (2/3) h k1, t - (2/3) h),  x_s = x_t - h (k1/4 + 3 k2/4).
    The weights minimise the leading truncation-error coefficient among two-stage explicit
    RK2 methods (A. Ralston, Math. Comp. 16 (1962) 431–437).  Global error O(h²).
    """
    h = t - s
    k1 = ctx.velocity(x, t)
    k2 = ctx.velocity(x - (2.0 / 3.0) * h * k1, t - (2.0 / 3.0) * h)
    return x - h * (0.25 * k1 + 0.75 * k2)
