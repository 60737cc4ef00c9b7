"""Nothing a model, server, plugin or file sends reaches the terminal as a control sequence.

Every entry of `tests/support/hostile.py` goes through every path that draws outside text: a
reply, its reasoning, a notice, an error, the model picker, a plugin's name, and the history
(imported messages, titles, search). The TUI's tests read the bytes Textual writes for the
terminal; the command line's read what each command prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import RenderableType
from textual._compositor import CompositorUpdate
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Collapsible

from genchat.tui.app import make_app
from genchat.tui.dialogs.picker import ModelPicker
from genchat.tui.screens.history import HistoryScreen
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage
from genchat.tui.widgets.prompt import PromptInput
from tests.support.helpers import (
    DEADLINE_S,
    TEXTUAL_SEQUENCE,
    Terminal,
    make_plugin_site,
    plugin_path,
    run_genchat,
    run_in_process,
)
from tests.support.hostile import ENTRIES, SEQUENCES, all_planted, assert_inert, planted
from tests.support.pilot import notifications, wait_for

SIZE = (200, 60)


def hostile_profile(name: str, *, error: bool = False) -> str:
    """A profile of the hostile backend: every path's text carries the tables, tagged by path:
    R the reply, T its reasoning, N a notice, M the model; or E the error, after the reply."""
    options = {"reply": all_planted("R", "\n\n"), "model": all_planted("M")}
    if error:  # alone, so that no toast covers the error's text
        options["error"] = all_planted("E")
    else:
        options |= {"reasoning": all_planted("T"), "notice": all_planted("N")}
    lines = [f"[profiles.{name}]", 'backend = "hostile"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every frame the app draws, as the bytes it would write to a terminal: headless, Textual
    renders each update but writes none, so this renders them as `App._display` does."""
    out: list[str] = []
    display = App._display

    def record(app: App[None], screen: Screen[None], renderable: RenderableType | None) -> None:
        if isinstance(renderable, CompositorUpdate):
            out.append(renderable.render_segments(app.console))
        elif renderable is not None:
            out.append(app.console._render_buffer(app.console.render(renderable)))
        display(app, screen, renderable)

    monkeypatch.setattr(App, "_display", record)
    yield out


def screen_text(written: list[str]) -> str:
    """What was written, with Textual's own sequences taken out, after checking that none of
    the table's sequences is among what it wrote."""
    raw = "".join(written)
    for name, sequence in SEQUENCES.items():
        if sequence.startswith("\x1b["):  # CSI: the table's own are never Textual's
            assert sequence not in raw, f"{name} reached the terminal"
    return TEXTUAL_SEQUENCE.sub("", raw)


@pytest.fixture
def hostile(test_plugins: str, monkeypatch: pytest.MonkeyPatch, config_file: Path) -> Path:
    monkeypatch.setenv("GENCHAT_PLUGINS", "hostile")
    config_file.write_text(hostile_profile("evil") + hostile_profile("failing", error=True))
    return config_file


async def send(pilot: Pilot[None], text: str) -> None:
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.focus()
    prompt.insert(text)
    await pilot.press("enter")


async def test_the_tui_draws_replies_reasoning_notices_errors_and_models_inert(
    hostile: Path, written: list[str]
) -> None:
    app = make_app("evil")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await send(pilot, "hello")
        reply = app.screen.query_one(AssistantMessage)
        await wait_for(pilot, lambda: reply.state == "complete", "the reply")
        reply.query_one(Collapsible).collapsed = False  # the reasoning, folded by default
        await pilot.pause(0.2)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        picker = app.screen
        await wait_for(pilot, lambda: bool(picker.choices), "the models")  # type: ignore[attr-defined]
        await pilot.pause(0.2)
        await pilot.press("escape")
        await pilot.press("ctrl+n")
        app.screen.query_one(PromptInput).clear()
        await pilot.pause()
        await app.screen.run_action("pick_model")  # type: ignore[union-attr]
        await pilot.press("escape")
        await pilot.pause()
    text = screen_text(written)
    assert_inert(text, tags="RTNM")


async def test_the_tui_draws_an_error_and_its_notification_inert(
    hostile: Path, written: list[str]
) -> None:
    app = make_app("failing")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await send(pilot, "hello")
        await wait_for(pilot, lambda: bool(app.screen.query(ErrorMessage)), "the error")
        await pilot.pause(0.2)
        messages = notifications(app)
    assert_inert(screen_text(written), tags="E")
    assert all(not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", m) for m in messages)


@pytest.mark.parametrize("delay_s", [0.0, 0.01])
async def test_closing_the_picker_while_models_are_listed_leaves_the_app_running(
    hostile: Path, delay_s: float
) -> None:
    """However the models' answer and the Escape key fall, the app goes on."""
    with hostile.open("a") as config:
        config.write(f'[profiles.slow]\nbackend = "hostile"\nlist_delay_s = {delay_s}\n')
    app = make_app("slow")
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(10):
            await app.screen.run_action("pick_model")
            await pilot.press("escape")
            await pilot.pause(delay_s)
        await app.workers.wait_for_complete()
        assert app.is_running
        assert app.screen.query_one(PromptInput)


def hostile_site(site: Path) -> str:
    """A plugin distribution whose entry point's name carries the table's sequences (those
    an entry-point name can hold: no `=`, no line end), and whose module is missing, so that
    the name is shown among the failures."""
    name = "plugin-" + "".join(raw for raw in SEQUENCES.values() if not {"=", "\r"} & set(raw))
    make_plugin_site(site, {name: "genchat_no_such_module"})
    return plugin_path(site)


async def test_a_plugins_name_is_drawn_inert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: list[str]
) -> None:
    path = hostile_site(tmp_path / "site")
    for entry in reversed(path.split(":")):
        monkeypatch.syspath_prepend(entry)
    monkeypatch.delenv("GENCHAT_PLUGINS")
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(
            pilot,
            lambda: any("plugin-" in message for message in notifications(app)),
            "the plugin's failure, naming it",
        )
        await wait_for(pilot, lambda: "plugin-" in screen_text(written), "its toast drawn")
    assert_inert(screen_text(written), tags=None)


# -- the command line ----------------------------------------------------------------------


def test_ask_prints_the_reply_reasoning_notice_and_error_inert(hostile: Path) -> None:
    env = {"GENCHAT_PLUGINS": "hostile"}
    result = run_in_process("ask", "-m", "evil", "hello", env=env)
    assert result.returncode == 0, result.stderr
    assert_inert(result.stdout.replace("\n", " "), tags="R")
    assert_inert(result.stderr.replace("\n", " "), tags="TN")
    result = run_in_process("ask", "-m", "failing", "hello", env=env)
    assert result.returncode == 1
    assert_inert(result.stderr.replace("\n", " "), tags="E")


def test_models_and_plugins_print_ids_and_names_inert(
    hostile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hostile.open("a") as config:
        config.write(
            f'[profiles.buggy]\nbackend = "hostile"\nlist_error = {json.dumps(all_planted("L"))}\n'
        )
    models = run_in_process("models", env={"GENCHAT_PLUGINS": "hostile"})
    assert models.returncode == 0, models.stderr
    assert_inert(models.stdout.replace("\n", " "), tags="ML")
    path = hostile_site(tmp_path / "site")
    monkeypatch.delenv("GENCHAT_PLUGINS")
    plugins = run_genchat("plugins", env={"PYTHONPATH": path})
    listing = plugins.stdout + plugins.stderr
    assert "plugin-" in listing
    assert_inert(listing.replace("\n", " "), tags=None)


def test_a_real_terminal_receives_none_of_a_hostile_reply(hostile: Path, tmp_path: Path) -> None:
    """The whole app in a pseudo-terminal: the bytes a terminal would read hold no payload and
    no C1 control, while the reply's text is on the screen."""
    with Terminal("-m", "evil", env={"GENCHAT_PLUGINS": "hostile"}, rows=60, cols=200) as term:
        term.wait_for("evil")
        term.type(b"hello\r")  # in one write, as a laggy link sends it
        last = len(SEQUENCES) - 1
        term.wait_for(f"<R{last}<>R{last}>")
        term.type(b"\x11")  # Ctrl+Q
        term.child.wait(timeout=DEADLINE_S)
    raw = bytes(term.raw)
    for payload in (b"PWNED", b"U1RfVEVSTQ", b"example.invalid", b"+q544e"):
        assert payload not in raw
    for c1 in ("\x90", "\x98", "\x9b", "\x9c", "\x9d", "\x9e", "\x9f"):
        assert c1.encode() not in raw
    for sequence in ("\x1b[2J", "\x1b[6n", "\x1b[31;7m", "\x1bc"):
        assert sequence.encode() not in raw


# -- the history: imported messages, titles, search ----------------------------------------


TITLE_ENTRIES = 3
"""A title is cut at 60 characters: each imported conversation's title carries this many
entries, and together they carry the whole table."""


@pytest.fixture
def imported(tmp_path: Path) -> int:
    """Conversations shared by someone else, imported: their titles carry the tables (tag H),
    a few entries each; the first one's prompt and reply carry them too (U, A), and its
    reply's last words are searchable (S). Returns the first one's id."""
    for first in range(0, len(ENTRIES), TITLE_ENTRIES):
        title = " ".join(
            planted(i, ENTRIES[i][1], "H")
            for i in range(first, min(first + TITLE_ENTRIES, len(ENTRIES)))
        )
        messages = [{"role": "user", "content": "a shared conversation"}]
        if first == 0:
            reply = all_planted("A") + " findme " + all_planted("S")
            messages = [
                {"role": "user", "content": all_planted("U")},
                {"role": "assistant", "content": reply},
            ]
        path = tmp_path / f"shared-{first}.json"
        path.write_text(json.dumps({"title": title, "messages": messages}), encoding="utf-8")
        result = run_in_process("import", str(path))
        assert result.returncode == 0, result.stderr
    return 1


def test_history_search_and_export_print_an_imported_conversation_inert(imported: int) -> None:
    listing = run_in_process("history")
    assert_inert(listing.stdout.replace("\n", " "), tags="H")
    found = run_in_process("history", "--search", "findme")
    assert "findme" in found.stdout
    assert_inert(found.stdout.replace("\n", " "), tags=None)
    markdown = run_in_process("export", str(imported))
    assert_inert(markdown.stdout.replace("\n", " "), tags="UAS")
    document = json.loads(run_in_process("export", str(imported), "--format", "json").stdout)
    texts = [m["content"] for m in document["messages"]]
    assert_inert(" ".join(texts), tags="UAS")
    assert_inert(document["title"], tags=None)


async def test_the_tui_draws_an_imported_conversation_its_title_and_search_inert(
    imported: int, written: list[str]
) -> None:
    app = make_app(conversation=imported)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query(AssistantMessage)), "the reply")
        await pilot.pause(0.2)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_for(pilot, lambda: bool(history.rows), "the list")
        await pilot.pause(0.2)
        frames_before_search = len(written)
        await pilot.press(*"findme")
        await wait_for(pilot, lambda: bool(history.hits), "the search")
        await pilot.pause(0.2)
    assert_inert(screen_text(written[:frames_before_search]), tags="UAH")
    searched = screen_text(written[frames_before_search:])
    assert "findme" in searched
    assert_inert(searched, tags=None)
