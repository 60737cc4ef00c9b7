"""The arena's votes, kept in the history database (the `votes` table of
`genchat.history.schema`): each with its prompt, both replies and what made them, read back
whole for `genchat votes` or as ballots for the leaderboard."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from genchat.arena.votes import Ballot, Outcome, StoredVote
from genchat.history.database import Database
from genchat.history.records import json_object, one_line
from genchat.untrusted import clean, clean_line


def add_vote(
    store: Database,
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

    with store.write() as db:
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


def delete_vote(store: Database, vote_id: int) -> bool:
    """Undo a vote; returns whether it existed."""
    with store.write() as db:
        return db.execute("DELETE FROM votes WHERE id = ?", (vote_id,)).rowcount > 0


def votes(
    store: Database,
    *,
    since: float | None = None,
    until: float | None = None,
    tag: str | None = None,
    flagged: bool = True,
) -> list[StoredVote]:
    """Votes, oldest first, cast from `since` to before `until`, with `tag`; without
    the flagged ones unless `flagged`."""
    where, args = _vote_filter(since, until, tag, flagged)
    rows = store.rows(
        "SELECT id, created, prompt, outcome, model_a, model_b, reply_a, reply_b,"
        f" flagged, tag, conversation_id, details FROM votes {where} ORDER BY id",
        args,
    )
    return [_vote(row) for row in rows]


def ballots(
    store: Database,
    *,
    since: float | None = None,
    until: float | None = None,
    tag: str | None = None,
    flagged: bool = False,
) -> list[Ballot]:
    """What the leaderboard needs of the same votes as `votes` (by default without the
    flagged ones), read without their texts."""
    where, args = _vote_filter(since, until, tag, flagged)
    rows = store.rows(
        "SELECT model_a, model_b, outcome, ttft_a, ttft_b, tps_a, tps_b FROM votes"
        f" {where} ORDER BY id",
        args,
    )
    return [
        Ballot(clean_line(a), clean_line(b), outcome, (t1, t2), (s1, s2))
        for a, b, outcome, t1, t2, s1, s2 in rows
    ]


def vote_tags(store: Database) -> list[str]:
    """The tags votes were given, most used first."""
    rows = store.rows(
        "SELECT tag FROM votes WHERE tag != '' GROUP BY tag ORDER BY count(*) DESC, tag"
    )
    return [clean_line(tag) for (tag,) in rows]


def _vote(row: Sequence[Any]) -> StoredVote:
    id_, created, prompt, outcome, model_a, model_b, reply_a, reply_b, *rest = row
    flagged, tag, conversation_id, details = rest
    return StoredVote(
        id_, created, clean(prompt or ""), outcome, one_line(model_a) or "",
        one_line(model_b) or "", clean(reply_a or ""), clean(reply_b or ""), one_line(flagged),
        one_line(tag) or "", conversation_id, json_object(details),
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
