"""The bounds on a malformed stream (issue 15, item 8): a 50 MB line, and endless text that is
not the protocol, each before and after, side by side in one run.

- **A 50 MB line** in the 64 KiB pieces a socket delivers, through the line splitter: the one
  before this change (`_SplitterBefore`, a copy of it, which re-concatenated the unfinished line
  with every piece), today's with no limit (pieces joined once: the joining alone), and today's
  with its default limit (`MAX_LINE_CHARS`: it stops at 1 Mi with its error).
- **Endless garbage**: the openai backend against the fault server's `garbage` scenario (a 200
  answer of lines that are not SSE), in a process of its own: with the default bound
  (`MAX_CHARS_WITHOUT_EVENT`), and with the bound lifted, as before, when genchat read until
  the server stopped (the fault server stops at `GARBAGE_LIMIT`, 256 MB; a real one need not).

Each case runs in a fresh subprocess, so its peak memory (how far its RSS rose over what it
was as the case began, Linux's VmHWM reset by `clear_refs`) is its own.

`python bench/stream_bounds.py [--line-mb 50]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from peak_memory import peak_since_reset, reset_peak  # noqa: E402

PIECE = 64 << 10
"""The size of one read: what httpx hands over from a fast socket."""


class _SplitterBefore:
    """`LineSplitter` as it was before the bounds (commit f9569c1): every piece re-joined with
    the unfinished line, so a line of n pieces costs n²/2 piece copies."""

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, text: str) -> list[str]:
        text = self._rest + text
        if "\r" not in text:
            lines = text.split("\n")
            self._rest = lines.pop()
            return lines
        keep = text.endswith("\r")
        lines = re.split(r"\r\n|\r|\n", text[:-1] if keep else text)
        self._rest = lines.pop() + ("\r" if keep else "")
        return lines


def line_case(kind: str, megabytes: int) -> dict[str, Any]:
    """One long line through one splitter; what it cost, and how it ended."""
    from genchat.backends.remote.http import LineSplitter, LineTooLong

    piece = "x" * PIECE
    pieces = megabytes * (1 << 20) // PIECE
    splitter: Any
    if kind == "before":
        splitter = _SplitterBefore()
    elif kind == "joined once":
        splitter = LineSplitter(max_line_chars=sys.maxsize)
    else:
        splitter = LineSplitter()
    start_rss = reset_peak()
    started = time.perf_counter()
    outcome = "the whole line"
    fed = 0
    try:
        for _ in range(pieces):
            splitter.feed(piece)
            fed += PIECE
        (line,) = splitter.feed("\n")
        assert len(line) == fed
    except LineTooLong as exc:
        outcome = f"LineTooLong at {exc.limit:,} characters"
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "peak_mb": peak_since_reset(start_rss),
        "read_mb": fed / 1e6,
        "outcome": outcome,
    }


async def _garbage(base_url: str, bounded: bool) -> dict[str, Any]:
    from genchat import ChatRequest, Message
    from genchat.backends.remote.openai import OpenAIBackend, OpenAIOptions
    from genchat.errors import BackendError

    backend = OpenAIBackend(OpenAIOptions(base_url=base_url, model="fault-model", retries=0))
    if not bounded:
        backend.endpoint.max_chars_without_event = sys.maxsize
    start_rss = reset_peak()
    started = time.perf_counter()
    cpu = time.process_time()
    outcome = "finished"
    try:
        async for _ in backend.stream(ChatRequest([Message("user", "go")])):
            pass
    except BackendError as exc:
        outcome = exc.message.removeprefix(backend.endpoint.where() + " ")
    finally:
        await backend.aclose()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "peak_mb": peak_since_reset(start_rss),
        "outcome": outcome,
    }


def garbage_case(kind: str, root: str) -> dict[str, Any]:
    return asyncio.run(_garbage(f"{root}/garbage/v1", bounded=kind == "bounded"))


def _run_case(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--case", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    value: dict[str, Any] = json.loads(result.stdout)
    return value


def measure(megabytes: int) -> dict[str, Any]:
    lines = {
        kind: _run_case("line", kind, str(megabytes))
        for kind in ("before", "joined once", "default limit")
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fault_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        root = f"http://127.0.0.1:{int(server.stdout.readline())}"
        garbage = {kind: _run_case("garbage", kind, root) for kind in ("unbounded", "bounded")}
    finally:
        server.terminate()
        server.wait(10)
    return {"line_mb": megabytes, "lines": lines, "garbage": garbage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--line-mb", type=int, default=50)
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        what, kind, value = args.case
        result = line_case(kind, int(value)) if what == "line" else garbage_case(kind, value)
        print(json.dumps(result))
        return
    results = measure(args.line_mb)
    before, joined = results["lines"]["before"], results["lines"]["joined once"]
    results["line_ratios"] = {
        "time_before_over_joined_once": before["seconds"] / joined["seconds"],
        "memory_before_over_joined_once": before["peak_mb"] / max(joined["peak_mb"], 0.01),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
