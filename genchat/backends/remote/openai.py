"""OpenAI-compatible Chat Completions, streamed over SSE.

One backend for every server that speaks the protocol: OpenAI, vLLM (whose multi-LoRA serving
picks the adapter by model name), llama.cpp's server, LM Studio, Ollama's `/v1`, OpenRouter,
Groq, Together. `base_url` includes `/v1`.

- Sampling settings are sent only when the user or profile set them.
- Usage comes from `stream_options: {"include_usage": true}`. A server that rejects the field
  (400 or 422) is asked again without it, once, and the answer is remembered for the profile; a
  server that ignores it still works, with tokens counted from the stream.
- `reasoning_content` (or `reasoning`) deltas become `ReasoningDelta`s.
- `OPENAI_API_KEY`, the default key, goes only to api.openai.com; any other server gets a key
  only from an `api_key_env` its profile names (`RemoteOptions.key_plan`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field

from genchat.backends.base import BackendOptions, ModelInfo
from genchat.backends.remote.base import RemoteBackend, RemoteOptions, sampling
from genchat.backends.remote.decoding import SSEDecoder, decode_stream, parse_json, server_error
from genchat.chat import ChatRequest, FinishReason, ReasoningDelta, StreamEvent, TextDelta, Usage
from genchat.errors import ProtocolError
from genchat.plugins.hookspecs import RegisterProfile, hookimpl
from genchat.untrusted import clean_line

OPENAI_URL = "https://api.openai.com/v1"
OPENAI_HOST = urlsplit(OPENAI_URL).hostname
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
"""The model of the profile that appears when `OPENAI_API_KEY` is set."""

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "stop",
    "function_call": "stop",
}


class OpenAIOptions(RemoteOptions):
    """Options of an `openai` profile."""

    base_url: str = OPENAI_URL
    api_key_env: str | None = "OPENAI_API_KEY"
    key_home: ClassVar[str | None] = OPENAI_HOST
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """What the server calls the reply's token limit (OpenAI's newer models want the second)."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Fields added to every request body, for what a server offers beyond the protocol."""


class OpenAIBackend(RemoteBackend[OpenAIOptions]):
    """Chat Completions over HTTP, for any OpenAI-compatible server."""

    name: ClassVar[str] = "openai"
    Options: ClassVar[type[BackendOptions]] = OpenAIOptions
    description: ClassVar[str] = "OpenAI-compatible Chat Completions (OpenAI, vLLM, llama.cpp, …)"

    def __init__(self, options: OpenAIOptions) -> None:
        super().__init__(options)
        self._include_usage = True
        """Whether to ask for usage; False once the server has refused the field."""

    async def list_models(self) -> list[ModelInfo]:
        document = await self.endpoint.get_json("/models")
        entries = document.get("data") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ProtocolError(f"{self.endpoint.where()} sent a model list without `data`.")
        models = []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                length = entry.get("max_model_len") or self.options.context_length
                models.append(
                    ModelInfo(  # a server's text: one clean line each
                        clean_line(entry["id"]),
                        description=clean_line(str(entry.get("owned_by") or "")),
                        context_length=length if isinstance(length, int) else None,
                        default=entry["id"] == self.options.model,
                    )
                )
        return models

    def _body(self, request: ChatRequest, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
        }
        params = sampling(request.params)
        if "max_tokens" in params:
            params[self.options.max_tokens_field] = params.pop("max_tokens")
        body.update(params)
        body.update(self.options.extra_body)
        if self._include_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        endpoint = self.endpoint
        model = await self.chosen_model(request)
        body = self._body(request, model)
        dropped_usage = False

        def without_usage(status: int, message: str) -> dict[str, Any] | None:
            nonlocal dropped_usage
            if "stream_options" not in body:
                return None
            dropped_usage = True
            return {key: value for key, value in body.items() if key != "stream_options"}

        def remember() -> None:
            if dropped_usage:
                self._include_usage = False  # the server refused it: do not ask again

        lines = endpoint.post_lines(
            "/chat/completions", body, fallback=without_usage, missing=f"the model {model!r}"
        )
        async for event in decode_stream(
            lines,
            _Decoder(endpoint.where()),
            on_start=remember,
            max_chars_without_event=endpoint.max_chars_without_event,
        ):
            yield event


class _Decoder(SSEDecoder):
    end_marker: ClassVar[str] = "`[DONE]`"

    def event(self, name: str | None, data: str, out: list[StreamEvent]) -> None:
        if data == "[DONE]" or data.strip() == "[DONE]":
            self.done = True
            return
        chunk = parse_json(self.where, data)
        if "error" in chunk:
            raise server_error(self.where, chunk["error"])
        self.finish = _add_events(chunk, out) or self.finish


def _add_events(chunk: dict[str, Any], out: list[StreamEvent]) -> FinishReason | None:
    """Add the events in one chunk to `out`; return the finish reason it gives, if any."""
    finish: FinishReason | None = None
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta")
        if delta:
            content = delta.get("content")
            if len(delta) > 2 or not content:  # more than role and content: look further
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    out.append(ReasoningDelta(str(reasoning)))
            if content:
                out.append(TextDelta(str(content)))
        reason = choice.get("finish_reason")
        if reason:
            finish = _FINISH.get(reason, "stop")
    usage = chunk.get("usage")
    if usage:
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        out.append(
            Usage(
                prompt if isinstance(prompt, int) else None,
                completion if isinstance(completion, int) else None,
            )
        )
    return finish


# -- the built-in plugin --------------------------------------------------------------------


@hookimpl
def genchat_register_backends(register: Callable[..., None]) -> None:
    register(OpenAIBackend)


@hookimpl
def genchat_register_profiles(register: RegisterProfile) -> None:
    if os.environ.get("OPENAI_API_KEY"):
        register("openai", backend=OpenAIBackend.name, model=DEFAULT_OPENAI_MODEL)
