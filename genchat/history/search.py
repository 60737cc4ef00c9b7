"""Full-text search of the history: every message matching each word of a query, newest first,
with a snippet around the first match."""

from __future__ import annotations

import re
from collections.abc import Sequence

from genchat.history.records import SearchHit
from genchat.history.store import Store
from genchat.untrusted import clean_line

SNIPPET_TOKENS = 12
"""The most words a search result's snippet shows."""
_HAS_CONTROL = "*[\x01-\x08\x0b-\x1f\x7f-\x9f]*"
"""A GLOB pattern that text with a control character matches (all but tab and newline)."""


def search(
    store: Store, query: str, limit: int = 50, marks: tuple[str, str] = ("[", "]")
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
    # A message holding control characters (an old row, or one written by another
    # program) comes with its text: FTS5's snippet may cut a sequence in two and
    # show its inside, so its snippet is made here from the cleaned text instead.
    rows = store.rows(
        "SELECT m.conversation_id, m.id, c.title,"
        f" snippet(messages_fts, 0, ?, ?, '…', {SNIPPET_TOKENS}),"
        " CASE WHEN m.content GLOB ? THEN m.content END"
        " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
        " JOIN conversations c ON c.id = m.conversation_id"
        " WHERE messages_fts MATCH ? ORDER BY messages_fts.rowid DESC LIMIT ?",
        (*marks, _HAS_CONTROL, match, limit),
    )
    return [
        SearchHit(
            id_, message, clean_line(title),
            snippet if raw is None else _snippet(raw, query.split(), marks),
        )
        for id_, message, title, snippet, raw in rows
    ]  # fmt: skip


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
