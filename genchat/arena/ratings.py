"""Ratings from blind pairwise votes: online Elo, Bradley–Terry by maximum likelihood, and
bootstrap confidence intervals. Pure numpy: no store, no screen.

A vote is between two named models, "a" and "b", and says which reply was better: `a`, `b`,
`tie`, or `bad` (both bad, which counts as a tie). For Bradley–Terry a tie is half a win for
each side. The fit maximises the log-likelihood less a small L2 penalty on the scores (a
Gaussian prior centred on "all equal"), so a model that never lost still gets a finite rating
instead of running off to infinity; with a handful of votes the penalty barely moves anything
else. Scores are put on the familiar Elo scale: 400 points is ten-to-one odds, and the mean
model sits at 1000.

The bootstrap resamples votes with replacement. Bradley–Terry depends on the votes only
through how many of each (pair, result) there are, so a resample is one multinomial draw over
those counts, and every round is fitted at once as a batch: 1,000 rounds over 100,000 votes
cost about what 1,000 rounds over 100 votes do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from genchat.arena.votes import MIN_VOTES, ROUNDS, Ballot

BASE_RATING = 1000.0
SCALE = 400 / math.log(10)
"""Elo points per unit of Bradley–Terry score (natural log-odds)."""
ELO_K = 32.0
"""How far one online Elo update moves a rating: chess's usual value, for the tens or hundreds
of votes one person gives (Chatbot Arena, with millions, uses 4)."""
REGULARISER = 0.01
"""The L2 penalty on Bradley–Terry scores: a prior standard deviation of 10 log-odds units."""

Array: TypeAlias = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Standing:
    """One model on the leaderboard."""

    name: str
    votes: int
    wins: int
    losses: int
    ties: int
    rating: float | None
    """Bradley–Terry, on the Elo scale; `None` with fewer than `min_votes` votes."""
    low: float | None
    high: float | None
    """The 95% bootstrap interval of `rating`."""
    elo: float | None
    """Online Elo over the votes in the order given (it depends on that order)."""
    ttft_s: float | None
    tokens_per_s: float | None
    """Means over the replies where they were measured."""

    @property
    def win_rate(self) -> float:
        """Wins over votes, a tie counting half."""
        return (self.wins + self.ties / 2) / self.votes if self.votes else 0.0

    @property
    def enough(self) -> bool:
        return self.rating is not None


@dataclass(frozen=True)
class Leaderboard:
    standings: list[Standing]
    """Best first; models without enough votes last, by votes."""
    votes: int
    rounds: int
    seed: int
    min_votes: int

    @property
    def enough(self) -> bool:
        """Whether at least two models have enough votes to rank."""
        return sum(s.enough for s in self.standings) >= 2

    def summary(self) -> str:
        """One line: what the board is built from, or plainly that it is not enough."""
        if self.enough:
            return (
                f"{self.votes} votes; Bradley–Terry ratings with 95% intervals from "
                f"{self.rounds} bootstrap rounds (seed {self.seed})."
            )
        return (
            f"Not enough votes: {self.votes} so far. Ratings need {self.min_votes} "
            f"vote{'s' if self.min_votes != 1 else ''} for each of at least two models."
        )


def elo(ballots: Iterable[Ballot], k: float = ELO_K) -> dict[str, float]:
    """Online Elo: every model starts at 1000 and each vote moves both sides."""
    ratings: dict[str, float] = {}
    for ballot in ballots:
        ra = ratings.setdefault(ballot.a, BASE_RATING)
        rb = ratings.setdefault(ballot.b, BASE_RATING)
        expected = 1 / (1 + 10 ** ((rb - ra) / 400))
        scored = {"a": 1.0, "b": 0.0}.get(ballot.outcome, 0.5)
        ratings[ballot.a] = ra + k * (scored - expected)
        ratings[ballot.b] = rb - k * (scored - expected)
    return ratings


def bradley_terry(wins: Array, regulariser: float = REGULARISER) -> Array:
    """Scores (natural log-odds, mean 0) maximising the penalised likelihood of `wins`, where
    `wins[..., i, j]` is how often model i beat model j (ties as halves). Leading dimensions
    are a batch, fitted together: Newton's method, which converges in a few steps here."""
    wins = np.asarray(wins, dtype=np.float64)
    games = wins + np.swapaxes(wins, -1, -2)
    scores = np.zeros(wins.shape[:-1])
    eye = np.eye(wins.shape[-1])
    for _ in range(100):
        p = 1 / (1 + np.exp(scores[..., None, :] - scores[..., :, None]))  # P(i beats j)
        gradient = (wins - games * p).sum(axis=-1) - regulariser * scores
        curvature = games * p * (1 - p)
        hessian = curvature - eye * (curvature.sum(axis=-1)[..., None] + regulariser)
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        scores = scores - step
        if np.abs(step).max(initial=0.0) < 1e-10:
            break
    return np.asarray(scores - scores.mean(axis=-1, keepdims=True))


def leaderboard(
    ballots: Sequence[Ballot],
    *,
    rounds: int = ROUNDS,
    seed: int = 0,
    min_votes: int = MIN_VOTES,
    regulariser: float = REGULARISER,
) -> Leaderboard:
    """Every model's standing from `ballots` (oldest first, which only Elo minds). A vote
    between a model and itself says nothing, and is left out."""
    ballots = [b for b in ballots if b.a != b.b]
    names = sorted({b.a for b in ballots} | {b.b for b in ballots})
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    wins, losses, ties = np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
    # Each vote as a category: the pair (i < j) and the result for i (win, loss, tie).
    categories = np.zeros(len(ballots), int)
    for number, ballot in enumerate(ballots):
        i, j = index[ballot.a], index[ballot.b]
        result = {"a": 0, "b": 1}.get(ballot.outcome, 2)
        if i > j:
            i, j = j, i
            result = {0: 1, 1: 0}.get(result, 2)
        categories[number] = (i * n + j) * 3 + result
        winner = {0: i, 1: j}.get(result)
        if winner is None:
            ties[[i, j]] += 1
        else:
            wins[winner] += 1
            losses[i + j - winner] += 1
    counts = np.bincount(categories, minlength=n * n * 3).astype(np.float64)
    scores = bradley_terry(_wins(counts[None, :], n), regulariser)[0] if n else np.zeros(0)
    low = high = np.full(n, np.nan)
    if ballots and rounds > 0:
        rng = np.random.default_rng(seed)
        drawn = rng.multinomial(len(ballots), counts / counts.sum(), size=rounds)
        sampled = bradley_terry(_wins(drawn.astype(np.float64), n), regulariser)
        low, high = np.percentile(sampled, [2.5, 97.5], axis=0)
    online = elo(ballots)
    ttft = _means(ballots, index, "ttft_s")
    speed = _means(ballots, index, "tokens_per_s")
    standings = []
    for name, i in index.items():
        votes = int(wins[i] + losses[i] + ties[i])
        shown = votes >= min_votes
        standings.append(
            Standing(
                name=name,
                votes=votes,
                wins=int(wins[i]),
                losses=int(losses[i]),
                ties=int(ties[i]),
                rating=_rated(scores[i]) if shown else None,
                low=_rated(low[i]) if shown and rounds > 0 else None,
                high=_rated(high[i]) if shown and rounds > 0 else None,
                elo=online[name] if shown else None,
                ttft_s=ttft[i],
                tokens_per_s=speed[i],
            )
        )
    standings.sort(key=lambda s: (not s.enough, -(s.rating or 0.0), -s.votes, s.name))
    return Leaderboard(standings, len(ballots), rounds, seed, min_votes)


def _wins(counts: Array, n: int) -> Array:
    """Win matrices, one per row of category counts (see `leaderboard`)."""
    rounds = counts.shape[0]
    by_pair = counts.reshape(rounds, n, n, 3)
    half_ties = by_pair[..., 2] / 2
    return np.asarray(
        by_pair[..., 0] + np.swapaxes(by_pair[..., 1], -1, -2) + half_ties
        + np.swapaxes(half_ties, -1, -2)
    )  # fmt: skip


def _rated(score: float) -> float:
    return BASE_RATING + SCALE * float(score)


def _means(
    ballots: Sequence[Ballot], index: dict[str, int], field: Literal["ttft_s", "tokens_per_s"]
) -> list[float | None]:
    totals, counts = [0.0] * len(index), [0] * len(index)
    for ballot in ballots:
        for name, value in zip((ballot.a, ballot.b), getattr(ballot, field), strict=True):
            if value is not None:
                totals[index[name]] += value
                counts[index[name]] += 1
    return [t / c if c else None for t, c in zip(totals, counts, strict=True)]
