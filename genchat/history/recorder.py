"""Saving a reply as it streams: at most once a second, and never stopping the reply.

`SaveClock` is the one rule of when a streaming reply's text is written, for `genchat ask`
(`ReplyRecorder`) and the TUI (`genchat.tui.history`) alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from genchat.history.records import Status, StoreError
from genchat.history.store import Store

SAVE_INTERVAL_S = 1.0
"""How often a streaming reply's text is written: a crash loses at most this much."""


class SaveClock:
    """When a streaming reply's text is next due to be written: at most once per interval
    (`SAVE_INTERVAL_S` unless given), the first an interval after the reply began."""

    def __init__(
        self, interval_s: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval_s = SAVE_INTERVAL_S if interval_s is None else interval_s
        self._clock = clock
        self._last = clock()

    def due(self) -> bool:
        """Whether the text is due now; when it is, the next is due an interval later."""
        now = self._clock()
        if now - self._last < self.interval_s:
            return False
        self._last = now
        return True


class ReplyRecorder:
    """Saves one reply as it streams: its text when `SaveClock` says, then its end.

    A crash loses at most the last interval's text, and the reply shows as `interrupted` when
    the store is next opened. Store failures after the start are kept in `failure` rather than
    raised: a reply is never stopped because history could not be written.
    """

    def __init__(
        self,
        store: Store,
        message_id: int,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.message_id = message_id
        self._due = SaveClock(interval_s, clock)
        self.failure: StoreError | None = None

    def text(self, text: str, reasoning: str = "") -> None:
        if self._due.due():
            self._save(content=text, reasoning=reasoning)

    def finish(
        self,
        text: str,
        status: Status,
        *,
        reasoning: str = "",
        metrics: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self._save(content=text, reasoning=reasoning, status=status, metrics=metrics, error=error)

    def _save(self, **values: Any) -> None:
        if self.failure is not None:
            return
        try:
            self.store.update_message(self.message_id, **values)
        except StoreError as exc:
            self.failure = exc
