"""What the chat, compare and arena screens share: their services, saying what the history
found, and handing typing that landed on a message to the prompt."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from textual import on
from textual.screen import Screen

from genchat.tui.services import Services
from genchat.tui.widgets.message import MessageView
from genchat.tui.widgets.prompt import PromptInput

ResultT = TypeVar("ResultT")
ScreenT = TypeVar("ScreenT", bound="GenchatScreen[Any]")


def needs_profiles(
    action: Callable[[ScreenT], object],
) -> Callable[[ScreenT], Coroutine[Any, Any, None]]:
    """An action that needs the app's profiles, which load just after the first frame: a key
    that runs it in that moment waits for them (keys behind it wait too, so the order typed
    holds)."""

    @functools.wraps(action)
    async def when_loaded(screen: ScreenT) -> None:
        await screen.services.loaded.wait()
        done = action(screen)
        if inspect.isawaitable(done):
            await done

    return when_loaded


class GenchatScreen(Screen[ResultT]):
    """A screen of genchat's app that saves into the history."""

    WHAT: ClassVar[str] = "This screen"
    """What keeps working when nothing is saved, as the warning says it."""

    _history_failure_shown = False

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def _report_history(self) -> None:
        """Say what opening the history store found, and once that nothing is being saved."""
        saved = self.services.history
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

    def focus_prompt(self, text: str = "") -> bool:
        """Give the prompt the focus, with `text` typed at its cursor; False when the screen
        has no prompt that takes input now."""
        prompt = next(iter(self.query(PromptInput)), None)
        if prompt is None or prompt.disabled:
            return False
        prompt.focus()
        if text:
            prompt.type_in(text)
        return True

    @on(MessageView.Typed)
    def typed_on_message(self, event: MessageView.Typed) -> None:
        self.focus_prompt(event.text)
