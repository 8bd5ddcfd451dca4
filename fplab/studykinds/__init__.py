"""Study kinds, one module each.  ``fplab.studykinds.base.STUDY_KINDS`` imports them itself
(``pkgutil`` over this folder) on its first look-up, so adding a kind is adding a file.

A kind module imports the solvers it needs lazily (inside its methods), so a kind whose solver
package is missing still registers, and only studies of that kind fail -- at validation, with a
ConfigError -- while ``fplab list`` and the other studies keep working.
"""
