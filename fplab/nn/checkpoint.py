"""Checkpoints of score and flow models: weights, EMA weights, optimiser state, step and configuration.

One file per run, written atomically (temporary file + ``os.replace``) so an interrupted write never
leaves a truncated checkpoint behind.  Files load with ``torch.load(weights_only=True)``: they hold
only tensors, numbers, strings, lists and dicts.

A leaf of ``fplab.nn``: ``train`` and ``flow`` write and read through it, and
``fplab.nn.load.load_checkpoint`` (which knows both model kinds) sits above them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FORMAT", "read_checkpoint", "write_checkpoint"]

#: version tag stored in every checkpoint; a mismatch is refused with a clear message
CHECKPOINT_FORMAT = "fplab-nn-1"


def write_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format tag) to ``path`` atomically; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    os.replace(tmp, target)
    return target


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw state stored by :func:`write_checkpoint` (tensors on CPU)."""
    source = Path(path)
    if not source.is_file():
        msg = f"checkpoint {str(source)!r} does not exist"
        raise FileNotFoundError(msg)
    state = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        msg = f"{str(source)!r} is not an fplab checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})"
        raise ValueError(msg)
    return state
