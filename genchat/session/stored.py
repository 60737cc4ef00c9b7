"""Turns made from the history's stored messages."""

from __future__ import annotations

from genchat.chat import Metrics
from genchat.history.records import StoredMessage
from genchat.session.turns import Turn


def stored_metrics(message: StoredMessage) -> str:
    """A stored reply's metrics, as text."""
    metrics = Metrics.from_dict(message.metrics)
    return metrics.text() if metrics else ""


def _stored_label(message: StoredMessage) -> str:
    """Who gave a stored reply: its profile and model (or adapter)."""
    model = message.adapter or message.model
    return " · ".join(p for p in (message.profile, model) if p) or "assistant"


def _stored_footer(message: StoredMessage) -> str:
    state = {
        "stopped": "stopped",
        "error": f"failed: {message.error}" if message.error else "failed",
        "interrupted": "interrupted: genchat stopped while this streamed",
        "streaming": "still streaming in another genchat",
    }.get(message.status, "")
    return " · ".join(p for p in (state, stored_metrics(message)) if p)


def stored_turn(message: StoredMessage, versions: tuple[int, int] | None = None) -> Turn | None:
    """The turn a stored message shows as; `None` for a system prompt, which is a setting."""
    if message.role == "user":
        return Turn("user", message.content, message.id, versions)
    if message.role != "assistant":
        return None
    # A reply another genchat is still streaming keeps that state: it shows as it stands, and
    # goes to no model until it has ended.
    return Turn(
        "assistant",
        message.content,
        message.id,
        versions,
        state=message.status,
        label=_stored_label(message),
        reasoning=message.reasoning,
        footer=_stored_footer(message),
    )
