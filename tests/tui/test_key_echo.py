"""Keys typed while a long reply is drawn are drawn before more of the reply
(`genchat.tui.widgets.echo`): the render loop appends nothing while a typed key waits for its
frame. Keys are posted as a terminal delivers them, without letting the app run between them
and the next append, which Pilot's `press` would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events
from textual.app import App, ComposeResult

from genchat.tui.app import make_app
from genchat.tui.widgets.echo import THREAD_SWITCH_S, shown, typed, unshown
from genchat.tui.widgets.markdown import MarkdownView
from genchat.tui.widgets.message import AssistantMessage
from genchat.tui.widgets.prompt import PromptInput
from tests.support.helpers import DEADLINE_S
from tests.support.pilot import SIZE, chat, finish, scripted_profile

LONG_REPLY = scripted_profile(
    "long", chunks=[f"Paragraph {i} says a little more. " * 8 + "\n\n" for i in range(700)]
)
"""About 190,000 characters (all of it drawn), sent at once: the render loop appends as fast as
it can, about a hundred times."""


@pytest.fixture
def long_reply(test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(LONG_REPLY)
    # A frame comes within the suite's deadline on any machine: the wait's own bound, there
    # for a frame that never comes, must not end it early here.
    monkeypatch.setattr("genchat.tui.widgets.echo.MAX_WAIT_S", DEADLINE_S)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the app run, a turn at a time, until `condition` holds."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE_S:g} s waiting for {what}")
        await asyncio.sleep(0.001)


async def test_a_key_typed_while_a_reply_is_drawn_is_on_screen_before_the_next_append(
    long_reply: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    appends = 0
    appends_while_a_key_waited = []
    append = MarkdownView.append

    def watched_append(view: MarkdownView, text: str) -> None:
        nonlocal appends
        appends += 1
        if unshown(view.app):
            appends_while_a_key_waited.append(appends)
        append(view, text)

    monkeypatch.setattr(MarkdownView, "append", watched_append)
    app = make_app("long")
    async with app.run_test(size=SIZE) as pilot:
        prompt = chat(app).query_one(PromptInput)
        prompt.insert("Talk")
        app.post_message(events.Key("enter", None))  # Pilot's press would wait for the reply
        await until(lambda: appends > 0, "the reply to be drawn")
        view = chat(app).query_one(AssistantMessage)
        typed = ""
        keys_while_drawing = 0
        for key in "abcdefgh":
            app.post_message(events.Key(key, key))
            typed += key
            await until(lambda text=typed: prompt.text == text, f"{key!r} in the prompt")
            if view.state != "streaming":  # set once the render loop has caught up
                break
            keys_while_drawing += 1
            await until(
                lambda before=appends: appends > before or view.state != "streaming",
                "more appends",
            )
        assert keys_while_drawing >= 3, "the reply was drawn before keys could be typed into it"
        assert appends_while_a_key_waited == []
        await finish(pilot)


class _Prompt(App[None]):
    def compose(self) -> ComposeResult:
        yield PromptInput()


async def test_a_key_whose_frame_callback_is_lost_holds_back_no_later_append(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = _Prompt()
    async with app.run_test() as pilot:
        prompt = app.query_one(PromptInput)
        # The fault no real screen gives on demand: the callback after the frame never runs,
        # as when its screen is dismissed first.
        monkeypatch.setattr(prompt, "call_after_refresh", lambda *args: True)
        typed(prompt)
        assert unshown(app)
        await shown(prompt)  # waits for the frame no longer than MAX_WAIT_S
        assert not unshown(app)  # and forgets the key, so that the next append does not wait
        await pilot.pause()


async def test_a_key_in_a_prompt_that_is_going_holds_back_nothing() -> None:
    app = _Prompt()
    async with app.run_test():
        prompt = app.query_one(PromptInput)
        await prompt.remove()
        typed(prompt)
        assert not unshown(app)


@pytest.mark.parametrize(("setting", "fps"), [(None, "120"), ("30", "30")])
def test_the_tui_draws_at_120_frames_a_second_unless_the_user_says_otherwise(
    setting: str | None, fps: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    if setting is not None:
        env["TEXTUAL_FPS"] = setting
    shown_fps = subprocess.run(
        [sys.executable, "-c", "import genchat.tui.app, textual.constants as c; print(c.MAX_FPS)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown_fps == fps


async def test_the_terminal_threads_get_the_gil_quickly_while_the_app_runs(
    long_reply: None,
) -> None:
    before = sys.getswitchinterval()
    app = make_app("long")
    async with app.run_test(size=SIZE):
        assert sys.getswitchinterval() == THREAD_SWITCH_S < before
    assert sys.getswitchinterval() == before
