"""What the chat and compare screens share: the app, typed, and saying what the history found."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, TypeVar

from textual.screen import Screen

if TYPE_CHECKING:
    from genchat.tui.app import GenchatApp

ResultT = TypeVar("ResultT")


class GenchatScreen(Screen[ResultT]):
    """A screen of genchat's app that saves into the history."""

    WHAT: ClassVar[str] = "This screen"
    """What keeps working when nothing is saved, as the warning says it."""

    _history_failure_shown = False

    @property
    def genchat(self) -> GenchatApp:
        from genchat.tui.app import GenchatApp

        assert isinstance(self.app, GenchatApp)
        return self.app

    def _report_history(self) -> None:
        """Say what opening the history store found, and once that nothing is being saved."""
        saved = self.genchat.chat_history
        while saved.notices:
            self.notify(saved.notices.pop(0), title="History", timeout=10)
        if saved.failure is not None and not self._history_failure_shown:
            self._history_failure_shown = True
            self.notify(
                f"{saved.failure.message} {self.WHAT} works, but is not being saved.",
                title=saved.failure.title,
                severity="warning",
                timeout=15,
            )
