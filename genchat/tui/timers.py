"""A guard against a framework bug: Textual's timers spin for ever on an interval that is not
positive.

Textual 8.2.8's `Timer._run` skips ticks it is late for with
`count = int((now - start) / interval + 1)` and `continue`, without awaiting anything. With a
negative interval every tick looks late, the count runs down through the negative numbers, and
the loop never yields: the whole app hangs at 100% CPU and even Ctrl+Q is dead. With an interval
of exactly 0 the same line divides by zero, and the timer never fires. Upstream: the zero case
is Textualize/textual#6370 (fix proposed in #6371); the negative case comes from the same line.

A negative interval arises inside Textual itself: a toast's timer is set to its notification's
`time_left`, which is slightly below zero when it is read just after the expiry check (seen when
a conversation opened just as a 10-second notification ran out). So the guard cannot be at
genchat's own call sites; it is at the one place every timer passes through, and it does one
thing: an interval below `MIN_TIMER_INTERVAL_S` becomes that, which fires at once, as a delay
that has already passed should. Remove it once Textual's timers handle such intervals.
"""

from __future__ import annotations

import functools
from typing import Any

from textual.timer import Timer

MIN_TIMER_INTERVAL_S = 0.001
"""The shortest interval a Textual timer is given. Well above the microseconds between the two
clock reads in `Timer._run`, so a one-shot timer is never skipped as late before it fires."""

_GUARDED = "_genchat_interval_guard"


def guard_timers() -> None:
    """Make every Textual timer's interval at least `MIN_TIMER_INTERVAL_S` (see the module's
    docstring for the framework bug this works around). Safe to call more than once."""
    original = Timer.__init__
    if getattr(original, _GUARDED, False):
        return

    @functools.wraps(original)
    def guarded(self: Timer, event_target: Any, interval: float, *args: Any, **kw: Any) -> None:
        # Written so that NaN, which compares false with everything, is guarded too.
        safe = interval if interval >= MIN_TIMER_INTERVAL_S else MIN_TIMER_INTERVAL_S
        original(self, event_target, safe, *args, **kw)

    setattr(guarded, _GUARDED, True)
    setattr(Timer, "__init__", guarded)  # noqa: B010 (mypy refuses a plain assignment to a method)
