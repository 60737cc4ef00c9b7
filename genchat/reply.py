"""Stream one reply from a backend and measure it: the one place where metrics are taken.

Every caller (`genchat ask`, the chat screen, compare panes) streams through `Reply`, so time to
first token, tokens per second, token counts and queue time mean the same thing for every backend.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from genchat.chat import (
    ChatRequest,
    Finished,
    FinishReason,
    Loading,
    Metrics,
    Notice,
    Queued,
    ReasoningDelta,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
)
from genchat.errors import BackendError, PluginFailed, ProtocolError
from genchat.logs import logger
from genchat.untrusted import StreamCleaner, clean, clean_line

if TYPE_CHECKING:
    from genchat.backends.base import Backend

_log = logger("genchat.reply")

HOLD_LIMIT_S = 0.01
"""The longest a reply's stream keeps the event loop to itself before it lets others run."""


@dataclass(frozen=True)
class Origin:
    """What a reply came from, as it is recorded with the reply: in the history, in an arena
    vote's details, and in `genchat ask --json`."""

    profile: str
    backend: str
    model: str | None
    """The model the request asked for, else the backend's default."""
    adapter: str | None
    """The adapter (or weighted mix) the model ran, for a LoRA backend."""
    params: dict[str, Any]
    """The generation parameters that were set."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Reply:
    """One assistant reply: stream it with `stream()`, then read its text, reason and metrics.

    `profile` names the profile it is asked of (default: the backend's name), for its
    `origin`; `source` names the plugin that provides the backend, for the message shown when
    a plugin's backend raises something other than a `BackendError`.
    """

    def __init__(
        self,
        backend: Backend,
        request: ChatRequest,
        *,
        profile: str | None = None,
        source: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.request = request
        self.profile = profile or backend.name
        self.source = source
        self._clock = clock
        self._text = io.StringIO()  # appends stay cheap however long the reply grows
        self._reasoning = io.StringIO()
        self.notices: list[str] = []
        self.finish_reason: FinishReason | None = None
        self.error: BackendError | None = None
        self.usage = Usage()
        self._deltas = 0
        self._clean_text = StreamCleaner()
        self._clean_reasoning = StreamCleaner()
        self._t_request: float | None = None
        self._t_load: float | None = None
        self._load_s = 0.0
        self._t_queued: float | None = None
        self._queued_s = 0.0
        self._t_started: float | None = None
        self._t_first: float | None = None
        self._t_last: float | None = None
        self._t_end: float | None = None

    @property
    def origin(self) -> Origin:
        """The profile, backend, model, adapter and parameters this reply comes from."""
        backend, request = self.backend, self.request
        return Origin(
            profile=self.profile,
            backend=backend.name,
            model=request.model or backend.default_model,
            adapter=backend.adapter_of(request.model),
            params=request.params.as_dict(),
        )

    @property
    def text(self) -> str:
        """The reply's text so far."""
        return self._text.getvalue()

    @property
    def reasoning(self) -> str:
        """The model's reasoning so far, where it streams any."""
        return self._reasoning.getvalue()

    async def stream(self) -> AsyncGenerator[StreamEvent, None]:
        """Yield the backend's events while recording them.

        Text, reasoning and notices come out cleaned of terminal control sequences
        (`genchat.untrusted`), so what is shown, saved and measured is the same safe text.
        A `BackendError` is recorded and re-raised. Anything else a backend raises, `SystemExit`
        included, becomes a `PluginFailed` naming the plugin. Closing this iterator early, or
        cancelling the task that consumes it, records the reply as cancelled and closes the
        backend's stream.
        """
        self._t_request = self._clock()
        try:
            events = self.backend.stream(self.request)
            paused = time.monotonic()
            try:
                async for raw in events:
                    if isinstance(raw, Finished):
                        for held in self._held_back():
                            self._observe(held)
                            yield held
                    event = self._cleaned(raw)
                    if event is None:
                        continue
                    self._observe(event)
                    yield event
                    if isinstance(event, Finished):
                        break
                    if time.monotonic() - paused > HOLD_LIMIT_S:
                        # Events from a buffer (many SSE lines in one read, a scripted backend)
                        # come without an await; let the rest of the app run between them.
                        await asyncio.sleep(0)
                        paused = time.monotonic()
            finally:
                # The contract asks for an async iterator; async generators also need closing,
                # so that a backend's cleanup runs now and not whenever they are collected.
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()
            if self.finish_reason is None:
                raise ProtocolError(
                    f"The {self.backend.name} backend ended its reply without saying why. "
                    "The reply may be incomplete."
                )
        except BackendError as exc:
            self.error = exc
            _log.warning("%s reply failed: %s", self.backend.name, exc.one_line())
            raise
        except (asyncio.CancelledError, GeneratorExit):
            self.finish_reason = self.finish_reason or "cancelled"
            raise
        except (Exception, SystemExit) as exc:
            # SystemExit too: a plugin that calls sys.exit() mid-reply must cost only its reply.
            plugin = f" (from plugin {self.source})" if self.source else ""
            self.error = PluginFailed(
                f"The {self.backend.name} backend{plugin} failed: {type(exc).__name__}: {exc}. "
                "Other profiles still work; report this to the plugin's authors."
            )
            _log.error("%s", self.error.one_line(), exc_info=exc)
            raise self.error from exc
        finally:
            self._t_end = self._clock()

    def _cleaned(self, event: StreamEvent) -> StreamEvent | None:
        """`event` with its text cleaned of terminal control sequences: a backend's text
        comes from a model or a server. `None` where nothing of a piece of text is left yet
        (it may be the start of a sequence that the next piece ends)."""
        if isinstance(event, TextDelta | ReasoningDelta):
            cleaner = self._clean_text if isinstance(event, TextDelta) else self._clean_reasoning
            text = cleaner.feed(event.text)
            if text is event.text:  # nearly every delta: nothing to clean, nothing to copy
                return event
            return type(event)(text, event.deltas) if text else None
        if isinstance(event, Notice):
            return Notice(clean(event.text))
        if isinstance(event, Loading) and event.detail:
            return Loading(event.progress, clean_line(event.detail))
        return event

    def _held_back(self) -> list[StreamEvent]:
        """What the cleaners still hold when the stream finishes, as text events."""
        events: list[StreamEvent] = []
        if reasoning := self._clean_reasoning.flush():
            events.append(ReasoningDelta(reasoning, 0))
        if text := self._clean_text.flush():
            events.append(TextDelta(text, 0))
        return events

    def _observe(self, event: StreamEvent) -> None:
        now = self._clock()
        if not isinstance(event, Loading) and self._t_load is not None:
            self._load_s += now - self._t_load
            self._t_load = None
        if isinstance(event, TextDelta | ReasoningDelta):
            if self._t_first is None:
                self._t_first = now
            self._t_last = now
            self._deltas += event.deltas
            if isinstance(event, TextDelta):
                self._text.write(event.text)
            else:
                self._reasoning.write(event.text)
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Loading):
            if self._t_load is None:
                self._t_load = now
        elif isinstance(event, Queued):
            self._t_queued = now
        elif isinstance(event, Started):
            self._t_started = now
            if self._t_queued is not None:
                self._queued_s += now - self._t_queued
                self._t_queued = None
        elif isinstance(event, Notice):
            self.notices.append(event.text)
        elif isinstance(event, Finished):
            self.finish_reason = event.reason

    @property
    def metrics(self) -> Metrics:
        """The measurements so far (final once `stream()` has ended)."""
        start = self._t_request if self._t_request is not None else self._clock()
        end = self._t_end if self._t_end is not None else self._clock()
        work_start = self._t_started if self._t_started is not None else start
        tokens = self.usage.completion_tokens
        approximate = tokens is None
        if tokens is None and self._deltas:
            tokens = self._deltas  # one delta is about one token for streaming backends
        ttft = self._t_first - work_start if self._t_first is not None else None
        rate = None
        if tokens and tokens > 1 and self._t_first is not None and self._t_last is not None:
            decode_s = self._t_last - self._t_first
            if decode_s > 0:
                rate = (tokens - 1) / decode_s
        return Metrics(
            wall_s=end - start,
            load_s=self._load_s,
            queued_s=self._queued_s,
            ttft_s=ttft,
            tokens_per_s=rate,
            completion_tokens=tokens,
            prompt_tokens=self.usage.prompt_tokens,
            tokens_approximate=approximate and tokens is not None,
        )
