"""Conversation titles written by the model: the request that asks for one, and the cleaning of
what comes back (models add quotes, a `Title:` label, a full stop, or a second line)."""

from __future__ import annotations

import re

from genchat.chat import ChatRequest, GenerationParams, Message

TITLE_PROMPT = (
    "Write a title of at most six words for the conversation below. Answer with the title "
    "only: no quotes, no full stop."
)
TITLE_TOKENS = 16
EXCERPT_CHARS = 1500
"""How much of the exchange the model reads: enough to name it, and quick to process."""


def title_request(question: str, answer: str, model: str | None = None) -> ChatRequest:
    """Ask for a title of the exchange `question` -> `answer`, greedily and briefly."""
    exchange = f"User: {question[:EXCERPT_CHARS]}\n\nAssistant: {answer[:EXCERPT_CHARS]}"
    return ChatRequest(
        [Message("system", TITLE_PROMPT), Message("user", exchange)],
        params=GenerationParams(temperature=0.0, max_tokens=TITLE_TOKENS),
        model=model,
    )


def clean_title(text: str) -> str | None:
    """The title in a model's answer, or `None` when there is none worth keeping."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = re.sub(r"^(#+\s*|\*+|title\s*:\s*)", "", line, flags=re.IGNORECASE).strip()
    quotes = "\"'`*“”‘’"
    line = line.strip(quotes + " ").rstrip(".!,;: " + quotes).strip()
    words = line.split()
    if not words or len(words) > 12:
        return None
    return " ".join(words)
