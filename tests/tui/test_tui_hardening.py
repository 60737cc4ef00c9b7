"""The TUI against what a model, a plugin, a file or a user's terminal can throw at it (issue 15):
stopping is never an error, the prompt is bounded, keys go where the user meant them, the
keymap and stored settings are checked, and no timer of Textual's spins for ever.

Why one file: one issue's cases, each a short Pilot script over the same scripted profiles.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input

from genchat.chat import Target
from genchat.history.store import Store
from genchat.tui import watchdog as watchdog_module
from genchat.tui.app import make_app
from genchat.tui.dialogs.settings import ConversationSettings
from genchat.tui.keymap import key_problem
from genchat.tui.screens import chat as chat_module
from genchat.tui.screens.compare import CompareScreen
from genchat.tui.widgets import message as message_module
from genchat.tui.widgets import prompt as prompt_module
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage, MessageView, UserMessage
from genchat.tui.widgets.prompt import PromptInput
from tests.support.helpers import run_genchat
from tests.support.pilot import (
    SIZE,
    SLOW_REPLY,
    chat,
    config_error_of,
    finish,
    notifications,
    scripted_profile,
    send,
    start_slow_reply,
    toasts,
    wait_for,
)


@pytest.fixture
def scripted(test_plugins: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")


# -- item 12: stopping a reply is not an error -------------------------------------------------


async def test_escape_during_a_reply_stops_it_without_an_error_notification(
    scripted: None, config_file: Path
) -> None:
    config_file.write_text(SLOW_REPLY)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        view = await start_slow_reply(pilot)
        await pilot.press("escape")
        await finish(pilot)
        assert view.state == "stopped" and view.text
        assert "stopped" in str(view.query_one(".footer").render())
        assert [n for n in toasts(app) if n[0] == "error"] == []
        assert not any("CancelledError" in n for n in notifications(app))


# -- item 25: no timer of Textual's spins for ever ---------------------------------------------

TINY_APP = """
import sys
from textual.app import App
{guard}

class Tiny(App[int]):
    fired = 0

    def on_mount(self) -> None:
        self.set_timer({delay}, self.fire)

    def fire(self) -> None:
        self.fired += 1
        self.set_timer(0.2, lambda: self.exit(self.fired))  # time for a second firing to show

print("fired", Tiny().run(headless=True))
"""


def run_tiny_app(guard: str, delay: float) -> str:
    """The 3-line reproduction, in a process of its own: unguarded, it hangs for good."""
    script = TINY_APP.format(guard=guard, delay=delay)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("delay", [-0.0001, 0.0])
def test_a_timer_with_a_negative_or_zero_delay_fires_once_instead_of_spinning(
    delay: float,
) -> None:
    guard = "from genchat.tui.timers import guard_timers\nguard_timers()"
    assert run_tiny_app(guard, delay) == "fired 1"


def test_the_app_guards_textuals_timers_before_it_starts() -> None:
    guard = "from genchat.tui.app import make_app\nmake_app(no_plugins=True)"
    assert run_tiny_app(guard, -0.0001) == "fired 1"


# -- item 27: focus left on a message does not swallow typing ----------------------------------


async def test_typing_with_a_message_focused_goes_to_the_prompt(scripted: None) -> None:
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "First question")
        await finish(pilot)
        prompt = chat(app).query_one(PromptInput)
        await pilot.press("alt+up")
        assert isinstance(app.focused, AssistantMessage)
        await pilot.press(*"why?", "space", "2")
        assert prompt.has_focus and prompt.text == "why? 2"
        await pilot.press("alt+up", "alt+up")  # the question
        assert isinstance(app.focused, UserMessage)
        await pilot.press("c")  # a message's own keys still act on it
        assert app.clipboard == "First question" and prompt.text == "why? 2"


async def test_a_paste_with_a_message_focused_goes_to_the_prompt(scripted: None) -> None:
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "First question")
        await finish(pilot)
        await pilot.press("alt+up")
        app.focused.post_message(events.Paste("pasted text"))  # type: ignore[union-attr]
        prompt = chat(app).query_one(PromptInput)
        await wait_for(pilot, lambda: prompt.text == "pasted text", "the paste in the prompt")
        assert prompt.has_focus


async def test_escape_with_a_message_focused_returns_to_the_prompt(scripted: None) -> None:
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "First question")
        await finish(pilot)
        await pilot.press("alt+up", "alt+up")
        assert isinstance(app.focused, UserMessage)
        await pilot.press("escape")
        assert chat(app).query_one(PromptInput).has_focus


# -- item 16: the keymap is checked ------------------------------------------------------------

BAD_KEYMAP = '[keymap]\nsend = "ctrl+shift+alt+banana"\nsned = "enter"\nnew_chat = "shift+ctrl+t"\n'


def test_key_names_are_checked_against_what_textual_names_keys() -> None:
    for good in ("enter", "ctrl+s", "alt+1", "ctrl+shift+up", "f24", "question_mark", "?",
                 "ctrl+slash", "shift+pageup", "ctrl+é", "banana"):  # fmt: skip
        assert key_problem(good) is None, good
    assert "is not on a keyboard" in (key_problem("ctrl+shift+alt+banana") or "")
    assert "'alt+ctrl+shift+x'" in (key_problem("shift+ctrl+alt+x") or "")
    assert "did you mean 'enter'?" in (key_problem("Enter") or "")
    assert "'control' is not a modifier" in (key_problem("control+a") or "")
    assert "'ctrl+shift+a'" in (key_problem("ctrl+A") or "")


async def test_a_bad_keymap_ends_the_app_naming_each_mistake(config_file: Path) -> None:
    config_file.write_text(BAD_KEYMAP)
    error = await config_error_of(make_app())
    problems = error.problems
    assert len(problems) == 3 and error.source == str(config_file)
    assert problems[0].startswith("keymap.send: 'ctrl+shift+alt+banana': ")
    assert problems[1].startswith("keymap.sned: unknown binding id; did you mean 'send'?")
    assert "(binding ids: " in problems[1] and "new_chat" in problems[1]
    assert problems[2] == (
        "keymap.new_chat: 'shift+ctrl+t': Textual names this key 'ctrl+shift+t' "
        "(modifiers in that order)"
    )


def test_genchat_with_a_bad_keymap_exits_2_naming_each_mistake(config_file: Path) -> None:
    config_file.write_text(BAD_KEYMAP)
    result = run_genchat()
    assert result.returncode == 2
    assert "keymap.send: 'ctrl+shift+alt+banana'" in result.stderr
    assert "keymap.sned: unknown binding id" in result.stderr
    assert "Traceback" not in result.stderr


# -- item 6: bad stored settings never crash the TUI -------------------------------------------

BAD_SETTINGS = [
    {"params": {"bogus": 1}, "system": "Be brief."},
    {"params": "x", "system": "Be brief."},
    {"params": {"temperature": "hot"}, "system": "Be brief."},
]


@pytest.fixture
def echo(test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scripted profile that replies with what it was sent: system prompt and parameters."""
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("echo", echo=True))
    return config_file


@pytest.mark.parametrize("settings", BAD_SETTINGS)
async def test_a_conversation_stored_with_bad_settings_opens_and_sends(
    echo: Path, tmp_path: Path, settings: dict[str, object]
) -> None:
    db = tmp_path / "data" / "genchat.db"
    with Store(db) as store:
        conversation = store.new_conversation(profile="echo", model="script")
        user = store.add_message(conversation, None, "user", "Hello")
        store.add_message(conversation, user, "assistant", "Hi.", profile="echo", model="script")
    with sqlite3.connect(db) as raw:  # as a hand-edited database or an old import leaves it
        raw.execute(
            "UPDATE conversations SET settings = ? WHERE id = ?",
            (json.dumps(settings), conversation),
        )
    app = make_app(conversation=conversation)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(chat(app).query(MessageView)) == 2, "the conversation")
        await send(pilot, "Again")
        await finish(pilot)
        replies = chat(app).query(AssistantMessage)
        assert len(replies) == 2 and "last='Again'" in replies.last().text
        assert "system='Be brief.'" in replies.last().text  # the good setting is kept
        assert app.is_running and app.return_code is None


@pytest.mark.parametrize("settings", BAD_SETTINGS)
async def test_bad_settings_on_the_chat_screen_are_named_and_the_prompt_kept(
    echo: Path, settings: dict[str, object]
) -> None:
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        screen = chat(app)
        screen.settings = dict(settings)
        await send(pilot, "Hello")
        await pilot.pause()
        errors = [m for severity, m in toasts(app) if severity == "error"]
        assert len(errors) == 1 and errors[0].count("settings.params") == 1
        assert "^t sets them again" in errors[0]
        assert screen.query_one(PromptInput).text == "Hello"
        assert not screen.query(MessageView)
        await pilot.press("ctrl+t")  # the settings dialog opens on them, to fix them
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationSettings), "settings")
        for field in app.screen.query(Input):
            field.value = ""  # the profile's defaults ("hot" shows, to be fixed)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, "the chat")
        await pilot.press("enter")
        await finish(pilot)
        assert "last='Hello'" in screen.query_one(AssistantMessage).text


async def test_bad_settings_of_a_compare_pane_show_in_that_pane(echo: Path) -> None:
    app = make_app(compare=["echo", "echo"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "the panes")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        first, second = screen.panes
        first.settings = {"params": {"bogus": 1}}
        await send(pilot, "Hello")
        await finish(pilot)
        assert "settings.params.bogus: unknown key" in first.query_one(ErrorMessage).text
        assert "last='Hello'" in second.query_one(AssistantMessage).text


# -- item 14: the prompt and its undo history are bounded --------------------------------------


def keys_of(text: str) -> list[str]:
    """The keys a terminal without bracketed paste sends for `text`."""
    return ["space" if c == " " else c for c in text]


async def test_the_prompt_stops_at_its_limit_says_so_once_and_keeps_what_was_typed(
    scripted: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_module, "MAX_PROMPT_CHARS", 10)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        prompt = chat(app).query_one(PromptInput)
        await pilot.press(*keys_of("a keystroke paste"))  # 17 keys
        assert prompt.text == "a keystrok" and prompt.length == 10
        said = [m for m in notifications(app) if "longer than 10 characters" in m]
        assert len(said) == 1 and said[0].startswith("Typing more would make the prompt")
        await pilot.press("ctrl+j")  # a new line is a character too
        assert prompt.text == "a keystrok" and len(notifications(app)) == 1
        await pilot.press("backspace", "backspace", "e")  # room again: typing works
        assert prompt.text == "a keystre"
        prompt.post_message(events.Paste("more"))  # a bracketed paste is refused whole
        await wait_for(pilot, lambda: len(notifications(app)) == 2, "the paste refused")
        assert notifications(app)[-1].startswith("This paste would make the prompt longer")
        assert prompt.text == "a keystre"
        await pilot.press("enter")
        await finish(pilot)
        assert chat(app).query_one(UserMessage).text == "a keystre"


async def test_a_message_typed_into_from_elsewhere_respects_the_limit(
    scripted: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_module, "MAX_PROMPT_CHARS", 10)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hi")
        await finish(pilot)
        await pilot.press("alt+up")
        app.focused.post_message(events.Paste("x" * 11))  # type: ignore[union-attr]
        await wait_for(
            pilot,
            lambda: any("longer than 10 characters" in n for n in notifications(app)),
            "refused",
        )
        assert chat(app).query_one(PromptInput).text == ""


async def test_the_prompts_undo_history_is_capped(
    scripted: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_module, "PROMPT_UNDO_CHECKPOINTS", 3)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        prompt = chat(app).query_one(PromptInput)
        for line in "abcdef":  # each new line is an undo step of its own
            await pilot.press(line, "ctrl+j")
        assert prompt.history.max_checkpoints == 3
        assert len(prompt.history.undo_stack) == 3
        await pilot.press(*["ctrl+z"] * 10)  # only the last three steps can be undone
        assert prompt.text.startswith("a\nb\nc\nd\n")


# -- item 22: a huge reply is drawn in part, and Escape stops it --------------------------------


async def test_a_reply_longer_than_what_is_drawn_is_cut_on_screen_and_kept_whole(
    scripted: None, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message_module, "MAX_SHOWN_CHARS", 1000)
    config_file.write_text(scripted_profile("scripted", chunks=["word " * 1000, "end."]))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Talk a lot")
        await finish(pilot)
        view = chat(app).query_one(AssistantMessage)
        assert view.text == "word " * 1000 + "end." and view.state == "complete"
        assert view.rendered_source == view.text[:1000]
        note = view.query_one(".cut-note")
        assert note.display and "the first 1,000 of 5,004 characters" in str(note.render())
        await pilot.press("ctrl+r")
        assert app.clipboard == view.text
    with Store(tmp_path / "data" / "genchat.db") as store:
        [conversation] = store.conversations()
        assert store.thread(conversation.id)[-1].content == view.text
    app = make_app(conversation=conversation.id)  # reopened: cut the same way
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(chat(app).query(AssistantMessage)), "the reply")
        stored = chat(app).query_one(AssistantMessage)
        # The reply is in the DOM before its own widgets are: the note may not exist yet.
        await wait_for(pilot, lambda: any(n.display for n in stored.query(".cut-note")), "the note")
        assert stored.rendered_source == stored.text[:1000] and len(stored.text) == 5004


async def test_escape_stops_a_reply_while_a_huge_delta_is_being_drawn(
    scripted: None, config_file: Path
) -> None:
    huge, tail = "x" * 3_000_000, ["tail "] * 50  # the tail alone takes 10 s
    config_file.write_text(scripted_profile("scripted", chunks=[huge, *tail], delay_s=0.2))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Flood")
        view = chat(app).query_one(AssistantMessage)
        await wait_for(pilot, lambda: bool(view.text), "the huge delta")
        await pilot.press("escape")
        await finish(pilot)
        assert view.state == "stopped" and view.text.startswith(huge)
        assert view.text.count("tail") < len(tail)
        assert view.rendered_source == huge[: message_module.MAX_SHOWN_CHARS]
        assert chat(app).history[-1].content == view.text


def misbehaving_profile(name: str, **options: object) -> str:
    lines = [f"[profiles.{name}]", 'backend = "misbehaving"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def misbehaving(test_plugins: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENCHAT_PLUGINS", "misbehaving")
    monkeypatch.setattr(chat_module, "STOP_GRACE_S", 0.5)


async def test_a_plugin_that_swallows_the_stop_and_streams_on_is_stopped_all_the_same(
    misbehaving: None, config_file: Path
) -> None:
    config_file.write_text(misbehaving_profile("rude", swallow=True))
    app = make_app("rude")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Talk")
        view = chat(app).query_one(AssistantMessage)
        await wait_for(pilot, lambda: view.text.count("word") >= 3, "some words")
        await pilot.press("escape")
        await finish(pilot)
        assert view.state == "stopped" and view.text.count("word") < 200
        assert not chat(app).streaming


async def test_a_plugin_that_swallows_the_stop_and_hangs_is_named_and_the_chat_goes_on(
    misbehaving: None, config_file: Path
) -> None:
    config_file.write_text(misbehaving_profile("rude", hang=True) + misbehaving_profile("fine"))
    app = make_app("rude")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Talk")
        view = chat(app).query_one(AssistantMessage)
        await wait_for(pilot, lambda: "word" in view.text, "a word")
        await pilot.press("escape")

        def named() -> list[str]:
            return [m for s, m in toasts(app) if s == "error" and "did not stop" in m]

        await wait_for(pilot, lambda: bool(named()), "the watchdog")
        assert "The misbehaving backend (from plugin misbehaving) did not stop" in named()[0]
        assert "report this to the plugin's authors" in named()[0]
        assert not chat(app).streaming  # the chat goes on
        chat(app).target = Target("fine")
        await send(pilot, "Again")
        await wait_for(pilot, lambda: len(chat(app).query(AssistantMessage)) == 2, "a reply")


async def test_a_plugin_that_blocks_the_event_loop_is_named(
    misbehaving: None, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchdog_module, "BLOCK_GRACE_S", 0.5)
    config_file.write_text(misbehaving_profile("frozen", block_s=2.0, chunks=3))
    app = make_app("frozen")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Talk")
        await finish(pilot)

        def named() -> list[str]:
            return [m for s, m in toasts(app) if s == "error" and "froze the screen" in m]

        await wait_for(pilot, lambda: bool(named()), "the watchdog")
        said = re.match(
            r"The misbehaving backend \(from plugin misbehaving\) froze the screen for (\d+) s",
            named()[0],
        )
        assert said is not None, named()
        assert int(said[1]) >= 2  # longer where the machine is busy
        assert chat(app).query_one(AssistantMessage).text == "word " * 3


async def test_a_loop_held_up_by_other_code_while_a_reply_streams_names_no_plugin(
    misbehaving: None, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop held up by genchat's own work, or by a machine too busy to run it, is not the
    streaming plugin's doing: the watchdog names a plugin only when the loop runs its code."""
    monkeypatch.setattr(watchdog_module, "BLOCK_GRACE_S", 0.5)
    config_file.write_text(misbehaving_profile("fine", chunks=100, delay_s=0.05))
    app = make_app("fine")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Talk")
        view = chat(app).query_one(AssistantMessage)
        await wait_for(pilot, lambda: bool(view.text), "the reply to start")
        time.sleep(2.0)  # noqa: ASYNC251 (the loop held up, here, by code that is not the plugin's)
        await finish(pilot)
        assert view.text == "word " * 100
        assert [m for s, m in toasts(app) if s == "error"] == []


async def test_a_reply_that_streams_without_blocking_names_no_plugin(
    misbehaving: None, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchdog_module, "BLOCK_GRACE_S", 0.5)
    config_file.write_text(misbehaving_profile("fine", chunks=40))
    app = make_app("fine")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Talk")
        await finish(pilot)
        assert chat(app).query_one(AssistantMessage).text == "word " * 40
        assert [m for s, m in toasts(app) if s == "error"] == []
