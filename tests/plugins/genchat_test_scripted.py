"""A test plugin: a backend scripted by its options, for faults no real server gives on demand.

It registers the `scripted` backend and a `scripted` profile. Options say what to stream, how fast,
and where to fail: with a `BackendError`, or with a plain exception as a buggy plugin would.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from genchat import (
    Backend,
    BackendOptions,
    BackendUnavailable,
    ChatRequest,
    Finished,
    Loading,
    ModelInfo,
    ModelNotFound,
    ReasoningDelta,
    Started,
    StreamEvent,
    TextDelta,
    hookimpl,
)


class ScriptedOptions(BackendOptions):
    chunks: list[str] = Field(default_factory=lambda: ["Hello", ", ", "world", "."])
    delay_s: float = 0.0
    """Pause before each chunk."""
    load_s: float = 0.0
    """Block a thread this long before the first chunk, as a model load does."""
    load_until: str | None = None
    """Block a thread until this file exists (for at most `load_s`, or 600 s) before the first
    chunk: a load that lasts as long as the test needs, however busy the machine."""
    crash_after: int | None = None
    """Raise a RuntimeError (a plugin bug) after this many chunks."""
    fail_after: int | None = None
    """Raise a BackendUnavailable after this many chunks."""
    exit_after: int | None = None
    """Call sys.exit() after this many chunks, as a plugin that gives up on the process would."""
    reasoning: list[str] = Field(default_factory=list)
    """Reasoning deltas sent before the reply."""
    announce: bool = False
    """Print markers to stderr when loading and streaming start, for tests that send signals."""
    echo: bool = False
    """Reply with what was asked instead of `chunks`: the request's number on this backend, the
    system prompt, the parameters set, and the last message."""


def _wait_for_file(path: Path, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


class ScriptedBackend(Backend):
    name: ClassVar[str] = "scripted"
    Options: ClassVar[type[BackendOptions]] = ScriptedOptions

    @property
    def default_model(self) -> str:
        return "script"

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("script", default=True)]

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        options = self.options
        assert isinstance(options, ScriptedOptions)
        if request.model not in (None, "script"):
            raise ModelNotFound(f"no model {request.model!r}")
        if options.load_s or options.load_until:
            yield Loading(None, "loading the script")
            if options.announce:
                print("SCRIPTED-LOADING", file=sys.stderr, flush=True)
            if options.load_until:
                limit = options.load_s or 600.0
                await asyncio.to_thread(_wait_for_file, Path(options.load_until), limit)
            else:
                await asyncio.to_thread(threading.Event().wait, options.load_s)
        yield Started()
        for thought in options.reasoning:
            yield ReasoningDelta(thought)
        limit = request.params.max_tokens
        self.requests = getattr(self, "requests", 0) + 1
        chunks = options.chunks
        if options.echo:
            system = next((m.content for m in request.messages if m.role == "system"), None)
            chunks = [
                f"#{self.requests} ",
                f"system={system!r} ",
                f"params={request.params.as_dict()} ",
                f"last={request.messages[-1].content!r}",
            ]
        for index, chunk in enumerate(chunks):
            if limit is not None and index >= limit:
                yield Finished("length")
                return
            if options.crash_after is not None and index >= options.crash_after:
                raise RuntimeError("the scripted plugin has a bug")
            if options.exit_after is not None and index >= options.exit_after:
                sys.exit(7)
            if options.fail_after is not None and index >= options.fail_after:
                raise BackendUnavailable("The scripted server went away. Start it again.")
            if options.delay_s:
                await asyncio.sleep(options.delay_s)
            yield TextDelta(chunk)
            if index == 0 and options.announce:
                print("SCRIPTED-STREAMING", file=sys.stderr, flush=True)
        yield Finished("stop")


@hookimpl
def genchat_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(ScriptedBackend)


@hookimpl
def genchat_register_profiles(register: Callable[..., None]) -> None:
    register("scripted", backend="scripted")
