"""The prompt: a multi-line text area where Enter sends and Ctrl+J inserts a new line."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea


class PromptInput(TextArea):
    """A multi-line prompt.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | enter | `send` | Send the prompt. |
    | ctrl+j, shift+enter | `newline` | Insert a new line (shift+enter where reported). |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send", id="send", priority=True),
        Binding("ctrl+j,shift+enter", "newline", "Newline", id="newline", priority=True),
    ]

    class Submitted(Message):
        """The user asked to send the prompt."""

        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

        @property
        def control(self) -> PromptInput:
            return self.prompt

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")

    async def _on_key(self, event: events.Key) -> None:
        # Alt with a printable key is a command, not text (the arena votes with Alt+1..Alt+4):
        # leave it to the bindings rather than type the bare character. prevent_default keeps
        # TextArea's own handler, which would insert it, from running.
        if event.key.startswith("alt+") and event.is_printable:
            event.prevent_default()

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.text))

    def action_newline(self) -> None:
        self.insert("\n")
