"""Metrics are measured once, outside the backends, from the events a stream yields."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from genchat import (
    Backend,
    ChatRequest,
    Finished,
    Loading,
    Message,
    ModelInfo,
    ProtocolError,
    Queued,
    ReasoningDelta,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
)
from genchat.errors import PluginFailed
from genchat.reply import Reply


class FakeClock:
    """A clock the script below advances, so the expected metrics are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Timeline(Backend):
    """Yields a fixed script of (seconds to wait, event) pairs, advancing the fake clock."""

    name: ClassVar[str] = "timeline"

    def __init__(
        self, clock: FakeClock, script: list[tuple[float, StreamEvent | Exception]]
    ) -> None:
        super().__init__(Backend.Options())
        self.clock = clock
        self.script = script

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("t", default=True)]

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        for wait, item in self.script:
            self.clock.now += wait
            if isinstance(item, Exception):
                raise item
            yield item


REQUEST = ChatRequest([Message("user", "hi")])


async def run(backend: Timeline, clock: FakeClock) -> Reply:
    reply = Reply(backend, REQUEST, source="tests", clock=clock)
    async for _ in reply.stream():
        pass
    return reply


async def test_load_queue_ttft_and_rate_are_measured_apart() -> None:
    clock = FakeClock()
    backend = Timeline(
        clock,
        [
            (0.0, Loading()),
            (2.0, Queued()),  # loaded after 2 s, then waits 3 s behind another pane
            (3.0, Started()),
            (0.5, TextDelta("a")),  # first token 0.5 s after starting
            (0.25, TextDelta("b")),
            (0.25, TextDelta("c")),
            (0.0, Usage(prompt_tokens=10, completion_tokens=5)),
            (0.0, Finished("stop")),
        ],
    )
    reply = await run(backend, clock)
    m = reply.metrics
    assert reply.text == "abc" and reply.finish_reason == "stop"
    assert m.load_s == pytest.approx(2.0)
    assert m.queued_s == pytest.approx(3.0)
    assert m.ttft_s == pytest.approx(0.5)
    assert m.completion_tokens == 5 and m.prompt_tokens == 10 and not m.tokens_approximate
    assert m.tokens_per_s == pytest.approx(4 / 0.5)
    assert m.wall_s == pytest.approx(6.0)


async def test_without_usage_tokens_are_counted_from_deltas_and_marked_approximate() -> None:
    clock = FakeClock()
    backend = Timeline(
        clock,
        [
            (1.0, ReasoningDelta("hm")),
            (1.0, TextDelta("x")),
            (1.0, TextDelta("y")),
            (0, Finished("stop")),
        ],
    )
    reply = await run(backend, clock)
    m = reply.metrics
    assert reply.reasoning == "hm" and reply.text == "xy"
    assert m.ttft_s == pytest.approx(1.0)  # no Started: measured from the request
    assert m.completion_tokens == 3 and m.tokens_approximate
    assert m.tokens_per_s == pytest.approx(2 / 2.0)


async def test_a_stream_without_finished_is_a_protocol_error() -> None:
    clock = FakeClock()
    with pytest.raises(ProtocolError):
        await run(Timeline(clock, [(0, TextDelta("x"))]), clock)


async def test_a_plugin_exception_becomes_plugin_failed_naming_the_plugin() -> None:
    clock = FakeClock()
    backend = Timeline(clock, [(0, TextDelta("partial")), (0, KeyError("oops"))])
    reply = Reply(backend, REQUEST, source="genchat-foo", clock=clock)
    with pytest.raises(PluginFailed) as info:
        async for _ in reply.stream():
            pass
    assert "timeline backend (from plugin genchat-foo) failed: KeyError" in info.value.message
    assert reply.text == "partial" and reply.error is info.value


async def test_closing_early_records_a_cancelled_reply() -> None:
    clock = FakeClock()
    backend = Timeline(clock, [(0, TextDelta("a")), (1, TextDelta("b")), (0, Finished("stop"))])
    reply = Reply(backend, REQUEST, clock=clock)
    stream = reply.stream()
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert reply.finish_reason == "cancelled" and reply.text == "a"


class Burst(Backend):
    """Yields its deltas without ever awaiting, as events parsed from one buffered read come;
    each takes a millisecond of work."""

    name: ClassVar[str] = "burst"

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("b", default=True)]

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        yield Started()
        for i in range(60):
            time.sleep(0.001)  # noqa: ASYNC251 (the work that holds the loop)
            yield TextDelta(f"{i} ")
        yield Finished("stop")


async def test_a_backend_that_never_awaits_still_lets_the_app_run() -> None:
    reply = Reply(Burst(Backend.Options()), ChatRequest([Message("user", "hi")]))
    seen_while_streaming: list[int] = []

    async def other_work() -> None:
        while True:
            seen_while_streaming.append(len(reply.text))
            await asyncio.sleep(0)

    other = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    async for _ in reply.stream():
        pass
    other.cancel()
    # 60 ms of events: the stream let other tasks run every 10 ms or so on the way.
    assert any(0 < length < len(reply.text) for length in seen_while_streaming)
