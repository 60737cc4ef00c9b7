"""Ollama's native API: `/api/chat` streams NDJSON, `/api/tags` lists the models.

Sampling settings go in Ollama's `options` object (`max_tokens` is its `num_predict`), and only
those the user or profile set. Where Ollama runs is `base_url`; with no config at all, genchat
looks for one at `OLLAMA_HOST` (Ollama's own variable) or `localhost:11434`, off the start-up
path (`discover()`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from genchat.backends.base import BackendOptions, ModelInfo
from genchat.backends.remote.base import RemoteBackend, RemoteOptions, sampling
from genchat.backends.remote.decoding import StreamDecoder, decode_stream, parse_json, server_error
from genchat.chat import ChatRequest, ReasoningDelta, StreamEvent, TextDelta, Usage
from genchat.errors import ProtocolError
from genchat.plugins.hookspecs import hookimpl
from genchat.untrusted import clean_line

DEFAULT_OLLAMA_URL = "http://localhost:11434"
PROFILE_NAME = "ollama"
"""The profile that appears when an Ollama answers."""
DISCOVERY_TIMEOUT_S = 0.5

_OPTION_NAMES = {"max_tokens": "num_predict"}
"""genchat's sampling settings that Ollama calls otherwise."""


class OllamaOptions(RemoteOptions):
    """Options of an `ollama` profile."""

    base_url: str = DEFAULT_OLLAMA_URL


class OllamaBackend(RemoteBackend[OllamaOptions]):
    """Models served by a local or remote Ollama."""

    name: ClassVar[str] = "ollama"
    Options: ClassVar[type[BackendOptions]] = OllamaOptions
    description: ClassVar[str] = "Ollama's native API"

    @classmethod
    async def discover(cls) -> dict[str, dict[str, Any]]:
        url = await find_ollama()
        return {PROFILE_NAME: {"base_url": url}} if url else {}

    async def list_models(self) -> list[ModelInfo]:
        document = await self.endpoint.get_json("/api/tags")
        entries = document.get("models") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ProtocolError(f"{self.endpoint.where()} sent a model list without `models`.")
        default = self.options.model or next(
            (e.get("name") for e in entries if isinstance(e, dict)), None
        )
        models = []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                details = {  # a server's text: one clean line each
                    key: clean_line(str(value))
                    for key, value in (entry.get("details") or {}).items()
                    if key in ("parameter_size", "quantization_level", "family") and value
                }
                models.append(
                    ModelInfo(
                        clean_line(entry["name"]),
                        description=" ".join(details.values()),
                        context_length=self.options.context_length,
                        details=details,
                        default=entry["name"] == default,
                    )
                )
        return models

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        endpoint = self.endpoint
        model = await self.chosen_model(request)
        options = {_OPTION_NAMES.get(key, key): v for key, v in sampling(request.params).items()}
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
        }
        if options:
            body["options"] = options
        lines = endpoint.post_lines(
            "/api/chat", body, missing=f"the model {model!r} (`ollama pull {model}` fetches it)"
        )
        async for event in decode_stream(
            lines,
            _Decoder(endpoint.where()),
            max_chars_without_event=endpoint.max_chars_without_event,
        ):
            yield event


class _Decoder(StreamDecoder):
    """Ollama's NDJSON lines to genchat's events."""

    end_marker: ClassVar[str] = "its last (`done`) line"

    def decode(self, lines: list[str], out: list[StreamEvent]) -> None:
        for line in lines:
            if line.strip():
                self.dispatched = True  # a JSON line is an event of the protocol
                self._line(parse_json(self.where, line), out)
                if self.done:
                    return

    def _line(self, value: dict[str, Any], out: list[StreamEvent]) -> None:
        if "error" in value:
            raise server_error(self.where, value["error"])
        message = value.get("message") or {}
        if message.get("thinking"):
            out.append(ReasoningDelta(str(message["thinking"])))
        if message.get("content"):
            out.append(TextDelta(str(message["content"])))
        if value.get("done"):
            self.done = True
            self.finish = "length" if value.get("done_reason") == "length" else "stop"
            prompt, completion = value.get("prompt_eval_count"), value.get("eval_count")
            out.append(
                Usage(
                    prompt if isinstance(prompt, int) else None,
                    completion if isinstance(completion, int) else None,
                )
            )


def ollama_url() -> str:
    """Where an Ollama without config would be: `OLLAMA_HOST` (as Ollama reads it), or the
    default port on this machine."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return DEFAULT_OLLAMA_URL
    if "://" not in host:
        host = f"http://{host}"
    scheme, _, rest = host.partition("://")
    if ":" not in rest.split("/")[0]:
        rest = rest.split("/")[0] + ":11434"
    return f"{scheme}://{rest}".rstrip("/")


async def find_ollama(timeout_s: float = DISCOVERY_TIMEOUT_S) -> str | None:
    """The base_url of an Ollama that answers `/api/tags` within `timeout_s`, if one does."""
    import httpx

    url = ollama_url()
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(f"{url}/api/tags")
            ok = response.status_code == 200 and isinstance(response.json().get("models"), list)
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return url if ok else None


# -- the built-in plugin --------------------------------------------------------------------


@hookimpl
def genchat_register_backends(register: Callable[..., None]) -> None:
    register(OllamaBackend)
