"""Conversations in SQLite: saved as they stream, searchable, and never silently lost.

Messages form a tree: each has a parent, and a conversation records the leaf of its active
branch, so an edit, a regeneration or a compare pane is a sibling branch rather than a copy.
Full-text search runs on an FTS5 index kept in step by triggers (`genchat.history.schema`).

A reply is written while it streams, marked `streaming` with the writing process's id; when
genchat opens the store and finds such a row whose writer is gone (no such process, or one that
started after the row was made: a reused PID), the reply is marked `interrupted`, with the text
it had.

Every string read back is cleaned of terminal control sequences (`genchat.history.records`);
imports are checked whole and cleaned first (`genchat.history.import_check`).

Nothing here imports Textual. Every method blocks (SQLite is quick, but a disk is not always):
the TUI calls them off the event loop.

Why one module of about 470 lines: `Store` is the one class that writes the database, and its
methods are one short query each over the message tree; records, schema, opening, search,
exchange, votes and the recorder are modules of their own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genchat.history.database import Database
from genchat.history.import_check import Import, check_export
from genchat.history.records import (
    MESSAGE_COLUMNS,
    Conversation,
    Status,
    StoredMessage,
    StoreError,
    TitleSource,
    to_conversation,
    to_message,
)
from genchat.history.writers import still_writing

TITLE_CHARS = 60


class Store(Database):
    """The history: conversations and their message trees, written as replies stream, read
    back as records, and searched."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path)
        self.interrupted = 0
        """Replies found cut off by a process that died mid-stream, marked when opened."""
        self.interrupted = self._mark_interrupted()

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
        with self.write() as db:
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
        with self.write() as db:
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
        with self.write() as db:
            db.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*values, message_id))
            db.execute(
                "UPDATE conversations SET updated = ? WHERE id ="
                " (SELECT conversation_id FROM messages WHERE id = ?)",
                (time.time(), message_id),
            )

    def rename(self, conversation_id: int, title: str, *, by: TitleSource = "user") -> bool:
        """Set the title. A title the user gave is only ever replaced by the user; returns
        whether the title was set."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ?, title_by = ? WHERE id = ?"
                " AND (? = 'user' OR title_by != 'user')",
                (_title(title), by, conversation_id, by),
            )
            return cursor.rowcount > 0

    def set_settings(self, conversation_id: int, settings: Mapping[str, Any]) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE conversations SET settings = ? WHERE id = ?",
                (json.dumps(dict(settings)), conversation_id),
            )

    def choose(self, message_id: int, chosen: bool = True) -> None:
        """Mark a compare reply as the one every pane continues from (or unmark it); its
        siblings are unmarked."""
        with self.write() as db:
            _choose(db, message_id, chosen)

    def set_active_leaf(self, conversation_id: int, leaf: int | None) -> None:
        """Make the branch ending at `leaf` the conversation's thread (`None`: empty)."""
        with self.write() as db:
            db.execute(
                "UPDATE conversations SET active_leaf = ? WHERE id = ?", (leaf, conversation_id)
            )

    def fork(self, conversation_id: int, upto: int | None = None) -> int:
        """A new conversation holding a copy of the thread up to `upto` (default: all of the
        active thread), with the same settings; returns its id."""
        source = self.require(conversation_id)
        thread = self.thread(conversation_id, upto)
        now = time.time()
        with self.write() as db:
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
        with self.write() as db:
            db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cursor.rowcount > 0

    def import_conversation(self, data: Mapping[str, Any] | list[Any] | Import) -> int:
        """Add a conversation exported as JSON (`export_json`, or a bare array of OpenAI
        messages); returns its new id. With a `tree`, every message comes back (versions,
        compare panes, the active branch); without one, the `messages` list is the thread.

        The whole file is checked first (`genchat.history.import_check`: a mistake raises
        `BadImport`, naming it) and written in one transaction: nothing is left of a failure.
        """
        imported = data if isinstance(data, Import) else check_export(data)
        now = time.time()
        with self.write() as db:
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
        row = self.row(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        return to_message(row) if row else None

    def conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Newest first."""
        return self._conversations("", (), limit, offset)

    def last_conversation(self) -> Conversation | None:
        rows = self.conversations(limit=1)
        return rows[0] if rows else None

    def thread(
        self, conversation_id: int, leaf: int | None = None, *, last: int | None = None
    ) -> list[StoredMessage]:
        """The messages from the root to `leaf` (default: the active leaf), oldest first; only
        the `last` of them, where given."""
        if leaf is None:
            found = self.conversation(conversation_id)
            if found is None or found.active_leaf is None:
                return []
            leaf = found.active_leaf
        rows = self.rows(
            "WITH RECURSIVE up(id, depth) AS (SELECT ?, 1 UNION ALL"
            " SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id"
            " WHERE m.parent_id IS NOT NULL AND up.depth < ?)"
            f" SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN (SELECT id FROM up)"
            " AND conversation_id = ? ORDER BY id",
            (leaf, last if last is not None else 2**62, conversation_id),
        )
        return [to_message(row) for row in rows]

    def turns(self, conversation_id: int) -> list[tuple[StoredMessage, list[StoredMessage]]]:
        """A compare session as it was written: each prompt, oldest first, with every reply
        to it (regenerated ones too), oldest first."""
        messages = self.messages(conversation_id)
        replies: dict[int, list[StoredMessage]] = {}
        for m in messages:
            if m.role == "assistant" and m.parent_id is not None:
                replies.setdefault(m.parent_id, []).append(m)
        return [(m, replies.get(m.id, [])) for m in messages if m.role == "user"]

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of a conversation, oldest first."""
        rows = self.rows(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        return [to_message(row) for row in rows]

    def children(self, message_id: int) -> list[StoredMessage]:
        """The replies or edits that branch from `message_id`, oldest first."""
        rows = self.rows(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE parent_id = ? ORDER BY id",
            (message_id,),
        )
        return [to_message(row) for row in rows]

    def siblings(self, message_id: int) -> list[StoredMessage]:
        """The versions of a message: it and the others with its parent and role (a
        regenerated reply, an edited prompt), oldest first."""
        rows = self.rows(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id ="
            " (SELECT conversation_id FROM messages WHERE id = :id)"
            " AND parent_id IS (SELECT parent_id FROM messages WHERE id = :id)"
            " AND role = (SELECT role FROM messages WHERE id = :id) ORDER BY id",
            {"id": message_id},
        )
        return [to_message(row) for row in rows]

    def versions(
        self, conversation_id: int, of: Sequence[StoredMessage] | None = None
    ) -> dict[int, tuple[int, int]]:
        """Message id -> (which version, how many), for every message of the conversation (or
        of those in `of`, and their siblings) that has other versions (see `siblings`): one
        query, however long the conversation."""
        sql = "SELECT id, parent_id, role FROM messages WHERE conversation_id = ?"
        args: list[Any] = [conversation_id]
        if of is not None:
            parents = sorted({m.parent_id for m in of if m.parent_id is not None})
            roots = any(m.parent_id is None for m in of)
            marks = ", ".join("?" * len(parents))
            sql += f" AND (parent_id IN ({marks}) OR (parent_id IS NULL AND ?))"
            args += [*parents, roots]
        groups: dict[tuple[int | None, str], list[int]] = {}
        for message, parent, role in self.rows(sql + " ORDER BY id", args):
            groups.setdefault((parent, role), []).append(message)
        return {
            message: (which, len(ids))
            for ids in groups.values()
            if len(ids) > 1
            for which, message in enumerate(ids, start=1)
        }

    def branch_through(self, conversation_id: int, message_id: int) -> int | None:
        """The leaf of the branch to show `message_id` on: the active one where it is on it,
        else the newest branch through it."""
        if any(m.id == message_id for m in self.thread(conversation_id)):
            return self.require(conversation_id).active_leaf
        return self.newest_leaf(message_id)

    def newest_leaf(self, message_id: int) -> int:
        """The end of the branch through `message_id` that was written last: from it, always
        the newest child."""
        row = self.row(
            "WITH RECURSIVE down(id, depth) AS (SELECT ?, 0 UNION ALL"
            " SELECT (SELECT max(m.id) FROM messages m WHERE m.parent_id = down.id),"
            " depth + 1 FROM down WHERE down.id IS NOT NULL)"
            " SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1",
            (message_id,),
        )
        return int(row[0]) if row else message_id

    # -- internals --------------------------------------------------------------------------

    def _conversations(
        self, where: str, args: Sequence[Any], limit: int, offset: int
    ) -> list[Conversation]:
        rows = self.rows(
            "SELECT c.id, c.title, c.kind, c.created, c.updated, c.active_leaf, c.profile,"
            " c.model, c.settings, c.title_by,"
            " (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)"
            f" FROM conversations c {where} ORDER BY c.updated DESC, c.id DESC"
            " LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [to_conversation(row) for row in rows]

    def require(self, conversation_id: int) -> Conversation:
        found = self.conversation(conversation_id)
        if found is None:
            raise StoreError(
                "`genchat history` lists the conversations there are.",
                title=f"No conversation {conversation_id}",
            )
        return found

    def _mark_interrupted(self) -> int:
        """Replies left `streaming` by a process that is gone: mark them `interrupted`."""
        rows = self.rows("SELECT id, writer_pid, created FROM messages WHERE status = 'streaming'")
        dead = [id_ for id_, pid, created in rows if not still_writing(pid, created)]
        if dead:
            with self.write() as db:
                db.executemany(
                    "UPDATE messages SET status = 'interrupted', writer_pid = NULL WHERE id = ?",
                    [(i,) for i in dead],
                )
        return len(dead)


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
