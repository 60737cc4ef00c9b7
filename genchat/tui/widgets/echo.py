"""Typed keys are drawn before more of a streaming reply.

While a long reply is drawn, the event loop alternates between appending to it (up to 25 ms an
append) and drawing the screen, which Textual does on a timer, a sixtieth of a second after a
widget asks. A key that reached the prompt just after a frame was due therefore waited for one
more append before the frame that shows it, and then for that frame: up to 0.15 s in a real
terminal. So the prompt says when a key has changed it (`typed`), and the render loop, before
its next append, waits until a frame has drawn that change (`shown`). Replies only wait; keys
never do.
"""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary

from textual.app import App
from textual.widget import Widget

MAX_WAIT_S = 0.5
"""The longest a reply waits for typed keys to be drawn: a frame comes far sooner, but one that
never comes (the prompt's screen closing) must not stop the reply."""

_unshown: WeakKeyDictionary[App[object], asyncio.Event] = WeakKeyDictionary()
"""Per app: set once every key typed so far is on screen."""


def typed(widget: Widget) -> None:
    """`widget` has just changed for a key: the next frame shows it."""
    shown = _unshown.get(widget.app)
    if shown is None:
        shown = _unshown[widget.app] = asyncio.Event()
    elif not shown.is_set():
        return  # a frame is already awaited, and it shows this key too
    shown.clear()
    if not widget.call_after_refresh(shown.set):
        shown.set()  # the widget is closing: no frame of its will show the key


def unshown(app: App[object]) -> bool:
    """Whether a key typed into `app` is still to be drawn."""
    event = _unshown.get(app)
    return event is not None and not event.is_set()


async def shown(widget: Widget) -> None:
    """Return once every key typed into `widget`'s app is drawn (at once, if it is)."""
    event = _unshown.get(widget.app)
    if event is None or event.is_set():
        return
    try:
        await asyncio.wait_for(event.wait(), MAX_WAIT_S)
    except TimeoutError:
        # The frame's callback was lost (its screen went first): forget the key, or every
        # later append would wait this long.
        event.set()
