"""The history at scale, and what saving a streaming reply costs.

1. Two databases made here with seeded, generated text: 10,000 conversations of 20 messages
   (200,000 messages), and 100 conversations of 20. On each, side by side: the history screen
   of the real app (headless) from the key to the list on screen, and searches from the store
   (the screen runs the same call): a common word, a rare one, a prefix, two words. The ratio
   large / small shows whether the user feels the size.
2. A reply streamed at full speed through the chat screen with the history saving it, against
   the same with saving off, alternating, medians; and the time of one save of a reply's text
   at a few lengths (a reply is saved at most once a second while it streams).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.helpers import make_plugin_site, plugin_path  # noqa: E402

SEARCHES = {
    "common word": "alpha",
    "rare word": "xylophone",
    "prefix": "bet",
    "two words": "alpha gamma",
}
"""The queries; the vocabulary below makes `alpha` the most frequent word, `beta…` words
frequent, and `xylophone` appear in a few dozen messages."""


def vocabulary(rng: random.Random, size: int = 3000) -> tuple[list[str], list[float]]:
    """Words with Zipf-like weights: a few very common, most rare, as in real text."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["alpha", "beta", "gamma", "betray", "better"]
    while len(words) < size:
        words.append("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    weights = [1 / (rank + 1) for rank in range(len(words))]
    return words, weights


def build(path: Path, conversations: int, per_conversation: int = 20, seed: int = 7) -> None:
    """A history database of generated conversations, through the store's own schema."""
    from genchat.history.store import Store

    rng = random.Random(seed)
    words, weights = vocabulary(rng)
    with Store(path) as store:
        db = store._db
        db.execute("BEGIN")
        now = time.time() - conversations * 60
        next_message = 1
        for c in range(1, conversations + 1):
            created = now + c * 60
            db.execute(
                "INSERT INTO conversations (id, title, created, updated, profile, model)"
                " VALUES (?, ?, ?, ?, 'smollm2', 'SmolLM2-135M-Instruct.Q4_1')",
                (c, " ".join(rng.choices(words, weights, k=5)), created, created),
            )
            rows = []
            for i in range(per_conversation):
                text = rng.choices(words, weights, k=rng.randint(15, 120))
                if rng.random() < 0.0002:
                    text.insert(rng.randrange(len(text)), "xylophone")
                parent = next_message - 1 if i else None
                role = "user" if i % 2 == 0 else "assistant"
                rows.append((next_message, c, parent, role, " ".join(text), created + i))
                next_message += 1
            db.executemany(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("UPDATE conversations SET active_leaf = ? WHERE id = ?", (rows[-1][0], c))
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def best_of(rounds: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of `rounds` timed runs (what the user gets once the disk cache is warm)."""
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def measure_store(path: Path, rounds: int = 5) -> dict[str, Any]:
    from genchat.history.search import search
    from genchat.history.store import Store

    results: dict[str, Any] = {}
    with Store(path) as store:
        results["first page"], _ = best_of(rounds, lambda: store.conversations(100))
        for name, query in SEARCHES.items():
            seconds, hits = best_of(rounds, lambda q=query: search(store, q, 200))
            results[name] = seconds
            results[f"{name} hits"] = len(hits)
    return results


async def screen_times(rounds: int = 2) -> dict[str, float]:
    """The history screen in the real app: from Ctrl+L (sent as a terminal's key arrives) to
    the list drawn, and from a query typed to its matches drawn, less the pause the screen
    waits for typing to stop."""
    from textual import events
    from textual.widgets import Input, OptionList

    from genchat.tui.app import make_app
    from genchat.tui.screens.history import SEARCH_DELAY_S, HistoryScreen

    opened, searched = [], []
    app = make_app()

    async def drawn() -> None:
        done = asyncio.Event()
        app.call_after_refresh(done.set)
        await done.wait()

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        await app.services.history.call(lambda store: None)  # the store is open, as after start-up
        assert app._driver is not None
        for _ in range(rounds):
            start = time.perf_counter()
            app._driver.send_message(events.Key("ctrl+l", None))
            while not (  # noqa: ASYNC110 (polling is the measurement)
                isinstance(screen := app.screen, HistoryScreen)
                and screen.query(OptionList)
                and screen.query_one(OptionList).option_count
            ):
                await asyncio.sleep(0.001)
            await drawn()
            opened.append(time.perf_counter() - start)
            start = time.perf_counter()
            screen.query_one(Input).value = SEARCHES["two words"]
            while screen.hits is None:  # noqa: ASYNC110 (polling is the measurement)
                await asyncio.sleep(0.001)
            await drawn()
            searched.append(time.perf_counter() - start - SEARCH_DELAY_S)
            await pilot.press("escape")
            await pilot.pause(0.2)
    return {"open": min(opened), "search": min(searched)}


async def stream_seconds(save: bool) -> float:
    """From Enter to the whole reply on screen, with the history saving it or not."""
    from genchat.history.records import StoreError
    from genchat.tui.app import make_app
    from genchat.tui.history import ChatHistory

    def no_store() -> Any:
        raise StoreError("saving is off for this run")

    app = make_app("scripted")
    if not save:
        app.services.history = ChatHistory(no_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await app.services.history.call(lambda store: None)
        await pilot.press(*"go")
        start = time.perf_counter()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        return time.perf_counter() - start


def measure_saving(tokens: int = 4000, rounds: int = 5) -> dict[str, Any]:
    on, off = [], []
    for _ in range(rounds):
        off.append(asyncio.run(stream_seconds(save=False)))
        on.append(asyncio.run(stream_seconds(save=True)))
    return {
        "tokens": tokens,
        "on_s": statistics.median(on),
        "off_s": statistics.median(off),
        "ratio": statistics.median(on) / statistics.median(off),
    }


def measure_one_save(path: Path, rounds: int = 50) -> dict[int, float]:
    """The time of one save of a streaming reply's text, by the text's length in characters."""
    from genchat.history.store import Store

    times = {}
    with Store(path) as store:
        conversation = store.new_conversation()
        message = store.add_message(conversation, None, "assistant", "", status="streaming")
        for chars in (1_000, 8_000, 32_000):
            text = ("word " * chars)[:chars]
            times[chars] = best_of(rounds, lambda t=text: store.update_message(message, content=t))[
                0
            ]
    return times


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        root = Path(home)
        site = make_plugin_site(root / "site")
        sys.path[:0] = plugin_path(site).split(os.pathsep)
        os.environ["GENCHAT_PLUGINS"] = "scripted"
        config = root / "config.toml"
        os.environ["GENCHAT_CONFIG"] = str(config)
        tokens = 4000
        chunks = [f"word{i % 97} " for i in range(tokens)]
        config.write_text(
            f'[profiles.scripted]\nbackend = "scripted"\nchunks = {json.dumps(chunks)}\n'
        )
        results: dict[str, Any] = {"sizes": {}}
        sizes = {"large": 10_000, "small": 100}
        for name, conversations in sizes.items():
            path = root / name / "genchat.db"
            start = time.perf_counter()
            build(path, conversations)
            built = time.perf_counter() - start
            print(f"built {conversations:,} conversations in {built:.0f} s", file=sys.stderr)
            results["sizes"][name] = {
                "conversations": conversations,
                "messages": conversations * 20,
                "build_s": built,
                "mb": path.stat().st_size / 1e6,
                "store": measure_store(path),
            }
        screens: dict[str, list[dict[str, float]]] = {name: [] for name in sizes}
        for _ in range(3):  # alternating, each in a fresh app
            for name in sizes:
                os.environ["GENCHAT_DATA_DIR"] = str(root / name)
                screens[name].append(asyncio.run(screen_times()))
        for name, runs in screens.items():
            results["sizes"][name]["screen"] = {
                key: min(run[key] for run in runs) for key in ("open", "search")
            }
            print(name, results["sizes"][name], file=sys.stderr)
        os.environ["GENCHAT_DATA_DIR"] = str(root / "saving")
        results["saving"] = measure_saving(tokens)
        results["one_save_s"] = measure_one_save(root / "saving" / "genchat.db")
        print(results["saving"], results["one_save_s"], file=sys.stderr)
    return results


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
