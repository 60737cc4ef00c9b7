"""A paste that arrives as keystrokes (issue 15, item 14), bounded and unbounded, side by side.

A terminal without bracketed paste sends a paste as keys, thousands to a read. This feeds the
chat screen's prompt `--kb` KB of such keys (a text of 72-character lines), posted in bursts of
4,096 as a terminal read delivers them, in the real app (headless, on the embedded profile,
which loads nothing until a prompt is sent):

- **bounded**: the prompt as it is, `MAX_PROMPT_CHARS` (200,000) and `PROMPT_UNDO_CHECKPOINTS`;
- **unbounded**: the length limit lifted, as before the bound, when every key was taken.

Each case runs in a fresh subprocess, so its peak memory (how far its RSS rose over what it was
as the keys began, Linux's VmHWM reset by `clear_refs`) and its CPU time are its own.

It also times 50 keys typed after the paste, one at a time: whether typing stays responsive.

`python bench/paste.py [--kb 300]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from peak_memory import peak_since_reset, reset_peak  # noqa: E402

BURST = 4096
"""Keys a terminal read delivers at once."""


def _keys(kb: int) -> list[str]:
    line = "def paste(x): return x * 2  # a line of code, as a paste brings them......"[:71]
    text = ((line + "\n") * (kb * 1000 // 72 + 1))[: kb * 1000]
    return ["enter" if ch == "\n" else ch for ch in text]


async def _case(kind: str, kb: int) -> dict[str, Any]:
    from textual import events

    from genchat.tui.app import make_app
    from genchat.tui.widgets import prompt as prompt_module
    from genchat.tui.widgets.prompt import PromptInput

    if kind == "unbounded":
        prompt_module.MAX_PROMPT_CHARS = sys.maxsize

    keys = _keys(kb)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        prompt = app.screen.query_one(PromptInput)
        prompt.focus()
        await pilot.pause()
        start_rss = reset_peak()
        started, cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(keys), BURST):
            for key in keys[first : first + BURST]:
                # Straight to the prompt: a line end goes in as TextArea's own Enter does,
                # without the app's send binding (which keys in one read must not reach).
                prompt.post_message(events.Key(key, "\r" if key == "enter" else key))
            await pilot.pause()
        await pilot.pause()
        elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        held = prompt.length
        # Typing on after the paste: how long one more key takes to be handled.
        after = []
        for _ in range(50):
            key_started = time.perf_counter()
            prompt.post_message(events.Key("x", "x"))
            await pilot.pause()
            after.append(time.perf_counter() - key_started)
        after.sort()
        checkpoints = len(prompt.history._undo_stack)
    return {
        "keys": len(keys),
        "seconds": elapsed,
        "cpu_seconds": cpu_s,
        "peak_mb": peak_since_reset(start_rss),
        "prompt_chars": held,
        "undo_checkpoints": checkpoints,
        "next_key_ms_median": after[len(after) // 2] * 1000,
    }


def _run_case(kind: str, kb: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:  # no config of the user's, no history
        env = {
            **os.environ,
            "GENCHAT_CONFIG": f"{scratch}/config.toml",
            "GENCHAT_DATA_DIR": f"{scratch}/data",
            "GENCHAT_PLUGINS": "",
        }
        result = subprocess.run(
            [sys.executable, __file__, "--case", kind, str(kb)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=True,
        )
    value: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kb", type=int, default=300)
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        kind, kb = args.case
        print(json.dumps(asyncio.run(_case(kind, int(kb)))))
        return
    results = {kind: _run_case(kind, args.kb) for kind in ("unbounded", "bounded")}
    unbounded, bounded = results["unbounded"], results["bounded"]
    results["ratios"] = {
        "cpu_unbounded_over_bounded": unbounded["cpu_seconds"] / bounded["cpu_seconds"],
        "memory_unbounded_over_bounded": unbounded["peak_mb"] / max(bounded["peak_mb"], 0.01),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
