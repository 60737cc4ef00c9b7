"""genchat-echo: a minimal backend plugin for genchat.

It repeats the last user message back, one word per delta, which is enough to show every part of
a backend: options, model listing, streaming, the finish reason, and errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

from pydantic import Field

from genchat import (
    Backend,
    BackendOptions,
    ChatRequest,
    Finished,
    ModelInfo,
    ModelNotFound,
    StreamEvent,
    TextDelta,
    hookimpl,
)

MODEL = "echo"


class EchoOptions(BackendOptions):
    """What a profile with `backend = "echo"` may set. Unknown keys are reported as mistakes."""

    prefix: str = ""
    """Text put before every reply."""
    delay_s: float = Field(default=0.0, ge=0)
    """A pause before each word, to watch the reply stream."""


class EchoBackend(Backend):
    """Replies with the user's last message."""

    name: ClassVar[str] = "echo"
    Options: ClassVar[type[BackendOptions]] = EchoOptions
    description: ClassVar[str] = "repeats your last message, word by word"

    @property
    def default_model(self) -> str:
        return MODEL

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(MODEL, description="your own words, back", default=True)]

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        options = self.options
        assert isinstance(options, EchoOptions)
        if request.model not in (None, MODEL):
            raise ModelNotFound(f"The echo backend has one model, {MODEL!r}; pick that one.")
        last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        words = (options.prefix + last).split()
        limit = request.params.max_tokens
        for index, word in enumerate(words):
            if limit is not None and index >= limit:
                yield Finished("length")
                return
            # Awaiting lets a cancelled consumer stop us between words.
            await asyncio.sleep(options.delay_s)
            yield TextDelta(word if index == 0 else f" {word}")
        yield Finished("stop")


@hookimpl
def genchat_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(EchoBackend)


@hookimpl
def genchat_register_profiles(register: Callable[..., None]) -> None:
    register("echo", backend="echo")
