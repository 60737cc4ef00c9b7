"""A long conversation opens with only the turns near the view drawn (`genchat.tui.widgets.thread`),
draws more as the view moves, keeps what is drawn bounded, and sends the whole conversation,
which comes from the session model, not from what is mounted."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from genchat.history.store import Store
from genchat.tui.app import GenchatApp, make_app
from genchat.tui.widgets.message import MessageView
from genchat.tui.widgets.thread import MAX_MOUNTED, OPEN_TURNS, MessageList
from tests.support.pilot import chat, finish, scripted_profile, send, wait_for

SIZE = (100, 32)
LENGTH = 300


@pytest.fixture
def long_conversation(
    test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> list[int]:
    """A saved conversation of `LENGTH` messages, `message 0` to `message 299`; their ids."""
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("echo", echo=True))
    ids: list[int] = []
    with Store(tmp_path / "data" / "genchat.db") as db:
        conversation = db.new_conversation(profile="echo", model="script")
        parent = None
        for i in range(LENGTH):
            if i % 2 == 0:
                parent = db.add_message(conversation, parent, "user", f"message {i}")
            else:
                parent = db.add_message(
                    conversation,
                    parent,
                    "assistant",
                    f"message {i}",
                    profile="echo",
                    model="script",
                )
            ids.append(parent)
    return ids


def drawn(app: GenchatApp) -> list[str]:
    return [view.text for view in chat(app).thread.views]


def drew(thread: MessageList, was: MessageView, end: int) -> bool:
    """Whether the list has drawn more turns at `end` (0 or -1) of what it drew, where `was`
    was, and is done (the view put back in place)."""
    return thread.views[end] is not was and not any(w.is_running for w in thread.workers)


async def opened(app: GenchatApp, pilot: Pilot[None]) -> None:
    """Wait until the conversation is open: its end drawn, the turns before it loaded behind
    the first frame."""
    await wait_for(pilot, lambda: f"message {LENGTH - 1}" in drawn(app), "the conversation")
    await wait_for(pilot, lambda: len(chat(app).history) == LENGTH, "the earlier turns")


async def test_a_long_conversation_opens_at_its_end_and_sends_all_of_it(
    long_conversation: list[int],
) -> None:
    app = make_app(conversation="last")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        assert drawn(app) == [f"message {i}" for i in range(LENGTH - OPEN_TURNS, LENGTH)]
        assert [m.content for m in chat(app).history] == [f"message {i}" for i in range(LENGTH)]
        assert chat(app).thread.is_vertical_scroll_end
        await send(pilot, "and now?")
        await finish(pilot)
        assert "last='and now?'" in drawn(app)[-1]
        assert len(chat(app).history) == LENGTH + 2


async def test_scrolling_up_draws_earlier_turns_in_place_and_keeps_what_is_drawn_bounded(
    long_conversation: list[int],
) -> None:
    app = make_app(conversation="last")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        thread = chat(app).thread
        while drawn(app)[0] != "message 0":
            first = thread.views[0]
            thread.scroll_home(animate=False, immediate=True)
            await wait_for(pilot, lambda first=first: drew(thread, first, 0), "earlier turns")
            # The turn that was at the top of the view is still in view: nothing jumped.
            assert first.region.height > 0
            assert len(thread.views) <= MAX_MOUNTED
        assert f"message {LENGTH - 1}" not in drawn(app)  # the far end went again
        # And back down: the end is drawn again as the view reaches it.
        while f"message {LENGTH - 1}" not in drawn(app):
            last = thread.views[-1]
            thread.scroll_end(animate=False, immediate=True)
            await wait_for(pilot, lambda last=last: drew(thread, last, -1), "later turns")
            assert len(thread.views) <= MAX_MOUNTED
        texts = drawn(app)
        start = int(texts[0].split()[1])
        assert texts == [f"message {i}" for i in range(start, LENGTH)]  # in order, none twice


async def test_a_message_found_far_back_opens_drawn_and_focused(
    long_conversation: list[int],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.services.loaded.wait()
        wanted = long_conversation[10]
        assert await chat(app).open_conversation(None, focus=wanted)
        await pilot.pause()
        focused = app.focused
        assert isinstance(focused, MessageView) and focused.text == "message 10"
        assert len(chat(app).thread.views) <= MAX_MOUNTED
        # Sending from there draws the end again, and the new message after it.
        await send(pilot, "from far back")
        await finish(pilot)
        assert drawn(app)[-3:-1] == [f"message {LENGTH - 1}", "from far back"]


async def test_alt_up_from_the_first_drawn_message_draws_the_one_before(
    long_conversation: list[int],
) -> None:
    app = make_app(conversation="last")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        thread = chat(app).thread
        first = thread.views[0]
        first.focus()
        await pilot.pause()
        await pilot.press("alt+up")
        await wait_for(pilot, lambda: app.focused is not first, "the focus to move")
        focused = app.focused
        assert isinstance(focused, MessageView)
        assert focused.text == f"message {LENGTH - OPEN_TURNS - 1}"
