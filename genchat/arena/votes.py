"""The blind arena's rules, without a screen: which two models meet, whether a reply gave its
model away, and votes as preference pairs for training.

A vote says which of two replies, "Model A"'s or "Model B"'s, was better: `a`, `b`, `tie`, or
`bad` (both bad).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias

Outcome: TypeAlias = Literal["a", "b", "tie", "bad"]
OUTCOMES: tuple[Outcome, ...] = ("a", "b", "tie", "bad")

MIN_VOTES = 5
"""Fewer votes than this for a model, and its ratings are too unstable to show."""
ROUNDS = 1000
"""Bootstrap rounds for the ratings' intervals, by default."""

MODEL_FAMILIES = (
    "ChatGPT", "GPT-3.5", "GPT-4", "GPT-4o", "OpenAI", "Claude", "Anthropic", "Gemini", "Gemma",
    "Bard", "Google", "LLaMA", "Meta AI", "Mistral", "Mixtral", "Qwen", "Alibaba Cloud",
    "SmolLM", "SmolLM2", "Hugging Face", "DeepSeek", "Phi", "Microsoft", "Vicuna", "Grok",
    "xAI", "Command R", "Cohere", "Yi", "Falcon",
)  # fmt: skip
"""Names a reply may give itself by; the round's own model names are added to them."""

_CLAIM = (
    r"(?:\bas|\bi am|\bi'm|\bi’m|\bmy name is|\bcalled|\bnamed"
    r"|\b(?:created|developed|trained|made|built|designed) by)"
    r"\s+(?:an?\s+|the\s+)?(?:ai\s+|language\s+model\s+|model\s+|assistant\s+)?"
)


@dataclass(frozen=True)
class Ballot:
    """What the ratings need of one vote: the two models by name, the result, and each side's
    time to first token and tokens per second, where measured."""

    a: str
    b: str
    outcome: Outcome
    ttft_s: tuple[float | None, float | None] = (None, None)
    tokens_per_s: tuple[float | None, float | None] = (None, None)


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


def identity_claim(text: str, names: Iterable[str] = ()) -> str | None:
    """The words where a reply says which model it is ("As Claude, …", "I'm Qwen",
    "developed by OpenAI"), or `None`. `names` (the round's own models) join
    `MODEL_FAMILIES`; names under four characters are left out, being ordinary words too
    often."""
    known = {*MODEL_FAMILIES, *(n for n in names if len(n) >= 4)}
    alternatives = "|".join(re.escape(n) for n in sorted(known, key=len, reverse=True))
    found = re.search(rf"{_CLAIM}(?:{alternatives})(?![\w-])", text, re.IGNORECASE)
    return found.group(0) if found else None


class Pairings:
    """Draws two of the given models for each round, so that over a session every pair meets
    about as often as every other: each draw is among the pairs met least so far, and which
    side is "Model A" is a coin toss."""

    def __init__(self, names: Sequence[str], rng: random.Random | None = None) -> None:
        if len(set(names)) < 2:
            raise ValueError("the arena needs at least two different models")
        self.rng = rng or random.Random()
        self.met = {pair: 0 for pair in itertools.combinations(dict.fromkeys(names), 2)}

    def draw(self) -> tuple[str, str]:
        fewest = min(self.met.values())
        pair = self.rng.choice([p for p, n in self.met.items() if n == fewest])
        self.met[pair] += 1
        a, b = pair
        return (a, b) if self.rng.random() < 0.5 else (b, a)


def preference_pairs(votes: Iterable[StoredVote]) -> Iterator[dict[str, Any]]:
    """Each vote with a winner as a DPO-style record: `prompt`, `chosen`, `rejected`, and
    `metadata`. Ties and "both bad" say nothing about preference, and are left out."""
    for vote in votes:
        if vote.outcome not in ("a", "b"):
            continue
        sides = {"a": (vote.model_a, vote.reply_a), "b": (vote.model_b, vote.reply_b)}
        loser = "b" if vote.outcome == "a" else "a"
        (chosen_model, chosen), (rejected_model, rejected) = sides[vote.outcome], sides[loser]
        yield {
            "prompt": vote.prompt,
            "chosen": chosen,
            "rejected": rejected,
            "metadata": {
                "vote_id": vote.id,
                "created": datetime.fromtimestamp(vote.created).astimezone().isoformat(),
                "chosen_model": chosen_model,
                "rejected_model": rejected_model,
                "tag": vote.tag,
                "flagged": vote.flagged,
                "chosen_details": dict(vote.details.get(vote.outcome, {})),
                "rejected_details": dict(vote.details.get(loser, {})),
            },
        }
