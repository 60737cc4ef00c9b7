"""History in the TUI, driven by Pilot on a real SQLite file: reopening a conversation, the
history screen (search, open, rename, delete, fork, export), regenerating, editing, versions.

Why one file: the tests share the seeded history (`seed`, `store`) and the Pilot steps that open it.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, TextArea

from genchat.history.store import Store
from genchat.history.titles import clean_title
from genchat.tui.app import GenchatApp, make_app
from genchat.tui.dialogs.picker import ModelPicker
from genchat.tui.dialogs.questions import AskLine, Choose, Confirm, EditText
from genchat.tui.dialogs.settings import ConversationSettings
from genchat.tui.widgets.message import AssistantMessage, MessageView, UserMessage
from genchat.tui.widgets.status import StatusBar
from tests.support.helpers import Terminal, wait_for_streaming_text
from tests.support.pilot import (
    chat,
    finish,
    notifications,
    open_history,
    scripted_profile,
    send,
    shown,
    wait_for,
)

SIZE = (100, 32)


@pytest.fixture
def echo(test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two scripted profiles: `echo` replies with what it was asked, `other` with fixed text."""
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("echo", echo=True) + scripted_profile("other"))
    return config_file


def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "data" / "genchat.db")


def seed(tmp_path: Path, conversations: list[tuple[str, str]], profile: str = "echo") -> list[int]:
    """Conversations of one exchange each (question, answer), the last one newest."""
    ids = []
    with store(tmp_path) as db:
        for question, answer in conversations:
            c = db.new_conversation(profile=profile, model="script")
            user = db.add_message(c, None, "user", question)
            db.add_message(c, user, "assistant", answer, profile=profile, model="script")
            ids.append(c)
    return ids


def texts(app: GenchatApp) -> list[str]:
    return [v.text for v in chat(app).query(MessageView)]


async def exchange(pilot: Pilot[None], *prompts: str) -> None:
    """Send each prompt and wait for its reply."""
    for prompt in prompts:
        await send(pilot, prompt)
        await finish(pilot)


async def test_continue_reopens_the_last_conversation_and_carries_on(
    echo: Path, tmp_path: Path
) -> None:
    seed(tmp_path, [("old question", "old answer"), ("Where were we?", "Here.")])
    with store(tmp_path) as db:
        last = db.last_conversation()
        assert last is not None
        user = db.thread(last.id)[0].id
        db.add_message(last.id, user, "assistant", "cut sho", status="interrupted")
    app = make_app(conversation="last")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(texts(app)) == 2, "the conversation to show")
        assert texts(app) == ["Where were we?", "cut sho"]
        reply = chat(app).query_one(AssistantMessage)
        assert reply.state == "interrupted"

        def footer() -> str:  # the reply's parts are composed just after it is mounted
            return "".join(str(part.render()) for part in reply.query(".footer"))

        await wait_for(pilot, lambda: "interrupted" in footer(), "the footer")
        await send(pilot, "Go on")
        await finish(pilot)
        assert texts(app)[-1].startswith("#1 ")
        assert "last='Go on'" in texts(app)[-1]
    with store(tmp_path) as db:
        thread = db.thread(last.id)
    assert [m.content for m in thread][:3] == ["Where were we?", "cut sho", "Go on"]
    assert len(db_conversations(tmp_path)) == 2


def db_conversations(tmp_path: Path) -> list[int]:
    with store(tmp_path) as db:
        return [c.id for c in db.conversations()]


async def test_continue_with_nothing_saved_starts_a_new_chat(echo: Path) -> None:
    app = make_app(conversation="last")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(notifications(app)), "a notice")
        assert "no saved conversation yet" in notifications(app)[0]
        assert texts(app) == []


async def test_a_conversation_whose_profile_is_gone_continues_with_the_current_one(
    echo: Path, tmp_path: Path
) -> None:
    seed(tmp_path, [("hello", "hi")], profile="deleted-profile")
    echo.write_text('default_profile = "other"\n' + echo.read_text())
    app = make_app(conversation="last")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(texts(app)) == 2, "the conversation to show")
        gone = "'deleted-profile' no longer exists"
        await wait_for(pilot, lambda: any(gone in n for n in notifications(app)), "the notice")
        assert chat(app).target.profile == "other"


async def test_the_history_screen_lists_searches_highlights_and_opens_a_match(
    echo: Path, tmp_path: Path
) -> None:
    ids = seed(
        tmp_path,
        [("about cats", "cats purr"), ("about dogs", "dogs bark loudly"), ("about birds", "tweet")],
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        assert [c.id for c in screen.rows] == ids[::-1]  # newest first
        await pilot.press(*"bar")
        await wait_for(pilot, lambda: screen.hits is not None, "the search")
        assert screen.hits is not None
        [hit] = screen.hits
        assert hit.conversation_id == ids[1]
        label = screen.query_one(OptionList).get_option_at_index(0).prompt
        assert isinstance(label.plain, str) and "dogs bark loudly" in label.plain
        marked = [label.plain[s.start : s.end] for s in label.spans if s.style == "reverse"]
        assert marked == ["bark"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: texts(app) == ["about dogs", "dogs bark loudly"], "it")
        assert app.services.history.conversation == ids[1]
        assert app.focused is chat(app).query(AssistantMessage).last()
        await send(pilot, "and cats?")
        await finish(pilot)
    with store(tmp_path) as db:
        assert [m.content for m in db.thread(ids[1])][2] == "and cats?"


async def test_rename_delete_with_confirmation_and_fork_from_the_history_screen(
    echo: Path, tmp_path: Path
) -> None:
    first, second = seed(tmp_path, [("first", "one"), ("second", "two")])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        # the highlighted one is the newest: `second`
        await pilot.press("ctrl+r")
        await shown(pilot, AskLine)
        app.screen.query_one(Input).value = "Renamed"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.rows[0].title == "Renamed", "the new title")
        await pilot.press("down", "ctrl+d")
        await shown(pilot, Confirm)
        await pilot.press("n")
        await pilot.pause()
        assert len(db_conversations(tmp_path)) == 2
        await pilot.press("ctrl+d")
        await shown(pilot, Confirm)
        await pilot.press("y")
        await wait_for(pilot, lambda: len(screen.rows) == 1, "the list without it")
        assert screen.deleted == {first}
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: len(screen.rows) == 2, "the fork in the list")
        assert screen.rows[0].title == "Renamed (fork)"
    with store(tmp_path) as db:
        assert db.conversation(first) is None
        renamed = db.conversation(second)
        assert renamed is not None and (renamed.title, renamed.title_by) == ("Renamed", "user")
        fork = db.conversations()[0]
        assert [m.content for m in db.thread(fork.id)] == ["second", "two"]


async def test_deleting_the_open_conversation_starts_a_new_chat(echo: Path) -> None:
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "soon gone")
        await finish(pilot)
        await open_history(pilot)
        await pilot.press("ctrl+d")
        await shown(pilot, Confirm)
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: texts(app) == [], "the chat to be cleared")
        assert app.services.history.conversation is None


async def test_export_from_the_history_screen_as_markdown_and_json(
    echo: Path, tmp_path: Path
) -> None:
    [conversation] = seed(tmp_path, [("Export me", "A *reply*")])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        for form in ("md", "json"):
            await pilot.press("ctrl+s")
            await shown(pilot, Choose)
            app.screen.query_one(OptionList).highlighted = 0 if form == "md" else 1
            await pilot.press("enter")
            path = tmp_path / "data" / "exports" / f"genchat-{conversation}-export-me.{form}"
            await wait_for(pilot, path.exists, f"the {form} file")
    markdown = path.with_suffix(".md").read_text()
    assert markdown.startswith("# Export me") and "A *reply*" in markdown
    exported = json.loads(path.read_text())
    assert [(m["role"], m["content"]) for m in exported["messages"]] == [
        ("user", "Export me"),
        ("assistant", "A *reply*"),
    ]


async def test_open_with_another_profile_from_the_history_screen(
    echo: Path, tmp_path: Path
) -> None:
    seed(tmp_path, [("question", "answer")])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot)
        await pilot.press("ctrl+o")
        await shown(pilot, ModelPicker)
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        await wait_for(pilot, lambda: bool(picker.choices), "the models")
        await pilot.press(*"other", "enter")
        await wait_for(pilot, lambda: texts(app) == ["question", "answer"], "the conversation")
        assert chat(app).target.profile == "other"
        await send(pilot, "next")
        await finish(pilot)
        assert texts(app)[-1] == "Hello, world."


async def test_regenerate_keeps_the_earlier_reply_as_a_version(echo: Path, tmp_path: Path) -> None:
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Tell me")
        await finish(pilot)
        await pilot.press("ctrl+g")
        await finish(pilot)
        reply = chat(app).query_one(AssistantMessage)
        assert reply.text.startswith("#2 ") and reply.versions == (2, 2)
        assert len(chat(app).query(AssistantMessage)) == 1
        reply.focus()
        await pilot.press("left")
        await wait_for(
            pilot, lambda: chat(app).query_one(AssistantMessage).text.startswith("#1 "), "v1"
        )
        first = chat(app).query_one(AssistantMessage)
        assert first.versions == (1, 2) and app.focused is first
        await pilot.press("right")
        await wait_for(
            pilot, lambda: chat(app).query_one(AssistantMessage).text.startswith("#2 "), "v2"
        )
    with store(tmp_path) as db:
        [conversation] = db.conversations()
        user = db.thread(conversation.id)[0]
        assert [m.content[:3] for m in db.children(user.id)] == ["#1 ", "#2 "]


async def test_edit_and_resend_forks_and_the_original_branch_stays(
    echo: Path, tmp_path: Path
) -> None:
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        await exchange(pilot, "first try", "follow-up")
        chat(app).query(UserMessage).first().focus()
        await pilot.press("e")
        await shown(pilot, EditText)
        app.screen.query_one(TextArea).text = "second try"
        await pilot.press("ctrl+s")
        await finish(pilot)
        await wait_for(pilot, lambda: len(texts(app)) == 2, "the edited exchange")
        assert texts(app)[0] == "second try" and "last='second try'" in texts(app)[1]
        edited = chat(app).query(UserMessage).first()
        assert edited.versions == (2, 2)
        edited.focus()
        await pilot.press("left")
        await wait_for(pilot, lambda: len(texts(app)) == 4, "the original branch")
        assert texts(app)[0] == "first try" and texts(app)[2] == "follow-up"
    with store(tmp_path) as db:
        [conversation] = db.conversations()
        assert [m.content for m in db.thread(conversation.id)][0::2] == ["first try", "follow-up"]


async def test_fork_from_a_message_opens_a_new_conversation_up_to_it(
    echo: Path, tmp_path: Path
) -> None:
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        await exchange(pilot, "one", "two")
        original = app.services.history.conversation
        chat(app).query(AssistantMessage).first().focus()
        await pilot.press("f")
        await wait_for(pilot, lambda: app.services.history.conversation != original, "the fork")
        assert texts(app)[0] == "one" and len(texts(app)) == 2
        await send(pilot, "three")
        await finish(pilot)
    with store(tmp_path) as db:
        assert [m.content for m in db.thread(original or 0)][0::2] == ["one", "two"]
        fork = db.conversations()[0]
        assert [m.content for m in db.thread(fork.id)][0::2] == ["one", "three"]


def test_the_tui_killed_mid_reply_keeps_the_partial_reply_marked_interrupted(
    echo: Path, tmp_path: Path
) -> None:
    """The whole app in a pseudo-terminal, killed with SIGKILL while a reply streams; a new
    genchat then reopens the conversation and shows the partial reply as interrupted."""
    chunks = [f"word{i} " for i in range(600)]
    echo.write_text(scripted_profile("slow", chunks=chunks, delay_s=0.02))
    path = tmp_path / "data" / "genchat.db"
    with Terminal("-m", "slow", env={"GENCHAT_PLUGINS": "scripted"}) as terminal:
        terminal.wait_for("slow")  # the status bar names the profile once the screen is up
        terminal.type(b"Talk\r")  # in one write, as a laggy link sends it
        wait_for_streaming_text(path, "word0 word1 ")
        terminal.child.send_signal(signal.SIGKILL)

    async def reopen() -> str:
        app = make_app(conversation="last")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: len(texts(app)) == 2, "the conversation")
            reply = chat(app).query_one(AssistantMessage)
            assert reply.state == "interrupted"
            return reply.text

    partial = asyncio.run(reopen())
    assert partial.startswith("word0 word1 ") and len(partial) < len("".join(chunks))
    with store(tmp_path) as db:
        saved = db.thread(db.conversations()[0].id)[-1]
    assert saved.status == "interrupted" and saved.content == partial


async def test_a_persona_and_parameters_set_for_one_conversation_are_sent_and_kept(
    echo: Path, tmp_path: Path
) -> None:
    echo.write_text(
        scripted_profile("echo", echo=True)
        + "[profiles.echo.params]\ntemperature = 0.7\nsystem = 'Be kind.'\n"
        + "[personas]\nterse = 'Answer in five words.'\n"
    )
    app = make_app("echo")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "before")
        await finish(pilot)
        assert "system='Be kind.'" in texts(app)[-1] and "'temperature': 0.7" in texts(app)[-1]
        await pilot.press("ctrl+t")
        await shown(pilot, ConversationSettings)
        dialog = app.screen
        dialog.query_one("#persona", Select).value = "terse"
        await pilot.pause()
        assert dialog.query_one("#system", TextArea).text == "Answer in five words."
        dialog.query_one("#param-temperature", Input).value = "hot"
        await pilot.press("ctrl+s")
        await pilot.pause()
        problem = str(dialog.query_one("#settings-problem").render())
        assert "temperature" in problem and app.screen is dialog
        dialog.query_one("#param-temperature", Input).value = "0.1"
        dialog.query_one("#param-seed", Input).value = "7"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is chat(app), "the chat")
        assert "persona terse" in chat(app).query_one(StatusBar).target
        await send(pilot, "after")
        await finish(pilot)
        assert "system='Answer in five words.'" in texts(app)[-1]
        assert "{'temperature': 0.1, 'seed': 7}" in texts(app)[-1]
    with store(tmp_path) as db:
        [conversation] = db.conversations()
        assert conversation.settings == {
            "params": {"temperature": 0.1, "seed": 7},
            "persona": "terse",
            "system": "Answer in five words.",
        }
    app = make_app(conversation="last")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(texts(app)) == 4, "the conversation")
        await send(pilot, "reopened")
        await finish(pilot)
        assert "system='Answer in five words.'" in texts(app)[-1]
        assert "'seed': 7" in texts(app)[-1]


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ('"Cats and their purring".', "Cats and their purring"),
        ("Title: Sorting a list\nHere is why…", "Sorting a list"),
        ("## **Rust lifetimes**", "Rust lifetimes"),
        ("\n\n  “Unicode ✓ titles”  ", "Unicode ✓ titles"),
        ("", None),
        ("word " * 20, None),
    ],
)
def test_a_models_title_is_cleaned_of_quotes_labels_and_extra_lines(
    answer: str, title: str | None
) -> None:
    assert clean_title(answer) == title


async def test_a_profile_that_generates_titles_names_the_conversation(
    echo: Path, tmp_path: Path
) -> None:
    echo.write_text(
        scripted_profile("namer", chunks=['"Greetings', ' and salutations".'], generate_titles=True)
    )
    app = make_app("namer")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello there")
        await finish(pilot)
        await send(pilot, "second message")
        await finish(pilot)
    with store(tmp_path) as db:
        [conversation] = db.conversations()
    assert (conversation.title, conversation.title_by) == ("Greetings and salutations", "model")


async def test_the_real_model_names_a_conversation(config_file: Path, tmp_path: Path) -> None:
    config_file.write_text(
        "[profiles.smollm2]\ngenerate_titles = true\n"
        "[profiles.smollm2.params]\nmax_tokens = 24\ntemperature = 0.0\n"
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "How do I reverse a list in Python?")
        await finish(pilot)
        # The title is asked for once the reply is saved, in a worker of its own: on a busy
        # machine it may still be running when the reply's worker is done.
        await wait_for(
            pilot,
            lambda: all(w.is_finished for w in app.workers if w.group == "title"),
            "the title",
        )
        await finish(pilot)
    with store(tmp_path) as db:
        [conversation] = db.conversations()
    assert conversation.title_by == "model"
    assert conversation.title and conversation.title != "How do I reverse a list in Python?"


async def test_a_full_disk_mid_reply_is_said_once_and_the_chat_goes_on(
    echo: Path, tmp_path: Path
) -> None:
    from genchat.tui.history import ChatHistory

    def filling_store() -> Store:
        """A store whose disk fills after the first few writes, as a full disk answers."""
        opened = store(tmp_path)
        pages = opened._db.execute("PRAGMA page_count").fetchone()[0]
        opened._db.execute(f"PRAGMA max_page_count = {pages + 12}")
        return opened

    echo.write_text(scripted_profile("big", chunks=["x" * 5000] * 40))
    app = make_app("big")
    app.services.history = ChatHistory(filling_store)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "A long answer, please")
        await finish(pilot)
        assert chat(app).query_one(AssistantMessage).text == "x" * 200_000
        await send(pilot, "Again")
        await finish(pilot)
        assert len(chat(app).query(AssistantMessage)) == 2
        warnings = [n for n in notifications(app) if "not being saved" in n]
    assert len(warnings) == 1 and "disk is full" in warnings[0]
