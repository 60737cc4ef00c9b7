"""What a long session keeps: the chats before the current one are freed, and the collector is
never left frozen over what a reply leaves (genchat/tui/memory.py). Against the fault server,
through the openai backend, so that httpx's timers are part of it."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from textual.pilot import Pilot

from genchat.tui.app import make_app
from genchat.tui.widgets.markdown import MarkdownView
from genchat.tui.widgets.message import AssistantMessage
from tests.support.fault_server import FaultServer
from tests.support.pilot import SIZE, chat, finish, send, wait_for

READ_TIMEOUT_S = 3600
"""Far longer than the suite's deadline: asyncio keeps each cancelled read timeout, and what its
context holds, until its time comes, so a reply kept that way is not freed before the test
fails."""


def profile(faults: FaultServer) -> str:
    return (
        f'default_profile = "remote"\n[profiles.remote]\nbackend = "openai"\n'
        f'base_url = "{faults.base_url("fast-400")}"\nmodel = "fault-model"\n'
        f"read_timeout_s = {READ_TIMEOUT_S}\n"
    )


async def reply_in_a_new_chat(pilot: Pilot[None], text: str) -> list[weakref.ref[object]]:
    """Start a new chat and send `text`; weak references to its reply's widget, the reply's
    Markdown view, and the state Textual drew the view with."""
    await pilot.press("ctrl+n")
    await send(pilot, text)
    await finish(pilot)
    # Not `query_one`: Textual caches its answer on the screen, which would keep the reply.
    (view,) = chat(pilot.app).query(AssistantMessage)
    assert view.state == "complete" and view.text
    body = view.query_one(MarkdownView)
    return [weakref.ref(view), weakref.ref(body), weakref.ref(body._styles_cache)]


async def test_the_chats_before_the_last_are_freed(faults: FaultServer, config_file: Path) -> None:
    config_file.write_text(profile(faults))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        first = await reply_in_a_new_chat(pilot, "First chat")
        second = await reply_in_a_new_chat(pilot, "Second chat")
        await reply_in_a_new_chat(pilot, "Third chat")
        # Nothing here collects: the app does, a moment after each reply.
        await wait_for(
            pilot,
            lambda: all(ref() is None for ref in first + second),
            "the replies of the first two chats to be freed",
        )


async def test_replies_leave_nothing_frozen(faults: FaultServer, config_file: Path) -> None:
    config_file.write_text(profile(faults))
    before = gc.get_freeze_count()  # the freeze is the process's, not the app's
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: gc.get_freeze_count() > before, "start-up to be frozen")
        frozen = gc.get_freeze_count()
        for text in ("One", "Two", "Three"):
            await reply_in_a_new_chat(pilot, text)
        assert gc.get_freeze_count() <= frozen  # frozen objects are still freed when unused
