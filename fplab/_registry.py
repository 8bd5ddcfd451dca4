"""Name -> entry catalogues.  Every scheme, SDE, method, sampler, metric and study kind lives in one.

Tests, ``fplab list``, spec validation and error messages iterate the registries, so a new
entry is added in exactly one place by decorating it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["KEY_PATTERN", "Registry", "add_miss_hook", "check_key", "unknown_choice_message"]

#: called, in order, when a look-up misses (before the error): ``fplab/__init__.py`` installs the
#: entry-point plugin loader here, so this bottom module never imports the plugin layer above it
_MISS_HOOKS: list[Callable[[], object]] = []


def add_miss_hook(hook: Callable[[], object]) -> None:
    """Call ``hook()`` when any registry's ``get`` misses a name (once per miss, in order added)."""
    if hook not in _MISS_HOOKS:
        _MISS_HOOKS.append(hook)


#: a registry key: lower-case kebab, words of a-z and 0-9 joined by single hyphens
#: ("pf-ode-heun", "dpm-solver-pp-2m"); every built-in key matches it
KEY_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def check_key(name: object, what: str) -> str:
    """``name`` if it is a valid registry key; ``TypeError`` / ``ValueError`` naming ``what``."""
    if not isinstance(name, str):
        msg = f"{what} name must be a string, got {type(name).__name__} {name!r}"
        raise TypeError(msg)
    if not KEY_PATTERN.fullmatch(name):
        msg = (
            f"{what} name {name!r} is not a registry key; allowed: lower-case kebab keys, words of "
            "a-z and 0-9 joined by single hyphens (e.g. 'my-sampler')"
        )
        raise ValueError(msg)
    return name


def unknown_choice_message(what: str, value: object, allowed: list[str]) -> str:
    """Message for a value outside ``allowed``: what was received, what is allowed, a close match."""
    listed = ", ".join(repr(a) for a in sorted(allowed))
    msg = f"unknown {what} {value!r}; choose one of {listed}"
    if isinstance(value, str):
        close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
    return msg


def _module_of(entry: object) -> str:
    return getattr(entry, "plugin_module", None) or getattr(entry, "__module__", "") or ""


class Registry(Generic[T]):
    """A named catalogue of entries (classes or functions).

    Parameters
    ----------
    what : str
        The argument name users type for a key of this registry (e.g. ``"time_scheme"``); used in
        error messages.
    discover : callable, optional
        Called once, before the first look-up or plugin registration, to import the modules whose
        entries register themselves (the study kinds: ``pkgutil`` over ``fplab/studykinds/``).
    check : callable, optional
        ``check(name, entry)`` runs before an entry is added and raises if it is not acceptable.
    """

    def __init__(
        self,
        what: str,
        *,
        discover: Callable[[], object] | None = None,
        check: Callable[[str, T], None] | None = None,
    ) -> None:
        self.what = what
        self._entries: dict[str, T] = {}
        self._discover = discover
        self._check = check

    def _ensure_discovered(self) -> None:
        if self._discover is not None:
            discover, self._discover = self._discover, None  # once, even when it re-enters
            discover()

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding an entry under the kebab-case key ``name``."""
        check_key(name, self.what)

        def deco(entry: T) -> T:
            if _module_of(entry) != "fplab" and not _module_of(entry).startswith("fplab."):
                # a plugin entry: the built-ins come first, so a clash names the plugin
                self._ensure_discovered()
            if self._check is not None:
                self._check(name, entry)
            if name in self._entries:
                first = self.origin(name)
                msg = (
                    f"{self.what} {name!r} is registered twice (it exists already, {first}); "
                    "choose another name"
                )
                raise ValueError(msg)
            self._entries[name] = entry
            try:
                entry.registry_name = name  # type: ignore[attr-defined]
            except (AttributeError, TypeError):
                pass
            return entry

        return deco

    def get(self, name: object) -> T:
        """Entry for ``name``; ``ValueError`` listing the allowed keys (and a close match) otherwise."""
        if not isinstance(name, str):
            msg = f"{self.what} must be a string naming one of {self.names()}, got {type(name).__name__}"
            raise TypeError(msg)
        self._ensure_discovered()
        if name not in self._entries:
            # installed plugins (entry points "fplab.plugins") load on the first miss, so a script
            # may use a plugin's name without importing the plugin (hook from fplab/__init__.py)
            for hook in _MISS_HOOKS:
                hook()
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(unknown_choice_message(self.what, name, self.names())) from None

    def names(self) -> list[str]:
        """Registered keys, sorted."""
        self._ensure_discovered()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(key, entry) pairs, sorted by key."""
        self._ensure_discovered()
        return sorted(self._entries.items())

    def origin(self, name: str) -> str:
        """Where entry ``name`` comes from: ``"built-in"`` (defined inside fplab) or
        ``"plugin MODULE"`` (registered by another package through ``fplab.plugins``)."""
        module = _module_of(self.get(name))
        if module == "fplab" or module.startswith("fplab."):
            return "built-in"
        return f"plugin {module}"

    def remove(self, name: str) -> T:
        """Take entry ``name`` out again (tests and plugin reloads); returns it."""
        self.get(name)
        return self._entries.pop(name)

    def __contains__(self, name: object) -> bool:
        self._ensure_discovered()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_discovered()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self.names())})"
