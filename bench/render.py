"""Rendering speed of the chat screen: a reply streamed at full speed, headless.

A scripted backend (the test plugin, through the real plugin hook) streams a reply as fast as
the event loop takes it, about four characters per delta, as a fast remote server would. We
time from Enter to the whole reply on screen, watch the event loop for the longest stall
(the longest time a keypress would wait), and type into the prompt every 0.1 s while the reply
streams, timing each key until it is in the prompt's text. Two kinds of reply: a realistic
Markdown mix (headings, paragraphs, lists, code blocks) and one long code block, where
highlighting costs the most.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from keys import type_while  # noqa: E402

from tests.helpers import make_plugin_site, plugin_path  # noqa: E402

CHARS_PER_TOKEN = 4


def markdown_mix(tokens: int) -> str:
    """About `tokens` tokens of headings, prose, lists and code blocks (one block per ~270)."""
    parts: list[str] = []
    section = 0
    while sum(len(p) for p in parts) < tokens * CHARS_PER_TOKEN:
        section += 1
        parts.append(f"## Section {section}\n\nThis section explains **step {section}** ")
        parts.append("with `inline code`, a [link](https://example.com) and plain words. " * 3)
        parts.append("\n\n- first point\n- second point with *emphasis*\n- third point\n\n")
        parts.append(
            "```python\n"
            + "".join(f"def step_{section}_{i}(x):\n    return x * {i}\n" for i in range(6))
            + "```\n\n"
        )
    return "".join(parts)[: tokens * CHARS_PER_TOKEN]


def one_code_block(tokens: int) -> str:
    body = "".join(f"value_{i} = compute({i}, scale=2)\n" for i in range(tokens))
    return "```python\n" + body[: tokens * CHARS_PER_TOKEN] + "\n```\n"


async def measure_one(reply: str) -> dict[str, float]:
    from genchat.tui.app import make_app
    from genchat.tui.screens.chat import ChatScreen
    from genchat.tui.widgets.message import AssistantMessage
    from genchat.tui.widgets.prompt import PromptInput

    app = make_app("scripted")
    stalls: list[float] = []
    echoes: list[float] = []

    async def watch_loop() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            stalls.append(time.perf_counter() - start - 0.005)

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        prompt = screen.query_one(PromptInput)
        prompt.insert("go")
        watcher = asyncio.create_task(watch_loop())
        typist = asyncio.create_task(type_while(app, prompt, lambda: screen.streaming, echoes))
        start = time.perf_counter()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        elapsed = time.perf_counter() - start
        watcher.cancel()
        typist.cancel()
        view = app.screen.query_one(AssistantMessage)
        assert view.rendered_source == reply, "the rendered reply differs from the stream"
    return {
        "seconds": elapsed,
        "longest_stall_s": max(stalls, default=0.0),
        "slowest_key_echo_s": max(echoes, default=math.nan),  # NaN: over before a key was due
    }


async def widget_seconds(widget: str, reply: str) -> float:
    """Seconds to show `reply` streamed at full speed into one widget, alone in an app.

    `textual`: Textual's Markdown widget fed through `Markdown.get_stream()`, the streaming
    path Textual recommends. `genchat`: genchat's reply widget (its render loop and
    MarkdownView). The same deltas either way, with the producer letting the loop run every
    10 ms as a reply's stream does.
    """
    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    from genchat.reply import HOLD_LIMIT_S
    from genchat.tui.widgets.message import AssistantMessage

    class Harness(App[None]):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield Markdown() if widget == "textual" else AssistantMessage("bench")

    chunks = [reply[i : i + CHARS_PER_TOKEN] for i in range(0, len(reply), CHARS_PER_TOKEN)]
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.query_one(VerticalScroll).anchor()
        start = paused = time.perf_counter()
        if widget == "textual":
            markdown = app.query_one(Markdown)
            stream = Markdown.get_stream(markdown)
            for chunk in chunks:
                await stream.write(chunk)
            await stream.stop()
            assert markdown.source == reply
        else:
            view = app.query_one(AssistantMessage)
            for chunk in chunks:
                view.add_text(chunk)
                if time.perf_counter() - paused > HOLD_LIMIT_S:
                    await asyncio.sleep(0)
                    paused = time.perf_counter()
            await view.finish("", state="complete")
            assert view.rendered_source == reply
        await pilot.pause()  # the last layout and paint
        return time.perf_counter() - start


def measure_widgets(tokens: int = 4000) -> dict[str, float]:
    """Textual's Markdown widget against genchat's, side by side on the same reply."""
    reply = markdown_mix(tokens)
    textual = asyncio.run(widget_seconds("textual", reply))
    genchat = asyncio.run(widget_seconds("genchat", reply))
    ratio = textual / genchat
    return {"tokens": tokens, "textual_s": textual, "genchat_s": genchat, "ratio": ratio}


def measure(sizes: tuple[int, ...] = (1000, 4000, 8000), rounds: int = 3) -> dict[str, Any]:
    """Medians over `rounds` runs of each reply; single runs vary by a third on this machine."""
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as home:
        site = make_plugin_site(Path(home) / "site")
        sys.path[:0] = plugin_path(site).split(os.pathsep)
        os.environ["GENCHAT_PLUGINS"] = "scripted"
        config = Path(home) / "config.toml"
        os.environ["GENCHAT_CONFIG"] = str(config)
        os.environ["GENCHAT_DATA_DIR"] = str(Path(home) / "data")  # not the user's history
        replies = {f"markdown mix, {t}": markdown_mix(t) for t in sizes}
        replies["one code block, 4000"] = one_code_block(4000)
        for _ in range(rounds):
            for name, reply in replies.items():
                chunks = [reply[i : i + CHARS_PER_TOKEN] for i in range(0, len(reply), 4)]
                config.write_text(
                    f'[profiles.scripted]\nbackend = "scripted"\nchunks = {json.dumps(chunks)}\n'
                )
                result = asyncio.run(measure_one(reply))
                result["tokens"] = len(chunks)
                runs.setdefault(name, []).append(result)
                print(name, result, file=sys.stderr)
    results: dict[str, Any] = {
        name: {
            "tokens": rs[0]["tokens"],
            "seconds": statistics.median(r["seconds"] for r in rs),
            "longest_stall_s": statistics.median(r["longest_stall_s"] for r in rs),
            "slowest_key_echo_s": _median_of_numbers(r["slowest_key_echo_s"] for r in rs),
        }
        for name, rs in runs.items()
    }
    for result in results.values():
        result["tokens_per_s"] = result["tokens"] / result["seconds"]
    if 4000 in sizes and 8000 in sizes:
        results["8k over 4k"] = (
            results["markdown mix, 8000"]["seconds"] / results["markdown mix, 4000"]["seconds"]
        )
    return results


def _median_of_numbers(values: Iterable[float]) -> float:
    numbers = [value for value in values if not math.isnan(value)]
    return statistics.median(numbers) if numbers else math.nan


if __name__ == "__main__":
    print(json.dumps({"widgets": measure_widgets(), **measure()}, indent=2))
