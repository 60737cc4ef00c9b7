"""A day of chatting (issue 16, item 2): memory over many long replies in many chats, and the
longest stall of each reply, for each way of handling the cyclic garbage collector, side by side.

The real app, headless (120×40), on an openai profile against the project's fault server
(tests/support/fault_server.py) in a process of its own: `--chats` chats of `--replies` replies of
`--tokens` tokens each, streamed as fast as the socket takes them, Ctrl+N between chats, and the
app left idle for `READ_S` after each reply, as while it is read. After each chat, its RSS;
during each reply, from Enter until the whole reply is on screen, the longest stall of the event
loop (bench/stalls.py); and every collection the collector runs, timed through `gc.callbacks`.

The strategies, each in a fresh process:

- **before**: `gc.freeze()` once the screen is up and after each reply, as genchat did before
  this benchmark: garbage not yet collected when a reply ended became permanent;
- **off**: no freeze, the collector as Python sets it;
- **now**: `genchat/tui/memory.py` as it is: start-up collected then frozen once the screen is
  up, full collections made rare, and what is not frozen collected a moment after each reply;
- **now-python-thresholds**: the same with the collector's thresholds as Python sets them.

Only the handling of the collector differs between them: the rest is the app as it is.

`python bench/soak.py [--chats 8] [--replies 5] [--tokens 4000] [--strategies before,now]`
(`--chats 3 --replies 2` for a quick look). `--trace` adds to each case's stderr what tracemalloc
saw grow between the end of the second chat and the end of the last (everything runs slower
under it: no figures from such a run).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from peak_memory import status_bytes  # noqa: E402
from remote import fault_server  # noqa: E402
from stalls import watch_stalls  # noqa: E402

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from genchat.tui.screens.chat import ChatScreen
    from genchat.tui.widgets.message import AssistantMessage

STRATEGIES = ("before", "off", "now-python-thresholds", "now")

PYTHON_THRESHOLDS = gc.get_threshold()
"""The collector's thresholds as Python sets them (700, 10, 10)."""

READ_S = 1.5
"""How long the app is left idle after each reply, as while its reader reads it: longer than
the app waits before it collects (`COLLECT_DELAY_S`). RSS is read after the last of a chat."""


class Collections:
    """Every collection the cyclic collector runs, timed through `gc.callbacks`, and whether a
    reply was streaming meanwhile (as `streaming()` says)."""

    def __init__(self) -> None:
        self.streaming: Callable[[], bool] = lambda: False
        self.seen: list[tuple[int, float, bool]] = []
        """(generation, seconds, during a stream) of each collection."""
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        self.seen.append((info["generation"], seconds, self.streaming()))

    def summary(self) -> dict[str, Any]:
        full_streaming = [s for g, s, during in self.seen if g == 2 and during]
        full_idle = [s for g, s, during in self.seen if g == 2 and not during]
        young_streaming = [s for g, s, during in self.seen if g < 2 and during]
        return {
            "young_during_streams": len(young_streaming),
            "full_during_streams": len(full_streaming),
            "longest_full_during_streams_s": max(full_streaming, default=0.0),
            "longest_young_during_streams_s": max(young_streaming, default=0.0),
            "full_when_idle": len(full_idle),
            "longest_full_when_idle_s": max(full_idle, default=0.0),
        }


def _use_strategy(strategy: str) -> None:
    """Make the app handle the collector as `strategy` says (see the module's docs)."""
    import genchat.tui.app as app_module
    import genchat.tui.screens.chat as chat_module
    from genchat.tui.memory import settle_memory

    def python_thresholds() -> None:
        settle_memory()
        gc.set_threshold(*PYTHON_THRESHOLDS)

    if strategy == "before":
        app_module.settle_memory = gc.freeze
        chat_module.collect_when_idle = lambda node, busy: gc.freeze()
    elif strategy == "off":
        app_module.settle_memory = lambda: None
        chat_module.collect_when_idle = lambda node, busy: None
    elif strategy == "now-python-thresholds":
        app_module.settle_memory = python_thresholds


async def _reply(
    pilot: Pilot[None], screen: ChatScreen, text: str, collections: Collections
) -> tuple[AssistantMessage, float]:
    """Send `text`; once the whole reply is on screen, its view and the longest stall."""
    from genchat.tui.widgets.message import AssistantMessage
    from genchat.tui.widgets.prompt import PromptInput

    screen.query_one(PromptInput).insert(text)
    shown = len(screen.query(AssistantMessage))
    stalls: list[float] = []
    watcher = asyncio.create_task(watch_stalls(stalls))
    collections.streaming = lambda: True
    await pilot.press("enter")
    while len(screen.query(AssistantMessage)) == shown:  # noqa: ASYNC110 (polling is the measurement)
        await asyncio.sleep(0.01)
    view = screen.query(AssistantMessage).last()
    collections.streaming = lambda: view.state == "streaming"
    while view.state == "streaming":  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    watcher.cancel()
    collections.streaming = lambda: False
    return view, max(stalls)


async def soak(
    strategy: str, url: str, chats: int, replies: int, tokens: int, trace: bool
) -> dict[str, Any]:
    from genchat.tui.app import make_app
    from genchat.tui.screens.chat import ChatScreen

    _use_strategy(strategy)
    Path(os.environ["GENCHAT_CONFIG"]).write_text(
        f'[profiles.remote]\nbackend = "openai"\nbase_url = "{url}"\nmodel = "fault-model"\n'
    )
    collections = Collections()
    views: weakref.WeakSet[AssistantMessage] = weakref.WeakSet()
    per_chat: list[dict[str, Any]] = []
    snapshot = None
    app = make_app("remote")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await asyncio.sleep(READ_S)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        start_rss = status_bytes("VmRSS")
        for chat in range(chats):
            stalls = []
            for turn in range(replies):
                question = f"question {turn + 1} of chat {chat + 1}"
                view, stall = await _reply(pilot, screen, question, collections)
                assert view.state == "complete" and view.text.count("w") == tokens, view.state
                views.add(view)
                stalls.append(stall)
                del view
                await app.workers.wait_for_complete()  # the title, after a chat's first reply
                await asyncio.sleep(READ_S)
            per_chat.append(
                {
                    "rss_mb": status_bytes("VmRSS") / 1e6,
                    "longest_stall_s": max(stalls),
                    "replies_alive": len(views),
                    "frozen_objects": gc.get_freeze_count(),
                    "tracked_objects": len(gc.get_objects()),
                }
            )
            print(f"{strategy}, chat {chat + 1}: {per_chat[-1]}", file=sys.stderr)
            if trace and chat == 1:
                snapshot = tracemalloc.take_snapshot()
            if chat < chats - 1:
                await pilot.press("ctrl+n")
                await pilot.pause()
        if snapshot is not None:
            _print_growth(snapshot, tracemalloc.take_snapshot())
    rss = [chat["rss_mb"] for chat in per_chat]
    return {
        "strategy": strategy,
        "start_rss_mb": start_rss / 1e6,
        "chats": per_chat,
        "growth_from_chat_2_mb": rss[-1] - rss[min(1, len(rss) - 1)],
        "longest_stall_s": max(chat["longest_stall_s"] for chat in per_chat),
        "collections": collections.summary(),
    }


def _print_growth(old: tracemalloc.Snapshot, new: tracemalloc.Snapshot) -> None:
    """What grew most between two snapshots, with where it was allocated."""
    for stat in new.compare_to(old, "traceback")[:15]:
        size, count = stat.size_diff / 1e6, stat.count_diff
        print(f"{size:+.2f} MB in {count:+d} blocks, allocated at", file=sys.stderr)
        for line in stat.traceback.format()[-12:]:
            print("    " + line, file=sys.stderr)


def run_case(strategy: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One strategy's soak, in a fresh process with its own config and history."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "GENCHAT_CONFIG": f"{scratch}/config.toml",
            "GENCHAT_DATA_DIR": f"{scratch}/data",
            "GENCHAT_CACHE_DIR": f"{scratch}/cache",
            "GENCHAT_PLUGINS": "",
            "OLLAMA_HOST": "127.0.0.1:9",  # nothing to find: keep discovery quiet
        }
        command = [sys.executable, __file__, "--case", strategy, url]
        command += ["--chats", str(args.chats), "--replies", str(args.replies)]
        command += ["--tokens", str(args.tokens)] + (["--trace"] if args.trace else [])
        result = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env, check=True
        )
    value: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with fault_server() as root:
        url = f"{root}/fast-{args.tokens}/v1"
        for strategy in args.strategies.split(","):
            results[strategy] = run_case(strategy, url, args)
    if "before" in results and "now" in results:
        now = max(results["now"]["growth_from_chat_2_mb"], 0.1)
        results["growth_before_over_now"] = results["before"]["growth_from_chat_2_mb"] / now
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chats", type=int, default=8)
    parser.add_argument("--replies", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        strategy, url = args.case
        if args.trace:
            tracemalloc.start(25)
        case = soak(strategy, url, args.chats, args.replies, args.tokens, args.trace)
        print(json.dumps(asyncio.run(case)))
        return
    print(json.dumps(measure(args), indent=2))


if __name__ == "__main__":
    main()
