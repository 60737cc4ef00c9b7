"""A watchdog for the event loop: a plugin that blocks it (a `time.sleep` or a blocking call in
its async stream) freezes the whole screen, Escape and Ctrl+Q included, and nothing on the loop
can notice while it lasts. A thread can: it asks the loop for a beat now and then, and when
none comes for `BLOCK_GRACE_S` while a reply streams, it logs which plugin's reply it was at
once (the log is the lasting place) and, as soon as the loop runs again, the screen says so.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

BLOCK_GRACE_S = 5.0
"""How long the event loop may go without a beat, while a reply streams, before the plugin
streaming it is named as blocking it: far longer than genchat itself ever holds the loop (a
piece of a reply renders in milliseconds), so that a loaded machine names no one wrongly."""

BEAT_S = 0.25
"""How often the watchdog asks the loop for a beat."""

_log = logging.getLogger("genchat.tui")


class LoopWatchdog:
    """Notices the event loop blocked while `streaming()` names a reply's source, and calls
    `report(what, seconds)` on the loop once it runs again."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        streaming: Callable[[], str | None],
        report: Callable[[str, float], None],
    ) -> None:
        self._loop = loop
        self._streaming = streaming
        self._report = report
        self._last_beat = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="genchat-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        self._last_beat = time.monotonic()

    def _watch(self) -> None:
        blocked: tuple[str, float] | None = None
        while not self._stop.wait(BEAT_S):
            try:
                self._loop.call_soon_threadsafe(self._beat)
            except RuntimeError:  # the loop is closed: the app has ended
                return
            silent = time.monotonic() - self._last_beat
            if blocked is None and silent > BLOCK_GRACE_S + BEAT_S:
                # Read on this thread while the loop is stuck; it only changes on the loop.
                what = self._streaming()
                if what is not None:
                    blocked = (what, self._last_beat)
                    _log.warning("%s has blocked the screen for %.1f s", what, silent)
            elif blocked is not None and silent <= BEAT_S * 2:
                what, since = blocked
                blocked = None
                seconds = self._last_beat - since
                self._loop.call_soon_threadsafe(self._report, what, seconds)
