"""The history against what others wrote: escape sequences in old rows and imports, damaged
databases opened by several genchats at once, malformed imports, bad settings, PID reuse, and
exports that must read back the same. Real SQLite files, and the real CLI where it matters.

Why one file: the cases share the planted rows and damaged files they are built on.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from genchat.arena import vote_store
from genchat.chat import GenerationParams
from genchat.history.exchange import export_json, export_markdown
from genchat.history.import_check import IMPORT_MAX_BYTES, BadImport, read_export
from genchat.history.records import StoreError
from genchat.history.search import search
from genchat.history.store import Store
from genchat.tui.screens.history import MARKS
from tests.support.helpers import run_in_process
from tests.support.hostile import PAYLOADS, all_planted, assert_inert


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "genchat.db"


def strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys too."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def import_file(tmp_path: Path, data: object, name: str = "in.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- item 1: what the history gives back is clean ------------------------------------------


HOSTILE = f"lighthouse {all_planted()} keeper"
"""Ordinary words around every sequence of the table, each between its markers."""
NAME = f"smollm2 {all_planted()}"


def a_conversation_of_every_kind(store: Store) -> tuple[int, int]:
    """A chat with versions, a compare session and a vote, every text a plain placeholder."""
    chat = store.new_conversation(profile="p", model="m")
    store.set_settings(chat, {"persona": "x", "system": "x", "params": {"stop": ["x"]}})
    system = store.add_message(chat, None, "system", "x")
    user = store.add_message(chat, system, "user", "x")
    store.add_message(chat, user, "assistant", "x", profile="p", model="m", adapter="a")
    store.add_message(chat, user, "assistant", "x", reasoning="x", error="x", status="error")
    compare = store.new_conversation(kind="compare")
    store.set_settings(compare, {"panes": {"1": {"system": "x", "persona": "x"}}})
    prompt = store.add_message(compare, None, "user", "x")
    store.add_message(compare, prompt, "assistant", "x", pane=0, profile="p", model="m")
    store.add_message(compare, prompt, "assistant", "x", pane=1, profile="p", model="m")
    vote_store.add_vote(store,
        prompt="x", outcome="a", models=("m1", "m2"), replies=("x", "x"),
        details={"a": {"target": {"profile": "x"}}}, flagged="x", tag="x",
    )  # fmt: skip
    return chat, compare


def plant_by_sql(path: Path) -> None:
    """Overwrite every text the history holds with the table of sequences, as an old genchat
    or another program could have written it."""
    settings = {"persona": NAME, "system": HOSTILE, "params": {"stop": [HOSTILE]}}
    panes = {"panes": {"1": {"system": HOSTILE, "persona": NAME}}}
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "UPDATE messages SET content = :t, reasoning = :t, error = CASE WHEN error IS NULL"
        " THEN NULL ELSE :t END, profile = :n, backend = :n, model = :n, adapter = :n,"
        " params = :p",
        {"t": HOSTILE, "n": NAME, "p": json.dumps({"stop": [HOSTILE]})},
    )
    db.execute(
        "UPDATE conversations SET title = :n, profile = :n, model = :n, settings = CASE kind"
        " WHEN 'compare' THEN :c ELSE :s END",
        {"n": NAME, "s": json.dumps(settings), "c": json.dumps(panes)},
    )
    db.execute(
        "UPDATE votes SET prompt = :t, reply_a = :t, reply_b = :t, model_a = :n, model_b = :n,"
        " flagged = :n, tag = :n, details = :d",
        {"t": HOSTILE, "n": NAME, "d": json.dumps({"a": {"target": {"profile": NAME}}})},
    )
    db.close()


def assert_every_read_path_is_clean(store: Store, chat: int, compare: int) -> None:
    read: list[str] = []
    for c in store.conversations():
        read += [c.title, c.profile or "", c.model or "", *strings(dict(c.settings))]
    thread = store.thread(chat)
    messages = [*thread, *store.children(thread[1].id), *store.siblings(thread[2].id)]
    messages += [store.message(thread[2].id)]  # type: ignore[list-item]
    messages += [r for _, replies in store.turns(compare) for r in replies]
    for m in messages:
        read += [m.content, m.reasoning, m.error or "", *strings(dict(m.params))]
        read += [m.profile or "", m.backend or "", m.model or "", m.adapter or ""]
    for vote in vote_store.votes(store):
        read += [vote.prompt, vote.reply_a, vote.reply_b, vote.model_a, vote.model_b]
        read += [vote.flagged or "", vote.tag, *strings(dict(vote.details))]
    for ballot in vote_store.ballots(store, flagged=True):
        read += [ballot.a, ballot.b]
    read += vote_store.vote_tags(store)
    for text in read:
        assert_inert(text, tags=None)
    # The text around each sequence, and every marker, arrives: only the sequences went.
    assert_inert(thread[1].content)
    assert thread[1].content.startswith("lighthouse <0<>0>") and thread[1].content.endswith(
        "keeper"
    )
    assert_inert(store.conversation(chat).title)  # type: ignore[union-attr]
    for marks in (("[", "]"), MARKS):
        hits = search(store, "lighthouse", marks=marks)
        assert hits and all(f"{marks[0]}lighthouse{marks[1]}" in h.snippet for h in hits)
        # A word inside a sequence matches in the index, but shows nowhere.
        hits += search(store, "PWNED", marks=marks)
        for hit in hits:
            assert_inert(hit.title, tags=None)
            assert_inert("".join(hit.snippet.split(marks[0])).replace(marks[1], ""), tags=None)
    for conversation in (chat, compare):
        assert_inert(export_markdown(store, conversation), tags=None)
        for text in strings(export_json(store, conversation)):
            assert_inert(text, tags=None)


def test_sequences_planted_in_an_existing_database_read_back_clean_everywhere(
    db_path: Path,
) -> None:
    with Store(db_path) as store:
        chat, compare = a_conversation_of_every_kind(store)
    plant_by_sql(db_path)
    with Store(db_path) as store:
        assert_every_read_path_is_clean(store, chat, compare)


def test_sequences_in_an_import_are_cleaned_before_they_are_written(
    db_path: Path, tmp_path: Path
) -> None:
    with Store(db_path) as store:
        chat, _compare = a_conversation_of_every_kind(store)
    plant_by_sql(db_path)
    # An export whose every text holds the sequences: the raw rows, as another program
    # would write them (reading through the store would clean them first).
    raw = sqlite3.connect(db_path)
    rows = raw.execute("SELECT id, parent_id, role, content, reasoning, model FROM messages"
                       " WHERE conversation_id = ?", (chat,)).fetchall()  # fmt: skip
    raw.close()
    hostile = {
        "title": NAME,
        "settings": {"persona": NAME, "system": HOSTILE, "params": {"stop": [HOSTILE]}},
        "tree": [
            {"id": i, "parent": p, "role": role, "content": content,
             "genchat": {"reasoning": reasoning, "model": model, "error": HOSTILE}}
            for i, p, role, content, reasoning, model in rows
        ],
    }  # fmt: skip
    assert any(PAYLOADS[0] in s for s in strings(hostile))
    result = run_in_process("import", str(import_file(tmp_path, hostile)))
    assert result.returncode == 0, result.stderr
    new_id = int(result.stdout.split()[-1])
    raw = sqlite3.connect(db_path)
    written = raw.execute(
        "SELECT title, settings FROM conversations WHERE id = ?", (new_id,)
    ).fetchone() + tuple(
        text
        for row in raw.execute(
            "SELECT content, reasoning, model, error, params FROM messages"
            " WHERE conversation_id = ?",
            (new_id,),
        )
        for text in row
        if text
    )
    raw.close()
    assert len(written) > 4
    for text in written:
        assert_inert(text, tags=None)
    assert NAME.split("<0<")[0] in written[0]  # the title, cut to its length
    assert_inert(written[2])  # the first message: every marker arrived, with what surrounds it


def test_the_command_line_shows_planted_sequences_clean(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        chat, _compare = a_conversation_of_every_kind(store)
    plant_by_sql(db_path)
    listed = run_in_process("history")
    found = run_in_process("history", "--search", "lighthouse PWNED")
    markdown = run_in_process("export", str(chat))
    as_json = run_in_process("export", str(chat), "--format", "json")
    for result in (listed, found, markdown, as_json):
        assert result.returncode == 0, result.stderr
        assert_inert(result.stdout.replace("\n", " "), tags=None)
    assert_inert(listed.stdout)
    for text in strings(json.loads(as_json.stdout)):
        assert_inert(text, tags=None)


# -- item 4 and 9: a damaged database ------------------------------------------------------


DAMAGED = b"SQLite format 3\x00" + b"this is not a database, it is a grocery list\n" * 200


def damaged_database(path: Path, rows: int) -> bytes:
    """A real SQLite file whose pages in the middle were overwritten: `quick_check` reads it
    all before it reports the damage, which leaves several genchats time to find it at once
    (with 4 of them, the original was lost in 5 of 8 rounds before the fix)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", ((f"row {i} " * 40,) for i in range(rows)))
    db.commit()
    db.close()
    size = path.stat().st_size
    with path.open("r+b") as file:
        for at in range(size // 2, size // 2 + 40 * 4096, 4096):
            file.seek(at)
            file.write(b"\x0d\xff\xff" * 30)  # a page header that points past its page
    data = path.read_bytes()
    path.unlink()
    return data


def test_several_genchats_opening_a_damaged_database_at_once_keep_the_original(
    db_path: Path, tmp_path: Path
) -> None:
    db_path.parent.mkdir(parents=True)
    damaged = damaged_database(tmp_path / "damaged.db", 30_000)
    for round_ in range(4):
        for leftover in db_path.parent.iterdir():
            leftover.unlink()
        db_path.write_bytes(damaged + str(round_).encode())
        original = hashlib.sha256(db_path.read_bytes()).hexdigest()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "genchat", "history"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=os.environ.copy(),
            )
            for _ in range(4)
        ]
        said = [p.communicate(timeout=120)[1].decode() for p in processes]
        backups = [
            b for b in db_path.parent.glob("genchat.db.damaged-*")
            if not b.name.endswith(("-wal", "-shm"))
        ]  # fmt: skip
        digests = [hashlib.sha256(b.read_bytes()).hexdigest() for b in backups]
        # Exactly one backup, the original: never a fresh database another genchat started.
        assert digests == [original], (round_, backups, said)
        # The one that moved it says so; and the database in its place works.
        assert sum("was damaged" in s for s in said) == 1, said
        with Store(db_path) as store:
            assert store.moved_aside is None and store.conversations() == []


@pytest.mark.parametrize("command", ["history", "export", "import"])
def test_history_export_and_import_say_the_database_was_damaged_and_exit_1(
    db_path: Path, tmp_path: Path, command: str
) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(DAMAGED)
    args = {
        "history": ["history"],
        "export": ["export", "1"],
        "import": ["import", str(import_file(tmp_path, [{"role": "user", "content": "Hi"}]))],
    }[command]
    result = run_in_process(*args)
    assert result.returncode == 1, result.stderr
    [moved] = db_path.parent.glob("genchat.db.damaged-*")
    assert f"the history database was damaged; it was moved to {moved}" in result.stderr
    assert moved.read_bytes() == DAMAGED
    assert "Traceback" not in result.stderr
    if command == "import":  # the import itself went into the fresh database
        assert "imported as conversation 1" in result.stdout
    again = run_in_process("history")  # the fresh database is fine: said once, when found
    assert again.returncode == 0 and "damaged" not in again.stderr


# -- items 6, 10 and 24: imports are checked whole, and written whole ---------------------


def deep(levels: int) -> str:
    return (
        '{"messages": [{"role": "user", "content": "x", "genchat": {"params": '
        + ("[" * levels + "]" * levels)
        + "}}]}"
    )


MESSAGE = {"role": "user", "content": "Hi"}
REPLY = {"role": "assistant", "content": "Hello"}
BAD_FILES: dict[str, tuple[str, str]] = {
    "10,000 levels deep": (deep(10_000), "levels deep"),
    "40 levels deep": (deep(40), "levels deep"),
    "a lone surrogate": ('[{"role": "user", "content": "caf\\udce9"}]', "half of a UTF-16"),
    "a lone surrogate in a key": ('[{"role": "user", "content": "x", "\\ud800": 1}]', "UTF-16"),
    "an unhashable tree id": (
        json.dumps({"tree": [{**MESSAGE, "id": [1], "parent": None}]}),
        "its `id` must be a number or a string",
    ),
    "an unhashable parent": (
        json.dumps({"tree": [{**MESSAGE, "id": 1, "parent": {"a": 1}}]}),
        "is not the id of a message before it",
    ),
    "a parent that is not in the tree": (
        json.dumps(
            {"tree": [{**MESSAGE, "id": 1, "parent": None}, {**REPLY, "id": 2, "parent": 7}]}
        ),
        "`parent` 7 is not the id",
    ),
    "an id used twice": (
        json.dumps(
            {"tree": [{**MESSAGE, "id": 1, "parent": None}, {**REPLY, "id": 1, "parent": 1}]}
        ),
        "used twice",
    ),
    "an unhashable active leaf": (
        json.dumps({"tree": [{**MESSAGE, "id": 1, "parent": None}], "active_leaf": [1]}),
        "`active_leaf`",
    ),
    "a bad status late in the file": (
        json.dumps([MESSAGE, REPLY, MESSAGE, {**REPLY, "genchat": {"status": "great"}}]),
        "Message 4: `genchat.status` must be one of",
    ),
    "a pane that is not a number": (
        json.dumps([MESSAGE, {**REPLY, "genchat": {"pane": "1"}}]),
        "`genchat.pane` must be a pane number",
    ),
    "metrics that are not numbers": (
        json.dumps([MESSAGE, {**REPLY, "genchat": {"metrics": {"ttft_s": "fast"}}}]),
        "`genchat.metrics` must be an object of numbers",
    ),
    "reply params with an unknown key": (
        json.dumps([MESSAGE, {**REPLY, "genchat": {"params": {"bogus": 1}}}]),
        "Message 2: genchat.params.bogus: unknown key",
    ),
    "settings.params with an unknown key": (
        json.dumps({"messages": [MESSAGE], "settings": {"params": {"bogus": 1}}}),
        "settings.params.bogus: unknown key",
    ),
    "settings.params as text": (
        json.dumps({"messages": [MESSAGE], "settings": {"params": "x"}}),
        "settings.params: must be an object of parameters (got 'x')",
    ),
    "settings.params out of range": (
        json.dumps({"messages": [MESSAGE], "settings": {"params": {"temperature": 9}}}),
        "settings.params.temperature: Input should be less than or equal to 2",
    ),
    "settings.params with the system prompt": (
        json.dumps({"messages": [MESSAGE], "settings": {"params": {"system": "x"}}}),
        "settings.params.system",
    ),
    "an unknown setting": (
        json.dumps({"messages": [MESSAGE], "settings": {"colour": "red"}}),
        "settings.colour: unknown setting",
    ),
    "a pane's bad settings": (
        json.dumps(
            {
                "tree": [{**MESSAGE, "id": 1, "parent": None}],
                "kind": "compare",
                "settings": {"panes": {"1": {"params": {"top_p": 0}}}},
            }
        ),
        "settings.panes.1.params.top_p",
    ),
    "a title that is not text": (json.dumps({"messages": [MESSAGE], "title": 5}), "`title`"),
    "an unknown kind": (json.dumps({"messages": [MESSAGE], "kind": "poll"}), "`kind`"),
    "a created date that is not one": (
        json.dumps({"messages": [MESSAGE], "created": "yesterday"}),
        "`created` must be a date",
    ),
    "an empty array": ("[]", "holds no messages: there is nothing to import"),
    "no messages": ('{"title": "t", "messages": []}', "holds no messages"),
    "a tree that is not a list": (
        json.dumps({"messages": [MESSAGE], "tree": "x"}),
        "`tree` must be a list",
    ),
    "not JSON": ('{"messages": [', "is not JSON"),
    "a number": ("5", "neither a genchat JSON export nor an array of messages"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_malformed_import_is_refused_in_one_line_and_leaves_nothing(
    db_path: Path, tmp_path: Path, case: str
) -> None:
    text, expected = BAD_FILES[case]
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    result = run_in_process("import", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("genchat: Cannot import: "), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr
    with Store(db_path) as store:
        assert store.conversations() == []


def test_an_import_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('[{"role": "user", "content": "café"}]'.encode("latin-1"))
    result = run_in_process("import", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "is not UTF-8 text (byte 33 is 0xe9)" in result.stderr


def test_an_import_larger_than_the_cap_is_refused_naming_the_limit(tmp_path: Path) -> None:
    path = import_file(tmp_path, [{"role": "user", "content": "x" * 200}])
    assert read_export(path, max_bytes=path.stat().st_size).messages[0].content == "x" * 200
    with pytest.raises(BadImport, match=r"larger than the 199 bytes genchat imports") as caught:
        read_export(path, max_bytes=199)
    assert "IMPORT_MAX_BYTES" in caught.value.message
    assert IMPORT_MAX_BYTES == 64 * 1024 * 1024  # the documented figure (README, "Import")


def test_an_import_that_fails_while_writing_leaves_nothing_behind(db_path: Path) -> None:
    with Store(db_path) as store:
        kept = store.new_conversation()
        store.add_message(kept, None, "user", "saved before")
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # as a full disk answers
        export = [{"role": "user", "content": f"message {i} " + "x" * 2000} for i in range(50)]
        with pytest.raises(StoreError, match="disk is full"):
            store.import_conversation(export)
        assert [c.id for c in store.conversations()] == [kept]
        assert store._db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_bad_settings_already_in_a_database_are_dropped_with_a_warning(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Store(db_path) as store:
        chat = store.new_conversation()
        store.add_message(chat, None, "user", "Hi")
    db = sqlite3.connect(db_path, isolation_level=None)
    settings = {"params": {"bogus": 1}, "system": "Be brief.", "persona": 5}
    db.execute("UPDATE conversations SET settings = ?", (json.dumps(settings),))
    db.close()
    with Store(db_path) as store:
        found = store.conversation(chat)
    assert found is not None and found.settings == {"system": "Be brief."}
    assert "dropped the setting 'params': settings.params.bogus: unknown key" in caplog.text
    assert "dropped the setting 'persona'" in caplog.text
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("UPDATE conversations SET settings = ?", ('{"params": "x"}',))
    db.execute("UPDATE conversations SET settings = '{\"params\": ' || ? || '}'",
               ("[" * 5000 + "]" * 5000,))  # fmt: skip
    db.close()
    with Store(db_path) as store:
        assert store.conversation(chat).settings == {}  # type: ignore[union-attr]


def test_valid_settings_read_back_as_the_chat_screen_uses_them(db_path: Path) -> None:
    with Store(db_path) as store:
        chat = store.new_conversation()
        settings = {"persona": "p", "system": "s", "params": {"temperature": 0.5, "stop": ["x"]}}
        store.set_settings(chat, settings)
        found = store.conversation(chat)
    assert found is not None and found.settings == settings
    GenerationParams(**found.settings["params"])  # as ChatScreen._params builds them


# -- item 18: a reply cut off by an earlier process with the same PID -----------------------


def plant_streaming(path: Path, pid: int, created: float) -> None:
    with Store(path) as store:
        chat = store.new_conversation()
        store.add_message(chat, None, "assistant", "half a reply")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "UPDATE messages SET status = 'streaming', writer_pid = ?, created = ?", (pid, created)
    )
    db.close()


def test_a_streaming_reply_of_an_earlier_process_with_this_pid_is_interrupted(
    db_path: Path,
) -> None:
    # In a container every genchat is PID 1: the reply an earlier one left is not ours.
    plant_streaming(db_path, os.getpid(), time.time() - 3600)
    with Store(db_path) as store:
        assert store.interrupted == 1
        [message] = store.thread(store.conversations()[0].id)
    assert message.status == "interrupted" and message.content == "half a reply"


def test_a_streaming_reply_this_process_writes_stays_streaming(db_path: Path) -> None:
    with Store(db_path) as writer:
        chat = writer.new_conversation()
        writer.add_message(chat, None, "assistant", "", status="streaming")
        with Store(db_path) as reader:
            assert reader.interrupted == 0
            assert reader.thread(chat)[0].status == "streaming"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="start times from /proc")
def test_a_streaming_reply_whose_pid_a_later_process_took_is_interrupted(db_path: Path) -> None:
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        plant_streaming(db_path, later.pid, time.time() - 3600)  # written before it started
        with Store(db_path) as store:
            assert store.interrupted == 1
        plant_streaming(db_path, later.pid, time.time())  # written by it: still streaming
        with Store(db_path) as store:
            assert store.interrupted == 0
    finally:
        later.kill()
        later.wait()


# -- item 29: a Markdown export after a reply stopped inside a code block ------------------


def headings_and_code(markdown: str) -> tuple[list[str], list[str]]:
    tokens = MarkdownIt("commonmark").parse(markdown)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    code = [t.content for t in tokens if t.type in ("fence", "code_block", "html_block")]
    return headings, code


@pytest.mark.parametrize(
    "stopped",
    [
        "Here:\n\n```python\ndef focus(r):\n    return",
        "Here:\n\n````\n```\nnested\n",
        "~~~\ncode",
        "A table:\n<pre>\nraw",
        "Hidden:\n\n<!-- a comment\nthat never ends",
    ],
)
def test_a_markdown_export_closes_what_a_stopped_reply_left_open(
    db_path: Path, stopped: str
) -> None:
    with Store(db_path) as store:
        chat = store.new_conversation("Lenses")
        user = store.add_message(chat, None, "user", "Show me")
        reply = store.add_message(chat, user, "assistant", stopped, status="stopped")
        after = store.add_message(chat, reply, "user", "Thanks, go on")
        store.add_message(chat, after, "assistant", "Gladly.")
        markdown = export_markdown(store, chat)
    headings, code = headings_and_code(markdown)
    assert headings == ["Lenses", "You", "Assistant", "You", "Assistant"]
    assert not any("Thanks, go on" in block or "stopped" in block for block in code)
    assert "*(stopped)*" in markdown
    assert stopped.rstrip("\n") in markdown  # the reply itself is exported as it is


def test_a_compare_export_closes_what_a_stopped_pane_left_open(db_path: Path) -> None:
    with Store(db_path) as store:
        session = store.new_conversation("Two", kind="compare")
        prompt = store.add_message(session, None, "user", "Code please")
        store.add_message(session, prompt, "assistant", "```\nopen", pane=0, status="stopped")
        store.add_message(session, prompt, "assistant", "Done.", pane=1)
        markdown = export_markdown(store, session)
    headings, code = headings_and_code(markdown)
    assert "Summary" in headings and any(h.startswith("2 ") for h in headings)
    assert not any("Done." in block or "Summary" in block for block in code)


def test_the_compare_summarys_own_export_closes_what_a_stopped_pane_left_open() -> None:
    """The summary screen's Markdown export (`comparison.markdown`), not only the stored one."""
    from genchat.compare.comparison import Turn, markdown

    turn = Turn("Code please", replies={0: "```\nopen", 1: "Done."}, finish={0: "cancelled"})
    headings, code = headings_and_code(markdown("Two", ["a", "b"], [turn]))
    assert any(h.startswith("2 ") for h in headings)
    assert not any("Done." in block for block in code)


# -- item 30: the JSON export's system message, and the round trip ------------------------


def without_id(export: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in export.items() if k != "id"}


def test_the_json_export_starts_with_the_system_prompt_set_in_the_settings(
    db_path: Path,
) -> None:
    with Store(db_path) as store:
        chat = store.new_conversation()
        user = store.add_message(chat, None, "user", "Hello")
        store.add_message(chat, user, "assistant", "Hi!")
        store.set_settings(chat, {"system": "Answer in French."})  # after the thread began
        exported = export_json(store, chat)
        assert [(m["role"], m["content"]) for m in exported["messages"]] == [
            ("system", "Answer in French."), ("user", "Hello"), ("assistant", "Hi!"),
        ]  # fmt: skip
        assert "system" not in [m["role"] for m in exported["tree"]]  # not a stored message
        copy = store.import_conversation(json.loads(json.dumps(exported)))
        # Applied once: the copy holds it in its settings, not a second time as a message.
        assert [m.role for m in store.thread(copy)] == ["user", "assistant"]
        assert store.conversation(copy).settings == {"system": "Answer in French."}  # type: ignore[union-attr]
        assert without_id(export_json(store, copy)) == without_id(exported)


def test_a_stored_system_message_is_exported_once_and_a_cleared_one_not_at_all(
    db_path: Path,
) -> None:
    with Store(db_path) as store:
        chat = store.new_conversation()
        store.set_settings(chat, {"system": "Be terse."})
        system = store.add_message(chat, None, "system", "Be terse.")
        store.add_message(chat, system, "user", "Hi")
        roles = [m["role"] for m in export_json(store, chat)["messages"]]
        assert roles == ["system", "user"]
        store.set_settings(chat, {"system": ""})  # the user cleared it
        assert [m["role"] for m in export_json(store, chat)["messages"]] == ["user"]
        assert "## System" not in export_markdown(store, chat)


def test_export_import_export_gives_the_same_file_for_every_kind_of_conversation(
    db_path: Path,
) -> None:
    with Store(db_path) as store:
        chat, compare = a_conversation_of_every_kind(store)
        for conversation in (chat, compare):
            first = json.loads(json.dumps(export_json(store, conversation)))
            copy = store.import_conversation(first)
            again = export_json(store, copy)
            assert without_id(again) == without_id(first)
            assert again["id"] == copy


# -- the command line: a directory or a missing one as the output --------------------------


def test_export_to_a_directory_or_a_missing_one_is_one_clear_line(
    db_path: Path, tmp_path: Path
) -> None:
    with Store(db_path) as store:
        store.add_message(store.new_conversation(), None, "user", "Hi")
    for target, expected in (
        (tmp_path, "it is a directory"),
        (tmp_path / "no" / "x.md", "No such"),
    ):
        result = run_in_process("export", "1", "-o", str(target))
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert f"cannot write {target}" in result.stderr and expected in result.stderr
