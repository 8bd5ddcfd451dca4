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

__all__ = ["KEY_PATTERN", "Registry", "check_key", "unknown_choice_message"]

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


class Registry(Generic[T]):
    """A named catalogue of entries (classes or functions).

    Parameters
    ----------
    what : str
        The argument name users type for a key of this registry (e.g. ``"time_scheme"``); used in
        error messages.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding an entry under the kebab-case key ``name``."""
        check_key(name, self.what)

        def deco(entry: T) -> T:
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
        if name not in self._entries:
            # installed plugins (entry points "fplab.plugins") load on the first miss, so a script
            # may use a plugin's name without importing the plugin
            from fplab.plugins import load_entry_points

            load_entry_points()
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(unknown_choice_message(self.what, name, self.names())) from None

    def names(self) -> list[str]:
        """Registered keys, sorted."""
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(key, entry) pairs, sorted by key."""
        return sorted(self._entries.items())

    def origin(self, name: str) -> str:
        """Where entry ``name`` comes from: ``"built-in"`` (defined inside fplab) or
        ``"plugin MODULE"`` (registered by another package through ``fplab.plugins``)."""
        entry = self.get(name)
        module = getattr(entry, "plugin_module", None) or getattr(entry, "__module__", "") or ""
        if module == "fplab" or module.startswith("fplab."):
            return "built-in"
        return f"plugin {module}"

    def remove(self, name: str) -> T:
        """Take entry ``name`` out again (tests and plugin reloads); returns it."""
        self.get(name)
        return self._entries.pop(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self.names())})"
