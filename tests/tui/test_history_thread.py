"""The chat screen's history thread: one ordered writer, whatever the screen asks in between."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from genchat.history import recorder
from genchat.history.store import Store
from genchat.reply import Origin
from genchat.tui.history import ChatHistory


async def test_interleaved_saves_land_in_the_order_they_were_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress saves that nothing awaits, reads, a second reply and the ends, made as fast as
    the event loop makes them: each read sees every save made before it, the last save of each
    reply is its end, and a late progress call does not overwrite an ended reply."""
    monkeypatch.setattr(recorder, "SAVE_INTERVAL_S", 0.0)  # every progress call saves
    path = tmp_path / "genchat.db"
    saved = ChatHistory(lambda: Store(path))
    origin = Origin("scripted", "scripted", "script", None, {})
    try:
        await saved.add_user("Hi", None, "scripted", "script")
        first = await saved.start_reply(origin)
        assert first is not None
        seen = []
        for n in range(1, 200):
            saved.progress(first, lambda n=n: "x" * n)
            if n % 20 == 0:
                # A read made now runs after every save made before it.
                message = await saved.call(lambda store: store.message(first))
                assert message is not None
                seen.append(len(message.content))
        assert seen == list(range(20, 200, 20))
        await saved.finish_reply(first, "the end", "complete", {"ttft_s": 0.1}, None)
        saved.progress(first, lambda: "a save after the end is not made")
        again = await saved.start_reply(origin)
        assert again is not None and again != first
        saved.progress(again, lambda: "second")
        await saved.finish_reply(again, "second reply", "stopped", {}, None)
    finally:
        await asyncio.to_thread(saved.close)
    with Store(path) as store:
        first_message, second = store.message(first), store.message(again)
        assert first_message is not None and second is not None
        assert (first_message.content, first_message.status) == ("the end", "complete")
        assert (second.content, second.status) == ("second reply", "stopped")
        assert second.parent_id == first, "the second reply follows the first on the thread"
