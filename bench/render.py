"""Rendering speed of the chat screen: a reply streamed at full speed, headless and in a real
terminal.

Headless: a scripted backend (the test plugin, through the real plugin hook) streams a reply as
fast as the event loop takes it, about four characters per delta, as a fast remote server would.
We time from Enter to the whole reply on screen, watch the event loop for the longest stall
(the longest time a keypress would wait), and type into the prompt every 0.1 s while the reply
streams, timing each key until it is in the prompt's text.

In a real terminal (`--pty`): the whole client, `python -m genchat`, in a pseudo-terminal of
160x50, on an openai profile whose server is the project's fault server in a process of its own,
sending the reply over HTTP as fast as the socket takes it. We time from the Enter to the
reply's last word written to the terminal, and type a key into the prompt every 0.1 s while it
streams, timing each until the terminal shows it: what a user sees, the cost of writing every
frame to the terminal included.

The replies: a realistic Markdown mix (headings, paragraphs, lists, code blocks), one long
paragraph, one long list, and one long code block, where highlighting costs the most.
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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from keys import type_while  # noqa: E402
from remote import fault_server  # noqa: E402

from tests.support.helpers import DEADLINE_S, Terminal, make_plugin_site, plugin_path  # noqa: E402

CHARS_PER_TOKEN = 4
END_WORD = "zqxjend"
"""The last word of every reply: in the terminal's output, the reply is on screen once it is."""


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
    return "".join(parts)[: tokens * CHARS_PER_TOKEN - len(END_WORD) - 1] + " " + END_WORD


def one_paragraph(tokens: int) -> str:
    """About `tokens` tokens of prose with inline Markdown, in one paragraph: no line ends."""
    sentences: list[str] = []
    length, i = 0, 0
    while length < tokens * CHARS_PER_TOKEN - len(END_WORD) - 2:
        i += 1
        sentences.append(
            f"Step {i} reads the **input** with `read_config()`, checks each "
            f"[option](https://example.com/docs/{i}) against the schema and reports *what* it "
            "finds."
        )
        length += len(sentences[-1]) + 1
    text = " ".join(sentences)[: tokens * CHARS_PER_TOKEN - len(END_WORD) - 2]
    return text[: text.rfind(" ")] + " " + END_WORD + "."


def one_list(tokens: int) -> str:
    """About `tokens` tokens of one bulleted list, an item a line, with inline Markdown."""
    items: list[str] = []
    length, i = 0, 0
    while length < tokens * CHARS_PER_TOKEN - len(END_WORD) - 3:
        i += 1
        items.append(f"- Point {i}: the **key idea** with `code` and a few words more\n")
        length += len(items[-1])
    return "".join(items)[: tokens * CHARS_PER_TOKEN - len(END_WORD) - 3] + "\n- " + END_WORD


def one_code_block(tokens: int) -> str:
    body = "".join(f"value_{i} = compute({i}, scale=2)\n" for i in range(tokens))
    end = f"{END_WORD} = 1\n"
    return "```python\n" + body[: tokens * CHARS_PER_TOKEN - len(end) - 15] + "\n" + end + "```\n"


REPLIES: dict[str, Callable[[int], str]] = {
    "markdown mix": markdown_mix,
    "one paragraph": one_paragraph,
    "one list": one_list,
    "one code block": one_code_block,
}
CASES = [
    ("markdown mix", 1000),
    ("markdown mix", 4000),
    ("markdown mix", 8000),
    ("one paragraph", 4000),
    ("one list", 4000),
    ("one code block", 4000),
]
PTY_CASES = [case for case in CASES if case != ("markdown mix", 1000)]


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
    from genchat.session.turns import Turn
    from genchat.tui.widgets.message import AssistantMessage

    class Harness(App[None]):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield Markdown() if widget == "textual" else AssistantMessage(Turn("assistant"))

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


def measure(cases: list[tuple[str, int]] = CASES, rounds: int = 3) -> dict[str, Any]:
    """Medians over `rounds` runs of each reply; single runs vary by a third on this machine."""
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as home:
        site = make_plugin_site(Path(home) / "site")
        sys.path[:0] = plugin_path(site).split(os.pathsep)
        os.environ["GENCHAT_PLUGINS"] = "scripted"
        config = Path(home) / "config.toml"
        os.environ["GENCHAT_CONFIG"] = str(config)
        os.environ["GENCHAT_DATA_DIR"] = str(Path(home) / "data")  # not the user's history
        replies = {f"{kind}, {tokens}": REPLIES[kind](tokens) for kind, tokens in cases}
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
    _add_ratio(results)
    return results


# -- in a real terminal ----------------------------------------------------------------------

PTY_ROWS, PTY_COLS = 50, 160
KEYS = [chr(0x4E00 + i) for i in range(2000)]
"""The keys typed while a reply streams, each once: ideographs, which no reply holds, so that a
key is echoed when the terminal's output first holds it, whatever else is drawn again."""


def stream_in_terminal(reply: str, env: dict[str, str], every_s: float = 0.1) -> dict[str, Any]:
    """Send one prompt in the whole client in a pseudo-terminal: the seconds from the Enter to
    `reply`'s last word written to the terminal, and how long each key typed every `every_s`
    on the way took to be written back."""
    assert not any(key in reply for key in KEYS)
    end = END_WORD.encode()
    echoes: list[float] = []
    with Terminal("-m", "bench", env=env, rows=PTY_ROWS, cols=PTY_COLS) as terminal:
        terminal.wait_for("bench")  # the status bar names the profile once the screen is up
        terminal.type(b"go")
        terminal.wait_for("go")
        time.sleep(0.3)  # the screen settles
        start_offset = len(terminal.raw)
        terminal.type(b"\r")
        start = time.perf_counter()
        deadline = start + DEADLINE_S
        scanned = start_offset  # the output searched for the reply's end so far
        shown_at: float | None = None
        keys = iter(KEYS)
        key_due = start + every_s
        key: tuple[bytes, float, int] | None = None  # the key, when typed, the output then
        while shown_at is None or key is not None:
            time.sleep(0.001)
            now = time.perf_counter()
            if now > deadline:
                raise AssertionError(f"the reply was not on screen within {DEADLINE_S} s")
            size = len(terminal.raw)
            if shown_at is None and terminal.raw.find(end, max(start_offset, scanned - 16)) >= 0:
                shown_at = now
            scanned = size
            if key is not None and terminal.raw.find(key[0], key[2]) >= 0:
                echoes.append(now - key[1])
                key, key_due = None, now + every_s
            if key is None and shown_at is None and now >= key_due:
                typed = next(keys).encode()
                key = (typed, time.perf_counter(), len(terminal.raw))
                terminal.type(typed)
    return {"seconds": shown_at - start, "echoes": echoes}


def measure_pty(cases: list[tuple[str, int]] = PTY_CASES, rounds: int = 3) -> dict[str, Any]:
    """Each case `rounds` times, alternating, each in a fresh client; medians of the times,
    and of each round's slowest key echo."""
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as home, fault_server() as root:
        config = Path(home) / "config.toml"
        env = {
            "GENCHAT_CONFIG": str(config),
            "GENCHAT_DATA_DIR": str(Path(home) / "data"),
            "GENCHAT_PLUGINS": "",
            "OLLAMA_HOST": "127.0.0.1:9",  # nothing to find: keep discovery quiet
        }
        replies = {f"{kind}, {tokens}": REPLIES[kind](tokens) for kind, tokens in cases}
        for _ in range(rounds):
            for name, reply in replies.items():
                # The fault server sends the profile's system prompt back as the reply.
                config.write_text(
                    f'[profiles.bench]\nbackend = "openai"\nbase_url = "{root}/fast-echo/v1"\n'
                    f'model = "fault-model"\n[profiles.bench.params]\n'
                    f"system = {json.dumps(reply)}\n"
                )
                result = stream_in_terminal(reply, env)
                runs.setdefault(name, []).append(result)
                echoes = result["echoes"]
                slowest = f"{max(echoes):.3f}" if echoes else "-"
                print(f"{name}: {result['seconds']:.2f} s, slowest key {slowest}", file=sys.stderr)
    results: dict[str, Any] = {}
    for name, rs in runs.items():
        echoes = [echo for r in rs for echo in r["echoes"]]
        results[name] = {
            "tokens": math.ceil(len(replies[name]) / CHARS_PER_TOKEN),
            "seconds": statistics.median(r["seconds"] for r in rs),
            "slowest_key_echo_s": _median_of_numbers(
                max(r["echoes"], default=math.nan) for r in rs
            ),
            "max_key_echo_s": max(echoes, default=math.nan),
            "median_key_echo_s": statistics.median(echoes) if echoes else math.nan,
            "keys": len(echoes),
        }
    _add_ratio(results)
    return results


def _add_ratio(results: dict[str, Any]) -> None:
    if "markdown mix, 4000" in results and "markdown mix, 8000" in results:
        results["8k over 4k"] = (
            results["markdown mix, 8000"]["seconds"] / results["markdown mix, 4000"]["seconds"]
        )


def _median_of_numbers(values: Iterable[float]) -> float:
    numbers = [value for value in values if not math.isnan(value)]
    return statistics.median(numbers) if numbers else math.nan


if __name__ == "__main__":
    if sys.argv[1:] == ["--pty"]:
        print(json.dumps(measure_pty(), indent=2))
    else:
        print(json.dumps({"widgets": measure_widgets(), **measure()}, indent=2))
