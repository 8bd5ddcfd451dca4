"""Study kinds, one module each; importing this package fills ``fplab.study.STUDY_KINDS``.

A kind module imports the solvers it needs lazily (inside its methods), so a kind whose solver
package is missing still registers, and only studies of that kind fail -- at validation, with a
ConfigError -- while ``fplab list`` and the other studies keep working.
"""

from fplab.studykinds import (
    claims,
    ddpm_chain,
    em_law,
    experiments,
    fd,
    guidance,
    mc,
    reverse,
    score_model,
    score_network,
    workprecision,
)

__all__ = [
    "claims",
    "ddpm_chain",
    "em_law",
    "experiments",
    "fd",
    "guidance",
    "mc",
    "reverse",
    "score_model",
    "score_network",
    "workprecision",
]
