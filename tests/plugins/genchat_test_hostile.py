"""A test plugin whose every string is hostile: the text a malicious model or server sends.

Its `hostile` backend lists a model whose id, description and details are the options' texts,
and streams a reply that carries them everywhere a backend can put text: the loading detail, a
notice, reasoning, the reply itself in small pieces (so that sequences are split between
deltas), and, with `error` set, the message of the error that ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from genchat import (
    Backend,
    BackendOptions,
    BackendUnavailable,
    ChatRequest,
    Finished,
    Loading,
    ModelInfo,
    Notice,
    ReasoningDelta,
    Started,
    StreamEvent,
    TextDelta,
    hookimpl,
)


class HostileOptions(BackendOptions):
    reply: str = ""
    reasoning: str = ""
    notice: str = ""
    model: str = "hostile"
    """The listed model's id and description."""
    error: str | None = None
    """Raise a BackendUnavailable with this message after the reply."""
    list_error: str | None = None
    """Raise a RuntimeError with this message when asked for the models, as a buggy plugin."""
    list_delay_s: float = 0.0
    """Answer for the models only after this long, as a slow server."""
    piece: int = 3
    """The reply is streamed this many characters at a time."""


class HostileBackend(Backend):
    name: ClassVar[str] = "hostile"
    Options: ClassVar[type[BackendOptions]] = HostileOptions

    @property
    def opts(self) -> HostileOptions:
        assert isinstance(self.options, HostileOptions)
        return self.options

    async def list_models(self) -> list[ModelInfo]:
        if self.opts.list_delay_s:
            await asyncio.sleep(self.opts.list_delay_s)
        if self.opts.list_error is not None:
            raise RuntimeError(self.opts.list_error)
        model = self.opts.model
        return [ModelInfo(model, description=model, details={"family": model}, default=True)]

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        options = self.opts
        yield Loading(None, options.notice)
        yield Started()
        if options.notice:
            yield Notice(options.notice)
        step = options.piece
        for i in range(0, len(options.reasoning), step):
            yield ReasoningDelta(options.reasoning[i : i + step])
        for i in range(0, len(options.reply), step):
            yield TextDelta(options.reply[i : i + step])
        if options.error is not None:
            raise BackendUnavailable(options.error)
        yield Finished("stop")


@hookimpl
def genchat_register_backends(register: object) -> None:
    register(HostileBackend)  # type: ignore[operator]
