"""How one screen opens another: it posts one of these messages, and the App, the one place
that knows every screen, builds the screen asked for with its services and pushes it.

A screen never imports another screen or the App (an import-linter contract says so), so each
screen can be read, built and tested alone. Dialogs (`genchat.tui.dialogs`), which ask one
thing and return it, are pushed by the screen that asks, as Textual's `push_screen` callbacks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from genchat.chat import Target

if TYPE_CHECKING:
    from genchat.compare.comparison import Turn
    from genchat.history.records import StoredMessage


@dataclass(frozen=True)
class HistoryChoice:
    """The conversation the history screen chose to open, and how."""

    conversation: int
    target: Target | None = None
    """Continue with this profile and model instead of the conversation's own."""
    message: int | None = None
    """The message a search found: the conversation opens on its branch, with it in view."""


HistoryClosed = Callable[[HistoryChoice | None, frozenset[int]], Awaitable[None]]
"""Told, when the history screen closes, what it chose (`None`: nothing) and which
conversations were deleted there."""


@dataclass(frozen=True)
class SavedComparison:
    """A comparison from the history, to show and continue (see `restore_turns`)."""

    conversation: int
    turns: list[Turn]
    stored: list[tuple[StoredMessage, list[StoredMessage]]]
    settings: Mapping[str, Any] = field(default_factory=dict)


class OpenCompare(Message):
    """Open the compare screen on `targets`, or on a saved comparison to continue."""

    def __init__(self, targets: Sequence[Target], saved: SavedComparison | None = None) -> None:
        super().__init__()
        self.targets = list(targets)
        self.saved = saved


class OpenArena(Message):
    """Open a blind arena between `targets`."""

    def __init__(self, targets: Sequence[Target]) -> None:
        super().__init__()
        self.targets = list(targets)


class OpenLeaderboard(Message):
    """Open the leaderboard, filtered to the votes of `tag` where one is given."""

    def __init__(self, tag: str | None = None) -> None:
        super().__init__()
        self.tag = tag


class OpenHistory(Message):
    """Open the history screen, with `current` (the conversation shown) marked; `closed` is
    told what was chosen there."""

    def __init__(self, current: int | None, closed: HistoryClosed) -> None:
        super().__init__()
        self.current = current
        self.closed = closed


class OpenSummary(Message):
    """Open a comparison's summary: its figures, a diff of two replies, and export."""

    def __init__(
        self, title: str, labels: Sequence[str], turns: Sequence[Turn], name: str = ""
    ) -> None:
        super().__init__()
        self.title = title
        self.labels = list(labels)
        self.turns = list(turns)
        self.name = name
