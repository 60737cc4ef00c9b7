"""Regenerate docs/screenshot.svg: the real app, the embedded model, one question.

.venv/bin/python docs/make_screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

OUT = Path(__file__).parent / "screenshot.svg"
QUESTION = "Write a Python function that adds two numbers."


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


if __name__ == "__main__":
    asyncio.run(main())
