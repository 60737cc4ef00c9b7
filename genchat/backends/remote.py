"""What the remote API backends (openai, anthropic, ollama) share: their options, the base
class that makes their HTTP endpoint on first use, and the decoding of a streamed response.

This module stays light: httpx and the HTTP machinery (`genchat.backends.http`) are imported
when a remote backend first opens a connection, so start-up never waits for them.
"""

from __future__ import annotations

import contextlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from itertools import groupby
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, cast

from pydantic import Field

from genchat.backends.base import Backend, BackendOptions
from genchat.chat import (
    ChatRequest,
    Finished,
    FinishReason,
    GenerationParams,
    Notice,
    ReasoningDelta,
    Started,
    StreamEvent,
    TextDelta,
)
from genchat.errors import BackendError, BackendUnavailable, ProtocolError, RateLimited

if TYPE_CHECKING:
    from genchat.backends.http import Endpoint

Seconds = Annotated[float, Field(gt=0, strict=False)]
"""A positive number of seconds (a TOML integer is taken too)."""


class RemoteOptions(BackendOptions):
    """What every remote profile can set."""

    base_url: str
    model: str | None = None
    """The model a request without one gets."""
    api_key_env: str | None = None
    """The environment variable that holds the API key; the key itself never goes in the file."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers for every request."""
    connect_timeout_s: Seconds = 10.0
    read_timeout_s: Seconds = 120.0
    """The longest the server may stay silent, before or during a reply."""
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    """How often a refused connection, 429, 502 or 503 is retried, before the first token."""
    context_length: Annotated[int, Field(gt=0)] | None = None
    """The model's context window, where the server does not say it."""


class RemoteBackend(Backend):
    """A backend that reaches a server over HTTP with one shared httpx client."""

    Options: ClassVar[type[BackendOptions]] = RemoteOptions

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        assert isinstance(options, RemoteOptions)
        self.remote: RemoteOptions = options
        self._endpoint: Endpoint | None = None
        self._listed_model: str | None = None

    @property
    def default_model(self) -> str | None:
        return self.remote.model

    @property
    def endpoint(self) -> Endpoint:
        """The connection settings and the client, made on first use."""
        if self._endpoint is None:
            from genchat.backends.http import Endpoint

            key = os.environ.get(self.remote.api_key_env or "") or None
            self._endpoint = Endpoint(
                backend=self.name,
                base_url=self.remote.base_url.rstrip("/"),
                headers={**self.auth_headers(key), **self.remote.headers},
                key_env=self.remote.api_key_env,
                key_set=key is not None,
                connect_timeout_s=self.remote.connect_timeout_s,
                read_timeout_s=self.remote.read_timeout_s,
                retries=self.remote.retries,
            )
        return self._endpoint

    def auth_headers(self, key: str | None) -> dict[str, str]:
        """The headers that carry the API key, if there is one."""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def model_for(self, request: ChatRequest) -> str | None:
        return request.model or self.remote.model

    async def chosen_model(self, request: ChatRequest) -> str:
        """The request's model, else the profile's, else the model the server lists as its
        default (or first): a local server (llama.cpp, vLLM, Ollama) often serves just one."""
        model = self.model_for(request) or self._listed_model
        if model is None:
            models = await self.list_models()
            if not models:
                raise self.missing_model()
            default = next((m.id for m in models if m.default), models[0].id)
            model = self._listed_model = default
        return model

    def missing_model(self) -> BackendError:
        return BackendError(
            f"The {self.name} profile names no model, and the request gave none: set `model` "
            "in the profile, or pick one with Ctrl+O (`genchat models` lists them).",
            title="No model chosen",
        )

    async def aclose(self) -> None:
        if self._endpoint is not None:
            await self._endpoint.aclose()


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


def sampling(params: GenerationParams) -> dict[str, object]:
    """The sampling settings the user or profile set, and only those: a server's own defaults
    apply to the rest (reasoning models reject a temperature other than theirs)."""
    values = params.as_dict()
    if "stop" in values:
        values["stop"] = list(params.stop or ())
    return values


class StreamDecoder(ABC):
    """One protocol's response stream to genchat's events, a read's lines at a time."""

    end_marker: ClassVar[str]
    """What ends a complete stream, as messages name it."""

    def __init__(self, where: str) -> None:
        self.where = where
        """The server, for messages."""
        self.done = False
        """Set when the stream's end marker arrives."""
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
) -> AsyncIterator[StreamEvent]:
    """A remote reply's events, from its response's lines (`Endpoint.post_lines`).

    Retry notices pass through; `Started` comes with the first bytes (after `on_start`); what
    arrived in one read comes as one text event, so a fast stream costs little per token. A
    stream that ends before its end marker is an error, and the text before it is kept.
    """
    started = False
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
    if not isinstance(value, dict):
        quoted = data[:80] + ("…" if len(data) > 80 else "")
        raise ProtocolError(
            f"{where} sent a line that is not a JSON object: {quoted!r}. The text so far is kept."
        )
    return value
