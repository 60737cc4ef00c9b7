"""A remote API's streamed response read as genchat's events: Server-Sent Events or lines of
JSON, each protocol's decoder, limits on what a server may send without an event, and the
errors a server reports inside a stream. No httpx: the bytes come from `remote.http`.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from itertools import groupby
from typing import TYPE_CHECKING, Any, ClassVar, cast

from genchat.chat import (
    Finished,
    FinishReason,
    Notice,
    ReasoningDelta,
    Started,
    StreamEvent,
    TextDelta,
)
from genchat.errors import BackendError, BackendUnavailable, ProtocolError, RateLimited

if TYPE_CHECKING:
    pass

MAX_CHARS_WITHOUT_EVENT = 4 << 20
"""The most text (4 Mi characters) a stream may send without one event of its protocol: a
server answering 200 with endless lines of something else must not keep genchat reading
forever."""


def server_error(where: str, error: object) -> BackendError:
    """The error for an error a server reported inside a stream, after some text."""
    kind = error.get("type") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    text = f'{where} reported an error mid-reply: "{message}". The text so far is kept.'
    if kind == "overloaded_error":  # Anthropic's
        return BackendUnavailable(text + " Try again in a moment.", title="Server overloaded")
    if kind == "rate_limit_error":
        return RateLimited(text)
    return BackendError(text, title="Server error")


class StreamDecoder(ABC):
    """One protocol's response stream to genchat's events, a read's lines at a time."""

    end_marker: ClassVar[str]
    """What ends a complete stream, as messages name it."""

    def __init__(self, where: str) -> None:
        self.where = where
        """The server, for messages."""
        self.done = False
        """Set when the stream's end marker arrives."""
        self.dispatched = False
        """Set when an event of the protocol arrives, a ping too (which gives genchat none);
        `decode_stream` clears it, counting the text between events."""
        self.finish: FinishReason | None = None

    @abstractmethod
    def decode(self, lines: list[str], out: list[StreamEvent]) -> None:
        """Add to `out` the events that `lines` give; at the end marker, set `done` and stop.

        Events go straight into `out`, so that those before a fault are kept when it raises.
        """


class SSEDecoder(StreamDecoder):
    """A decoder for a stream of server-sent events: `event()` gets each one."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self._event: str | None = None
        self._data: list[str] = []

    def decode(self, lines: list[str], out: list[StreamEvent]) -> None:
        data = self._data
        for line in lines:  # this loop runs twice per token: the common case comes first
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])
            elif not line:  # a blank line ends an event
                if data:
                    text = data[0] if len(data) == 1 else "\n".join(data)
                    name, self._event = self._event, None
                    data.clear()
                    self.dispatched = True
                    self.event(name, text, out)
                    if self.done:
                        return
                self._event = None
            else:
                field, _, value = line.partition(":")
                if field == "event":
                    self._event = value.removeprefix(" ")
                # anything else: a comment (":" first, a keep-alive), or a field not used

    @abstractmethod
    def event(self, name: str | None, data: str, out: list[StreamEvent]) -> None:
        """Add to `out` the events one server-sent event gives."""


async def decode_stream(
    lines: AsyncGenerator[Notice | list[str], None],
    decoder: StreamDecoder,
    *,
    on_start: Callable[[], None] | None = None,
    max_chars_without_event: int = MAX_CHARS_WITHOUT_EVENT,
) -> AsyncIterator[StreamEvent]:
    """A remote reply's events, from its response's lines (`Endpoint.post_lines`).

    Retry notices pass through; `Started` comes with the first bytes (after `on_start`); what
    arrived in one read comes as one text event, so a fast stream costs little per token. A
    stream that ends before its end marker is an error, and the text before it is kept; so is
    one that sends more than `max_chars_without_event` characters without an event of its
    protocol (counted a read at a time).
    """
    started = False
    without_event = 0
    async with contextlib.aclosing(lines):
        async for batch in lines:
            if isinstance(batch, Notice):
                yield batch
                continue
            if not started:
                started = True
                if on_start is not None:
                    on_start()
                yield Started()
            events: list[StreamEvent] = []
            try:
                decoder.decode(batch, events)
            except (BackendError, AttributeError, TypeError) as exc:
                for event in coalesce(events):
                    yield event  # the text before the fault is kept
                if isinstance(exc, BackendError):
                    raise
                raise ProtocolError(  # valid JSON, but not of the shape the protocol has
                    f"{decoder.where} sent JSON of a shape its API does not have. "
                    "The text so far is kept."
                ) from exc
            for event in coalesce(events):
                yield event
            if decoder.done:
                break
            if events or decoder.dispatched:
                without_event = 0
                decoder.dispatched = False
            else:
                without_event += sum(map(len, batch)) + len(batch)
                if without_event > max_chars_without_event:
                    raise ProtocolError(
                        f"{decoder.where} sent {without_event:,} characters without one event "
                        f"of its protocol (the most genchat reads is {max_chars_without_event:,}"
                        "): base_url may point at something that is not this API. The text so "
                        "far is kept."
                    )
    if not decoder.done:
        raise ProtocolError(
            f"{decoder.where} ended the stream before {decoder.end_marker}: the reply may be "
            "incomplete. The text so far is kept."
        )
    yield Finished(decoder.finish or "stop")


def coalesce(events: list[StreamEvent]) -> list[StreamEvent]:
    """Each run of text (or reasoning) deltas as one event, keeping the count of deltas."""
    if len(events) < 2:
        return events
    out: list[StreamEvent] = []
    for kind, run in groupby(events, type):
        if kind is TextDelta or kind is ReasoningDelta:
            deltas = cast("list[TextDelta | ReasoningDelta]", list(run))
            text = "".join(delta.text for delta in deltas)
            out.append(kind(text, sum(delta.deltas for delta in deltas)))
        else:
            out.extend(run)
    return out


def parse_json(where: str, data: str) -> dict[str, Any]:
    """One JSON object from a stream, or a `ProtocolError` that quotes the start of the line."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    except RecursionError as exc:
        raise ProtocolError(
            f"{where} sent JSON nested too deeply to read. The text so far is kept."
        ) from exc
    except MemoryError as exc:
        raise ProtocolError(
            f"{where} sent JSON too large to read in the memory there is. The text so far is kept."
        ) from exc
    if not isinstance(value, dict):
        quoted = data[:80] + ("…" if len(data) > 80 else "")
        raise ProtocolError(
            f"{where} sent a line that is not a JSON object: {quoted!r}. The text so far is kept."
        )
    return value
