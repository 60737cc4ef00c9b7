"""The chat TUI, driven by Textual's Pilot: the real app, the real model, and a scripted plugin.

Why one file: the chat screen's everyday behaviour, each test a short Pilot script (the helpers are
`tests/support/pilot.py`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual import events
from textual.color import Color

from genchat.chat import Target
from genchat.profiles.profile import Profiles
from genchat.tui.app import GenchatApp, checked_profiles, make_app
from genchat.tui.dialogs.picker import ModelPicker
from genchat.tui.screens.chat import STREAMING_HINT, ChatScreen, last_code_block
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage, MessageView, UserMessage
from genchat.tui.widgets.prompt import PromptInput
from genchat.tui.widgets.status import StatusBar
from tests.support.helpers import DEADLINE_S
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
    wait_for,
)


async def test_send_streams_a_reply_from_the_real_model(config_file: Path) -> None:
    config_file.write_text("[profiles.smollm2.params]\nmax_tokens = 16\ntemperature = 0.0\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Write hello world in Python.")
        await finish(pilot)
        screen = chat(app)
        (user,) = screen.query(UserMessage)
        (reply,) = screen.query(AssistantMessage)
        assert user.text == "Write hello world in Python."
        assert reply.text
        assert reply.rendered_source == reply.text
        assert [m.role for m in screen.history] == ["user", "assistant"]
        status = screen.query_one(StatusBar)
        assert status.target == "smollm2 · SmolLM2-135M-Instruct.Q4_1"
        assert "tok/s" in status.metrics and "16 tok" in status.metrics
        assert status.context.startswith("context ") and status.context.endswith("/8192 (1%)")
        assert screen.query_one(PromptInput).text == ""


async def test_the_conversation_keeps_its_history(config_file: Path) -> None:
    config_file.write_text("[profiles.smollm2.params]\nmax_tokens = 4\ntemperature = 0.0\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "My name is Ada.")
        await finish(pilot)
        first_context = chat(app).query_one(StatusBar).context
        await send(pilot, "What is my name?")
        await finish(pilot)
        screen = chat(app)
        assert [m.role for m in screen.history] == ["user", "assistant"] * 2
        # the second prompt carried the first exchange, so more of the window is in use
        used = [
            int(c.split()[1].split("/")[0])
            for c in (first_context, screen.query_one(StatusBar).context)
        ]
        assert used[1] > used[0] + 8


async def test_escape_stops_the_reply_keeps_the_partial_text_and_the_next_send_works(
    scripted: None, config_file: Path
) -> None:
    config_file.write_text(SLOW_REPLY)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        view = await start_slow_reply(pilot)
        await wait_for(pilot, lambda: view.text.count("word") >= 3, "some words")
        await pilot.press("escape")
        await finish(pilot)
        assert view.state == "stopped"
        assert 3 <= view.text.count("word") < 200
        assert view.rendered_source == view.text
        assert "stopped" in str(view.query_one(".footer").render())
        assert chat(app).history[-1].content == view.text
        await send(pilot, "Again")
        await wait_for(pilot, lambda: len(chat(app).query(AssistantMessage)) == 2, "a new reply")
        second = chat(app).query(AssistantMessage).last()
        await wait_for(pilot, lambda: bool(second.text), "the second reply to start")
        await pilot.press("escape")
        await finish(pilot)


async def test_enter_while_streaming_keeps_the_typed_text(
    scripted: None, config_file: Path
) -> None:
    config_file.write_text(SLOW_REPLY)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await start_slow_reply(pilot)
        await send(pilot, "Second question")
        assert chat(app).query_one(PromptInput).text == "Second question"
        assert STREAMING_HINT in notifications(app)
        assert len(chat(app).query(UserMessage)) == 1
        await pilot.press("escape")
        await finish(pilot)


async def test_ctrl_j_inserts_a_new_line(scripted: None) -> None:
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "ctrl+j", "b")
        assert chat(app).query_one(PromptInput).text == "a\nb"
        await pilot.press("enter")
        await finish(pilot)
        assert chat(app).query_one(UserMessage).text == "a\nb"


async def test_new_chat_starts_empty(scripted: None) -> None:
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hi")
        await finish(pilot)
        assert chat(app).query(MessageView)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert not chat(app).query(MessageView)
        assert chat(app).history == []
        assert chat(app).query_one(StatusBar).metrics == ""


async def test_new_chat_while_a_reply_streams_stops_it_first(
    scripted: None, config_file: Path
) -> None:
    config_file.write_text(SLOW_REPLY)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await start_slow_reply(pilot)
        await pilot.press("ctrl+n")
        await finish(pilot)
        assert not chat(app).query(MessageView)
        assert chat(app).history == []
        assert not chat(app).streaming
        # A stopped reply is not an error (it once showed "Internal error: CancelledError()").
        assert [n.message for n in app._notifications if n.severity == "error"] == []


async def test_a_remapped_key_works(scripted: None, config_file: Path) -> None:
    config_file.write_text('[keymap]\nnew_chat = "ctrl+t"\n')
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hi")
        await finish(pilot)
        await pilot.press("ctrl+n")  # no longer bound
        await pilot.pause()
        assert chat(app).query(MessageView)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not chat(app).query(MessageView)


async def test_the_picker_switches_the_model_for_the_next_message(scripted: None) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert chat(app).target == Target("smollm2")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        await wait_for(pilot, lambda: bool(picker.choices), "the model list")
        labels = [c.label for c in picker.choices]
        assert "smollm2 · SmolLM2-135M-Instruct.Q4_1" in labels and "scripted · script" in labels
        await pilot.press(*"scri")
        await pilot.press("enter")
        await pilot.pause()
        screen = chat(app)
        assert screen.target == Target("scripted")
        assert screen.query_one(StatusBar).target == "scripted · script"
        await send(pilot, "Hi")
        await finish(pilot)
        assert screen.query_one(AssistantMessage).text == "Hello, world."


async def test_the_picker_shows_broken_profiles_and_escape_keeps_the_model(
    config_file: Path,
) -> None:
    config_file.write_text('[profiles.broken]\nbackend = "llama-cpp"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        await wait_for(pilot, lambda: bool(picker.choices), "the model list")
        broken = next(c for c in picker.choices if c.label == "broken")
        assert broken.target is None and "profiles.broken.path" in broken.detail
        await pilot.press("escape")
        await pilot.pause()
        assert chat(app).target == Target("smollm2")


async def test_a_backend_error_shows_in_the_conversation_and_the_app_recovers(
    scripted: None, config_file: Path
) -> None:
    config_file.write_text(scripted_profile("flaky", fail_after=1) + scripted_profile("scripted"))
    app = make_app("flaky")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hi")
        await finish(pilot)
        screen = chat(app)
        error = screen.query_one(ErrorMessage)
        assert error.text == "Backend unavailable: The scripted server went away. Start it again."
        reply = screen.query_one(AssistantMessage)
        assert reply.state == "error" and reply.text == "Hello"
        screen.target = Target("scripted")
        await send(pilot, "Again")
        await finish(pilot)
        assert screen.query(AssistantMessage).last().text == "Hello, world."


async def test_a_missing_model_file_ends_the_app_once_its_first_frame_is_drawn(
    config_file: Path, tmp_path: Path
) -> None:
    gone = tmp_path / "gone.gguf"
    config_file.write_text(f'[profiles.smollm2]\npath = "{gone}"\n')
    error = await config_error_of(make_app())
    assert error.problems == [f"profiles.smollm2.path: {gone} does not exist"]


async def test_a_model_file_removed_after_start_shows_as_an_error(
    config_file: Path, tmp_path: Path, smollm2_path: Path
) -> None:
    moved = tmp_path / "model.gguf"
    moved.symlink_to(smollm2_path)
    config_file.write_text(f'[profiles.smollm2]\npath = "{moved}"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, app.services.loaded.is_set, "the profiles")  # it was there at start
        moved.unlink()
        await send(pilot, "Hi")
        await finish(pilot)
        error = chat(app).query_one(ErrorMessage)
        assert error.text.startswith("Model not found: ") and "model.gguf" in error.text
        assert chat(app).query_one(PromptInput).has_focus


async def test_a_broken_plugin_is_reported_and_the_app_works(
    test_plugins: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENCHAT_PLUGINS", "import-error,scripted")
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        failed = "Plugin import-error failed at import"
        await wait_for(pilot, lambda: any(failed in n for n in notifications(app)), "the toast")
        await send(pilot, "Hi")
        await finish(pilot)
        assert chat(app).query_one(AssistantMessage).text == "Hello, world."


async def test_reasoning_shows_collapsed_above_the_reply(scripted: None, config_file: Path) -> None:
    config_file.write_text(scripted_profile("scripted", reasoning=["Let me ", "think."]))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hi")
        await finish(pilot)
        view = chat(app).query_one(AssistantMessage)
        assert view.reasoning == "Let me think." and view.text == "Hello, world."
        collapsible = view.query_one(".reasoning")
        assert collapsible.display and collapsible.collapsed  # type: ignore[attr-defined]


CODE = "def add(a, b):\n    return a + b\n"
CODE_LINES = CODE.rstrip("\n").splitlines()


def shown_lines(view: AssistantMessage) -> list[str]:
    """The reply's rendered lines, without blank ones or the indent and padding around them."""
    rendered = (strip.text.strip() for strip in view.body.lines(view.body.size.width))
    return [line for line in rendered if line]


def shows_in_order(view: AssistantMessage, expected: list[str]) -> bool:
    """Whether the reply's rendered lines include `expected`, one after another."""
    shown = shown_lines(view)
    wanted = [line.strip() for line in expected]
    return any(shown[i : i + len(wanted)] == wanted for i in range(len(shown) - len(wanted) + 1))


@pytest.mark.parametrize(
    "reply",
    [
        f"Here:\n\n```python\n{CODE}```\n\nDone.",
        f"Cut mid fence:\n\n```python\n{CODE}",  # the reply ends inside the code block
        "```python\n" + "".join(f"x_{i} = {i}\n" for i in range(600)) + "```\n",  # a long block
    ],
    ids=["complete", "ends-mid-fence", "long-block"],
)
async def test_the_rendered_reply_equals_the_streamed_text(
    scripted: None, config_file: Path, reply: str
) -> None:
    chunks = [reply[i : i + 7] for i in range(0, len(reply), 7)]
    config_file.write_text(scripted_profile("scripted", chunks=chunks))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Code please")
        await finish(pilot)
        view = chat(app).query_one(AssistantMessage)
        assert view.text == reply
        assert view.rendered_source == reply
        code = (last_code_block(reply) or "").rstrip("\n").splitlines()
        assert shows_in_order(view, code), "the whole code block is on screen"


async def test_an_8k_token_reply_renders_completely(scripted: None, config_file: Path) -> None:
    paragraphs = [f"Paragraph {i} has some **bold** words and `code`.\n\n" for i in range(650)]
    reply = "".join(paragraphs) + f"```python\n{CODE}```\n"
    chunks = [reply[i : i + 4] for i in range(0, len(reply), 4)]  # about 8,000 deltas
    assert len(chunks) > 8000
    config_file.write_text(scripted_profile("scripted", chunks=chunks))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Long")
        await finish(pilot)
        view = chat(app).query_one(AssistantMessage)
        assert view.rendered_source == reply
        assert shows_in_order(view, ["Paragraph 0 has some bold words and code."])
        assert shows_in_order(view, ["Paragraph 649 has some bold words and code.", *CODE_LINES])
        messages = chat(app).query_one("#messages")
        assert messages.scroll_y == messages.max_scroll_y  # the view followed the reply


async def test_copy_reply_and_code_then_save_to_a_file(
    scripted: None, config_file: Path, tmp_path: Path
) -> None:
    reply = f"Try:\n\n```python\n{CODE}```\n"
    config_file.write_text(scripted_profile("scripted", chunks=[reply]))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Code")
        await finish(pilot)
        await pilot.press("ctrl+r")
        assert app.clipboard == reply
        await pilot.press("ctrl+b")
        assert app.clipboard == CODE
        assert any("^s saves it to a file" in n for n in notifications(app))
        await pilot.press("ctrl+s")
        saved = list((tmp_path / "data" / "saved").glob("genchat-*.md"))
        assert len(saved) == 1 and saved[0].read_text() == CODE


async def test_a_chosen_message_can_be_copied(scripted: None) -> None:
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "First question")
        await finish(pilot)
        await pilot.press("alt+up", "alt+up")  # the reply, then the question
        assert isinstance(app.focused, UserMessage)
        await pilot.press("c")
        assert app.clipboard == "First question"


async def test_the_command_palette_offers_every_action(scripted: None) -> None:
    app = make_app("scripted")
    async with app.run_test(size=SIZE):
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for binding in ChatScreen.BINDINGS:
            assert (binding.tooltip or binding.description) in titles  # type: ignore[union-attr]


async def test_an_unknown_profile_ends_the_app_naming_the_profiles_there_are() -> None:
    error = await config_error_of(make_app("nope"))
    assert error.problems[0].startswith("there is no profile 'nope' (profiles: ")


async def test_a_message_sent_before_the_profiles_load_is_sent_once_they_do(
    test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first frame comes before the config is validated: what is typed, and sent, in
    that moment waits for the profiles, in the order it was typed."""
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("echo", echo=True))
    release = threading.Event()

    def slow_load() -> Profiles:
        release.wait(DEADLINE_S)
        return checked_profiles("echo", no_plugins=False)

    app = GenchatApp(slow_load, Target("echo"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query(PromptInput)), "the prompt")
        keys = [events.Key(c, c) for c in "hi"] + [events.Key("enter", None)]
        keys += [events.Key(c, c) for c in "next"]
        for key in keys:  # one burst, as a user who types at once
            app.post_message(key)
        prompt = app.screen.query_one(PromptInput)
        await wait_for(pilot, lambda: prompt.text == "next", "the keys")
        assert not app.services.loaded.is_set() and app.screen.query_one(StatusBar).target == "echo"
        release.set()
        await wait_for(pilot, lambda: bool(app.screen.query(AssistantMessage)), "the reply")
        await finish(pilot)
        assert [m.text for m in app.screen.query(UserMessage)] == ["hi"]
        assert "last='hi'" in app.screen.query_one(AssistantMessage).text
        assert prompt.text == "next"
        assert app.screen.query_one(StatusBar).target == "echo · script"


async def test_the_ui_stays_responsive_while_a_model_loads(
    scripted: None, config_file: Path, tmp_path: Path
) -> None:
    loaded = tmp_path / "loaded"  # the load lasts until this file exists
    config_file.write_text(scripted_profile("scripted", load_until=str(loaded)))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hi")
        status = chat(app).query_one(StatusBar)
        await wait_for(pilot, lambda: status.activity.startswith("loading"), "the load to start")
        assert status.has_class("-busy")  # the progress bar shows
        await pilot.press(*"typing during the load")
        assert chat(app).query_one(PromptInput).text == "typing during the load"
        assert chat(app).streaming  # the reply has not started yet
        loaded.touch()
        await finish(pilot)
        assert not status.has_class("-busy")
        assert chat(app).query_one(AssistantMessage).text == "Hello, world."


async def test_the_status_bar_shows_the_streaming_replys_figures_not_the_last_ones(
    scripted: None, config_file: Path
) -> None:
    config_file.write_text(SLOW_REPLY)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        status = chat(app).query_one(StatusBar)
        await start_slow_reply(pilot)
        await finish(pilot)
        last = status.metrics
        assert "200 tok" in last
        await send(pilot, "Again")
        await wait_for(
            pilot,
            lambda: chat(app).streaming and "tok" in status.metrics and status.metrics != last,
            "the streaming reply's own figures",
        )
        await pilot.press("escape")
        await finish(pilot)


async def test_the_view_follows_the_reply_until_the_user_scrolls_up(
    scripted: None, config_file: Path
) -> None:
    lines = [f"Line {i} of a long reply.\n\n" for i in range(600)]
    config_file.write_text(scripted_profile("scripted", chunks=lines, delay_s=0.02))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Talk")
        messages = chat(app).query_one("#messages")
        await wait_for(pilot, lambda: messages.max_scroll_y > 20, "the reply to fill the view")
        assert messages.scroll_y == messages.max_scroll_y  # following
        for _ in range(10):
            await pilot.press("ctrl+up")
        held = messages.scroll_y
        assert held < messages.max_scroll_y
        await wait_for(pilot, lambda: messages.max_scroll_y > held + 10, "the reply to grow")
        assert messages.scroll_y == held  # the user's position is kept
        messages.scroll_end(animate=False)  # back at the bottom: following again
        await pilot.pause()
        at_bottom = messages.max_scroll_y
        await wait_for(pilot, lambda: messages.max_scroll_y > at_bottom + 10, "more of the reply")
        await wait_for(
            pilot, lambda: messages.scroll_y == messages.max_scroll_y, "the view to follow"
        )
        await pilot.press("escape")
        await finish(pilot)


async def test_a_long_reply_is_wrapped_again_at_a_new_width(
    scripted: None, config_file: Path
) -> None:
    reply = "".join(f"Paragraph {i} of a long reply, with **bold** words.\n\n" for i in range(400))
    chunks = [reply[i : i + 40] for i in range(0, len(reply), 40)]
    config_file.write_text(scripted_profile("scripted", chunks=chunks))
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Long")
        await finish(pilot)
        view = chat(app).query_one(AssistantMessage)
        height = view.body.outer_size.height
        assert height >= 2 * 400 - 1  # a line per paragraph, a blank line between
        await pilot.resize_terminal(30, 30)  # too narrow for a paragraph on one line
        await pilot.pause()
        assert view.body.outer_size.height > height
        first = shown_lines(view)[:3]
        assert len(first[0]) < len("Paragraph 0 of a long reply,")  # wrapped
        assert " ".join(first).startswith("Paragraph 0 of a long reply, with bold words.")
        assert view.rendered_source == reply


async def test_a_finished_replys_border_follows_a_theme_change(
    scripted: None, config_file: Path
) -> None:
    config_file.write_text(SLOW_REPLY)
    app = make_app("scripted")
    async with app.run_test(size=SIZE) as pilot:
        view = await start_slow_reply(pilot)
        await pilot.press("escape")
        await finish(pilot)
        assert view.state == "stopped"

        def border() -> str:
            return view.styles.border_left[1].hex

        def warning() -> str:
            return Color.parse(app.get_css_variables()["warning"]).hex

        assert border() == warning()
        before = border()
        app.theme = "nord" if app.theme != "nord" else "dracula"  # another warning colour
        await pilot.pause()
        await wait_for(pilot, lambda: border() == warning(), "the new theme's colour")
        assert border() != before
        await pilot.press("ctrl+n")  # a reply that is gone is not held for the next theme
        await wait_for(pilot, lambda: not view.is_attached, "the reply to go")
        assert view not in app.theme_changed_signal._subscriptions
