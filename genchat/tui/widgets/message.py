"""The messages of a conversation: the user's, the assistant's (streamed Markdown), and errors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import ClassVar

from markdown_it import MarkdownIt
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Markdown, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from genchat.errors import GenchatError

_STATE_COLOURS = {"stopped": "warning", "error": "error"}
"""The theme colour of a finished reply's left border, by state."""

STREAM_INTERVAL_S = 1 / 15
"""How often streamed text reaches the Markdown widget: about 15 updates a second, never one
per token, so long replies stay cheap to render."""

MAX_APPEND_CHARS = 4000
"""The most text one append parses and mounts, so that no single append freezes the screen."""

SEGMENT_BLOCKS = 16
"""Top-level blocks one Markdown widget holds before the reply continues in a new one."""


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

    Streamed text reaches the screen through a render loop of this widget, at most about 15
    appends a second and at most `MAX_APPEND_CHARS` per append. Two costs of Textual's Markdown
    widget shape this (measured, see docs/architecture.md):

    - `MarkdownStream` coalesces everything pending into one append, which on a fast stream
      parses and mounts most of a reply at once and freezes the screen for as long; so appends
      are bounded;
    - each append costs more the more blocks its Markdown widget holds; so once a widget holds
      `SEGMENT_BLOCKS` top-level blocks, the reply continues in a new Markdown widget, starting
      at a block boundary. Finished segments are never appended to again;
    - every mount triggers a layout pass over every displayed widget; so a finished segment out
      of view is hidden, with a blank stand-in of its height, until it scrolls into view.

    `finish()` waits for the loop to catch up, then re-renders only if what is shown differs
    from the reply.
    """

    def __init__(self, label: str) -> None:
        super().__init__(classes="assistant")
        self.label = label
        self.content = ""
        self.reasoning = ""
        self.state = "streaming"
        """`streaming`, then `complete`, `stopped` or `error`."""
        self._rendered = 0
        self._segment_text = ""
        self._wake = asyncio.Event()
        self._done = False
        self._loop: Worker[None] | None = None
        self._width: int | None = None
        self._stand_ins: dict[Markdown, Widget] = {}
        """Finished segments, each with a blank widget of its height that stands in for it
        while it is out of view."""

    def compose(self) -> ComposeResult:
        yield Static(Text(self.label, style="dim"), classes="label")
        with Collapsible(title="Reasoning", collapsed=True, classes="reasoning"):
            yield Static(classes="reasoning-text")
        yield Markdown(classes="body")
        yield Static(classes="footer")

    def on_mount(self) -> None:
        self._loop = self._render_loop()
        if self.parent is not None:
            self.watch(self.parent, "scroll_y", self._scrolled, init=False)

    # -- keeping finished segments out of layout while they are out of view ------------------

    def _freeze(self, segment: Markdown, tries: int = 5) -> None:
        """Give a finished segment a stand-in of its height, for when it is out of view.

        Every mount triggers a layout pass that visits every displayed widget, so a long reply
        got slower to stream the longer it was. A hidden segment costs layout nothing.
        """
        if segment in self._stand_ins or not segment.is_attached:
            return
        height = segment.outer_size.height
        if not height:  # not laid out yet
            if tries:
                self.call_after_refresh(self._freeze, segment, tries - 1)
            return
        stand_in = Widget(classes="stand-in")
        stand_in.styles.height = height
        stand_in.display = False
        self._stand_ins[segment] = stand_in
        self.mount(stand_in, before=segment)
        self.call_after_refresh(self._show_segments_in_view)

    def _scrolled(self) -> None:
        # Regions are known once the scroll has been laid out.
        if self._stand_ins:
            self.call_after_refresh(self._show_segments_in_view)

    def _show_segments_in_view(self) -> None:
        """Show the finished segments that overlap the view; stand-ins for the rest."""
        if self.parent is None or not isinstance(self.parent, Widget):
            return
        view = self.parent.region
        for segment, stand_in in self._stand_ins.items():
            shown = segment if segment.display else stand_in
            visible = shown.region.overlaps(view)
            if visible != segment.display:
                segment.display = visible
                stand_in.display = not visible

    def on_resize(self, event: events.Resize) -> None:
        # A new width rewraps the text: show every segment, measure again, then freeze again.
        # (The height changes all the time while a reply grows; that needs nothing.)
        width, self._width = self._width, event.size.width
        if width in (None, event.size.width) or not self._stand_ins:
            return
        stand_ins, self._stand_ins = self._stand_ins, {}
        for segment, stand_in in stand_ins.items():
            segment.display = True
            stand_in.remove()
        for segment in stand_ins:
            self.call_after_refresh(self._freeze, segment)

    @property
    def text(self) -> str:
        return self.content

    @property
    def segments(self) -> list[Markdown]:
        """The Markdown widgets that show the reply, in order."""
        return list(self.query(".body").results(Markdown))

    @property
    def rendered_source(self) -> str:
        """The Markdown source that the widgets show."""
        return "".join(segment.source for segment in self.segments)

    def add_text(self, text: str) -> None:
        """Append reply text; the render loop shows it within about `STREAM_INTERVAL_S`."""
        self.content += text
        self._wake.set()

    def add_reasoning(self, text: str) -> None:
        self.reasoning += text
        self.query_one(".reasoning", Collapsible).display = True
        self.query_one(".reasoning-text", Static).update(Text(self.reasoning))

    @work(group="render", exit_on_error=False)
    async def _render_loop(self) -> None:
        live = self.segments[-1]
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._rendered < len(self.content):
                started = time.monotonic()
                end = _piece_end(self.content, self._rendered)
                piece, self._rendered = self.content[self._rendered : end], end
                split = self._split_point(live, piece)
                if split is not None:
                    if split:
                        await live.append(piece[:split])
                    self.call_after_refresh(self._freeze, live)
                    live = Markdown(classes="body")
                    await self.mount(live, before=self.query_one(".footer"))
                    piece, self._segment_text = piece[split:], ""
                await live.append(piece)
                self._segment_text += piece
                # Leave the loop free for keys and the rest of the screen between appends.
                await asyncio.sleep(max(0.0, STREAM_INTERVAL_S - (time.monotonic() - started)))
            if self._done:
                return

    def _split_point(self, live: Markdown, piece: str) -> int | None:
        """Where in `piece` a new segment should start, if the live one is full.

        The split is at the start of the last top-level block of the segment's text with
        `piece` added: every block before it is finished, and the one that may still grow moves
        to the new segment whole.
        """
        if len(live.children) < SEGMENT_BLOCKS:
            return None
        text = self._segment_text + piece
        starts = [token.map[0] for token in _PARSER.parse(text) if token.level == 0 and token.map]
        if len(starts) < 2:
            return None
        line_offsets = [0]
        for line in text.splitlines(keepends=True):
            line_offsets.append(line_offsets[-1] + len(line))
        offset = line_offsets[starts[-1]] - len(self._segment_text)
        return offset if offset >= 0 else None

    async def finish(self, footer: str, *, state: str) -> None:
        """End the stream: let the render loop catch up, make sure the whole reply shows."""
        self._done = True
        self._wake.set()
        if self._loop is not None:
            # Whatever a failed or cancelled loop did not show, the check below shows.
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await self._loop.wait()
        if self.rendered_source != self.content:
            first, *rest = self.segments
            await self.remove_children(rest)
            await first.update(self.content)
        self.query_one(".footer", Static).update(Text(footer, style="dim"))
        self.state = state
        # An inline style, not a CSS class: a class change on this widget would restyle every
        # Markdown block under it, which takes most of a second on a long reply.
        variable = _STATE_COLOURS.get(state)
        colour = self.app.get_css_variables().get(variable) if variable else None
        if colour:
            self.styles.border_left = ("thick", Color.parse(colour))


_PARSER = MarkdownIt("gfm-like")
"""The parser Textual's Markdown widget uses, to find block boundaries the same way."""


def _piece_end(text: str, start: int) -> int:
    """Where the next append should end: at most `MAX_APPEND_CHARS` on, at a line end if any."""
    end = min(len(text), start + MAX_APPEND_CHARS)
    if end == len(text):
        return end
    newline = text.rfind("\n", start, end)
    return newline + 1 if newline >= start else end
