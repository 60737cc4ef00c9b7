"""Keys that arrive in one burst (SSH lag, a macro, a paste without bracketed paste) are applied
in the order typed: the send key sends everything typed before it, once, and what follows it
starts the next prompt; the newline key lands where it was typed.

Pilot presses one key and lets the app run; these tests post a whole burst of key events before
the app handles any of them, as a terminal read delivers them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot

from genchat.tui.app import GenchatApp, make_app
from genchat.tui.widgets.message import UserMessage
from genchat.tui.widgets.prompt import PromptInput
from tests.support.helpers import DEADLINE_S, Terminal, run_in_process
from tests.support.pilot import SIZE, finish, scripted_profile, wait_for

ECHO = scripted_profile("echo", echo=True)


def burst(app: GenchatApp, *keys: str) -> None:
    """Post `keys` to the app at once, each as a terminal would send it: a printable character
    as itself, anything else by name."""
    for key in keys:
        if len(key) == 1:
            app.post_message(events.Key("space" if key == " " else key, key))
        else:
            app.post_message(events.Key(key, None))


def typed(text: str) -> list[str]:
    return list(text)


def sent(app: GenchatApp) -> list[str]:
    return [view.text for view in app.screen.query(UserMessage)]


@pytest.fixture
def echo(test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(ECHO)
    return config_file


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    await finish(pilot)


async def test_text_then_enter_in_one_burst_sends_all_of_it_once(echo: Path) -> None:
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        burst(app, *typed("hello world"), "enter")
        await wait_for(pilot, lambda: bool(sent(app)), "the message")
        await settle(pilot)
        assert sent(app) == ["hello world"]
        assert app.screen.query_one(PromptInput).text == ""


async def test_a_newline_in_a_burst_lands_where_it_was_typed(echo: Path) -> None:
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        burst(app, *typed("first line"), "ctrl+j", *typed("second line"), "enter")
        await wait_for(pilot, lambda: bool(sent(app)), "the message")
        await settle(pilot)
        assert sent(app) == ["first line\nsecond line"]


async def test_keys_after_the_send_key_start_the_next_prompt(echo: Path) -> None:
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        burst(app, *typed("one"), "enter", *typed("two"))
        await wait_for(pilot, lambda: bool(sent(app)), "the message")
        await settle(pilot)
        assert sent(app) == ["one"]
        assert app.screen.query_one(PromptInput).text == "two"


async def test_remapped_send_and_newline_keys_keep_the_order_typed(echo: Path) -> None:
    echo.write_text(ECHO + '[keymap]\nsend = "ctrl+s"\nnewline = "enter"\n')
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        burst(app, *typed("a"), "enter", *typed("b"), "ctrl+s")
        await wait_for(pilot, lambda: bool(sent(app)), "the message")
        await settle(pilot)
        assert sent(app) == ["a\nb"]


async def test_a_burst_sent_while_a_reply_streams_keeps_the_text(
    test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("slow", chunks=["word "] * 200, delay_s=0.02))
    app = make_app("slow")
    async with app.run_test(size=SIZE) as pilot:
        burst(app, *typed("first"), "enter")
        await wait_for(pilot, lambda: bool(sent(app)), "the first message")
        burst(app, *typed("second"), "enter")
        prompt = app.screen.query_one(PromptInput)
        await wait_for(pilot, lambda: prompt.text == "second", "the text to stay")
        assert sent(app) == ["first"]
        await pilot.press("escape")
        await finish(pilot)


@pytest.mark.parametrize("screen", ["compare", "arena"])
async def test_the_compare_and_arena_prompts_take_a_burst_whole(echo: Path, screen: str) -> None:
    echo.write_text(ECHO + scripted_profile("echo2", echo=True))
    options: dict[str, object] = (
        {"compare": ["echo", "echo2"]} if screen == "compare" else {"arena": ["echo", "echo2"]}
    )
    app = make_app(**options)  # type: ignore[arg-type]
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        burst(app, *typed("hello world"), "enter")
        await wait_for(pilot, lambda: bool(sent(app)), "the prompt in the panes")
        await settle(pilot)
        assert set(sent(app)) == {"hello world"}
        assert app.screen.query_one(PromptInput).text == ""


def test_a_burst_written_to_a_real_terminal_is_sent_whole(echo: Path) -> None:
    with Terminal("-m", "echo", env={"GENCHAT_PLUGINS": "scripted"}) as terminal:
        terminal.wait_for("echo")
        terminal.type(b"first\nsecond\r")  # one write: Ctrl+J between the lines, then Enter
        terminal.wait_for("last='first\\nsecond'")  # the echo backend's reply
        terminal.type(b"\x11")  # Ctrl+Q
        terminal.child.wait(timeout=DEADLINE_S)
    export = json.loads(run_in_process("export", "1", "--format", "json").stdout)
    prompts = [m["content"] for m in export["messages"] if m["role"] == "user"]
    assert prompts == ["first\nsecond"]
