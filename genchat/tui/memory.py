"""Keeping Python's cyclic garbage collector from pausing the screen."""

from __future__ import annotations

import gc


def settle_memory() -> None:
    """Take what exists now out of the cyclic garbage collector's full passes (`gc.freeze`).

    The modules, the app, its widgets and finished replies live as long as the app. Each full
    collection walked them all while the screen waited: the longest pause of a streamed
    4,000-token reply was 0.15 s, and 0.08 s with them frozen (bench/render.py). Called once
    the screen is up and after each reply. Frozen objects are still freed, by reference
    counting, when nothing refers to them; only cycles among them are left to the end.
    """
    gc.freeze()
