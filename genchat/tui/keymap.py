"""The `[keymap]` table checked against what Textual can bind: binding ids that exist, and key
names a terminal can send, so that a typo is named instead of leaving an action unreachable.

Key names are checked with Textual's own tables (`textual.keys`, and the kitty keyboard
protocol's names Textual parses), not a list of genchat's: a key is `MODIFIER+…+NAME`, where the
modifiers are Textual's, in the order Textual writes them (sorted: `alt+ctrl+shift+x`, never
`shift+ctrl+x`, which no key event is ever named), and the name is a key Textual names (`f5`,
`pageup`, `a`) or a character (`?`, `question_mark`). A symbol outside ASCII is typed, not
pressed with a modifier, so `ctrl+banana` (🍌) is no key a terminal sends; `ctrl+é` is.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from functools import cache

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import REPLACED_KEYS, Keys, key_to_character

import genchat.tui

MODIFIERS = ("alt", "ctrl", "hyper", "meta", "shift", "super")
"""The modifiers Textual names, in the order it writes them in a key's name."""

_SHOWN_IDS = 12
"""How many close binding ids a mistake's line suggests before listing them all."""


@cache
def _key_names() -> frozenset[str]:
    """The names of keys (without modifiers) that Textual gives key events."""
    names = {key.value.rpartition("+")[2] for key in Keys}
    try:  # the kitty keyboard protocol's keys; a private table of Textual's, so optional
        from textual._keyboard_protocol import FUNCTIONAL_KEYS

        names |= set(FUNCTIONAL_KEYS.values())
    except ImportError:
        pass
    return frozenset(name for name in names if name and not name.startswith("<"))


def _character(name: str) -> str | None:
    """The character a key name stands for (`question_mark` → `?`, `slash` → `/`), if any."""
    if len(name) == 1:
        return name if name.isprintable() else None
    return key_to_character(REPLACED_KEYS.get(name, name))


def key_problem(key: str) -> str | None:
    """What is wrong with one key name (`ctrl+s`), or `None` when a terminal can send it."""
    if not key:
        return "an empty key name"
    *modifiers, name = key.split("+")
    if not name:
        return f"{key!r} ends in '+' ('plus' names the + key)"
    unknown = [m for m in modifiers if m not in MODIFIERS]
    if unknown:
        return f"{key!r}: {unknown[0]!r} is not a modifier (modifiers: {', '.join(MODIFIERS)})"
    if len(set(modifiers)) != len(modifiers):
        return f"{key!r} names a modifier twice"
    if name not in _key_names():
        character = _character(name)
        if character is None:
            close = difflib.get_close_matches(name.lower(), sorted(_key_names()), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"{key!r}: {name!r} is not a key name{hint}"
        if modifiers and not (character.isascii() or character.isalnum()):
            return (
                f"{key!r}: {character!r} ({name}) is not on a keyboard, so no terminal sends it "
                "with a modifier"
            )
    if modifiers and len(name) == 1 and name.isupper():
        written = "+".join([*sorted({*modifiers, "shift"}), name.lower()])
        return f"{key!r}: Textual names this key {written!r}"
    ordered = sorted(modifiers)
    if modifiers != ordered:
        written = "+".join([*ordered, name])
        return f"{key!r}: Textual names this key {written!r} (modifiers in that order)"
    return None


@cache
def binding_ids() -> tuple[str, ...]:
    """Every binding id a keymap can remap: those of genchat's screens and widgets, and of the
    Textual widgets they are made of."""
    for module in pkgutil.walk_packages(genchat.tui.__path__, "genchat.tui."):
        importlib.import_module(module.name)
    ids: set[str] = set()
    for cls in _subclasses(DOMNode):
        if not cls.__module__.startswith("genchat.tui."):
            continue
        for base in cls.__mro__:
            for binding in vars(base).get("BINDINGS", ()):
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
    return tuple(sorted(ids))


def _subclasses(cls: type) -> Iterable[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def keymap_problems(keymap: Mapping[str, str]) -> list[str]:
    """One line per mistake in a `[keymap]` table: an unknown binding id (with the ids there
    are), or a key name no terminal sends (with why). An empty table costs nothing: the ids
    are found by importing every screen, which start-up does not otherwise need."""
    if not keymap:
        return []
    known = binding_ids()
    problems = []
    for binding_id, keys in keymap.items():
        where = f"keymap.{binding_id}"
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{where}: unknown binding id{hint} (binding ids: {', '.join(known)})")
            continue
        for key in (part.strip() for part in keys.split(",")):
            problem = key_problem(key)
            if problem is not None:
                problems.append(f"{where}: {problem}")
    return problems
