"""The messages of a conversation: the user's, the assistant's (streamed Markdown), and errors.

Why one module of 500 lines: the three kinds share `MessageView` (focus, copy, fork, edit,
versions, typing handed to the prompt), and the assistant's adds only what streaming needs: its
Markdown, reasoning and footer, and `stream_into`, the loop that feeds it a `Reply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Collapsible, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from genchat.chat import Loading, Notice, Queued, ReasoningDelta, Started, TextDelta
from genchat.errors import BackendError
from genchat.reply import Reply
from genchat.session.turns import Turn, TurnState
from genchat.tui.widgets.echo import shown as keys_shown

if TYPE_CHECKING:
    from genchat.history.records import Status
    from genchat.tui.widgets.markdown import MarkdownView

_STATE_COLOURS = {"stopped": "warning", "interrupted": "warning", "error": "error"}
"""The theme colour of a finished reply's left border, by state."""

STREAM_INTERVAL_S = 1 / 15
"""How often streamed text reaches the Markdown widget: about 15 updates a second, never one
per token, so long replies stay cheap to render."""

YIELD_TURNS = 12
"""How many turns of the event loop the render loop leaves free between appends when it does
not pause (once the reply has ended, it catches up). A key reaches the prompt through three
message queues, the app's, the screen's and the prompt's, a turn or more each: given a single
turn, a key typed into a real terminal waited behind two or three appends before it showed
(0.15-0.3 s). Turns, not a pause: time given away lets the screen be drawn after every append,
which made a long reply take half as long again."""

MAX_APPEND_CHARS = 2000
"""The most text one append parses and renders, so that no single append freezes the screen."""

MAX_SHOWN_CHARS = 200_000
"""The most of a reply that is drawn: about 50,000 tokens, longer than any model's useful reply.
Past it the reply is cut on screen, with a note, and kept whole everywhere else (the history,
copying, export, the next request). A user cannot read 10 MB in a terminal, but would be stuck
behind it: drawn as Markdown it takes minutes, and Escape waits for the screen to catch up.
Drawing it in bounded slices keeps keys working, but only the cut bounds how long the screen
lags behind the stream, and how much memory the widgets take, however much a model sends."""


class MessageView(Vertical):
    """A message in the conversation, drawn from its `Turn`. Focus one to copy, save or fork
    from it, or to see its other versions.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | c | `copy_message` | Copy this message. |
    | s | `save_message` | Save this message to a file. |
    | f | `fork_message` | Fork: a new conversation holding the thread up to this message. |
    | left, right | `previous_version`, `next_version` | Show another version of it. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy_message", "Copy", id="copy_message"),
        Binding("s", "save_message", "Save", id="save_message"),
        Binding("f", "fork_message", "Fork", id="fork_message"),
        Binding("left", "version(-1)", "Previous version", id="previous_version", show=False),
        Binding("right", "version(1)", "Next version", id="next_version", show=False),
    ]

    can_focus = True

    class _Request(Message):
        def __init__(self, view: MessageView) -> None:
            super().__init__()
            self.view = view

        @property
        def control(self) -> MessageView:
            return self.view

    class CopyRequested(_Request):
        """The user asked to copy (or save) a message's text."""

        def __init__(self, view: MessageView, *, save: bool) -> None:
            super().__init__(view)
            self.save = save

    class ForkRequested(_Request):
        """The user asked for a new conversation holding the thread up to this message."""

    class EditRequested(_Request):
        """The user asked to edit this (user) message and send it again."""

    class Typed(_Request):
        """Text typed or pasted with this message focused, that none of its keys takes: it was
        meant for the prompt."""

        def __init__(self, view: MessageView, text: str) -> None:
            super().__init__(view)
            self.text = text

    class VersionRequested(_Request):
        """The user asked for the previous (`step` -1) or next (+1) version of this message."""

        def __init__(self, view: MessageView, step: int) -> None:
            super().__init__(view)
            self.step = step

    def __init__(self, turn: Turn, *, classes: str) -> None:
        super().__init__(classes=classes)
        self.turn = turn
        """What this widget shows: the conversation's model of the message."""

    @property
    def message_id(self) -> int | None:
        """The message's id in the history store; `None` while unsaved."""
        return self.turn.message_id

    @message_id.setter
    def message_id(self, message_id: int | None) -> None:
        self.turn.message_id = message_id

    @property
    def versions(self) -> tuple[int, int] | None:
        """(which, how many) when the message has other versions."""
        return self.turn.versions

    @property
    def text(self) -> str:
        """The message's text, as it would be copied."""
        raise NotImplementedError

    def on_key(self, event: events.Key) -> None:
        # A message has focus after Alt+Up or a click, and takes only its own few keys. Any other
        # printable key was meant for the prompt: hand it over rather than drop it.
        if not event.is_printable or not event.character:
            return
        if event.key in self.screen.active_bindings:
            return  # c copies, e edits, and the screen's own keys act as bound
        event.stop()
        event.prevent_default()
        self.post_message(self.Typed(self, event.character))

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        self.post_message(self.Typed(self, event.text))

    def show_versions(self, versions: tuple[int, int] | None) -> None:
        """Say which version of the message this is, where there are several."""
        self.turn.versions = versions
        label = self.query_one(".versions", Static)
        label.display = versions is not None
        label.update(self._versions_text())

    def _versions_text(self) -> Text:
        if self.versions is None:
            return Text()
        which, count = self.versions
        return Text(f"version {which} of {count} · ← → with the message focused")

    def _versions_label(self) -> Static:
        label = Static(self._versions_text(), classes="versions")
        label.display = self.versions is not None
        return label

    def action_copy_message(self) -> None:
        self.post_message(self.CopyRequested(self, save=False))

    def action_save_message(self) -> None:
        self.post_message(self.CopyRequested(self, save=True))

    def action_fork_message(self) -> None:
        self.post_message(self.ForkRequested(self))

    def action_version(self, step: int) -> None:
        self.post_message(self.VersionRequested(self, step))


class UserMessage(MessageView):
    """What the user sent, shown as typed (no markup).

    | Key | Binding id | Action |
    | --- | --- | --- |
    | e | `edit_message` | Edit the message and send it again, as a new version. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit_message", "Edit", id="edit_message"),
    ]

    def __init__(self, turn: Turn) -> None:
        super().__init__(turn, classes="user")

    def compose(self) -> ComposeResult:
        yield self._versions_label()
        yield Static(Text(self.turn.text), classes="body")

    @property
    def text(self) -> str:
        return self.turn.text

    def action_edit_message(self) -> None:
        self.post_message(self.EditRequested(self))


class ErrorMessage(MessageView):
    """A backend or configuration error, with its title and what to do."""

    def __init__(self, turn: Turn) -> None:
        super().__init__(turn, classes="error")

    def compose(self) -> ComposeResult:
        body = Text()
        body.append(self.turn.label, style="bold")
        body.append("\n")
        body.append(self.turn.text)
        yield Static(body, classes="body")

    @property
    def text(self) -> str:
        return f"{self.turn.label}: {self.turn.text}"


class AssistantMessage(MessageView):
    """A reply: reasoning collapsed above, the text as Markdown, and a footer line.

    Streamed text reaches the screen through a render loop of this widget: at most about 15
    appends a second, each of at most `MAX_APPEND_CHARS`, so that neither a fast stream nor a
    long reply ever makes one append long. `finish()` waits for the loop to catch up, then
    renders again only if what is shown differs from the reply, and writes how the reply
    ended into its turn.

    `live` for a reply about to stream; otherwise the turn is a finished reply (one from the
    history), shown as it stands.
    """

    def __init__(self, turn: Turn, *, live: bool = False) -> None:
        super().__init__(turn, classes="assistant")
        self._content = io.StringIO()  # appends stay cheap however long the reply grows
        self._pending: list[str] = []
        """Text added and not yet given to the Markdown view."""
        self._queued = 0
        """How much of the reply has been handed to the render loop (at most
        `MAX_SHOWN_CHARS`)."""
        self._hurry = False
        """Set when the reply has ended: the render loop then catches up without pausing."""
        self._reasoning = io.StringIO()
        self._reasoning_shown = True
        self._wake = asyncio.Event()
        self._done = not live
        self._loop: Worker[None] | None = None
        if live:
            turn.state = "streaming"
        else:
            self._content.write(turn.text)
            self._reasoning.write(turn.reasoning)
            self._reasoning_shown = not turn.reasoning

    @property
    def label(self) -> str:
        return self.turn.label

    @property
    def state(self) -> TurnState:
        """`streaming`, then `complete`, `stopped` or `error` (`interrupted` from the history)."""
        return self.turn.state

    def compose(self) -> ComposeResult:
        from genchat.tui.widgets.markdown import MarkdownView  # not needed for the first frame

        yield Static(Text(self.label, style="dim"), classes="label")
        yield self._versions_label()
        with Collapsible(title="Reasoning", collapsed=True, classes="reasoning"):
            yield Static(classes="reasoning-text")
        yield MarkdownView(classes="body")
        yield Static(classes="cut-note")
        yield Static(classes="footer")

    def on_mount(self) -> None:
        # The state's border is an inline style (see `_show_state`): follow the theme by hand.
        self.app.theme_changed_signal.subscribe(self, self._on_theme)
        if self._done:  # a reply from the history: shown at once (its first MAX_SHOWN_CHARS)
            self._show_reasoning()
            self.body.update(self.shown_source)
            self._show_end()
        else:
            self._loop = self._render_loop()

    @property
    def text(self) -> str:
        return self.content

    @property
    def body(self) -> MarkdownView:
        """The widget that shows the reply's Markdown."""
        from genchat.tui.widgets.markdown import MarkdownView

        return self.query_one(".body", MarkdownView)

    @property
    def rendered_source(self) -> str:
        """The Markdown source that the body shows."""
        return self.body.source

    @property
    def content(self) -> str:
        """The reply's text so far (shown, or about to be)."""
        return self._content.getvalue()

    @property
    def shown_source(self) -> str:
        """What of the reply is drawn: all of it, or its first `MAX_SHOWN_CHARS`."""
        content = self.content
        return content[:MAX_SHOWN_CHARS] if len(content) > MAX_SHOWN_CHARS else content

    @property
    def cut(self) -> bool:
        """Whether the reply is longer than what is drawn of it."""
        return self._content.tell() > MAX_SHOWN_CHARS

    @property
    def reasoning(self) -> str:
        return self._reasoning.getvalue()

    def add_text(self, text: str) -> None:
        """Append reply text; the render loop shows it within about `STREAM_INTERVAL_S`, up to
        `MAX_SHOWN_CHARS` of the reply."""
        self._content.write(text)
        room = MAX_SHOWN_CHARS - self._queued
        if room > 0:
            piece = text if len(text) <= room else text[:room]
            self._pending.append(piece)
            self._queued += len(piece)
        if room < len(text):
            self._show_cut()
        self._wake.set()

    def add_reasoning(self, text: str) -> None:
        """Append reasoning; the render loop shows it, as it does the text."""
        self._reasoning.write(text)
        self._reasoning_shown = False
        self._wake.set()

    def _show_reasoning(self) -> None:
        if not self._reasoning_shown:
            self._reasoning_shown = True
            self.query_one(".reasoning", Collapsible).display = True
            self.query_one(".reasoning-text", Static).update(Text(self.reasoning))

    @work(group="render", exit_on_error=False)
    async def _render_loop(self) -> None:
        body = self.body
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._show_reasoning()
            while self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                shown = 0
                while shown < len(text):
                    await keys_shown(self)  # keys typed meanwhile are drawn first
                    started = time.monotonic()
                    end = _piece_end(text, shown)
                    body.append(text[shown:end])
                    shown = end
                    self._show_reasoning()
                    # Leave the loop free for keys and the rest of the screen between appends;
                    # once the reply has ended, catch up without waiting.
                    pause = STREAM_INTERVAL_S - (time.monotonic() - started)
                    if pause > 0 and not self._hurry:
                        await asyncio.sleep(pause)
                    else:
                        for _turn in range(YIELD_TURNS):
                            await asyncio.sleep(0)
            if self._done:
                return

    async def finish(self, footer: str, *, state: TurnState) -> None:
        """End the stream: let the render loop catch up, make sure the whole reply shows, and
        record in the turn how it ended."""
        self._done = self._hurry = True
        self._wake.set()
        if self._loop is not None:
            # Whatever a failed or cancelled loop did not show, the check below shows.
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await self._loop.wait()
        self._show_reasoning()
        shown = self.shown_source
        if self.rendered_source != shown:
            self.body.update(shown)
        else:
            await self.body.end_stream()
        turn = self.turn
        turn.text, turn.reasoning = self.content, self.reasoning
        turn.footer, turn.state = footer, state
        self._show_end()

    def _show_cut(self) -> None:
        """Say that the reply is cut on screen, and where all of it is."""
        note = next(iter(self.query(".cut-note")), None)
        if not isinstance(note, Static):
            return  # not composed yet: on_mount shows it
        total = self._content.tell()
        note.update(
            Text(
                f"… the first {MAX_SHOWN_CHARS:,} of {total:,} characters are shown. All of it "
                "is in the history: copying the reply or exporting the conversation gives it.",
                style="italic",
            )
        )
        note.display = True

    def _show_end(self) -> None:
        if self.cut:
            self._show_cut()  # with the reply's final length
        self.query_one(".footer", Static).update(Text(self.turn.footer, style="dim"))
        self._show_state()

    def _on_theme(self, _theme: object) -> None:
        self._show_state()

    def on_unmount(self) -> None:
        # The signal holds its callback, and so this widget, until its next publish (a theme
        # change, perhaps never): let a reply that is gone be collected with its chat.
        self.app.theme_changed_signal.unsubscribe(self)

    def _show_state(self) -> None:
        """A finished reply's state as its left border's colour, from the current theme.

        An inline style, not a CSS class: a class change restyles every widget under this one.
        So it is set again whenever the theme changes (`on_mount` subscribes to it)."""
        if not self._done:
            return
        variable = _STATE_COLOURS.get(self.state)
        colour = self.app.get_css_variables().get(variable) if variable else None
        if colour:
            self.styles.border_left = ("thick", Color.parse(colour))


def _piece_end(text: str, start: int) -> int:
    """Where the next append should end: at most `MAX_APPEND_CHARS` on, at a line end if any."""
    end = min(len(text), start + MAX_APPEND_CHARS)
    if end == len(text):
        return end
    newline = text.rfind("\n", start, end)
    return newline + 1 if newline >= start else end


Activity: TypeAlias = Callable[[str, "float | None"], None]
"""Told what a reply is doing before and while it streams: `loading: <what>` with progress
(0..1 or None), `queued`, `thinking`, then `streaming` at its first text."""


async def stream_into(
    reply: Reply,
    view: AssistantMessage,
    activity: Activity,
    notice: Callable[[str], None],
    on_text: Callable[[], None] = lambda: None,
) -> tuple[Status, BackendError | None]:
    """Feed `reply`'s events into `view`; returns how it ended (`complete`, `stopped` or
    `error`, with the error). A cancellation propagates: the caller's reply was `stopped`.
    `on_text` is called after each piece of text (to save it, at its own pace)."""
    streaming = False
    task = asyncio.current_task()
    try:
        async for event in reply.stream():
            if task is not None and task.cancelling():
                # A stop was asked for, and the backend threw it away and went on: end here all
                # the same (closing the stream), rather than show what follows.
                raise asyncio.CancelledError
            if isinstance(event, TextDelta):
                if not streaming:
                    streaming = True
                    activity("streaming", None)
                view.add_text(event.text)
                on_text()
            elif isinstance(event, ReasoningDelta):
                view.add_reasoning(event.text)
            elif isinstance(event, Loading):
                activity(f"loading: {event.detail or 'model'}", event.progress)
            elif isinstance(event, Queued):
                activity("queued", None)
            elif isinstance(event, Started):
                activity("thinking", None)
            elif isinstance(event, Notice):
                notice(event.text)
    except BackendError as exc:
        return "error", exc
    return ("stopped" if reply.finish_reason == "cancelled" else "complete"), None
