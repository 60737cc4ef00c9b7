"""Opening a long conversation (issue 17): from the call that opens it to its last message
drawn, and to the whole of it loaded (which the next reply waits for), in the real app,
headless (120x40), and the memory the open conversation holds.

One database, made here through the store's own schema with seeded text, holds a conversation
of each length: 100, 2,000 and 100,000 messages, user and assistant alternating, 15-120 words
each, a few replies with a code block. Each length is opened in a fresh process (so that one
case's memory is not another's), `ROUNDS` times: the time of each open, and the RSS growth of
the process from before the first open to after the last.

`python bench/open_long.py [--lengths 100,2000,100000]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from history import vocabulary  # noqa: E402

LENGTHS = (100, 2000, 100_000)
ROUNDS = 3
SIZE = (120, 40)


def build(path: Path, lengths: tuple[int, ...], seed: int = 11) -> dict[int, int]:
    """One conversation of each length; returns length -> conversation id."""
    from genchat.history.store import Store

    rng = random.Random(seed)
    words, weights = vocabulary(rng)
    ids: dict[int, int] = {}
    with Store(path) as store:
        db = store._db
        db.execute("BEGIN")
        message = 0
        for conversation, length in enumerate(lengths, start=1):
            created = time.time() - 86400
            db.execute(
                "INSERT INTO conversations (id, title, created, updated, profile, model)"
                " VALUES (?, ?, ?, ?, 'bench', 'fault-model')",
                (conversation, f"{length} messages", created, created),
            )
            rows = []
            for i in range(length):
                message += 1
                text = " ".join(rng.choices(words, weights, k=rng.randint(15, 120)))
                if i % 2 and rng.random() < 0.1:
                    text += "\n\n```python\ndef f(x):\n    return x + 1\n```\n"
                role = "user" if i % 2 == 0 else "assistant"
                parent = message - 1 if i else None
                rows.append((message, conversation, parent, role, text, created + i))
            db.executemany(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute(
                "UPDATE conversations SET active_leaf = ? WHERE id = ?", (message, conversation)
            )
            ids[length] = conversation
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ids


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


async def open_times(conversation: int, messages: int, rounds: int) -> dict[str, Any]:
    """In one app: open `conversation` `rounds` times (a new chat between), each timed from
    the call to the frame that shows its last message, and to the whole conversation loaded
    (what the next reply waits for)."""
    from genchat.tui.app import make_app
    from genchat.tui.screens.chat import ChatScreen
    from genchat.tui.widgets.message import MessageView

    app = make_app("bench")
    times, wholes = [], []
    async with app.run_test(size=SIZE) as pilot:
        await app.services.loaded.wait()
        await app.services.warmed_up.wait()
        await pilot.pause()
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        before = rss_mb()
        for _ in range(rounds):
            await chat.action_new_chat()
            await pilot.pause()
            start = time.perf_counter()
            assert await chat.open_conversation(conversation)
            drawn = asyncio.Event()
            app.call_after_refresh(drawn.set)
            await drawn.wait()
            times.append(time.perf_counter() - start)
            views = list(chat.query(MessageView))
            last = views[-1]
            assert last.region.height and chat.query_one("#messages").is_vertical_scroll_end
            # The turns before those drawn load behind the first frame; a reply waits for them.
            await chat._earlier_loaded()
            wholes.append(time.perf_counter() - start)
            assert len(chat.history) == messages
        mounted = len(views)
        after = rss_mb()
    return {
        "seconds": times,
        "whole_s": wholes,
        "rss_growth_mb": after - before,
        "mounted": mounted,
    }


def measure(lengths: tuple[int, ...] = LENGTHS, rounds: int = ROUNDS) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home:
        data = Path(home) / "data"
        data.mkdir()
        from genchat.history.database import DB_NAME

        ids = build(data / DB_NAME, lengths)
        config = Path(home) / "config.toml"
        config.write_text(
            '[profiles.bench]\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
            'model = "fault-model"\n'
        )
        env = {
            "GENCHAT_CONFIG": str(config),
            "GENCHAT_DATA_DIR": str(data),
            "GENCHAT_PLUGINS": "",
            "OLLAMA_HOST": "127.0.0.1:9",
        }
        for length in lengths:
            print(f"opening {length:,} messages…", file=sys.stderr)
            one_case = ["--one", f"{ids[length]}:{length}", "--rounds", str(rounds)]
            run = subprocess.run(
                [sys.executable, __file__, *one_case],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if run.returncode:
                raise SystemExit(run.stderr)
            one = json.loads(run.stdout.splitlines()[-1])
            results[f"{length}"] = {
                "messages": length,
                "median_s": statistics.median(one["seconds"]),
                "slowest_s": max(one["seconds"]),
                "whole_s": statistics.median(one["whole_s"]),
                "rss_growth_mb": one["rss_growth_mb"],
                "mounted": one["mounted"],
            }
            print(json.dumps(results[f"{length}"]), file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", default=",".join(str(n) for n in LENGTHS))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # conversation:messages
    args = parser.parse_args()
    if args.one is not None:
        conversation, messages = (int(part) for part in args.one.split(":"))
        print(json.dumps(asyncio.run(open_times(conversation, messages, args.rounds))))
        return
    lengths = tuple(int(n) for n in args.lengths.split(","))
    print(json.dumps(measure(lengths, args.rounds), indent=2))


if __name__ == "__main__":
    main()
