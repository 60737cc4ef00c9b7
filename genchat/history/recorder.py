"""Saving one reply as it streams, at most once per interval, without ever stopping it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from genchat.history.records import Status, StoreError
from genchat.history.store import Store


class ReplyRecorder:
    """Saves one reply as it streams: its text at most once per `interval_s`, then its end.

    A crash loses at most the last interval's text, and the reply shows as `interrupted` when
    the store is next opened. Store failures after the start are kept in `failure` rather than
    raised: a reply is never stopped because history could not be written.
    """

    def __init__(
        self, store: Store, message_id: int, interval_s: float = 1.0, clock: Any = time.monotonic
    ) -> None:
        self.store = store
        self.message_id = message_id
        self.interval_s = interval_s
        self._clock = clock
        self._last = clock()
        self.failure: StoreError | None = None

    def text(self, text: str, reasoning: str = "") -> None:
        now = self._clock()
        if now - self._last >= self.interval_s:
            self._last = now
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
