"""The messages of a conversation: the user's, the assistant's (streamed Markdown), and errors."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from genchat.errors import GenchatError

STREAM_INTERVAL_S = 1 / 15
"""How often streamed text reaches the Markdown widget: about 15 updates a second, never one
per token, so long replies stay cheap to render."""


class MessageView(Vertical):
    """A message in the conversation. Focus one to copy or save it.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | c | `copy_message` | Copy this message. |
    | s | `save_message` | Save this message to a file. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy_message", "Copy", id="copy_message"),
        Binding("s", "save_message", "Save", id="save_message"),
    ]

    can_focus = True

    class CopyRequested(Message):
        """The user asked to copy (or save) a message's text."""

        def __init__(self, view: MessageView, *, save: bool) -> None:
            super().__init__()
            self.view = view
            self.save = save

        @property
        def control(self) -> MessageView:
            return self.view

    @property
    def text(self) -> str:
        """The message's text, as it would be copied."""
        raise NotImplementedError

    def action_copy_message(self) -> None:
        self.post_message(self.CopyRequested(self, save=False))

    def action_save_message(self) -> None:
        self.post_message(self.CopyRequested(self, save=True))


class UserMessage(MessageView):
    """What the user sent, shown as typed (no markup)."""

    def __init__(self, content: str) -> None:
        super().__init__(classes="user")
        self.content = content

    def compose(self) -> ComposeResult:
        yield Static(Text(self.content), classes="body")

    @property
    def text(self) -> str:
        return self.content


class ErrorMessage(MessageView):
    """A backend or configuration error, with its title and what to do."""

    def __init__(self, error: GenchatError) -> None:
        super().__init__(classes="error")
        self.error = error

    def compose(self) -> ComposeResult:
        body = Text()
        body.append(self.error.title, style="bold")
        body.append("\n")
        body.append(self.error.message)
        yield Static(body, classes="body")

    @property
    def text(self) -> str:
        return f"{self.error.title}: {self.error.message}"


class AssistantMessage(MessageView):
    """A reply: reasoning collapsed above, the text as Markdown, and a footer line.

    Text is streamed into the Markdown widget through `Markdown.get_stream()`, batched to about
    15 writes a second. `finish()` flushes the stream and re-renders only if the widget's source
    differs from the reply.
    """

    def __init__(self, label: str) -> None:
        super().__init__(classes="assistant")
        self.label = label
        self.content = ""
        self.reasoning = ""
        self._pending = ""
        self._last_write = 0.0
        self._stream: MarkdownStream | None = None
        self._flush_timer_set = False

    def compose(self) -> ComposeResult:
        yield Static(Text(self.label, style="dim"), classes="label")
        with Collapsible(title="Reasoning", collapsed=True, classes="reasoning"):
            yield Static(classes="reasoning-text")
        yield Markdown(classes="body")
        yield Static(classes="footer")

    @property
    def text(self) -> str:
        return self.content

    @property
    def markdown(self) -> Markdown:
        return self.query_one(".body", Markdown)

    async def add_text(self, text: str) -> None:
        """Append reply text; it reaches the screen at most every `STREAM_INTERVAL_S`."""
        self.content += text
        self._pending += text
        now = time.monotonic()
        if now - self._last_write >= STREAM_INTERVAL_S:
            await self._write_pending()
        elif not self._flush_timer_set:
            self._flush_timer_set = True
            self.set_timer(STREAM_INTERVAL_S - (now - self._last_write), self._write_pending)

    def add_reasoning(self, text: str) -> None:
        self.reasoning += text
        self.add_class("-has-reasoning")
        self.query_one(".reasoning-text", Static).update(Text(self.reasoning))

    async def _write_pending(self) -> None:
        self._flush_timer_set = False
        if not self._pending:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self.markdown)
        pending, self._pending = self._pending, ""
        self._last_write = time.monotonic()
        await self._stream.write(pending)

    async def finish(self, footer: str, *, state: str) -> None:
        """End the stream: flush it, make sure the whole reply shows, and set the footer."""
        await self._write_pending()
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if self.markdown.source != self.content:
            await self.markdown.update(self.content)
        self.query_one(".footer", Static).update(Text(footer, style="dim"))
        self.add_class(f"-{state}")
