"""The longest the event loop was held: how long a keypress would have waited at worst."""

from __future__ import annotations

import asyncio
import time

TICK_S = 0.005
"""How often the watcher asks for the loop: a stall shorter than this is not seen."""


async def watch_stalls(stalls: list[float]) -> None:
    """Add to `stalls`, every `TICK_S`, how much later than asked the loop came back to this
    task. Run it as a task beside the work, and cancel it after; `max(stalls)` is the longest
    stall."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(TICK_S)
        stalls.append(time.perf_counter() - start - TICK_S)
