"""Remote streaming: genchat's openai backend against a bare httpx loop, and the chat screen fed
by a real HTTP stream at full speed and at a paced 100 tokens a second.

The stream comes from the project's fault server (tests/support/fault_server.py) in a process of its
own, so that its work is not counted as the client's: `fast-N` sends N tokens as fast as the
socket takes them, `paced-R-N` sends N tokens at R a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

FAST_TOKENS = 100_000
PACED_RATE = 100
PACED_SIZES = (1000, 4000, 16000)


@contextmanager
def fault_server() -> Iterator[str]:
    """The fault server in a process of its own; yields its root URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fault_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


async def bare_loop(base_url: str) -> int:
    """The least a client can do: one httpx stream, SSE lines, JSON, the delta's text."""
    import httpx

    body = {"model": "fault-model", "messages": [{"role": "user", "content": "go"}], "stream": True}
    tokens = 0
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream("POST", f"{base_url}/chat/completions", json=body) as response,
    ):
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            for choice in json.loads(data)["choices"]:
                if choice["delta"].get("content"):
                    tokens += 1
    return tokens


async def genchat_backend(base_url: str) -> int:
    from genchat.backends.remote.openai import OpenAIBackend, OpenAIOptions
    from genchat.chat import ChatRequest, Message, TextDelta

    backend = OpenAIBackend(OpenAIOptions(base_url=base_url, model="fault-model"))
    tokens = 0
    try:
        async for event in backend.stream(ChatRequest([Message("user", "go")])):
            if isinstance(event, TextDelta):
                tokens += event.deltas  # what arrived in one read comes as one event
    finally:
        await backend.aclose()
    return tokens


def measure_overhead(root: str, rounds: int = 5) -> dict[str, Any]:
    """Tokens a second for each consumer, alternating rounds; medians, and their ratio."""
    url = f"{root}/fast-{FAST_TOKENS}/v1"
    speeds: dict[str, list[float]] = {"bare": [], "genchat": []}
    for _ in range(rounds):
        for name, consume in (("bare", bare_loop), ("genchat", genchat_backend)):
            start = time.perf_counter()
            tokens = asyncio.run(consume(url))
            elapsed = time.perf_counter() - start
            assert tokens == FAST_TOKENS, (name, tokens)
            speeds[name].append(tokens / elapsed)
    bare, ours = statistics.median(speeds["bare"]), statistics.median(speeds["genchat"])
    return {"tokens": FAST_TOKENS, "rounds": rounds, "bare_tps": bare, "genchat_tps": ours,
            "ratio": ours / bare}  # fmt: skip


WINDOW_S = 10.0
"""The paced runs also report the CPU share of each window of this length."""


async def run_chat(base_url: str, tokens: int) -> dict[str, Any]:
    """Send one prompt in the real app, headless, to an openai profile; time the reply, the
    process's CPU time until the whole reply is on screen, and the CPU share of each
    `WINDOW_S` on the way (flat when the cost per token does not grow with the reply)."""
    from genchat.tui.app import make_app
    from genchat.tui.widgets.message import AssistantMessage
    from genchat.tui.widgets.prompt import PromptInput

    config = Path(os.environ["GENCHAT_CONFIG"])
    config.write_text(
        f'[profiles.remote]\nbackend = "openai"\nbase_url = "{base_url}"\nmodel = "fault-model"\n'
    )
    windows: list[float] = []

    async def sample() -> None:
        while True:
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.sleep(WINDOW_S)
            windows.append((time.process_time() - cpu) / (time.perf_counter() - wall))

    app = make_app("remote")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one(PromptInput).insert("go")
        cpu, wall = time.process_time(), time.perf_counter()
        sampler = asyncio.create_task(sample())
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        sampler.cancel()
        view = app.screen.query_one(AssistantMessage)
        assert view.state == "complete" and view.rendered_source == view.text
        assert view.text.count("w") == tokens
    return {"seconds": wall, "cpu_s": cpu, "windows": windows}


def measure_chat(root: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        os.environ["GENCHAT_CONFIG"] = str(Path(home) / "config.toml")
        os.environ["GENCHAT_PLUGINS"] = ""
        os.environ["GENCHAT_DATA_DIR"] = str(Path(home) / "data")
        os.environ["OLLAMA_HOST"] = "127.0.0.1:9"  # nothing to find: keep discovery quiet
        fast = asyncio.run(run_chat(f"{root}/fast-4000/v1", 4000))
        paced = {}
        for size in PACED_SIZES:
            result = asyncio.run(run_chat(f"{root}/paced-{PACED_RATE}-{size}/v1", size))
            result["cpu_s_per_1000"] = result["cpu_s"] / size * 1000
            result["cpu_share"] = result["cpu_s"] / result["seconds"]
            paced[size] = result
            print(f"paced {size}: {result}", file=sys.stderr)
    return {"fast_4000": {**fast, "tokens_per_s": 4000 / fast["seconds"]}, "paced": paced}


def measure() -> dict[str, Any]:
    with fault_server() as root:
        overhead = measure_overhead(root)
        print(f"overhead: {overhead}", file=sys.stderr)
        chat = measure_chat(root)
    return {"overhead": overhead, **chat}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
