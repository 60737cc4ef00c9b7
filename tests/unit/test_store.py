"""The history store: a real SQLite file in the test's data dir, and the commands that use it.

Why one file: each test is one store operation over a real file; what others wrote into the history
is `test_store_hardening.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genchat.arena import vote_store
from genchat.arena.votes import Outcome
from genchat.history.exchange import export_json
from genchat.history.recorder import ReplyRecorder
from genchat.history.records import NewerSchema, StoreError
from genchat.history.schema import MIGRATIONS, SCHEMA_VERSION
from genchat.history.search import search
from genchat.history.store import Store
from tests.support.helpers import run_in_process, wait_for_streaming_text

SCRIPTED = {"GENCHAT_PLUGINS": "scripted"}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "genchat.db"


def test_a_new_database_is_at_the_current_schema_in_wal_mode(db_path: Path) -> None:
    with Store(db_path):
        pass
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_every_older_version_migrates(db_path: Path, version: int) -> None:
    # Version 0 is a file SQLite made with no genchat tables; each later one is what that
    # genchat wrote, with a conversation in it.
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("CREATE TABLE unrelated (x)")
    for script in MIGRATIONS[:version]:
        db.executescript(script)
    db.execute(f"PRAGMA user_version = {version}")
    if version >= 1:
        db.execute(
            "INSERT INTO conversations (id, title, created, updated) VALUES (7, 'old', 1, 1)"
        )
        db.execute(
            "INSERT INTO messages (conversation_id, role, content, created) VALUES (7, 'user',"
            " 'from before', 1)"
        )
        db.execute("UPDATE conversations SET active_leaf = 1")
    db.close()
    with Store(db_path) as store:
        if version >= 1:
            old = store.conversation(7)
            assert old is not None and old.title == "old" and old.settings == {}
            assert [m.content for m in store.thread(7)] == ["from before"]
        conversation = store.new_conversation()
        store.add_message(conversation, None, "user", "hello")
        store.set_settings(conversation, {"persona": "terse"})
        assert [m.content for m in store.thread(conversation)] == ["hello"]
        assert store.conversation(conversation).settings == {"persona": "terse"}  # type: ignore[union-attr]
        vote_store.add_vote(store, prompt="Q", outcome="tie", models=("x", "y"), replies=("1", "2"))
        assert [v.outcome for v in vote_store.votes(store)] == ["tie"]
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_database_from_a_newer_genchat_is_refused_and_left_alone(db_path: Path) -> None:
    with Store(db_path) as store:
        store.add_message(store.new_conversation(), None, "user", "keep me")
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with pytest.raises(NewerSchema, match=r"newer genchat.*left untouched"):
        Store(db_path)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_a_corrupt_database_is_moved_aside_and_a_fresh_one_started(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database, it is a grocery list\n" * 100)
    with Store(db_path) as store:
        assert store.moved_aside is not None and store.moved_aside.name.startswith(
            "genchat.db.damaged-"
        )
        assert store.moved_aside.read_bytes().startswith(b"this is not a database")
        store.add_message(store.new_conversation(), None, "user", "works")
        assert store.conversations()[0].title == "works"


def test_an_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(StoreError, match="Cannot use the history database"):
        Store(not_a_dir / "data" / "genchat.db")


def test_two_stores_on_one_file_both_write(db_path: Path) -> None:
    with Store(db_path) as first, Store(db_path) as second:
        a = first.new_conversation()
        b = second.new_conversation()
        first.add_message(a, None, "user", "from the first")
        second.add_message(b, None, "user", "from the second")
        assert {c.title for c in first.conversations()} == {"from the first", "from the second"}


def test_a_write_locked_out_longer_than_the_busy_timeout_is_a_clear_error(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("genchat.history.database.BUSY_TIMEOUT_MS", 200)
    with Store(db_path) as store:
        conversation = store.new_conversation()
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another genchat in the middle of a long write
        with pytest.raises(StoreError, match="Another genchat is writing to it"):
            store.add_message(conversation, None, "user", "waits, then gives up")
        other.execute("ROLLBACK")
        store.add_message(conversation, None, "user", "then works")
        assert [m.content for m in store.thread(conversation)] == ["then works"]


def test_a_full_disk_is_a_clear_error_and_what_was_saved_stays(db_path: Path) -> None:
    with Store(db_path) as store:
        conversation = store.new_conversation()
        kept = store.add_message(conversation, None, "user", "saved before the disk filled")
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 1}")  # as a full disk answers
        with pytest.raises(StoreError, match="disk is full; free some space"):
            store.add_message(conversation, kept, "assistant", "x" * 100_000)
        assert [m.content for m in store.thread(conversation)] == ["saved before the disk filled"]


def test_messages_form_a_tree_and_the_active_leaf_picks_the_branch(db_path: Path) -> None:
    with Store(db_path) as store:
        c = store.new_conversation()
        question = store.add_message(c, None, "user", "Name a colour.")
        first = store.add_message(c, question, "assistant", "Red.")
        second = store.add_message(c, question, "assistant", "Blue.")  # regenerated
        follow = store.add_message(c, second, "user", "Why?")
        assert [m.content for m in store.thread(c)] == ["Name a colour.", "Blue.", "Why?"]
        assert [m.content for m in store.thread(c, first)] == ["Name a colour.", "Red."]
        assert [m.id for m in store.children(question)] == [first, second]
        assert store.conversation(c).active_leaf == follow  # type: ignore[union-attr]


def test_versions_of_a_message_and_the_newest_branch_through_one(db_path: Path) -> None:
    with Store(db_path) as store:
        c = store.new_conversation()
        question = store.add_message(c, None, "user", "question")
        first = store.add_message(c, question, "assistant", "first answer")
        follow = store.add_message(c, first, "user", "follow-up")
        second = store.add_message(c, question, "assistant", "second answer")
        assert [m.id for m in store.siblings(first)] == [first, second]
        assert [m.id for m in store.siblings(question)] == [question]
        assert store.newest_leaf(first) == follow
        assert store.newest_leaf(second) == second
        store.set_active_leaf(c, store.newest_leaf(first))
        assert [m.content for m in store.thread(c)] == ["question", "first answer", "follow-up"]


def test_a_fork_copies_the_thread_up_to_a_message(db_path: Path) -> None:
    with Store(db_path) as store:
        c = store.new_conversation(profile="p")
        store.set_settings(c, {"params": {"temperature": 0.2}})
        one = store.add_message(c, None, "user", "one")
        two = store.add_message(c, one, "assistant", "two", status="stopped", model="m")
        store.add_message(c, two, "user", "three")
        fork = store.fork(c, upto=two)
        copied = store.thread(fork)
        assert [(m.content, m.status, m.model) for m in copied] == [
            ("one", "complete", None),
            ("two", "stopped", "m"),
        ]
        assert {m.id for m in copied}.isdisjoint({one, two})
        forked = store.conversation(fork)
        assert forked is not None and forked.title == "one (fork)"
        assert forked.settings == {"params": {"temperature": 0.2}} and forked.profile == "p"
        assert len(store.thread(c)) == 3  # the original is untouched


def test_a_title_the_user_gave_is_never_replaced_by_a_generated_one(db_path: Path) -> None:
    with Store(db_path) as store:
        c = store.new_conversation()
        store.add_message(c, None, "user", "  a long\n first   message " + "x" * 80)
        title = store.conversation(c).title  # type: ignore[union-attr]
        assert title.startswith("a long first message x") and title.endswith("…")
        assert len(title) == 60
        assert store.rename(c, "Model's title", by="model")
        assert store.rename(c, "Mine")
        assert not store.rename(c, "Model again", by="model")
        found = store.conversation(c)
        assert found is not None and (found.title, found.title_by) == ("Mine", "user")


def test_search_matches_words_and_prefixes_and_highlights(db_path: Path) -> None:
    with Store(db_path) as store:
        c = store.new_conversation()
        store.add_message(c, None, "user", "How do lighthouses work?")
        reply = store.add_message(c, None, "assistant", "", status="streaming")
        store.update_message(reply, content="A lamp and a Fresnel lens.", status="complete")
        other = store.new_conversation()
        store.add_message(other, None, "user", "Bake bread")
        [hit] = search(store, "fresnel len")
        assert hit.conversation_id == c and "[Fresnel]" in hit.snippet and "[lens]" in hit.snippet
        assert search(store, 'lighthouse"s') == []  # quotes are words, never syntax
        store.delete(c)
        assert search(store, "fresnel") == []
        assert [x.id for x in store.conversations()] == [other]


def test_a_killed_process_leaves_its_reply_interrupted_with_its_text(db_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from genchat.history.store import Store\n"
        "from genchat.history.recorder import ReplyRecorder\n"
        "s = Store()\n"
        "c = s.new_conversation()\n"
        "r = s.add_message(c, None, 'assistant', '', status='streaming')\n"
        "s.update_message(r, content='half a reply')\n"
        "print('saved', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "GENCHAT_DATA_DIR": str(db_path.parent)},
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "saved"
    with Store(db_path) as store:  # the writer is alive: its reply is still streaming
        [message] = store.thread(store.conversations()[0].id)
        assert message.status == "streaming"
    child.send_signal(signal.SIGKILL)
    child.wait()
    with Store(db_path) as store:
        assert store.interrupted == 1
        [message] = store.thread(store.conversations()[0].id)
        assert message.status == "interrupted" and message.content == "half a reply"


def test_the_recorder_writes_at_most_once_an_interval(db_path: Path) -> None:
    now = [0.0]
    with Store(db_path) as store:
        c = store.new_conversation()
        reply = store.add_message(c, None, "assistant", "", status="streaming")
        recorder = ReplyRecorder(store, reply, interval_s=1.0, clock=lambda: now[0])
        recorder.text("a")
        assert store.thread(c)[0].content == ""  # within the first second
        now[0] = 1.5
        recorder.text("ab")
        assert store.thread(c)[0].content == "ab"
        recorder.finish("abc", "stopped", metrics={"ttft_s": 0.5})
        [saved] = store.thread(c)
        assert (saved.content, saved.status, saved.metrics) == ("abc", "stopped", {"ttft_s": 0.5})


def test_a_json_export_brings_back_every_version_and_compare_pane(db_path: Path) -> None:
    with Store(db_path) as store:
        c = store.new_conversation("Two models", kind="compare")
        store.set_settings(c, {"panes": {"1": {"system": "Be terse."}}})
        prompt = store.add_message(c, None, "user", "Name a colour")
        store.add_message(c, prompt, "assistant", "Red", pane=0, metrics={"ttft_s": 0.2})
        blue = store.add_message(c, prompt, "assistant", "Blue", pane=1, reasoning="Sky.")
        store.add_message(c, prompt, "assistant", "Green", pane=1, status="stopped")
        store.choose(blue)
        store.add_message(c, blue, "user", "Another")
        exported = json.loads(json.dumps(export_json(store, c)))
        # `messages` stays the plain thread, for tools that read OpenAI's format.
        assert [m["content"] for m in exported["messages"]] == ["Name a colour", "Blue", "Another"]
        copy = store.import_conversation(exported)

        def shape(conversation: int) -> list[tuple[object, ...]]:
            return [
                (p.content, [(r.content, r.pane, r.chosen, r.status, r.reasoning) for r in rs])
                for p, rs in store.turns(conversation)
            ]

        assert shape(copy) == shape(c)
        [original, imported] = store.conversation(c), store.conversation(copy)
        assert original and imported
        assert (imported.kind, imported.settings) == ("compare", original.settings)
        assert [m.content for m in store.thread(copy)] == ["Name a colour", "Blue", "Another"]
        assert store.turns(copy)[0][1][0].metrics == {"ttft_s": 0.2}


def test_votes_are_kept_filtered_and_undone(db_path: Path) -> None:
    with Store(db_path) as store:

        def vote(outcome: Outcome, tag: str = "", flagged: str | None = None) -> int:
            return vote_store.add_vote(
                store,
                prompt="Q",
                outcome=outcome,
                models=("m1", "m2"),
                replies=("one", "two"),
                details={"a": {"metrics": {"ttft_s": 0.5, "tokens_per_s": 40}}, "b": {}},
                tag=tag,
                flagged=flagged,
            )

        first = vote("a", tag="coding")
        middle = time.time()
        time.sleep(0.01)
        vote("b", tag="writing")
        vote("tie", tag="coding", flagged="As Claude")
        assert [b.outcome for b in vote_store.ballots(store)] == [
            "a",
            "b",
        ]  # the flagged one left out
        assert [b.outcome for b in vote_store.ballots(store, flagged=True)] == ["a", "b", "tie"]
        assert [b.outcome for b in vote_store.ballots(store, tag="coding")] == ["a"]
        assert [b.outcome for b in vote_store.ballots(store, since=middle)] == ["b"]
        assert [b.outcome for b in vote_store.ballots(store, until=middle)] == ["a"]
        [ballot] = vote_store.ballots(store, tag="coding")
        assert (ballot.a, ballot.b, ballot.ttft_s, ballot.tokens_per_s) == (
            "m1",
            "m2",
            (0.5, None),
            (40.0, None),
        )
        [kept] = vote_store.votes(store, tag="writing")
        assert (kept.prompt, kept.reply_a, kept.reply_b, kept.flagged) == ("Q", "one", "two", None)
        assert kept.details["a"]["metrics"]["ttft_s"] == 0.5
        assert vote_store.vote_tags(store) == ["coding", "writing"]
        assert vote_store.delete_vote(store, first) and not vote_store.delete_vote(store, first)
        assert len(vote_store.votes(store)) == 2


# Any text but control characters (save newlines and tabs), which the history cleans out of
# what it reads (test_store_hardening.py checks how).
texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\n\t"),
    max_size=400,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(contents=st.lists(texts, min_size=1, max_size=6), title=texts)
def test_save_load_and_export_import_keep_every_message_exactly(
    tmp_path: Path, contents: list[str], title: str
) -> None:
    path = tmp_path / f"{time.monotonic_ns()}.db"
    with Store(path) as store:
        c = store.new_conversation(title)
        parent = None
        for i, content in enumerate(contents):
            parent = store.add_message(c, parent, ("user", "assistant")[i % 2], content)
        assert [m.content for m in store.thread(c)] == contents
        exported = json.loads(json.dumps(export_json(store, c)))
        copy = store.import_conversation(exported)
        assert [m.content for m in store.thread(copy)] == contents
        assert [m.role for m in store.thread(copy)] == [m.role for m in store.thread(c)]
    path.unlink()


# -- the command line -------------------------------------------------------------------


def test_ask_saves_the_exchange_and_continue_sends_it_back(
    test_plugins: str, config_file: Path, tmp_path: Path
) -> None:
    config_file.write_text('[profiles.s]\nbackend = "scripted"\n')
    assert run_in_process("ask", "-m", "s", "First question", env=SCRIPTED).returncode == 0
    assert run_in_process("ask", "-m", "s", "--no-save", "Not kept", env=SCRIPTED).returncode == 0
    # Without -m, the continued conversation's own profile answers.
    result = run_in_process("ask", "--continue", "Second question", env=SCRIPTED)
    assert result.returncode == 0, result.stderr
    with Store(tmp_path / "data" / "genchat.db") as store:
        [conversation] = store.conversations()
        thread = store.thread(conversation.id)
    assert [(m.role, m.content, m.status) for m in thread] == [
        ("user", "First question", "complete"),
        ("assistant", "Hello, world.", "complete"),
        ("user", "Second question", "complete"),
        ("assistant", "Hello, world.", "complete"),
    ]
    assert conversation.title == "First question"
    assert thread[1].profile == "s" and thread[1].backend == "scripted"
    assert thread[1].metrics["completion_tokens"] == 4


def test_ask_saves_a_failed_reply_with_its_error_and_text(
    test_plugins: str, config_file: Path, tmp_path: Path
) -> None:
    config_file.write_text('[profiles.flaky]\nbackend = "scripted"\nfail_after = 2\n')
    assert run_in_process("ask", "-m", "flaky", "hi", env=SCRIPTED).returncode == 1
    with Store(tmp_path / "data" / "genchat.db") as store:
        reply = store.thread(store.conversations()[0].id)[-1]
    assert reply.status == "error" and reply.content == "Hello, " and reply.error


def test_ask_killed_mid_reply_leaves_it_interrupted(
    test_plugins: str, config_file: Path, tmp_path: Path
) -> None:
    config_file.write_text(
        '[profiles.slow]\nbackend = "scripted"\ndelay_s = 0.05\n'
        f"chunks = {json.dumps([f'word{i} ' for i in range(400)])}\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "genchat", "ask", "-m", "slow", "Talk"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **SCRIPTED},
    )
    path = tmp_path / "data" / "genchat.db"
    try:
        wait_for_streaming_text(path, "word0 word1 ")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with Store(path) as store:
        reply = store.thread(store.conversations()[0].id)[-1]
    assert reply.status == "interrupted"
    assert reply.content.startswith("word0 word1 ") and len(reply.content) < 400 * 6


def test_ask_with_an_unusable_data_dir_still_answers(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    result = run_in_process(
        "ask", "--max-tokens", "4", "Hi", env={"GENCHAT_DATA_DIR": str(not_a_dir / "data")}
    )
    assert result.returncode == 0 and result.stdout.strip()
    assert "not saving this exchange" in result.stderr


def test_history_export_and_import_from_the_command_line(
    test_plugins: str, config_file: Path, tmp_path: Path
) -> None:
    config_file.write_text('[profiles.s]\nbackend = "scripted"\n')
    run_in_process("ask", "-m", "s", "What is a *lighthouse*?", env=SCRIPTED)
    listed = run_in_process("history")
    assert listed.returncode == 0 and "What is a *lighthouse*?" in listed.stdout
    found = run_in_process("history", "--search", "lighthouse")
    assert "[lighthouse]" in found.stdout
    markdown = run_in_process("export", "1")
    assert "## You\n\nWhat is a *lighthouse*?" in markdown.stdout
    assert "## s · script\n\nHello, world." in markdown.stdout
    out = tmp_path / "chat.json"
    assert run_in_process("export", "1", "--format", "json", "-o", str(out)).returncode == 0
    data = json.loads(out.read_text())
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["genchat"]["status"] == "complete"
    imported = run_in_process("import", str(out))
    assert imported.returncode == 0 and "conversation 2" in imported.stdout
    assert run_in_process("export", "2").stdout.count("Hello, world.") == 1
    missing = run_in_process("export", "99")
    assert missing.returncode == 1
    assert missing.stderr == (
        "genchat: No conversation 99: `genchat history` lists the conversations there are.\n"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": [{"role": "robot", "content": "x"}]}')
    refused = run_in_process("import", str(bad))
    assert refused.returncode == 2 and "Message 1 needs a `role`" in refused.stderr
    bare = tmp_path / "bare.json"  # a bare array of OpenAI messages
    bare.write_text('[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]')
    imported = run_in_process("import", str(bare))
    assert imported.returncode == 0, imported.stderr
    with Store(tmp_path / "data" / "genchat.db") as store:
        newest = store.conversations()[0]
        assert [m.content for m in store.thread(newest.id)] == ["Hi", "Yo"]
    # A bare import names no profile or model: its line says none, rather than `[]`.
    line = run_in_process("history").stdout.splitlines()[0]
    assert line.startswith(f"{newest.id:>6}") and not line.endswith("[]"), line


# -- the chat screen ----------------------------------------------------------------------


async def test_the_chat_screen_saves_replies_as_they_stream(
    test_plugins: str, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genchat.tui.app import make_app
    from genchat.tui.widgets.message import AssistantMessage
    from tests.support.pilot import chat, finish, scripted_profile, send, wait_for

    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("s", chunks=["word "] * 300, delay_s=0.01))
    app = make_app("s")
    async with app.run_test(size=(100, 32)) as pilot:
        await send(pilot, "Talk to me")
        await finish(pilot)
        await send(pilot, "Again")
        view = chat(app).query(AssistantMessage).last()
        await wait_for(pilot, lambda: "word word" in view.text, "the second reply to start")
        await pilot.press("escape")
        await finish(pilot)
        partial = view.text
    with Store(tmp_path / "data" / "genchat.db") as store:
        [conversation] = store.conversations()
        thread = store.thread(conversation.id)
    assert [(m.role, m.status) for m in thread] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "stopped"),
    ]
    assert thread[1].content == "word " * 300 and thread[1].metrics["completion_tokens"] == 300
    assert thread[3].content == partial and 0 < len(partial) < len("word " * 300)
    assert conversation.title == "Talk to me" and thread[1].profile == "s"


async def test_the_chat_screen_says_when_history_cannot_be_saved(
    test_plugins: str, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genchat.tui.app import make_app
    from genchat.tui.widgets.message import AssistantMessage
    from tests.support.pilot import chat, finish, notifications, scripted_profile, send

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("GENCHAT_DATA_DIR", str(not_a_dir / "data"))
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("s"))
    app = make_app("s")
    async with app.run_test(size=(100, 32)) as pilot:
        await send(pilot, "Hi")
        await finish(pilot)
        assert chat(app).query_one(AssistantMessage).text == "Hello, world."
        shown = notifications(app)
    assert any("not being saved" in m for m in shown), shown
