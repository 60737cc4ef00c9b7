"""A watchdog for the event loop: a plugin that blocks it (a `time.sleep` or a blocking call in
its async stream) freezes the whole screen, Escape and Ctrl+Q included, and nothing on the loop
can notice while it lasts. A thread can: it asks the loop for a beat now and then, and when
none comes for `BLOCK_GRACE_S` while a reply streams, it looks at what the loop is running. Only
when that is the streaming backend's own code does it log which plugin it is at once (the log
is the lasting place) and, as soon as the loop runs again, say so on the screen. A loop held up
by anything else (genchat drawing, a machine too busy to run it) names no one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from genchat.logs import logger

BLOCK_GRACE_S = 5.0
"""How long the event loop may go without a beat, while a reply streams, before the plugin
streaming it is named as blocking it: far longer than genchat itself ever holds the loop (a
piece of a reply renders in milliseconds), so that a loaded machine names no one wrongly."""

BEAT_S = 0.25
"""How often the watchdog asks the loop for a beat."""

_log = logger("genchat.tui")


@dataclass(frozen=True)
class Suspect:
    """The reply streaming now, as the watchdog sees it."""

    name: str
    """How the screen names its backend and plugin."""
    code: str
    """The package (or, for one of genchat's own backends, the module) its code is in."""

    @classmethod
    def of(cls, name: str, backend: object) -> Suspect:
        module = type(backend).__module__
        own = module.startswith("genchat.")
        return cls(name, module if own else module.split(".")[0])

    def runs_in(self, frame: FrameType | None) -> bool:
        """Whether `frame`, or a frame that called it, is this backend's code."""
        while frame is not None:
            name = frame.f_globals.get("__name__", "")
            if name == self.code or name.startswith(self.code + "."):
                return True
            frame = frame.f_back
        return False


class LoopWatchdog:
    """Notices the event loop blocked by the code of the reply `streaming()` names, and calls
    `report(name, seconds)` on the loop once it runs again. Made on the loop's thread."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        streaming: Callable[[], Suspect | None],
        report: Callable[[str, float], None],
    ) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
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
                suspect = self._streaming()
                running = sys._current_frames().get(self._loop_thread)
                if suspect is not None and suspect.runs_in(running):
                    blocked = (suspect.name, self._last_beat)
                    _log.warning("%s has blocked the screen for %.1f s", suspect.name, silent)
            elif blocked is not None and silent <= BEAT_S * 2:
                what, since = blocked
                blocked = None
                seconds = self._last_beat - since
                self._loop.call_soon_threadsafe(self._report, what, seconds)
