"""Forward Monte-Carlo simulation of SDEs: ``simulate``, ``simulate_coupled``, ``MC_METHODS``."""

from __future__ import annotations

from fplab.mc.methods import MC_METHODS, Method
from fplab.mc.simulate import CoupledResult, simulate, simulate_coupled

__all__ = ["MC_METHODS", "CoupledResult", "Method", "simulate", "simulate_coupled"]
