"""Python's cyclic garbage collector, kept from pausing a streamed reply and from keeping garbage.

A full collection walks every object the collector tracks. Left to itself, one came due in about
every other streamed 4,000-token reply and walked the whole app, for up to 0.19 s of the reply
(bench/soak.py). `gc.freeze()` takes what exists out of collections, but makes whatever garbage
is among it permanent: frozen after each reply, as genchat once did, each chat's widgets, caught
in reference cycles and not yet collected, were kept for good (RSS grew by about 9 MB a chat of
five 4,000-token replies). So:

- once the first screen is up and what it left for later is imported (`genchat.tui.warm_up`),
  the start-up garbage is collected and what is left (the modules, the app, its screen) is
  frozen: it lives as long as the app, and no collection walks it again;
- collections that walk everything else are made rare (`FULL_COLLECTION_EVERY`), so that one
  seldom comes due while a reply streams;
- a moment after each reply, while it is read, everything not frozen is collected: the chats
  before it, whatever the reply left, and Textual's drawing state of widgets that are gone.

A day of chats then keeps what its last conversation keeps.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from textual.message_pump import MessagePump

COLLECT_DELAY_S = 1.0
"""How long after a reply ends everything not frozen is collected: the reply is on screen and
being read by then. The collection took up to 70 ms after 4,000-token replies, 90 ms after
16,000-token ones, on a two-core machine (BENCHMARKS.md)."""

FULL_COLLECTION_EVERY = 100
"""The collector's third threshold: how many collections of the middle generation come between
two that walk every generation (Python's is 10). At 10, even with a collection after each reply,
one came due during every 16,000-token reply, and took up to 0.1 s of it; at 100, none did, in
those or in 40 replies of 4,000 tokens. The collection after each reply does their work."""


def settle_memory() -> None:
    """Once start-up is over (the first screen is up, the warm-up done): collect, freeze what
    is left, and make full collections rare (see the module's docs)."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def collect_when_idle(node: MessagePump, busy: Callable[[], bool]) -> None:
    """Collect everything not frozen `COLLECT_DELAY_S` from now, unless `busy()` then (another
    reply streams: its own end collects). Call it when a reply has ended; the timer is
    `node`'s, and goes with it."""

    def collect() -> None:
        if not busy():
            gc.collect()
            _forget_styles_of_gone_widgets()

    node.set_timer(COLLECT_DELAY_S, collect)


def _forget_styles_of_gone_widgets() -> None:
    """Empty the cache through which Textual keeps the drawing state of widgets that are gone.

    Textual 8 caches `StylesCache.get_inner_outer` with `functools.lru_cache` on the method, so
    the cache holds up to 1,024 `StylesCache` objects, each with the last lines its widget drew,
    long after the widget was removed (Textual issue #6665). Refilling it costs two `Style`
    objects per widget drawn. A Textual that fixes it has no `cache_clear` there, or no such
    module: nothing to do then.
    """
    try:
        from textual._styles_cache import StylesCache
    except ImportError:
        return
    clear = getattr(StylesCache.get_inner_outer, "cache_clear", None)
    if clear is not None:
        clear()
