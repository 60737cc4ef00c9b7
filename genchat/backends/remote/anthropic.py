"""Anthropic's Messages API, streamed over SSE.

The system prompt goes in the `system` field, not among the messages. Every request carries
`x-api-key` and `anthropic-version`. The API requires `max_tokens`, so a request that sets none
gets the profile's `default_max_tokens`. Models are listed from `/v1/models`.
`ANTHROPIC_API_KEY`, the default key, goes only to api.anthropic.com; any other server gets a
key only from an `api_key_env` its profile names (`RemoteOptions.key_plan`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field

from genchat.backends.base import BackendOptions, ModelInfo
from genchat.backends.remote.base import RemoteBackend, RemoteOptions
from genchat.backends.remote.decoding import SSEDecoder, decode_stream, parse_json, server_error
from genchat.chat import ChatRequest, FinishReason, ReasoningDelta, StreamEvent, TextDelta, Usage
from genchat.errors import ProtocolError
from genchat.plugins.hookspecs import RegisterProfile, hookimpl
from genchat.untrusted import clean_line

ANTHROPIC_URL = "https://api.anthropic.com"
ANTHROPIC_HOST = urlsplit(ANTHROPIC_URL).hostname
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"
"""The model of the profile that appears when `ANTHROPIC_API_KEY` is set."""
API_VERSION = "2023-06-01"

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}


class AnthropicOptions(RemoteOptions):
    """Options of an `anthropic` profile."""

    base_url: str = ANTHROPIC_URL
    api_key_env: str | None = "ANTHROPIC_API_KEY"
    key_home: ClassVar[str | None] = ANTHROPIC_HOST
    default_max_tokens: Annotated[int, Field(ge=1)] = 4096
    """The reply's token limit when none is set: the API requires one."""


class AnthropicBackend(RemoteBackend[AnthropicOptions]):
    """Claude models through the Messages API."""

    name: ClassVar[str] = "anthropic"
    Options: ClassVar[type[BackendOptions]] = AnthropicOptions
    description: ClassVar[str] = "Anthropic Messages API"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if key:
            headers["x-api-key"] = key
        return headers

    async def list_models(self) -> list[ModelInfo]:
        document = await self.endpoint.get_json("/v1/models")
        entries = document.get("data") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ProtocolError(f"{self.endpoint.where()} sent a model list without `data`.")
        return [
            ModelInfo(  # a server's text: one clean line each
                clean_line(entry["id"]),
                description=clean_line(str(entry.get("display_name") or "")),
                context_length=self.options.context_length,
                default=entry["id"] == self.options.model,
            )
            for entry in entries
            if isinstance(entry, dict) and isinstance(entry.get("id"), str)
        ]

    def _body(self, request: ChatRequest, model: str) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        params = request.params
        body: dict[str, Any] = {
            "model": model,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
            "max_tokens": params.max_tokens or self.options.default_max_tokens,
            "stream": True,
        }
        if system:
            body["system"] = system
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop_sequences"] = list(params.stop)
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        endpoint = self.endpoint
        model = self.model_for(request)
        if model is None:
            raise self.missing_model()
        lines = endpoint.post_lines(
            "/v1/messages", self._body(request, model), missing=f"the model {model!r}"
        )
        async for event in decode_stream(
            lines,
            _Decoder(endpoint.where()),
            max_chars_without_event=endpoint.max_chars_without_event,
        ):
            yield event


class _Decoder(SSEDecoder):
    """The Messages API's stream events to genchat's."""

    end_marker: ClassVar[str] = "`message_stop`"

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.prompt_tokens: int | None = None

    def event(self, name: str | None, data: str, out: list[StreamEvent]) -> None:
        value = parse_json(self.where, data)
        kind = value.get("type") or name
        if kind == "content_block_delta":
            delta = value.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                out.append(TextDelta(str(delta["text"])))
            elif delta.get("type") == "thinking_delta" and delta.get("thinking"):
                out.append(ReasoningDelta(str(delta["thinking"])))
        elif kind == "message_start":
            usage = (value.get("message") or {}).get("usage") or {}
            self.prompt_tokens = _int(usage.get("input_tokens"))
        elif kind == "message_delta":
            reason = (value.get("delta") or {}).get("stop_reason")
            if isinstance(reason, str):
                self.finish = _FINISH.get(reason, "stop")
            usage = value.get("usage") or {}
            if "output_tokens" in usage:
                out.append(Usage(self.prompt_tokens, _int(usage.get("output_tokens"))))
        elif kind == "error":
            raise server_error(self.where, value.get("error"))
        elif kind == "message_stop":
            self.done = True


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


# -- the built-in plugin --------------------------------------------------------------------


@hookimpl
def genchat_register_backends(register: Callable[..., None]) -> None:
    register(AnthropicBackend)


@hookimpl
def genchat_register_profiles(register: RegisterProfile) -> None:
    if os.environ.get("ANTHROPIC_API_KEY"):
        register("anthropic", backend=AnthropicBackend.name, model=DEFAULT_ANTHROPIC_MODEL)
