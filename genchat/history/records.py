"""The history's records: a conversation, a message and a search hit as the store gives them
back, the errors it raises, and how a database row becomes a record.

Rows become records here, and only here: every string read from the database is cleaned of
terminal control sequences on the way out (`genchat.untrusted`), names and titles as one line,
so that an old database, or one an import or another program wrote, shows clean everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from genchat.errors import GenchatError
from genchat.history.import_check import clean_json, clean_settings, settings_problems
from genchat.logs import logger
from genchat.untrusted import clean, clean_line

log = logger("genchat.history")

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


MESSAGE_COLUMNS = (
    "id, conversation_id, parent_id, role, content, status, reasoning, profile, backend,"
    " model, adapter, params, metrics, error, created, pane, chosen"
)


def to_conversation(row: Sequence[Any]) -> Conversation:
    id_, title, kind, created, updated, leaf, profile, model, settings, title_by, count = row
    return Conversation(
        id_, one_line(title) or "", one_line(kind) or "chat", created, updated, leaf,
        one_line(profile), one_line(model), _settings(id_, settings),
        title_by if title_by in ("message", "model", "user") else "message", count,
    )  # fmt: skip


def to_message(row: Sequence[Any]) -> StoredMessage:
    (id_, conversation_id, parent_id, role, content, status, reasoning, profile, backend,
     model, adapter, params, metrics, error, created, pane, chosen) = row  # fmt: skip
    return StoredMessage(
        id_, conversation_id, parent_id, role, clean(content or ""), status,
        clean(reasoning or ""), one_line(profile), one_line(backend), one_line(model),
        one_line(adapter), json_object(params), json_object(metrics),
        clean(error) if isinstance(error, str) else None, created, pane, bool(chosen),
    )  # fmt: skip


def one_line(value: object) -> str | None:
    """A name or a title from the database, as one clean line (`None` stays `None`)."""
    return clean_line(value) if isinstance(value, str) else None


def json_object(text: object) -> dict[str, Any]:
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
