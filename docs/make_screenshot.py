"""Regenerate docs/screenshot.svg (the real app, the embedded model, one question) and
docs/arena.svg (a blind round between SmolLM2 and SmolLM2 with the demo adapter, after the
vote).

.venv/bin/python docs/make_screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

OUT = Path(__file__).parent / "screenshot.svg"
ARENA_OUT = Path(__file__).parent / "arena.svg"
QUESTION = "Write a Python function that adds two numbers."
ARENA_QUESTION = "Why do leaves change colour in autumn?"


async def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "config.toml"
        config.write_text("[profiles.smollm2.params]\ntemperature = 0.0\nmax_tokens = 70\n")
        os.environ["GENCHAT_CONFIG"] = str(config)
        os.environ["GENCHAT_PLUGINS"] = ""
        from genchat.tui.app import make_app
        from genchat.tui.widgets.prompt import PromptInput

        app = make_app()
        async with app.run_test(size=(100, 34)) as pilot:
            app.screen.query_one(PromptInput).insert(QUESTION)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause(0.5)
            app.save_screenshot(str(OUT))
        print(f"wrote {OUT}")
        greedy = "[profiles.{}.params]\ntemperature = 0.0\nmax_tokens = 40\n"
        config.write_text(greedy.format("smollm2") + greedy.format("smollm2-lora-q4"))
        os.environ["GENCHAT_DATA_DIR"] = str(Path(home) / "data")  # not the user's votes
        arena = make_app(arena=["smollm2", "smollm2-lora-q4"], seed=2)
        async with arena.run_test(size=(110, 30)) as pilot:
            await pilot.pause(0.5)
            arena.screen.query_one(PromptInput).insert(ARENA_QUESTION)
            await pilot.press("enter")
            while not getattr(arena.screen, "voting", False):
                await pilot.pause(0.2)
            await pilot.press("alt+3")  # a tie; a plain 3 would be text in the prompt
            await pilot.pause(0.5)
            arena.save_screenshot(str(ARENA_OUT))
    print(f"wrote {ARENA_OUT}")


if __name__ == "__main__":
    asyncio.run(main())
