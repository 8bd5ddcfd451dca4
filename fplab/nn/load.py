"""``load_checkpoint``: a saved model back as the right model class.

It sits above ``train`` and ``flow`` (it knows both model kinds), so ``checkpoint`` stays a leaf
and the three modules import one way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fplab.nn.checkpoint import read_checkpoint
from fplab.nn.flow import LearnedFlow
from fplab.nn.train import LearnedScore

__all__ = ["load_checkpoint"]


def load_checkpoint(path: str | Path, *, device: Any = "cpu") -> Any:
    """Load a trained model from a checkpoint written by ``train_score`` or ``train_flow``.

    Parameters
    ----------
    path : str or Path
    device : str   where to put the model ('cpu' default, 'cuda' if available)

    Returns
    -------
    LearnedScore (score checkpoints) or LearnedFlow (flow checkpoints), with EMA weights.
    """
    state = read_checkpoint(path)
    kind = state.get("kind")
    if kind == "score":
        return LearnedScore.from_state(state, device=device)
    if kind == "flow":
        return LearnedFlow.from_state(state, device=device)
    msg = (
        f"checkpoint {str(path)!r} holds an unknown model kind {kind!r}; expected 'score' or 'flow'"
    )
    raise ValueError(msg)
