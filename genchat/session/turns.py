"""The turns of a conversation, and the conversation they make."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

from genchat.chat import Message
from genchat.errors import GenchatError

TurnRole: TypeAlias = Literal["user", "assistant", "error"]
TurnState: TypeAlias = Literal["streaming", "complete", "stopped", "error", "interrupted"]


@dataclass(eq=False)
class Turn:
    """One message of a conversation as a chat shows it: the user's, a reply, or an error.

    Compared by identity: two turns with the same text are still two turns."""

    role: TurnRole
    text: str = ""
    """The message; a reply's once it has ended (its widget holds it while it streams); an
    error's explanation."""
    message_id: int | None = None
    """Its id in the history store; `None` while unsaved."""
    versions: tuple[int, int] | None = None
    """(which, how many), where the message has other versions."""
    state: TurnState = "complete"
    """A reply's: `streaming` until it ends."""
    label: str = ""
    """A reply's origin as shown (`profile · model`); an error's title."""
    reasoning: str = ""
    footer: str = ""
    """A finished reply's last line: how it ended, and its metrics."""

    @classmethod
    def of_error(cls, error: GenchatError) -> Turn:
        return cls("error", error.message, label=error.title)

    @property
    def sent(self) -> Message | None:
        """What this turn tells the model next: nothing for errors, replies still streaming,
        and replies without text."""
        if self.role == "user":
            return Message("user", self.text)
        if self.role == "assistant" and self.state != "streaming" and self.text:
            return Message("assistant", self.text)
        return None


class Session:
    """The turns of one conversation, oldest first."""

    def __init__(self, turns: Iterable[Turn] = ()) -> None:
        self.turns: list[Turn] = list(turns)

    def __len__(self) -> int:
        return len(self.turns)

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns)

    def add(self, turn: Turn) -> Turn:
        self.turns.append(turn)
        return turn

    def index(self, turn: Turn) -> int:
        return next(i for i, t in enumerate(self.turns) if t is turn)

    def cut(self, turn: Turn, *, keep: bool) -> list[Turn]:
        """Drop the turns after `turn`, and `turn` itself unless `keep`; returns them."""
        start = self.index(turn) + (1 if keep else 0)
        dropped = self.turns[start:]
        del self.turns[start:]
        return dropped

    def messages(self) -> list[Message]:
        """The conversation as the model sees it next, without the system prompt."""
        return [message for turn in self.turns if (message := turn.sent) is not None]

    def replies(self) -> list[Turn]:
        return [t for t in self.turns if t.role == "assistant"]
