"""Typed keys are drawn before more of a streaming reply.

While a long reply is drawn, the event loop alternates between appending to it (up to 25 ms an
append) and drawing the screen, which Textual does on a timer, a sixtieth of a second after a
widget asks. A key that reached the prompt just after a frame was due therefore waited for one
more append before the frame that shows it, and then for that frame: up to 0.15 s in a real
terminal. So the prompt says when a key has changed it (`typed`), and the render loop, before
its next append, waits until a frame has drawn that change (`shown`). Replies only wait; keys
never do.

Two more waits stood between a key and the terminal, each measured in a pseudo-terminal at
160x50 while an 8,000-token reply was drawn (`bench/render.py --pty`):

- The frame itself. Textual draws on a timer that pauses between frames; when it resumes later
  than a frame was due, it skips ahead to the grid point after next, so a frame asked for just
  after one was drawn came one to two periods later: up to 33 ms at Textual's 60 frames a
  second. At 120 (`genchat.tui` sets `TEXTUAL_FPS`), up to 17 ms. A frame is still drawn only
  when something changed, so a reply costs no more frames.
- The threads. The terminal is read and written by Textual's own threads, which need the GIL
  while an append holds it; Python hands it over only every `sys.getswitchinterval()`, 5 ms,
  and a write takes it several times. At `THREAD_SWITCH_S` they wait at most a millisecond.

Together they cut the slowest key of each run from about 60 ms to about 40 ms (medians of four
runs each, side by side, on a two-core machine).
"""

from __future__ import annotations

import asyncio
import sys
from weakref import WeakKeyDictionary

from textual.app import App
from textual.widget import Widget

MAX_WAIT_S = 0.5
"""The longest a reply waits for typed keys to be drawn: a frame comes far sooner, but one that
never comes (the prompt's screen closing) must not stop the reply."""

THREAD_SWITCH_S = 0.001
"""How often the thread holding the GIL hands it to a waiting one, while the app runs: Python's
default is 5 ms."""

_unshown: WeakKeyDictionary[App[object], asyncio.Event] = WeakKeyDictionary()
"""Per app: set once every key typed so far is on screen."""


def hand_over_quickly() -> float:
    """Let the terminal's threads have the GIL within `THREAD_SWITCH_S` of asking for it;
    returns the interval before, to be put back when the app ends."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(THREAD_SWITCH_S)
    return before


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
