"""Why reversing diffusion needs the score: a quantified backward-heat instability study."""

from __future__ import annotations

from fplab.backward_heat.experiment import *  # noqa: F403
from fplab.backward_heat.naive import *  # noqa: F403
from fplab.backward_heat.operators import *  # noqa: F403
from fplab.backward_heat.regularise import *  # noqa: F403
from fplab.backward_heat.score import *  # noqa: F403
