"""The backend contract as tests: subclass `BackendContract` and provide `backend` to run them.

Every backend, built in or from a plugin, must pass these. A subclass gives:

- a `backend` fixture: a fresh instance, closed after the test;
- `long_reply_request()`: a request whose reply runs to at least a few deltas;
- `short_reply_request(max_tokens)`: a request cut by `max_tokens`.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from genchat import (
    Backend,
    ChatRequest,
    Finished,
    GenerationParams,
    Message,
    ModelNotFound,
    StreamEvent,
    TextDelta,
)
from genchat.chat import FINISH_REASONS
from genchat.reply import Reply


async def collect(backend: Backend, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in backend.stream(request)]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


class BackendContract:
    """What every backend promises. Subclasses provide the `backend` fixture."""

    prompt: ClassVar[str] = "Write a long story about a lighthouse keeper."

    def long_reply_request(self) -> ChatRequest:
        return ChatRequest(
            [Message("user", self.prompt)], GenerationParams(temperature=0, max_tokens=24)
        )

    def short_reply_request(self, max_tokens: int) -> ChatRequest:
        return ChatRequest(
            [Message("user", self.prompt)], GenerationParams(temperature=0, max_tokens=max_tokens)
        )

    async def test_lists_at_least_one_model_and_one_default(self, backend: Backend) -> None:
        models = await backend.list_models()
        assert models
        assert sum(m.default for m in models) == 1
        if backend.default_model is not None:
            assert backend.default_model in {m.id for m in models}

    async def test_stream_ends_with_exactly_one_finished(self, backend: Backend) -> None:
        events = await collect(backend, self.long_reply_request())
        assert isinstance(events[-1], Finished)
        assert sum(isinstance(e, Finished) for e in events) == 1
        assert events[-1].reason in FINISH_REASONS
        assert text_of(events)

    async def test_max_tokens_ends_with_length(self, backend: Backend) -> None:
        events = await collect(backend, self.short_reply_request(2))
        assert events[-1] == Finished("length")
        assert 1 <= sum(isinstance(e, TextDelta) for e in events) <= 2

    async def test_closing_the_stream_stops_it_and_the_next_reply_works(
        self, backend: Backend
    ) -> None:
        stream = backend.stream(self.long_reply_request())
        async for event in stream:
            if isinstance(event, TextDelta):
                break
        await stream.aclose()  # type: ignore[attr-defined]
        events = await collect(backend, self.long_reply_request())
        assert isinstance(events[-1], Finished) and events[-1].reason != "cancelled"

    async def test_cancelling_the_task_stops_it_and_the_next_reply_works(
        self, backend: Backend
    ) -> None:
        first_delta = asyncio.Event()

        async def consume() -> None:
            async for event in backend.stream(self.long_reply_request()):
                if isinstance(event, TextDelta):
                    first_delta.set()

        task = asyncio.create_task(consume())
        await first_delta.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        events = await collect(backend, self.long_reply_request())
        assert text_of(events)

    async def test_unknown_model_raises_model_not_found(self, backend: Backend) -> None:
        request = ChatRequest([Message("user", "hi")], model="no-such-model-anywhere")
        with pytest.raises(ModelNotFound) as info:
            await collect(backend, request)
        assert info.value.title and info.value.message

    async def test_concurrent_requests_both_complete(self, backend: Backend) -> None:
        first, second = await asyncio.gather(
            collect(backend, self.long_reply_request()), collect(backend, self.long_reply_request())
        )
        assert text_of(first) and text_of(second)

    async def test_reply_measures_every_backend_the_same_way(self, backend: Backend) -> None:
        reply = Reply(backend, self.long_reply_request())
        async for _ in reply.stream():
            pass
        metrics = reply.metrics
        assert reply.text and reply.finish_reason in FINISH_REASONS
        assert metrics.ttft_s is not None and metrics.ttft_s >= 0
        assert metrics.completion_tokens and metrics.completion_tokens > 0
        assert metrics.wall_s >= metrics.ttft_s

    async def test_aclose_twice_is_safe(self, backend: Backend) -> None:
        await collect(backend, self.short_reply_request(1))
        await backend.aclose()
        await backend.aclose()
