"""The leaderboard over 100,000 stored votes, bootstrap included, against 1,000 votes.

Votes between eight models, won as Bradley–Terry says for fixed strengths (10% ties, 3% both
bad, 2% flagged), are written straight into a real history database (the store's own insert,
one transaction per vote, would take minutes to build the set; what is timed is reading). We
time, side by side in one run: the store reading the ballots; the ratings (Bradley–Terry,
1,000 bootstrap rounds, Elo, means); and `genchat leaderboard` as a user runs it, process
start-up included.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from genchat.arena import vote_store  # noqa: E402
from genchat.arena.ratings import leaderboard  # noqa: E402
from genchat.history.store import Store  # noqa: E402

MODELS = {f"model-{i}": 0.25 * i for i in range(8)}
SIZES = {"large": 100_000, "small": 1_000}


def build(path: Path, votes: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    names = sorted(MODELS)
    rows = []
    for n in range(votes):
        a, b = rng.sample(names, 2)
        p_a = 1 / (1 + math.exp(MODELS[b] - MODELS[a]))
        roll = rng.random()
        outcome = "tie" if roll < 0.10 else "bad" if roll < 0.13 else "a"
        if outcome == "a" and rng.random() >= p_a:
            outcome = "b"
        details = {
            side: {"metrics": {"ttft_s": rng.random(), "tokens_per_s": 40.0}} for side in "ab"
        }
        rows.append(
            (
                1.7e9 + n, "coding" if n % 2 else "writing", f"prompt {n}", outcome,
                "As Claude" if rng.random() < 0.02 else None, a, b, "reply " * 60, "reply " * 60,
                rng.random(), rng.random(), 40.0, 40.0, json.dumps(details),
            )
        )  # fmt: skip
    with Store(path):
        pass  # the schema, as genchat makes it
    import sqlite3

    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO votes (created, tag, prompt, outcome, flagged, model_a, model_b,"
            " reply_a, reply_b, ttft_a, ttft_b, tps_a, tps_b, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    db.close()


def time_once(path: Path) -> dict[str, float]:
    start = time.perf_counter()
    with Store(path) as store:
        ballots = vote_store.ballots(store)
    read = time.perf_counter() - start
    start = time.perf_counter()
    board = leaderboard(ballots)
    rate = time.perf_counter() - start
    assert board.enough
    env = {**os.environ, "GENCHAT_DATA_DIR": str(path.parent)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "genchat", "leaderboard"], env=env, check=True, capture_output=True
    )
    command = time.perf_counter() - start
    return {"read": read, "ratings": rate, "command": command}


def measure(rounds: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        paths = {}
        for name, votes in SIZES.items():
            paths[name] = Path(home) / name / "genchat.db"
            paths[name].parent.mkdir()
            build(paths[name], votes)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in SIZES}
        for _ in range(rounds):
            for name, path in paths.items():
                runs[name].append(time_once(path))
                print(name, runs[name][-1], file=sys.stderr)
    medians = {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for name, rs in runs.items()
    }
    return {"sizes": SIZES, "models": len(MODELS), "rounds": rounds, "medians": medians}


if __name__ == "__main__":
    print(measure())
