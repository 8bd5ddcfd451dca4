"""Compatibility module: the study layer's public names, from where they live now.

``fplab.spec`` holds the spec types and ``load_study`` / ``find_studies``;
``fplab.studykinds.base`` the registry ``STUDY_KINDS``, ``StudyKind``, ``Option`` and ``Case``.
Nothing inside fplab imports this module; scripts, plugins and tests may.
"""

from __future__ import annotations

from fplab.spec import (
    TIERS,
    StudySpec,
    StudyUnavailable,
    build_p0,
    build_problem,
    check_registry_name,
    default_studies_dir,
    find_studies,
    load_study,
    resource_limits,
)
from fplab.studykinds.base import STUDY_KINDS, Case, Option, StudyKind

__all__ = [
    "STUDY_KINDS",
    "TIERS",
    "Case",
    "Option",
    "StudyKind",
    "StudySpec",
    "StudyUnavailable",
    "build_p0",
    "build_problem",
    "check_registry_name",
    "default_studies_dir",
    "find_studies",
    "load_study",
    "resource_limits",
]
