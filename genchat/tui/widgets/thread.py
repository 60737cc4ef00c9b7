"""The chat's message list: a widget for each turn near the view, and none for the rest.

A widget per message made a long conversation slow to open and heavy to keep: 2,000 messages
took 12 s and 330 MB before the first frame, and 100,000 never appeared (bench/open_long.py). So
the list draws a window of the conversation's turns (`genchat.session`): the last
`OPEN_TURNS` when a conversation opens, or those around the message asked for, and `BATCH` more
each time the view comes within a screen of either end of the window. Past `MAX_MOUNTED`, the
far end of the window is unmounted again, so memory is bounded by what was shown, not by the
conversation's length. The turns hold everything a widget shows: one can be unmounted and drawn
again at any time, and nothing is read back out of a widget.
"""

from __future__ import annotations

from textual.containers import VerticalScroll

from genchat.session.turns import Session, Turn
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage, MessageView, UserMessage

OPEN_TURNS = 40
"""How many of a conversation's last turns are drawn when it opens: more than fill the tallest
terminal, however short each one is."""

BATCH = 20
"""How many more turns are drawn when the view nears an end of what is drawn."""

MAX_MOUNTED = 120
"""The most turns drawn at once; past it, the end the view moved away from is unmounted."""


def view_of(turn: Turn) -> MessageView:
    """The widget that draws a finished turn (a reply from the history, say)."""
    if turn.role == "user":
        return UserMessage(turn)
    if turn.role == "error":
        return ErrorMessage(turn)
    return AssistantMessage(turn)


class MessageList(VerticalScroll):
    """The conversation's turns, drawn near the view (see the module's docs)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = Session()
        self._start = 0
        """The index in the conversation of the first turn drawn."""
        self._filling = False

    # -- what is drawn --------------------------------------------------------------------

    @property
    def views(self) -> list[MessageView]:
        """The widgets drawn, in the conversation's order."""
        return [child for child in self.children if isinstance(child, MessageView)]

    @property
    def _end(self) -> int:
        return self._start + len(self.views)

    @property
    def shows_the_end(self) -> bool:
        """Whether the conversation's last turn is drawn (new turns are drawn after it)."""
        return self._end == len(self.session)

    @property
    def can_draw_earlier(self) -> bool:
        """Whether there are turns before the first one drawn."""
        return self._start > 0 and bool(self.views)

    def view_for(self, turn: Turn) -> MessageView | None:
        """The widget drawing `turn`, where it is drawn."""
        return next((view for view in self.views if view.turn is turn), None)

    # -- changing the conversation ---------------------------------------------------------

    async def show(self, session: Session, *, around: Turn | None = None) -> None:
        """Draw `session` in place of the one shown: its last turns, or those around
        `around`."""
        turns = session.turns
        if around is not None:
            middle = session.index(around)
            end = min(len(turns), middle + BATCH)
            start = max(0, middle - BATCH)
        else:
            end = len(turns)
            start = max(0, end - OPEN_TURNS)
        self._filling = True  # nothing is drawn on scrolling while the window changes
        try:
            await self.remove_children()
            self.session, self._start = session, start
            await self.mount_all([view_of(turn) for turn in turns[start:end]])
        finally:
            self._filling = False
        if self.is_attached:
            self.scroll_end(animate=False, immediate=True)
            self.anchor(self.shows_the_end)

    async def add(self, turn: Turn, view: MessageView | None = None) -> MessageView:
        """Add `turn` at the end of the conversation, and draw it (with `view`, where given,
        as for a reply about to stream); the end is drawn again first if the view is far from
        it."""
        if not self.shows_the_end:
            await self.show(self.session)
        self.session.add(turn)
        view = view or view_of(turn)
        await self.mount(view)
        return view

    async def cut(self, turn: Turn, *, keep: bool) -> None:
        """Drop the turns after `turn`, and `turn` itself unless `keep`, and their widgets."""
        dropped = {id(t) for t in self.session.cut(turn, keep=keep)}
        await self.remove_children([view for view in self.views if id(view.turn) in dropped])
        if not self.views:  # every turn drawn was cut: draw the new end
            await self.show(self.session)

    def put_before(self, turns: list[Turn]) -> None:
        """Put `turns` before the session's first: drawn, as earlier turns are, when the view
        comes near them."""
        self.session.turns[:0] = turns
        self._start += len(turns)
        self._fill_soon()

    async def clear(self) -> None:
        """Start an empty conversation."""
        await self.show(Session())

    # -- following the view ----------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._fill_soon()

    def _fill_soon(self) -> None:
        """Draw more turns, in a worker, if the view is near an end of what is drawn."""
        if not self._filling and self._near_an_end():
            self.run_worker(self._fill(), group="fill", exit_on_error=False)

    def _near_an_end(self) -> bool:
        return self._near_the_top() or self._near_the_bottom()

    def _near_the_top(self) -> bool:
        """Whether the view is within a screen of the first turn drawn, with turns before it."""
        return self._start > 0 and self.scroll_y <= self.size.height

    def _near_the_bottom(self) -> bool:
        """Whether the view is within a screen of the last turn drawn, with turns after it."""
        return not self.shows_the_end and self.max_scroll_y - self.scroll_y <= self.size.height

    async def _fill(self) -> None:
        """Draw more turns at the end of the window the view is near (in a worker)."""
        if self._filling or not self.is_attached:
            return
        self._filling = True
        try:
            if self._near_the_top():
                await self.draw_earlier()
            elif self._near_the_bottom():
                await self._draw_later()
        finally:
            self._filling = False

    async def draw_earlier(self) -> bool:
        """Draw up to `BATCH` turns before the first one drawn, the view staying where it is;
        whether there were any. Await it from a worker, not a message handler: it waits for
        the screen to be drawn, which a handler that waits holds up."""
        if not self.can_draw_earlier:
            return False
        drawn = self.views
        first = drawn[0]
        start = max(0, self._start - BATCH)
        surplus = len(drawn) + self._start - start - MAX_MOUNTED
        if surplus > 0 and drawn[-1].turn.state != "streaming":
            # The far end goes first (the view is not near it), so the bound always holds.
            await self.remove_children(drawn[-surplus:])
            self.anchor(False)
        views = [view_of(turn) for turn in self.session.turns[start : self._start]]
        await self.mount_all(views, before=0)
        self._start = start
        await self.wait_for_refresh()  # laid out: the turns drawn have their heights
        if first.is_attached:
            # What was first is now below the new turns: scroll down by their height.
            self.scroll_to(y=self.scroll_y + first.virtual_region.y, animate=False, immediate=True)
        return True

    async def _draw_later(self) -> None:
        """Draw up to `BATCH` turns after the last one drawn."""
        end = self._end
        turns = self.session.turns[end : end + BATCH]
        if not turns:
            return
        drawn = self.views
        surplus = len(drawn) + len(turns) - MAX_MOUNTED
        if surplus > 0:
            # The turns taken away above the view were laid out: the view moves up by their
            # height.
            height = drawn[surplus].virtual_region.y - drawn[0].virtual_region.y
            await self.remove_children(drawn[:surplus])
            self._start += surplus
            self.scroll_to(y=max(0, self.scroll_y - height), animate=False, immediate=True)
        await self.mount_all([view_of(turn) for turn in turns])
        if self.shows_the_end:
            self.anchor()
