"""A test plugin whose backend misbehaves when asked to stop, as buggy plugins do: it swallows
the cancellation and keeps streaming, or swallows it and hangs, or blocks the event loop.

It registers the `misbehaving` backend. Each option names one misbehaviour; every one of them
gives in to a second cancellation (the app's own, as it exits), so that a test can end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

from genchat import (
    Backend,
    BackendOptions,
    ChatRequest,
    Finished,
    ModelInfo,
    Started,
    StreamEvent,
    TextDelta,
    hookimpl,
)


class MisbehavingOptions(BackendOptions):
    chunks: int = 200
    """How many words to stream."""
    delay_s: float = 0.02
    """Pause before each word."""
    swallow: bool = False
    """Catch the first cancellation and carry on streaming, as if nothing had happened."""
    hang: bool = False
    """Catch the first cancellation, then wait (for the next one) instead of ending."""
    block_s: float = 0.0
    """Block the event loop this long (time.sleep) before the first word."""


class MisbehavingBackend(Backend):
    name: ClassVar[str] = "misbehaving"
    Options: ClassVar[type[BackendOptions]] = MisbehavingOptions

    @property
    def default_model(self) -> str:
        return "rude"

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("rude", default=True)]

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        options = self.options
        assert isinstance(options, MisbehavingOptions)
        yield Started()
        if options.block_s:
            time.sleep(options.block_s)  # noqa: ASYNC251 (the bug: blocking the event loop)
        swallowed = False
        for _ in range(options.chunks):
            try:
                await asyncio.sleep(options.delay_s)
            except asyncio.CancelledError:
                if swallowed or not (options.swallow or options.hang):
                    raise
                swallowed = True  # the bug: a stop request thrown away
                if options.hang:
                    await asyncio.Event().wait()  # until cancelled again
            yield TextDelta("word ")
        yield Finished("stop")


@hookimpl
def genchat_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(MisbehavingBackend)
