"""The arena's votes read back: `genchat leaderboard` and `genchat votes`, run as a user runs
them, over a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest

from genchat.store import Store
from genchat.votes import Outcome
from tests.helpers import run_genchat

STRENGTH = {"strong": 1.5, "middling": 0.5, "weak": 0.0}


@pytest.fixture
def db(tmp_path: Path, config_file: Path) -> Path:
    # None of the voted models is a profile any more: votes count by their recorded names.
    config_file.write_text('[profiles.other]\nbackend = "openai"\nbase_url = "http://x/v1"\n')
    return tmp_path / "data" / "genchat.db"


def add_votes(db: Path, count: int, *, tag: str = "", seed: int = 1) -> None:
    """`count` votes between the three models of `STRENGTH`, won as Bradley–Terry says."""
    rng = random.Random(seed)
    with Store(db) as store:
        for _ in range(count):
            a, b = rng.sample(sorted(STRENGTH), 2)
            p_a = 1 / (1 + 2.718281828 ** (STRENGTH[b] - STRENGTH[a]))
            outcome: Outcome = "tie" if rng.random() < 0.1 else "a" if rng.random() < p_a else "b"
            store.add_vote(
                prompt=f"question {_}",
                outcome=outcome,
                models=(a, b),
                replies=(f"{a} says", f"{b} says"),
                details={side: {"metrics": {"ttft_s": 0.25, "tokens_per_s": 50}} for side in "ab"},
                tag=tag,
            )


def test_the_leaderboard_ranks_the_models_with_intervals_and_a_plot(db: Path) -> None:
    add_votes(db, 120)
    result = run_genchat("leaderboard", "--rounds", "200")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["Rank", "Model", "Rating"]
    assert [line.split()[1] for line in lines[1:4]] == ["strong", "middling", "weak"]
    assert "120 votes; Bradley–Terry ratings with 95% intervals from 200 bootstrap rounds" in (
        result.stdout
    )
    plot = [line for line in lines if "●" in line]
    assert len(plot) == 3 and all("├" in line and "┤" in line for line in plot)
    # the same seed, the same numbers
    assert run_genchat("leaderboard", "--rounds", "200").stdout == result.stdout


def test_the_leaderboard_exports_csv_and_markdown(db: Path, tmp_path: Path) -> None:
    add_votes(db, 60)
    out = tmp_path / "board.csv"
    assert run_genchat("leaderboard", "--format", "csv", "-o", str(out)).returncode == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["model"] for row in table] == ["strong", "middling", "weak"]
    first = table[0]
    assert float(first["ci_low"]) <= float(first["rating"]) <= float(first["ci_high"])
    assert int(first["wins"]) + int(first["losses"]) + int(first["ties"]) == int(first["votes"])
    assert float(first["ttft_s"]) == 0.25
    md = run_genchat("leaderboard", "--format", "md").stdout
    assert md.startswith("# Leaderboard\n") and "| 1 | strong |" in md


def test_too_few_votes_say_so_plainly(db: Path) -> None:
    add_votes(db, 6)
    result = run_genchat("leaderboard")
    assert result.returncode == 0
    assert "Not enough votes: 6 so far." in result.stdout
    assert "not enough votes" in result.stdout  # in place of each model's rating
    assert "●" not in result.stdout


def test_filters_by_tag_time_and_flag(db: Path) -> None:
    add_votes(db, 30, tag="coding")
    add_votes(db, 20, tag="writing", seed=2)
    with Store(db) as store:
        store.add_vote(
            prompt="Who are you?", outcome="a", models=("weak", "strong"),
            replies=("As Claude, …", "A model."), flagged="As Claude",
        )  # fmt: skip

    def votes(*options: str) -> int:
        result = run_genchat("leaderboard", "--format", "csv", "--rounds", "10", *options)
        assert result.returncode == 0, result.stderr
        return sum(int(row["votes"]) for row in csv.DictReader(io.StringIO(result.stdout))) // 2

    assert votes() == 50  # the flagged vote is left out
    assert votes("--include-flagged") == 51
    assert votes("--tag", "coding") == 30
    assert votes("--since", "2000-01-01") == 50
    assert votes("--until", "2000-01-01") == 0
    bad = run_genchat("leaderboard", "--since", "last week")
    assert bad.returncode == 2 and "--since 'last week' is not a date" in bad.stderr


def test_votes_export_as_preference_pairs(db: Path, tmp_path: Path) -> None:
    add_votes(db, 40)
    out = tmp_path / "pairs.jsonl"
    result = run_genchat("votes", "-o", str(out))
    assert result.returncode == 0, result.stderr
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    with Store(db) as store:
        decided = [v for v in store.votes() if v.outcome in ("a", "b")]
    assert len(pairs) == len(decided) and f"{len(pairs)} preference pairs" in result.stderr
    for pair, vote in zip(pairs, decided, strict=True):
        assert pair["prompt"] == vote.prompt
        winner = pair["metadata"]["chosen_model"]
        assert pair["chosen"] == f"{winner} says"
        assert pair["rejected"] == f"{pair['metadata']['rejected_model']} says"
