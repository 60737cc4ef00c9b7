"""Key echo while something streams: the input latency a user feels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual import events
from textual.app import App

from genchat.tui.widgets.prompt import PromptInput


async def type_while(
    app: App[None],
    prompt: PromptInput,
    busy: Callable[[], bool],
    echoes: list[float],
    every_s: float = 0.1,
) -> None:
    """Once `busy()`, type a key every `every_s` seconds while it is, as a terminal's keypress
    arrives (through the driver), and add to `echoes` how long each key took to show in
    `prompt`. Run it as a task beside the work, and cancel it after."""
    assert app._driver is not None
    while not busy():  # noqa: ASYNC110 (polling is the measurement here)
        await asyncio.sleep(0.001)
    while True:
        await asyncio.sleep(every_s)
        if not busy():
            return
        typed = prompt.text
        sent = time.perf_counter()
        app._driver.send_message(events.Key("x", "x"))
        while prompt.text == typed:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        echoes.append(time.perf_counter() - sent)
