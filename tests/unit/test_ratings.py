"""The arena's maths and rules against cases worked out by hand: Bradley–Terry, Elo, the
bootstrap, balanced pairings, self-identification, and preference pairs."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from genchat.arena.ratings import BASE_RATING, REGULARISER, SCALE, bradley_terry, elo, leaderboard
from genchat.arena.votes import (
    Ballot,
    Outcome,
    Pairings,
    StoredVote,
    identity_claim,
    preference_pairs,
)


def ballots(*spec: tuple[str, str, Outcome, int]) -> list[Ballot]:
    return [Ballot(a, b, outcome) for a, b, outcome, times in spec for _ in range(times)]


def ratings(votes: list[Ballot], **options: int) -> dict[str, float | None]:
    board = leaderboard(votes, min_votes=1, rounds=0, **options)
    return {s.name: s.rating for s in board.standings}


def test_two_models_three_wins_to_one_is_log_three_apart() -> None:
    # P(A beats B) = 3/4 maximises 3·log p + log(1 - p), so the scores differ by ln 3 (the
    # regulariser moves that by well under 1%).
    r = ratings(ballots(("A", "B", "a", 3), ("A", "B", "b", 1)))
    assert r["A"] - r["B"] == pytest.approx(SCALE * math.log(3), rel=0.01)  # type: ignore[operator]
    assert r["A"] + r["B"] == pytest.approx(2 * BASE_RATING)  # type: ignore[operator]
    # Ties count half a win each: two wins and two ties are three wins to one.
    tied = ratings(ballots(("A", "B", "a", 2), ("B", "A", "tie", 1), ("A", "B", "bad", 1)))
    assert tied == pytest.approx(r)


def test_a_cycle_and_all_ties_leave_every_model_equal() -> None:
    cycle = ratings(ballots(("A", "B", "a", 2), ("B", "C", "a", 2), ("C", "A", "a", 2)))
    assert cycle == pytest.approx({"A": BASE_RATING, "B": BASE_RATING, "C": BASE_RATING})
    ties = ratings(ballots(("A", "B", "tie", 3), ("B", "C", "bad", 2), ("A", "C", "tie", 1)))
    assert ties == pytest.approx({"A": BASE_RATING, "B": BASE_RATING, "C": BASE_RATING})


def test_a_model_that_never_lost_stays_finite_through_the_regulariser() -> None:
    r = ratings(ballots(("A", "B", "a", 10)))
    gap = (r["A"] - r["B"]) / SCALE  # type: ignore[operator]
    assert math.isfinite(gap) and gap > 0
    # At the optimum the penalised gradient is zero: 10·(1 - σ(gap)) = λ·gap/2 for A.
    assert 10 / (1 + math.exp(gap)) == pytest.approx(REGULARISER * gap / 2, rel=1e-6)
    pulled = ratings(ballots(("A", "B", "a", 10)), regulariser=1)  # type: ignore[arg-type]
    assert pulled["A"] < r["A"]  # type: ignore[operator]


def test_the_fit_is_the_penalised_optimum_on_uneven_data() -> None:
    rng = np.random.default_rng(3)
    wins = rng.integers(0, 9, size=(5, 5)).astype(float)
    np.fill_diagonal(wins, 0)
    scores = bradley_terry(wins)
    p = 1 / (1 + np.exp(scores[None, :] - scores[:, None]))
    gradient = (wins - (wins + wins.T) * p).sum(axis=1) - REGULARISER * scores
    assert np.abs(gradient).max() < 1e-8
    # a batch fits each matrix as if alone
    assert np.allclose(bradley_terry(np.stack([wins, wins.T]))[0], scores)


def test_online_elo_by_hand() -> None:
    # Equal ratings expect half a point; a win moves each side K/2 = 16.
    assert elo(ballots(("A", "B", "a", 1))) == {"A": 1016.0, "B": 984.0}
    second = elo(ballots(("A", "B", "a", 1), ("A", "B", "tie", 1)))
    expected = 1 / (1 + 10 ** ((984 - 1016) / 400))
    assert second["A"] == pytest.approx(1016 + 32 * (0.5 - expected))


def test_bootstrap_intervals_repeat_with_a_seed_and_shrink_with_more_votes() -> None:
    few = ballots(("A", "B", "a", 6), ("A", "B", "b", 3), ("B", "C", "a", 6), ("C", "B", "tie", 3))
    many = few * 10

    def intervals(votes: list[Ballot], seed: int) -> dict[str, tuple[float, float]]:
        board = leaderboard(votes, rounds=300, seed=seed)
        return {s.name: (s.low, s.high) for s in board.standings}  # type: ignore[misc]

    assert intervals(few, 1) == intervals(few, 1)
    assert intervals(few, 1) != intervals(few, 2)
    for name in "ABC":
        narrow, wide = intervals(many, 1)[name], intervals(few, 1)[name]
        assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 2
    board = leaderboard(few, rounds=300, seed=1)
    for standing in board.standings:
        assert standing.low <= standing.rating <= standing.high  # type: ignore[operator]


def test_too_few_votes_say_so_instead_of_numbers() -> None:
    board = leaderboard(ballots(("A", "B", "a", 3), ("A", "C", "b", 1)))
    assert not board.enough
    assert board.summary().startswith("Not enough votes: 4 so far.")
    assert all(s.rating is None and s.elo is None for s in board.standings)
    assert {s.name: s.votes for s in board.standings} == {"A": 4, "B": 3, "C": 1}


def test_counts_win_rates_and_mean_speeds() -> None:
    votes = [
        Ballot("A", "B", "a", ttft_s=(0.2, 0.4), tokens_per_s=(50.0, None)),
        Ballot("B", "A", "tie", ttft_s=(0.6, 0.4), tokens_per_s=(30.0, 70.0)),
        Ballot("A", "A", "a"),  # a model against itself says nothing
    ]
    board = leaderboard(votes, min_votes=1, rounds=10)
    a, b = board.standings
    assert (a.name, a.wins, a.losses, a.ties, a.votes) == ("A", 1, 0, 1, 2)
    assert a.win_rate == 0.75 and b.win_rate == 0.25
    assert a.ttft_s == pytest.approx(0.3) and a.tokens_per_s == pytest.approx(60.0)
    assert b.ttft_s == pytest.approx(0.5) and b.tokens_per_s == pytest.approx(30.0)
    assert board.votes == 2


# -- the rules ---------------------------------------------------------------------------------


def test_pairings_balance_every_pair_and_both_sides() -> None:
    pairings = Pairings(["x", "y", "z", "w"], random.Random(5))
    drawn = [pairings.draw() for _ in range(60)]
    met = Counter(frozenset(pair) for pair in drawn)
    assert len(met) == 6 and set(met.values()) == {10}
    assert {pair for pair in drawn if pair[0] == "x"} and {pair for pair in drawn if pair[1] == "x"}
    with pytest.raises(ValueError, match="two different models"):
        Pairings(["x", "x"])


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ("As Claude, I can't browse the web.", "As Claude"),
        ("I'm ChatGPT, a large language model.", "I'm ChatGPT"),
        ("I am an AI model developed by OpenAI.", "developed by OpenAI"),
        ("Hello! I am SmolLM, your assistant.", "I am SmolLM"),
        ("My name is tldr-bot.", "My name is tldr-bot"),
        ("Llama and Mistral are both open models.", None),  # naming models is not a claim
        ("As an AI language model, I have no feelings.", None),
        ("Quick as a fox.", None),  # a name under four characters is too common a word
        ("As Claudette said, the sky is blue.", None),
    ],
)
def test_a_reply_that_names_its_own_model_is_caught(text: str, claim: str | None) -> None:
    assert identity_claim(text, names=["tldr-bot", "fox"]) == claim


def test_votes_with_a_winner_become_preference_pairs() -> None:
    def vote(outcome: Outcome) -> StoredVote:
        return StoredVote(
            1, 0.0, "Q?", outcome, "m1", "m2", "one", "two",
            details={"a": {"profile": "p1"}, "b": {"profile": "p2"}},
        )  # fmt: skip

    [pair] = preference_pairs([vote("b"), vote("tie"), vote("bad")])
    assert (pair["prompt"], pair["chosen"], pair["rejected"]) == ("Q?", "two", "one")
    meta = pair["metadata"]
    assert (meta["chosen_model"], meta["rejected_model"]) == ("m2", "m1")
    assert meta["chosen_details"] == {"profile": "p2"}
