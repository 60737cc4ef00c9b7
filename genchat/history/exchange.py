"""Conversations out of the history and back: exported as JSON (OpenAI's messages, with
genchat's metadata and the whole message tree) or as Markdown for people, and a saved compare
session brought back as the compare screen's turns. Imports are checked by
`genchat.history.import_check` and written by `Store.import_conversation`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from genchat.chat import Metrics, Target
from genchat.compare.comparison import Turn, markdown
from genchat.history.records import Conversation, StoredMessage
from genchat.history.store import Store
from genchat.markdown_blocks import close_open_blocks

STATUS_WORDS = {"complete": "done", "error": "failed"}
"""How a stored reply's status reads in a comparison (`stopped`, `interrupted` as they are)."""


def export_json(store: Store, conversation_id: int) -> dict[str, Any]:
    """The active thread in OpenAI's messages format, with genchat's metadata alongside,
    starting with the system message where one applies (`_system_prompt`); and the whole
    `tree` (every version of a message, every compare pane), numbered from 1 by id and
    parent, which `Store.import_conversation` brings back as it was. Exporting the imported
    copy gives the same export, but for the conversation's own `id`."""
    conversation = store.require(conversation_id)
    every = store.messages(conversation_id)
    number = {m.id: n for n, m in enumerate(every, 1)}
    exported: dict[str, Any] = {
        "id": conversation.id,
        "title": conversation.title,
        "kind": conversation.kind,
        "created": _iso(conversation.created),
        "messages": [_exported(m) for m in _exported_thread(store, conversation)],
        "tree": [
            {"id": number[m.id], "parent": number.get(m.parent_id or 0), **_exported(m)}
            for m in every
        ],
        "active_leaf": number.get(conversation.active_leaf or 0),
    }
    if conversation.settings:
        exported["settings"] = dict(conversation.settings)
    return exported


def export_markdown(store: Store, conversation_id: int) -> str:
    """The active thread as Markdown, for people: each message under a heading, a reply
    that did not complete marked so, and whatever a message left open (a code fence of a
    reply stopped mid-block) closed, so that the next heading is not read as its code."""
    conversation = store.require(conversation_id)
    if conversation.kind == "compare":
        turns = [
            (prompt, [replace(r, content=close_open_blocks(r.content)) for r in replies])
            for prompt, replies in store.turns(conversation_id)
        ]
        return stored_markdown(conversation.title, turns)
    lines = [f"# {conversation.title or 'Untitled'}", "", f"*{_iso(conversation.created)}*"]
    for m in _exported_thread(store, conversation):
        who = {"user": "You", "system": "System"}.get(m.role) or " · ".join(
            p for p in (m.profile, m.model) if p
        )
        lines += ["", f"## {who or 'Assistant'}", "", close_open_blocks(m.content)]
        if m.status != "complete":
            error = ": " + " ".join(m.error.split()) if m.error else ""
            lines += ["", f"*({m.status}{error})*"]
    return "\n".join(lines) + "\n"


def _exported_thread(store: Store, conversation: Conversation) -> list[StoredMessage]:
    """The active thread as exports show it: with the system prompt that applies as its
    first message, once, whether the thread or the settings hold it."""
    thread = store.thread(conversation.id)
    system = _system_prompt(conversation, thread)
    rest = [m for m in thread if m.role != "system"]
    if not system:
        return rest
    stored = next((m for m in thread if m.role == "system" and m.content == system), None)
    if stored is None:  # set in the settings after the thread began: not a message
        stored = StoredMessage(0, conversation.id, None, "system", system)
    return [stored, *rest]


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


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def restore_turns(
    stored: list[tuple[StoredMessage, list[StoredMessage]]],
) -> tuple[list[Target], list[Turn]]:
    """A saved session: each pane's target (from its latest reply), and the turns."""
    latest: dict[int, StoredMessage] = {}
    turns = []
    for prompt, replies in stored:
        turn = Turn(prompt.content, prompt_id=prompt.id)
        for reply in replies:  # oldest first: a regenerated reply replaces the earlier one
            if reply.pane is None:
                continue
            turn.replies[reply.pane] = reply.content
            turn.reply_ids[reply.pane] = reply.id
            turn.finish[reply.pane] = STATUS_WORDS.get(reply.status, reply.status)
            metrics = Metrics.from_dict(reply.metrics)
            if metrics is not None:
                turn.metrics[reply.pane] = metrics
            latest[reply.pane] = reply
            if reply.chosen:
                turn.chosen = reply.pane
        turns.append(turn)
    targets = [
        Target(latest[pane].profile or "", latest[pane].adapter or latest[pane].model)
        for pane in sorted(latest)
    ]
    return targets, turns


def stored_markdown(title: str, stored: list[tuple[StoredMessage, list[StoredMessage]]]) -> str:
    """A saved comparison (`Store.turns`) as Markdown, as the compare screen exports it."""
    targets, turns = restore_turns(stored)
    labels = [" · ".join(p for p in (t.profile, t.model) if p) for t in targets]
    return markdown(title or "Comparison", labels, turns)
