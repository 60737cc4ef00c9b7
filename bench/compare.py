"""The compare screen under load: three remote panes streaming at once against one stream alone.

The fault server (tests/support/fault_server.py), in a process of its own, sends each reply as 2,000
tokens at 100 a second (`paced-100-2000`), over real HTTP to genchat's openai backend. We time
from Enter to every reply on screen: three panes on the compare screen against the chat screen
with one such reply, alternating, in the real app headless. While the three panes stream, a key
is typed into the prompt every 0.1 s, sent as a terminal's key arrives, and timed until it shows
in the prompt's text.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from keys import type_while  # noqa: E402
from remote import fault_server  # noqa: E402

RATE, TOKENS, PANES = 100, 2000, 3


async def stream_once(panes: int) -> dict[str, Any]:
    """Seconds from Enter to every reply on screen, and key echo times while they stream."""
    from genchat.tui.app import make_app
    from genchat.tui.widgets.prompt import PromptInput

    names = [f"remote{i}" for i in range(panes)]
    app = make_app(names[0], compare=names if panes > 1 else None)
    echoes: list[float] = []

    def streaming() -> bool:
        return any(w.is_running for w in app.workers if w.group.startswith(("pane-", "reply")))

    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.5)
        prompt = app.screen.query_one(PromptInput)
        prompt.insert("go")
        typist = None
        if panes > 1:
            typist = asyncio.create_task(type_while(app, prompt, streaming, echoes))
        start = time.perf_counter()
        await pilot.press("enter")
        await asyncio.sleep(0.2)
        await app.workers.wait_for_complete()
        elapsed = time.perf_counter() - start
        if typist is not None:
            typist.cancel()
    return {"seconds": elapsed, "echoes": echoes}


def measure(rounds: int = 2) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home, fault_server() as root:
        config = Path(home) / "config.toml"
        os.environ["GENCHAT_CONFIG"] = str(config)
        os.environ["GENCHAT_DATA_DIR"] = str(Path(home) / "data")
        os.environ["GENCHAT_PLUGINS"] = ""
        config.write_text(
            "".join(
                f'[profiles.remote{i}]\nbackend = "openai"\n'
                f'base_url = "{root}/paced-{RATE}-{TOKENS}/v1"\nmodel = "fault-model"\n'
                for i in range(PANES)
            )
        )
        alone, together, echoes = [], [], []
        for _ in range(rounds):
            alone.append(asyncio.run(stream_once(1))["seconds"])
            result = asyncio.run(stream_once(PANES))
            together.append(result["seconds"])
            echoes += result["echoes"]
            print(f"alone {alone[-1]:.2f} s, {PANES} panes {together[-1]:.2f} s", file=sys.stderr)
    return {
        "rate": RATE,
        "tokens": TOKENS,
        "panes": PANES,
        "rounds": rounds,
        "alone_s": statistics.median(alone),
        "together_s": statistics.median(together),
        "ratio": statistics.median(together) / statistics.median(alone),
        "echo_median_s": statistics.median(echoes) if echoes else float("nan"),
        "echo_p95_s": statistics.quantiles(echoes, n=20)[-1] if len(echoes) > 20 else float("nan"),
        "echo_max_s": max(echoes, default=float("nan")),
        "keys": len(echoes),
    }


if __name__ == "__main__":
    print(measure())
