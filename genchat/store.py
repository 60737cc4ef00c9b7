"""Conversations in SQLite: saved as they stream, searchable, and never silently lost.

One file, `genchat.db` in the data dir (`GENCHAT_DATA_DIR` overrides it), in WAL mode so that a
second genchat can read while one writes, with a busy timeout for the writes. Messages form a
tree: each has a parent, and a conversation records the leaf of its active branch, so an edit, a
regeneration or a compare pane is a sibling branch rather than a copy. Full-text search runs on
an FTS5 index kept in step by triggers.

The schema is versioned with SQLite's `user_version`. A database from a newer genchat is refused
and left untouched; one that is not a database at all is moved aside, with a timestamp, and a
fresh one is started. A reply is written while it streams, marked `streaming` with the writing
process's id; when genchat opens the store and finds such a row whose process is gone, the reply
is marked `interrupted`, with the text it had.

Nothing here imports Textual. Every method blocks (SQLite is quick, but a disk is not always):
the TUI calls them off the event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from genchat.config import data_dir
from genchat.errors import GenchatError
from genchat.votes import Ballot, Outcome

SCHEMA_VERSION = 3
DB_NAME = "genchat.db"
BUSY_TIMEOUT_MS = 5000
TITLE_CHARS = 60

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
            db = self._connect()
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise _unusable(self.path, exc) from exc
            self.moved_aside = _move_aside(self.path)
            try:
                db = self._connect()
            except sqlite3.Error as again:
                raise _unusable(self.path, again) from again
        except OSError as exc:
            raise _unusable(self.path, exc) from exc
        return db

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
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning,"
                " status, error, profile, backend, model, adapter, params, metrics, writer_pid,"
                " created, pane) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    parent_id,
                    role,
                    content,
                    reasoning,
                    status,
                    error,
                    profile,
                    backend,
                    model,
                    adapter,
                    json.dumps(dict(params or {})),
                    json.dumps(dict(metrics or {})),
                    os.getpid() if status == "streaming" else None,
                    now,
                    pane,
                ),
            )
            message_id = int(cursor.lastrowid or 0)
            title = _title(content) if role == "user" else ""
            db.execute(
                "UPDATE conversations SET active_leaf = ?, updated = ?,"
                " title = CASE WHEN title = '' THEN ? ELSE title END,"
                " profile = COALESCE(?, profile), model = COALESCE(?, model) WHERE id = ?",
                (message_id, now, title, profile, model, conversation_id),
            )
            return message_id

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
            db.execute(
                "UPDATE messages SET chosen = (id = ? AND ?) WHERE parent_id ="
                " (SELECT parent_id FROM messages WHERE id = ?) AND pane IS NOT NULL",
                (message_id, chosen, message_id),
            )

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

    def import_conversation(self, data: Mapping[str, Any]) -> int:
        """Add a conversation exported as JSON (`export_json`); returns its new id. With a
        `tree`, every message comes back (versions, compare panes, the active branch); without
        one, the `messages` list is the thread."""
        tree = data.get("tree")
        entries = tree if isinstance(tree, list) and tree else data.get("messages")
        if not isinstance(entries, list) or not all(isinstance(m, dict) for m in entries):
            raise StoreError("The file has no `messages` list of objects: not a genchat export.")
        for number, message in enumerate(entries, 1):
            role, content = message.get("role"), message.get("content")
            if role not in ("system", "user", "assistant") or not isinstance(content, str):
                raise StoreError(
                    f"Message {number} needs a `role` (system, user or assistant) and a string "
                    "`content`."
                )
        kind = data.get("kind") if data.get("kind") in ("chat", "compare") and tree else "chat"
        conversation = self.new_conversation(str(data.get("title") or ""), kind=str(kind))
        if isinstance(data.get("settings"), dict):
            self.set_settings(conversation, data["settings"])
        new_ids: dict[object, int] = {}
        parent: int | None = None
        for message in entries:
            meta = message.get("genchat") if isinstance(message.get("genchat"), dict) else {}
            if entries is tree:
                parent = new_ids.get(message.get("parent"))
            status: Status = meta["status"] if meta.get("status") in STATUSES else "complete"
            pane = meta.get("pane")
            parent = self.add_message(
                conversation,
                parent,
                message["role"],
                message["content"],
                status="interrupted" if status == "streaming" else status,
                profile=_text(meta.get("profile")),
                backend=_text(meta.get("backend")),
                model=_text(meta.get("model")),
                adapter=_text(meta.get("adapter")),
                params=meta.get("params") if isinstance(meta.get("params"), dict) else None,
                metrics=meta.get("metrics") if isinstance(meta.get("metrics"), dict) else None,
                error=_text(meta.get("error")),
                reasoning=_text(meta.get("reasoning")) or "",
                pane=pane if isinstance(pane, int) and 0 <= pane < 8 else None,
            )
            if message.get("id") is not None:
                new_ids[message["id"]] = parent
            if meta.get("chosen") is True:
                self.choose(parent)
        if entries is tree and data.get("active_leaf") in new_ids:
            self.set_active_leaf(conversation, new_ids[data["active_leaf"]])
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
            rows = self._db.execute(
                "SELECT m.conversation_id, m.id, c.title,"
                " snippet(messages_fts, 0, ?, ?, '…', 12)"
                " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
                " JOIN conversations c ON c.id = m.conversation_id"
                " WHERE messages_fts MATCH ? ORDER BY messages_fts.rowid DESC LIMIT ?",
                (*marks, match, limit),
            ).fetchall()
        return [SearchHit(*row) for row in rows]

    # -- export -----------------------------------------------------------------------------

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        """The active thread in OpenAI's messages format, with genchat's metadata alongside;
        and the whole `tree` (every version of a message, every compare pane), by id and
        parent, which `import_conversation` brings back as it was."""
        conversation = self._require(conversation_id)
        tree = []
        for m in self._all_messages(conversation_id):
            tree.append({"id": m.id, "parent": m.parent_id, **_exported(m)})
        exported: dict[str, Any] = {
            "id": conversation.id,
            "title": conversation.title,
            "kind": conversation.kind,
            "created": _iso(conversation.created),
            "messages": [_exported(m) for m in self.thread(conversation_id)],
            "tree": tree,
            "active_leaf": conversation.active_leaf,
        }
        if conversation.settings:
            exported["settings"] = dict(conversation.settings)
        return exported

    def export_markdown(self, conversation_id: int) -> str:
        conversation = self._require(conversation_id)
        if conversation.kind == "compare":
            from genchat.comparison import stored_markdown

            return stored_markdown(conversation.title, self.turns(conversation_id))
        lines = [f"# {conversation.title or 'Untitled'}", "", f"*{_iso(conversation.created)}*"]
        for m in self.thread(conversation_id):
            who = {"user": "You", "system": "System"}.get(m.role) or " · ".join(
                p for p in (m.profile, m.model) if p
            )
            lines += ["", f"## {who or 'Assistant'}", "", m.content]
            if m.status != "complete":
                lines += ["", f"*({m.status}{': ' + m.error if m.error else ''})*"]
        return "\n".join(lines) + "\n"

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
        return [Ballot(a, b, outcome, (t1, t2), (s1, s2)) for a, b, outcome, t1, t2, s1, s2 in rows]

    def vote_tags(self) -> list[str]:
        """The tags votes were given, most used first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT tag FROM votes WHERE tag != '' GROUP BY tag ORDER BY count(*) DESC, tag"
            ).fetchall()
        return [tag for (tag,) in rows]

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
                "SELECT id, writer_pid FROM messages WHERE status = 'streaming'"
            ).fetchall()
        dead = [row[0] for row in rows if not _alive(row[1])]
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


def _conversation(row: Sequence[Any]) -> Conversation:
    id_, title, kind, created, updated, leaf, profile, model, settings, title_by, count = row
    return Conversation(
        id_, title, kind, created, updated, leaf, profile, model,
        json.loads(settings or "{}"), title_by, count,
    )  # fmt: skip


def _message(row: Sequence[Any]) -> StoredMessage:
    values = list(row)
    values[11] = json.loads(values[11] or "{}")
    values[12] = json.loads(values[12] or "{}")
    values[16] = bool(values[16])
    return StoredMessage(*values)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _vote(row: Sequence[Any]) -> StoredVote:
    id_, created, prompt, outcome, model_a, model_b, reply_a, reply_b, *rest = row
    flagged, tag, conversation_id, details = rest
    return StoredVote(
        id_, created, prompt, outcome, model_a, model_b, reply_a, reply_b,
        flagged, tag, conversation_id, json.loads(details),
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


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _move_aside(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(path.with_name(path.name + suffix), target.with_name(target.name + suffix))
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
