"""Conversations in SQLite: saved as they stream, searchable, and never silently lost.

One file, `genchat.db` in the data dir (`GENCHAT_DATA_DIR` overrides it), in WAL mode so that a
second genchat can read while one writes, with a busy timeout for the writes. Messages form a
tree: each has a parent, and a conversation records the leaf of its active branch, so an edit, a
regeneration or a compare pane is a sibling branch rather than a copy. Full-text search runs on
an FTS5 index kept in step by triggers.

The schema is versioned with SQLite's `user_version`. A database from a newer genchat is refused
and left untouched; one that is damaged is moved aside, under a lock and only if it is still the
file that was checked, to a name no file has, and a fresh one is started (`damage_note` says
where it went). A reply is written while it streams, marked `streaming` with the writing
process's id; when genchat opens the store and finds such a row whose writer is gone (no such
process, or one that started after the row was made: a reused PID), the reply is marked
`interrupted`, with the text it had.

Every string read back is cleaned of terminal control sequences (`genchat.untrusted`), where
rows become records; imports are checked whole and cleaned first (`genchat.history_import`).

Nothing here imports Textual. Every method blocks (SQLite is quick, but a disk is not always):
the TUI calls them off the event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from genchat.errors import GenchatError
from genchat.history_import import (
    Import,
    check_export,
    clean_json,
    clean_settings,
    settings_problems,
)
from genchat.logs import logger
from genchat.markdown_blocks import close_open_blocks
from genchat.paths import data_dir
from genchat.untrusted import clean, clean_line
from genchat.votes import Ballot, Outcome

log = logger(__name__)

SCHEMA_VERSION = 3
DB_NAME = "genchat.db"
BUSY_TIMEOUT_MS = 5000
OPEN_ATTEMPTS = 3
"""How often opening checks the file again after finding it damaged (and moving it aside, or
finding that another genchat did)."""
TITLE_CHARS = 60
SNIPPET_TOKENS = 12
"""The most words a search result's snippet shows."""
_HAS_CONTROL = "*[\x01-\x08\x0b-\x1f\x7f-\x9f]*"
"""A GLOB pattern that text with a control character matches (all but tab and newline)."""

Status: TypeAlias = Literal["complete", "streaming", "stopped", "error", "interrupted"]
TitleSource: TypeAlias = Literal["message", "model", "user"]
"""Where a conversation's title came from: its first message, its model, or the user, whose
title nothing replaces."""
STATUSES: tuple[Status, ...] = ("complete", "streaming", "stopped", "error", "interrupted")


class StoreError(GenchatError):
    """The history database cannot be used. Chatting still works; nothing is saved."""

    title = "History not saved"


class NewerSchema(StoreError):
    title = "History from a newer genchat"


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    content: str
    status: Status = "complete"
    reasoning: str = ""
    profile: str | None = None
    backend: str | None = None
    model: str | None = None
    adapter: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    created: float = 0.0
    pane: int | None = None
    """In a compare session, the pane (0-3) that wrote this reply."""
    chosen: bool = False
    """In a compare session, whether this reply is the one every pane continued from."""


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    kind: str
    created: float
    updated: float
    active_leaf: int | None
    profile: str | None = None
    model: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    """What the user chose for this conversation: `persona`, `system`, `params`."""
    title_by: TitleSource = "message"
    messages: int = 0


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int
    title: str
    snippet: str
    """The matching text, each match between the two `marks` given to `search`."""


@dataclass(frozen=True)
class StoredVote:
    """An arena vote: the prompt, both replies, which was better, and what made them."""

    id: int
    created: float
    prompt: str
    outcome: Outcome
    model_a: str
    model_b: str
    """The names the models were recorded under (they count by these, whatever the
    profiles are called now)."""
    reply_a: str
    reply_b: str
    flagged: str | None = None
    """Why the vote is left out of the leaderboard by default (a reply names a model)."""
    tag: str = ""
    conversation_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    """Per side (`a`, `b`): the target (profile, backend, model, adapter), parameters, metrics,
    and when the reply started and finished."""


# Each entry migrates from the version before it to the next; index 0 makes version 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        id          INTEGER PRIMARY KEY,
        title       TEXT NOT NULL DEFAULT '',
        kind        TEXT NOT NULL DEFAULT 'chat',
        created     REAL NOT NULL,
        updated     REAL NOT NULL,
        active_leaf INTEGER,
        profile     TEXT,
        model       TEXT
    );
    CREATE TABLE messages (
        id              INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id       INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content         TEXT NOT NULL DEFAULT '',
        reasoning       TEXT NOT NULL DEFAULT '',
        status          TEXT NOT NULL DEFAULT 'complete' CHECK (status IN
                            ('complete', 'streaming', 'stopped', 'error', 'interrupted')),
        error           TEXT,
        profile         TEXT,
        backend         TEXT,
        model           TEXT,
        adapter         TEXT,
        params          TEXT NOT NULL DEFAULT '{}',
        metrics         TEXT NOT NULL DEFAULT '{}',
        pane            INTEGER,
        chosen          INTEGER NOT NULL DEFAULT 0,
        writer_pid      INTEGER,
        created         REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX messages_by_parent ON messages(parent_id);
    CREATE INDEX conversations_by_update ON conversations(updated DESC);
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='id', tokenize='unicode61'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    """,
    """
    ALTER TABLE conversations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE conversations ADD COLUMN title_by TEXT NOT NULL DEFAULT 'message';
    """,
    """
    CREATE TABLE votes (
        id              INTEGER PRIMARY KEY,
        created         REAL NOT NULL,
        conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
        tag             TEXT NOT NULL DEFAULT '',
        prompt          TEXT NOT NULL,
        outcome         TEXT NOT NULL CHECK (outcome IN ('a', 'b', 'tie', 'bad')),
        flagged         TEXT,
        model_a         TEXT NOT NULL,
        model_b         TEXT NOT NULL,
        reply_a         TEXT NOT NULL,
        reply_b         TEXT NOT NULL,
        ttft_a          REAL,
        ttft_b          REAL,
        tps_a           REAL,
        tps_b           REAL,
        details         TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX votes_by_time ON votes(created);
    """,
)
assert len(MIGRATIONS) == SCHEMA_VERSION


def damage_note(store: Store) -> str | None:
    """What to tell the user when opening `store` found the database damaged: where the
    damaged file went (it is kept, for recovery) and that a fresh one was started."""
    if store.moved_aside is None:
        return None
    return (
        f"the history database was damaged; it was moved to {store.moved_aside} and a new one "
        "started. Nothing in the old file was deleted: `sqlite3 FILE .recover` may bring back "
        "what it holds."
    )


def default_path() -> Path:
    return data_dir() / DB_NAME


class Store:
    """The history database. Thread-safe: one connection, used under a lock."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.moved_aside: Path | None = None
        """Where a damaged database was moved, when opening found one."""
        self.interrupted = 0
        """Replies found cut off by a process that died mid-stream, marked when opened."""
        self._lock = threading.Lock()
        self._db = self._open()
        self.interrupted = self._mark_interrupted()

    # -- opening ----------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unusable(self.path, exc) from exc
        for attempt in range(OPEN_ATTEMPTS):
            checked = _identity(self.path)
            try:
                return self._connect()
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc) or attempt == OPEN_ATTEMPTS - 1:
                    raise _unusable(self.path, exc) from exc
                # Move only the file that was checked: another genchat that found the same
                # damage may have moved it already, and started the fresh file now there.
                if _identity(self.path) == checked:
                    self.moved_aside = _move_aside(self.path, checked) or self.moved_aside
            except OSError as exc:
                raise _unusable(self.path, exc) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            # Raises on a file that is not SQLite; lists problems in one that is damaged.
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise NewerSchema(
                    f"{self.path} was written by a newer genchat (history schema {version}; "
                    f"this one reads up to {SCHEMA_VERSION}). It was left untouched. Upgrade "
                    "genchat, or set GENCHAT_DATA_DIR to keep this version's history elsewhere."
                )
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")  # where a filesystem refuses, the default
            db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, and quick
            self._migrate(db, version)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            try:
                db.executescript(
                    f"BEGIN IMMEDIATE; {MIGRATIONS[target - 1]};"
                    f" PRAGMA user_version = {target}; COMMIT;"
                )
            except sqlite3.OperationalError:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                # Another genchat may have migrated it a moment ago.
                if int(db.execute("PRAGMA user_version").fetchone()[0]) < target:
                    raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------

    def new_conversation(
        self,
        title: str = "",
        *,
        kind: str = "chat",
        profile: str | None = None,
        model: str | None = None,
    ) -> int:
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, kind, created, updated, profile, model)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (_title(title), kind, now, now, profile, model),
            )
            return int(cursor.lastrowid or 0)

    def add_message(
        self,
        conversation_id: int,
        parent_id: int | None,
        role: str,
        content: str,
        *,
        status: Status = "complete",
        profile: str | None = None,
        backend: str | None = None,
        model: str | None = None,
        adapter: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        error: str | None = None,
        reasoning: str = "",
        pane: int | None = None,
    ) -> int:
        """Add a message under `parent_id` and make it the conversation's active leaf."""
        with self._write() as db:
            return _insert_message(
                db, conversation_id, parent_id, role, content, status=status, profile=profile,
                backend=backend, model=model, adapter=adapter, params=params, metrics=metrics,
                error=error, reasoning=reasoning, pane=pane,
            )  # fmt: skip

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        reasoning: str | None = None,
        status: Status | None = None,
        metrics: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Write a streaming reply's progress, or its end (any status but `streaming`)."""
        sets, values = [], []
        for column, value in (("content", content), ("reasoning", reasoning), ("error", error)):
            if value is not None:
                sets.append(f"{column} = ?")
                values.append(value)
        if metrics is not None:
            sets.append("metrics = ?")
            values.append(json.dumps(dict(metrics)))
        if status is not None:
            sets.append("status = ?")
            values.append(status)
            if status != "streaming":
                sets.append("writer_pid = NULL")
        if not sets:
            return
        with self._write() as db:
            db.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*values, message_id))
            db.execute(
                "UPDATE conversations SET updated = ? WHERE id ="
                " (SELECT conversation_id FROM messages WHERE id = ?)",
                (time.time(), message_id),
            )

    def rename(self, conversation_id: int, title: str, *, by: TitleSource = "user") -> bool:
        """Set the title. A title the user gave is only ever replaced by the user; returns
        whether the title was set."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ?, title_by = ? WHERE id = ?"
                " AND (? = 'user' OR title_by != 'user')",
                (_title(title), by, conversation_id, by),
            )
            return cursor.rowcount > 0

    def set_settings(self, conversation_id: int, settings: Mapping[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE conversations SET settings = ? WHERE id = ?",
                (json.dumps(dict(settings)), conversation_id),
            )

    def choose(self, message_id: int, chosen: bool = True) -> None:
        """Mark a compare reply as the one every pane continues from (or unmark it); its
        siblings are unmarked."""
        with self._write() as db:
            _choose(db, message_id, chosen)

    def set_active_leaf(self, conversation_id: int, leaf: int | None) -> None:
        """Make the branch ending at `leaf` the conversation's thread (`None`: empty)."""
        with self._write() as db:
            db.execute(
                "UPDATE conversations SET active_leaf = ? WHERE id = ?", (leaf, conversation_id)
            )

    def fork(self, conversation_id: int, upto: int | None = None) -> int:
        """A new conversation holding a copy of the thread up to `upto` (default: all of the
        active thread), with the same settings; returns its id."""
        source = self._require(conversation_id)
        thread = self.thread(conversation_id, upto)
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, kind, created, updated, profile, model,"
                " settings, title_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _title(f"{source.title} (fork)") if source.title else "",
                    source.kind,
                    now,
                    now,
                    source.profile,
                    source.model,
                    json.dumps(dict(source.settings)),
                    source.title_by,
                ),
            )
            new_id = int(cursor.lastrowid or 0)
            parent: int | None = None
            for m in thread:
                cursor = db.execute(
                    "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning,"
                    " status, error, profile, backend, model, adapter, params, metrics, pane,"
                    " chosen, created) SELECT ?, ?, role, content, reasoning,"
                    " CASE status WHEN 'streaming' THEN 'interrupted' ELSE status END, error,"
                    " profile, backend, model, adapter, params, metrics, pane, chosen, created"
                    " FROM messages WHERE id = ?",
                    (new_id, parent, m.id),
                )
                parent = int(cursor.lastrowid or 0)
            db.execute("UPDATE conversations SET active_leaf = ? WHERE id = ?", (parent, new_id))
        return new_id

    def delete(self, conversation_id: int) -> bool:
        """Delete a conversation and its messages; returns whether it existed."""
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cursor.rowcount > 0

    def import_conversation(self, data: Mapping[str, Any] | list[Any] | Import) -> int:
        """Add a conversation exported as JSON (`export_json`, or a bare array of OpenAI
        messages); returns its new id. With a `tree`, every message comes back (versions,
        compare panes, the active branch); without one, the `messages` list is the thread.

        The whole file is checked first (`genchat.history_import`: a mistake raises
        `BadImport`, naming it) and written in one transaction: nothing is left of a failure.
        """
        imported = data if isinstance(data, Import) else check_export(data)
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, kind, created, updated, settings)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    _title(imported.title),
                    imported.kind,
                    imported.created if imported.created is not None else now,
                    now,
                    json.dumps(dict(imported.settings)),
                ),
            )
            conversation = int(cursor.lastrowid or 0)
            new_ids: dict[int | str, int] = {}
            last: int | None = None
            for m in imported.messages:
                parent = new_ids.get(m.parent) if imported.tree and m.parent is not None else None
                last = _insert_message(
                    db, conversation, parent if imported.tree else last, m.role, m.content,
                    status=m.status,  # type: ignore[arg-type]
                    profile=m.profile, backend=m.backend, model=m.model, adapter=m.adapter,
                    params=m.params, metrics=m.metrics, error=m.error, reasoning=m.reasoning,
                    pane=m.pane, created=now,
                )  # fmt: skip
                if m.key is not None:
                    new_ids[m.key] = last
                if m.chosen:
                    _choose(db, last, True)
            if imported.tree:
                leaf = (
                    new_ids.get(imported.active_leaf) if imported.active_leaf is not None else None
                )
                db.execute(
                    "UPDATE conversations SET active_leaf = ? WHERE id = ?", (leaf, conversation)
                )
        return conversation

    # -- reading ----------------------------------------------------------------------------

    def conversation(self, conversation_id: int) -> Conversation | None:
        rows = self._conversations("WHERE c.id = ?", (conversation_id,), 1, 0)
        return rows[0] if rows else None

    def message(self, message_id: int) -> StoredMessage | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        return _message(row) if row else None

    def conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Newest first."""
        return self._conversations("", (), limit, offset)

    def last_conversation(self) -> Conversation | None:
        rows = self.conversations(limit=1)
        return rows[0] if rows else None

    def thread(self, conversation_id: int, leaf: int | None = None) -> list[StoredMessage]:
        """The messages from the root to `leaf` (default: the active leaf), oldest first."""
        if leaf is None:
            found = self.conversation(conversation_id)
            if found is None or found.active_leaf is None:
                return []
            leaf = found.active_leaf
        with self._lock:
            rows = self._db.execute(
                "WITH RECURSIVE up(id) AS (SELECT ? UNION ALL"
                " SELECT m.parent_id FROM messages m JOIN up ON m.id = up.id"
                " WHERE m.parent_id IS NOT NULL)"
                f" SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id IN (SELECT id FROM up)"
                " AND conversation_id = ? ORDER BY id",
                (leaf, conversation_id),
            ).fetchall()
        return [_message(row) for row in rows]

    def turns(self, conversation_id: int) -> list[tuple[StoredMessage, list[StoredMessage]]]:
        """A compare session as it was written: each prompt, oldest first, with every reply
        to it (regenerated ones too), oldest first."""
        messages = self._all_messages(conversation_id)
        replies: dict[int, list[StoredMessage]] = {}
        for m in messages:
            if m.role == "assistant" and m.parent_id is not None:
                replies.setdefault(m.parent_id, []).append(m)
        return [(m, replies.get(m.id, [])) for m in messages if m.role == "user"]

    def _all_messages(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of a conversation, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return [_message(row) for row in rows]

    def children(self, message_id: int) -> list[StoredMessage]:
        """The replies or edits that branch from `message_id`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE parent_id = ? ORDER BY id",
                (message_id,),
            ).fetchall()
        return [_message(row) for row in rows]

    def siblings(self, message_id: int) -> list[StoredMessage]:
        """The versions of a message: it and the others with its parent and role (a
        regenerated reply, an edited prompt), oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id ="
                " (SELECT conversation_id FROM messages WHERE id = :id)"
                " AND parent_id IS (SELECT parent_id FROM messages WHERE id = :id)"
                " AND role = (SELECT role FROM messages WHERE id = :id) ORDER BY id",
                {"id": message_id},
            ).fetchall()
        return [_message(row) for row in rows]

    def branch_through(self, conversation_id: int, message_id: int) -> int | None:
        """The leaf of the branch to show `message_id` on: the active one where it is on it,
        else the newest branch through it."""
        if any(m.id == message_id for m in self.thread(conversation_id)):
            return self._require(conversation_id).active_leaf
        return self.newest_leaf(message_id)

    def newest_leaf(self, message_id: int) -> int:
        """The end of the branch through `message_id` that was written last: from it, always
        the newest child."""
        with self._lock:
            row = self._db.execute(
                "WITH RECURSIVE down(id, depth) AS (SELECT ?, 0 UNION ALL"
                " SELECT (SELECT max(m.id) FROM messages m WHERE m.parent_id = down.id),"
                " depth + 1 FROM down WHERE down.id IS NOT NULL)"
                " SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1",
                (message_id,),
            ).fetchone()
        return int(row[0]) if row else message_id

    def search(
        self, query: str, limit: int = 50, marks: tuple[str, str] = ("[", "]")
    ) -> list[SearchHit]:
        """Messages matching every word of `query` (prefixes too), newest first.

        Newest first, not by relevance: FTS5 walks its index in rowid order and stops at
        `limit`, where ranking must score every match (about 20 times slower for a common
        word in 200,000 messages, `bench/history.py`), and the newest match is the one a
        user is most often after."""
        words = [w.replace('"', '""') for w in query.split()]
        if not words:
            return []
        match = " ".join(f'"{w}"*' for w in words)
        with self._lock:
            # A message holding control characters (an old row, or one written by another
            # program) comes with its text: FTS5's snippet may cut a sequence in two and
            # show its inside, so its snippet is made here from the cleaned text instead.
            rows = self._db.execute(
                "SELECT m.conversation_id, m.id, c.title,"
                f" snippet(messages_fts, 0, ?, ?, '…', {SNIPPET_TOKENS}),"
                " CASE WHEN m.content GLOB ? THEN m.content END"
                " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
                " JOIN conversations c ON c.id = m.conversation_id"
                " WHERE messages_fts MATCH ? ORDER BY messages_fts.rowid DESC LIMIT ?",
                (*marks, _HAS_CONTROL, match, limit),
            ).fetchall()
        return [
            SearchHit(
                id_, message, clean_line(title),
                snippet if raw is None else _snippet(raw, query.split(), marks),
            )
            for id_, message, title, snippet, raw in rows
        ]  # fmt: skip

    # -- export -----------------------------------------------------------------------------

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        """The active thread in OpenAI's messages format, with genchat's metadata alongside,
        starting with the system message where one applies (`_system_prompt`); and the whole
        `tree` (every version of a message, every compare pane), numbered from 1 by id and
        parent, which `import_conversation` brings back as it was. Exporting the imported
        copy gives the same export, but for the conversation's own `id`."""
        conversation = self._require(conversation_id)
        every = self._all_messages(conversation_id)
        number = {m.id: n for n, m in enumerate(every, 1)}
        exported: dict[str, Any] = {
            "id": conversation.id,
            "title": conversation.title,
            "kind": conversation.kind,
            "created": _iso(conversation.created),
            "messages": [_exported(m) for m in self._exported_thread(conversation)],
            "tree": [
                {"id": number[m.id], "parent": number.get(m.parent_id or 0), **_exported(m)}
                for m in every
            ],
            "active_leaf": number.get(conversation.active_leaf or 0),
        }
        if conversation.settings:
            exported["settings"] = dict(conversation.settings)
        return exported

    def export_markdown(self, conversation_id: int) -> str:
        """The active thread as Markdown, for people: each message under a heading, a reply
        that did not complete marked so, and whatever a message left open (a code fence of a
        reply stopped mid-block) closed, so that the next heading is not read as its code."""
        conversation = self._require(conversation_id)
        if conversation.kind == "compare":
            from genchat.comparison import stored_markdown

            turns = [
                (prompt, [replace(r, content=close_open_blocks(r.content)) for r in replies])
                for prompt, replies in self.turns(conversation_id)
            ]
            return stored_markdown(conversation.title, turns)
        lines = [f"# {conversation.title or 'Untitled'}", "", f"*{_iso(conversation.created)}*"]
        for m in self._exported_thread(conversation):
            who = {"user": "You", "system": "System"}.get(m.role) or " · ".join(
                p for p in (m.profile, m.model) if p
            )
            lines += ["", f"## {who or 'Assistant'}", "", close_open_blocks(m.content)]
            if m.status != "complete":
                error = ": " + " ".join(m.error.split()) if m.error else ""
                lines += ["", f"*({m.status}{error})*"]
        return "\n".join(lines) + "\n"

    def _exported_thread(self, conversation: Conversation) -> list[StoredMessage]:
        """The active thread as exports show it: with the system prompt that applies as its
        first message, once, whether the thread or the settings hold it."""
        thread = self.thread(conversation.id)
        system = _system_prompt(conversation, thread)
        rest = [m for m in thread if m.role != "system"]
        if not system:
            return rest
        stored = next((m for m in thread if m.role == "system" and m.content == system), None)
        if stored is None:  # set in the settings after the thread began: not a message
            stored = StoredMessage(0, conversation.id, None, "system", system)
        return [stored, *rest]

    # -- arena votes ------------------------------------------------------------------------

    def add_vote(
        self,
        *,
        prompt: str,
        outcome: Outcome,
        models: tuple[str, str],
        replies: tuple[str, str],
        details: Mapping[str, Any] | None = None,
        flagged: str | None = None,
        tag: str = "",
        conversation_id: int | None = None,
    ) -> int:
        """Keep a vote; each side's `details` metrics give its time to first token and
        tokens per second, which the leaderboard averages."""
        details = dict(details or {})

        def metric(side: str, key: str) -> float | None:
            value = (details.get(side) or {}).get("metrics", {}).get(key)
            return float(value) if isinstance(value, int | float) else None

        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO votes (created, conversation_id, tag, prompt, outcome, flagged,"
                " model_a, model_b, reply_a, reply_b, ttft_a, ttft_b, tps_a, tps_b, details)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(), conversation_id, tag, prompt, outcome, flagged, *models,
                    *replies, metric("a", "ttft_s"), metric("b", "ttft_s"),
                    metric("a", "tokens_per_s"), metric("b", "tokens_per_s"),
                    json.dumps(details),
                ),
            )  # fmt: skip
            return int(cursor.lastrowid or 0)

    def delete_vote(self, vote_id: int) -> bool:
        """Undo a vote; returns whether it existed."""
        with self._write() as db:
            return db.execute("DELETE FROM votes WHERE id = ?", (vote_id,)).rowcount > 0

    def votes(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        tag: str | None = None,
        flagged: bool = True,
    ) -> list[StoredVote]:
        """Votes, oldest first, cast from `since` to before `until`, with `tag`; without
        the flagged ones unless `flagged`."""
        where, args = _vote_filter(since, until, tag, flagged)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created, prompt, outcome, model_a, model_b, reply_a, reply_b,"
                f" flagged, tag, conversation_id, details FROM votes {where} ORDER BY id",
                args,
            ).fetchall()
        return [_vote(row) for row in rows]

    def ballots(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        tag: str | None = None,
        flagged: bool = False,
    ) -> list[Ballot]:
        """What the leaderboard needs of the same votes as `votes` (by default without the
        flagged ones), read without their texts."""
        where, args = _vote_filter(since, until, tag, flagged)
        with self._lock:
            rows = self._db.execute(
                "SELECT model_a, model_b, outcome, ttft_a, ttft_b, tps_a, tps_b FROM votes"
                f" {where} ORDER BY id",
                args,
            ).fetchall()
        return [
            Ballot(clean_line(a), clean_line(b), outcome, (t1, t2), (s1, s2))
            for a, b, outcome, t1, t2, s1, s2 in rows
        ]

    def vote_tags(self) -> list[str]:
        """The tags votes were given, most used first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT tag FROM votes WHERE tag != '' GROUP BY tag ORDER BY count(*) DESC, tag"
            ).fetchall()
        return [clean_line(tag) for (tag,) in rows]

    # -- internals --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with _transaction(self._db):
                    yield self._db
            except sqlite3.Error as exc:
                raise _unusable(self.path, exc) from exc

    def _conversations(
        self, where: str, args: Sequence[Any], limit: int, offset: int
    ) -> list[Conversation]:
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.title, c.kind, c.created, c.updated, c.active_leaf, c.profile,"
                " c.model, c.settings, c.title_by,"
                " (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"
                f" FROM conversations c {where} ORDER BY c.updated DESC, c.id DESC"
                " LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [_conversation(row) for row in rows]

    def _require(self, conversation_id: int) -> Conversation:
        found = self.conversation(conversation_id)
        if found is None:
            raise StoreError(
                f"There is no conversation {conversation_id}; `genchat history` lists them.",
                title="No such conversation",
            )
        return found

    def _mark_interrupted(self) -> int:
        """Replies left `streaming` by a process that is gone: mark them `interrupted`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, writer_pid, created FROM messages WHERE status = 'streaming'"
            ).fetchall()
        dead = [id_ for id_, pid, created in rows if not _writing(pid, created)]
        if dead:
            with self._write() as db:
                db.executemany(
                    "UPDATE messages SET status = 'interrupted', writer_pid = NULL WHERE id = ?",
                    [(i,) for i in dead],
                )
        return len(dead)


_MESSAGE_COLUMNS = (
    "id, conversation_id, parent_id, role, content, status, reasoning, profile, backend,"
    " model, adapter, params, metrics, error, created, pane, chosen"
)


# Rows become records here, and only here: every string read from the database is cleaned of
# terminal control sequences on the way out (`genchat.untrusted`), names and titles as one line,
# so that an old database, or one an import or another program wrote, shows clean everywhere.


def _conversation(row: Sequence[Any]) -> Conversation:
    id_, title, kind, created, updated, leaf, profile, model, settings, title_by, count = row
    return Conversation(
        id_, _line(title) or "", _line(kind) or "chat", created, updated, leaf, _line(profile),
        _line(model), _settings(id_, settings),
        title_by if title_by in ("message", "model", "user") else "message", count,
    )  # fmt: skip


def _message(row: Sequence[Any]) -> StoredMessage:
    (id_, conversation_id, parent_id, role, content, status, reasoning, profile, backend,
     model, adapter, params, metrics, error, created, pane, chosen) = row  # fmt: skip
    return StoredMessage(
        id_, conversation_id, parent_id, role, clean(content or ""), status, clean(reasoning or ""),
        _line(profile), _line(backend), _line(model), _line(adapter), _json_object(params),
        _json_object(metrics), clean(error) if isinstance(error, str) else None, created, pane,
        bool(chosen),
    )  # fmt: skip


def _line(value: object) -> str | None:
    """A name or a title from the database, as one clean line (`None` stays `None`)."""
    return clean_line(value) if isinstance(value, str) else None


def _json_object(text: object) -> dict[str, Any]:
    """A JSON column as a dict, its strings cleaned; what is not an object reads as empty."""
    value = _json_raw(text)
    return clean_json(value) if value else value


def _json_raw(text: object) -> dict[str, Any]:
    if not isinstance(text, str) or text in ("", "{}"):
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _settings(conversation_id: int, text: object) -> dict[str, Any]:
    """A conversation's settings, cleaned; a setting that is not valid (a database written by
    hand, or by an import before imports were checked) is dropped with a warning, rather than
    handed to a screen that would fail on it."""
    settings = _json_raw(text)
    if not settings:
        return settings
    for key in list(settings):
        problems = settings_problems({key: settings[key]})
        if problems:
            log.warning(
                "conversation %s: dropped the setting %r: %s",
                conversation_id, key, "; ".join(problems),
            )  # fmt: skip
            del settings[key]
    return clean_settings(settings)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # SQLite rolls back by itself on some errors (a full disk, out of memory); a second
        # rollback would fail and hide the error that says what happened.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _system_prompt(conversation: Conversation, thread: Sequence[StoredMessage]) -> str | None:
    """The system prompt a conversation is sent with, as far as the history knows: its
    settings' `system` where they set one (empty: none), as the chat screen sends it, else a
    system message at the root of its thread. (Where neither does, its profile's applies,
    which only the config knows.)"""
    setting = conversation.settings.get("system")
    if isinstance(setting, str):
        return setting or None
    root = thread[0] if thread and thread[0].role == "system" else None
    return root.content if root is not None and root.content else None


def _insert_message(
    db: sqlite3.Connection,
    conversation_id: int,
    parent_id: int | None,
    role: str,
    content: str,
    *,
    status: Status = "complete",
    profile: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    adapter: str | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    error: str | None = None,
    reasoning: str = "",
    pane: int | None = None,
    created: float | None = None,
) -> int:
    """`Store.add_message`, inside a transaction that the caller holds."""
    now = time.time() if created is None else created
    cursor = db.execute(
        "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning,"
        " status, error, profile, backend, model, adapter, params, metrics, writer_pid,"
        " created, pane) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            conversation_id, parent_id, role, content, reasoning, status, error, profile,
            backend, model, adapter, json.dumps(dict(params or {})),
            json.dumps(dict(metrics or {})), os.getpid() if status == "streaming" else None,
            now, pane,
        ),
    )  # fmt: skip
    message_id = int(cursor.lastrowid or 0)
    title = _title(content) if role == "user" else ""
    db.execute(
        "UPDATE conversations SET active_leaf = ?, updated = ?,"
        " title = CASE WHEN title = '' THEN ? ELSE title END,"
        " profile = COALESCE(?, profile), model = COALESCE(?, model) WHERE id = ?",
        (message_id, now, title, profile, model, conversation_id),
    )
    return message_id


def _choose(db: sqlite3.Connection, message_id: int, chosen: bool) -> None:
    db.execute(
        "UPDATE messages SET chosen = (id = ? AND ?) WHERE parent_id ="
        " (SELECT parent_id FROM messages WHERE id = ?) AND pane IS NOT NULL",
        (message_id, chosen, message_id),
    )


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _vote(row: Sequence[Any]) -> StoredVote:
    id_, created, prompt, outcome, model_a, model_b, reply_a, reply_b, *rest = row
    flagged, tag, conversation_id, details = rest
    return StoredVote(
        id_, created, clean(prompt or ""), outcome, _line(model_a) or "", _line(model_b) or "",
        clean(reply_a or ""), clean(reply_b or ""), _line(flagged), _line(tag) or "",
        conversation_id, _json_object(details),
    )  # fmt: skip


def _vote_filter(
    since: float | None, until: float | None, tag: str | None, flagged: bool
) -> tuple[str, list[Any]]:
    clauses, args = [], []
    for clause, value in (("created >= ?", since), ("created < ?", until), ("tag = ?", tag)):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    if not flagged:
        clauses.append("flagged IS NULL")
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


def _exported(m: StoredMessage) -> dict[str, Any]:
    """A message as JSON: OpenAI's `role` and `content`, and genchat's metadata."""
    meta: dict[str, Any] = {"status": m.status}
    for key in ("profile", "backend", "model", "adapter", "error", "reasoning"):
        if getattr(m, key):
            meta[key] = getattr(m, key)
    if m.params:
        meta["params"] = dict(m.params)
    if m.metrics:
        meta["metrics"] = dict(m.metrics)
    if m.pane is not None:
        meta["pane"] = m.pane
    if m.chosen:
        meta["chosen"] = True
    return {"role": m.role, "content": m.content, "genchat": meta}


def _snippet(text: str, words: Sequence[str], marks: tuple[str, str]) -> str:
    """FTS5's snippet, made from `text` cleaned: the first match with the words around it,
    up to `SNIPPET_TOKENS` words, each word that a query word begins between `marks`."""
    text = clean_line(text)
    prefixes = tuple(w.casefold() for w in words)
    tokens = list(re.finditer(r"\w+", text))
    first = next((i for i, t in enumerate(tokens) if t.group().casefold().startswith(prefixes)), 0)
    start = max(0, min(first - SNIPPET_TOKENS // 4, len(tokens) - SNIPPET_TOKENS))
    shown = tokens[start : start + SNIPPET_TOKENS]
    if not shown:
        return text
    parts = ["…" if start > 0 else ""]
    at = shown[0].start() if start > 0 else 0
    for token in shown:
        if token.group().casefold().startswith(prefixes):
            parts += [text[at : token.start()], marks[0], token.group(), marks[1]]
            at = token.end()
    end = shown[-1].end() if start + SNIPPET_TOKENS < len(tokens) else len(text)
    parts += [text[at:end], "…" if end < len(text) else ""]
    return "".join(parts)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


_STARTED = time.time()
"""No earlier than this process began: every row it writes is created after this, because
the store writes them. A row of its PID from before is another process's: in a container each
genchat is PID 1, so a bare PID would take the last one's cut-off reply for its own."""

START_SLACK_S = 2.0
"""How much later than a row a live process with the row's PID may have started and still be
taken for its writer: the boot time that start times are counted from is whole seconds."""


def _writing(pid: object, created: float) -> bool:
    """Whether the process that began writing a `streaming` row at `created` may still be
    writing it: a process with its PID is alive, and did not start after the row was made (a
    PID reused by a later process, as every container's genchat is PID 1)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return created >= _STARTED
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # someone else's process: alive
        pass
    started = _process_start(pid)
    return started is None or started <= created + START_SLACK_S


def _process_start(pid: int) -> float | None:
    """When process `pid` started, as a wall-clock time, where /proc tells (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            line.split()[1]
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        # The fields after the command name, which is in parentheses and may hold spaces:
        # the start time, in clock ticks since boot, is the 22nd field of the line.
        ticks = int(stat.rpartition(")")[2].split()[19])
        return int(boot) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` (device and inode), or `None` where there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` (flock, released when the process dies), so that
    two genchats never move files in it at once. Where the platform or the filesystem has no
    such lock, go on without one: the identity check still keeps the fresh file in place."""
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _move_aside(path: Path, checked: tuple[int, int] | None) -> Path | None:
    """Rename the damaged database at `path`, and its WAL, to a name no file has; returns it.

    Nothing is moved (`None`) unless the file at `path` is still the one that was `checked`:
    a second genchat that found the same damage must not move the fresh database the first
    one started over the first one's backup.
    """
    with _directory_lock(path.parent):
        if checked is None or _identity(path) != checked:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = path.with_name(f"{path.name}.damaged-{stamp}")
        number = 1
        while any(target.with_name(target.name + s).exists() for s in ("", "-wal", "-shm")):
            number += 1
            target = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
        # The WAL first: once the database is gone, a genchat may start a fresh one (and its
        # WAL) at once, which must stay where it is.
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.rename(
                    path.with_name(path.name + suffix), target.with_name(target.name + suffix)
                )
        os.rename(path, target)
    return target


def _unusable(path: Path, exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    hint = ""
    lowered = reason.lower()
    if "readonly" in lowered or "read-only" in lowered or "permission" in lowered:
        hint = " The data directory is not writable; set GENCHAT_DATA_DIR to one that is."
    elif "full" in lowered:
        hint = " The disk is full; free some space."
    elif "locked" in lowered or "busy" in lowered:
        hint = " Another genchat is writing to it; try again in a moment."
    return StoreError(f"Cannot use the history database {path}: {reason}.{hint}")


class ReplyRecorder:
    """Saves one reply as it streams: its text at most once per `interval_s`, then its end.

    A crash loses at most the last interval's text, and the reply shows as `interrupted` when
    the store is next opened. Store failures after the start are kept in `failure` rather than
    raised: a reply is never stopped because history could not be written.
    """

    def __init__(
        self, store: Store, message_id: int, interval_s: float = 1.0, clock: Any = time.monotonic
    ) -> None:
        self.store = store
        self.message_id = message_id
        self.interval_s = interval_s
        self._clock = clock
        self._last = clock()
        self.failure: StoreError | None = None

    def text(self, text: str, reasoning: str = "") -> None:
        now = self._clock()
        if now - self._last >= self.interval_s:
            self._last = now
            self._save(content=text, reasoning=reasoning)

    def finish(
        self,
        text: str,
        status: Status,
        *,
        reasoning: str = "",
        metrics: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self._save(content=text, reasoning=reasoning, status=status, metrics=metrics, error=error)

    def _save(self, **values: Any) -> None:
        if self.failure is not None:
            return
        try:
            self.store.update_message(self.message_id, **values)
        except StoreError as exc:
            self.failure = exc
