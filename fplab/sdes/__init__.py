"""The SDE catalogue.  Adding an SDE is one decorated class in ``linear.py`` or ``nonlinear.py``."""

from fplab.sdes.base import SDE, SDES, PolyCoefficients, build_sde
from fplab.sdes.linear import OU, VE, VP, Heat, LinearSDE, SubVP
from fplab.sdes.nonlinear import GBM, BoundedSDE, CustomSDE, DoubleWell, RotatingOU
from fplab.sdes.schedules import SCHEDULES

__all__ = [
    "GBM",
    "OU",
    "SCHEDULES",
    "SDE",
    "SDES",
    "VE",
    "VP",
    "BoundedSDE",
    "CustomSDE",
    "DoubleWell",
    "Heat",
    "LinearSDE",
    "PolyCoefficients",
    "RotatingOU",
    "SubVP",
    "build_sde",
]
