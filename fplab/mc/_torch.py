"""The torch backend of ``fp.simulate``: the methods' array-generic ``step`` on torch tensors.

Same coefficient tables and formulas as the numba kernels; the normals come from torch's own
generator (Philox on CUDA), one generator per chunk of ``_CHUNK`` paths seeded from (seed, chunk),
so results are statistically identical to the numba backend, not bitwise, and depend on the seed
(and the device type) only.  Memory per chunk is a few (chunk, d) tensors, never (paths × steps).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab.mc.methods import Exact, Method

_CHUNK = 2**22  # paths per chunk: 32 MiB per float64 (chunk, 1) tensor


def _chunk_seed(key: np.uint64, chunk: int) -> int:
    ss = np.random.SeedSequence([int(key), chunk, 0x70_72_63_68])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def run(
    entry: type[Method],
    tables: tuple[Any, ...],
    x0: FloatArray,
    key: np.uint64,
    tgrid: FloatArray,
    sqhf: FloatArray,
    ratio: int,
    save_steps: np.ndarray,
    want_w: bool,
    device: Any,
    dtype: str,
) -> tuple[FloatArray, FloatArray]:
    """(out (k, n, d), w_end) as ``simulate._run`` returns them, computed with torch."""
    try:
        import torch
    except ImportError:
        msg = "backend='torch' needs torch, which the extra fplab[nn] installs: pip install 'fplab[nn]'"
        raise ImportError(msg) from None

    dev = torch.device(device if device is not None else "cpu")
    tdt = torch.float64 if dtype == "float64" else torch.float32
    n, d = x0.shape
    m = tgrid.shape[0] - 1
    out = np.empty((save_steps.shape[0], n, d))
    w_end = np.zeros((n if want_w else 0, d))
    h = np.diff(tgrid)
    if entry is Exact:
        em, ec, es, ee, eq, mult = tables
        ec_t = torch.as_tensor(np.array(ec), dtype=tdt, device=dev)
    else:
        a, b, c, g0, g1 = tables
        b_t = torch.as_tensor(np.array(b), dtype=tdt, device=dev)
        has_c = bool(np.any(c != 0.0))
        has_g1 = bool(np.any(g1 != 0.0))
    for ci, p0 in enumerate(range(0, n, _CHUNK)):
        p1 = min(n, p0 + _CHUNK)
        gen = torch.Generator(device=dev)
        gen.manual_seed(_chunk_seed(key, ci))
        x = torch.as_tensor(x0[p0:p1], dtype=tdt, device=dev).clone()
        wtot = torch.zeros_like(x)
        js = 0
        while js < save_steps.shape[0] and save_steps[js] == 0:
            out[js, p0:p1] = x.cpu().numpy()
            js += 1
        shape = (p1 - p0, ratio, d)
        for k in range(m):
            sq = float(sqhf[k])
            z = torch.randn(shape, generator=gen, dtype=tdt, device=dev)
            fine = sq * z
            dw = fine.sum(1)
            if entry is Exact:
                x = em[k] * x + ec_t[k] + es[k] * dw
                if mult:
                    x = x * torch.exp(ee[k] + eq[k] * dw)
            else:
                dz = None
                if entry.needs_dz:
                    zv = torch.randn(shape, generator=gen, dtype=tdt, device=dev)
                    w_before = torch.cumsum(fine, 1) - fine
                    dz = (sq**3 * (0.5 * z + zv / (2.0 * math.sqrt(3.0))) + sq * sq * w_before).sum(
                        1
                    )

                def F(y: Any, s: int, k: int = k) -> Any:
                    f = a[k, s] * y + b_t[k, s]
                    return f + c[k, s] * y**3 if has_c else f

                def G(y: Any, s: int, k: int = k) -> Any:
                    return g0[k, s] + g1[k, s] * y if has_g1 else float(g0[k, s])

                def Gx(y: Any, s: int, k: int = k) -> Any:
                    return float(g1[k, s])

                x = entry.step(x, float(h[k]), dw, dz, F, G, Gx)
            if want_w:
                wtot += dw
            while js < save_steps.shape[0] and save_steps[js] == k + 1:
                out[js, p0:p1] = x.cpu().numpy()
                js += 1
        if want_w:
            w_end[p0:p1] = wtot.cpu().numpy()
    return out, w_end
