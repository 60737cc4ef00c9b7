"""Ollama's native API: `/api/chat` streams NDJSON, `/api/tags` lists the models.

Sampling settings go in Ollama's `options` object (`max_tokens` is its `num_predict`), and only
those the user or profile set. Where Ollama runs is `base_url`; with no config at all, genchat
looks for one at `OLLAMA_HOST` (Ollama's own variable) or `localhost:11434`, off the start-up
path (`discover()`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from genchat.backends.base import BackendOptions, ModelInfo
from genchat.backends.remote import RemoteBackend, RemoteOptions, sampling
from genchat.chat import (
    ChatRequest,
    Finished,
    FinishReason,
    Notice,
    ReasoningDelta,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
)
from genchat.errors import BackendError, ProtocolError
from genchat.plugins.hookspecs import hookimpl

DEFAULT_OLLAMA_URL = "http://localhost:11434"
PROFILE_NAME = "ollama"
"""The profile that appears when an Ollama answers."""
DISCOVERY_TIMEOUT_S = 0.5

_OPTION_NAMES = {"max_tokens": "num_predict"}
"""genchat's sampling settings that Ollama calls otherwise."""


class OllamaOptions(RemoteOptions):
    """Options of an `ollama` profile."""

    base_url: str = DEFAULT_OLLAMA_URL


class OllamaBackend(RemoteBackend):
    """Models served by a local or remote Ollama."""

    name: ClassVar[str] = "ollama"
    Options: ClassVar[type[BackendOptions]] = OllamaOptions
    description: ClassVar[str] = "Ollama's native API"

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self._first_model: str | None = None

    @classmethod
    async def discover(cls) -> dict[str, dict[str, Any]]:
        url = await find_ollama()
        return {PROFILE_NAME: {"base_url": url}} if url else {}

    async def list_models(self) -> list[ModelInfo]:
        document = await self.endpoint.get_json("/api/tags")
        entries = document.get("models") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ProtocolError(f"{self.endpoint.where()} sent a model list without `models`.")
        default = self.remote.model or next(
            (e.get("name") for e in entries if isinstance(e, dict)), None
        )
        models = []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                details = {
                    key: str(value)
                    for key, value in (entry.get("details") or {}).items()
                    if key in ("parameter_size", "quantization_level", "family") and value
                }
                models.append(
                    ModelInfo(
                        entry["name"],
                        description=" ".join(details.values()),
                        context_length=self.remote.context_length,
                        details=details,
                        default=entry["name"] == default,
                    )
                )
        return models

    async def _model(self, request: ChatRequest) -> str:
        model = self.model_for(request) or self._first_model
        if model is None:
            models = await self.list_models()
            if not models:
                raise self.missing_model()
            model = self._first_model = next(m.id for m in models if m.default)
        return model

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        from genchat.backends.http import parse_json

        endpoint = self.endpoint
        model = await self._model(request)
        endpoint.model_hint = f"the model {model!r} (`ollama pull {model}` fetches it)"
        options = {_OPTION_NAMES.get(key, key): v for key, v in sampling(request.params).items()}
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
        }
        if options:
            body["options"] = options
        started = done = False
        finish: FinishReason = "stop"
        lines = endpoint.post_lines("/api/chat", body)
        async with contextlib.aclosing(lines):
            async for line in lines:
                if isinstance(line, Notice):
                    yield line
                    continue
                if not started:
                    started = True
                    yield Started()
                if not line.strip():
                    continue
                data = parse_json(endpoint, line)
                if "error" in data:
                    raise BackendError(
                        f'{endpoint.where()} reported an error mid-reply: "{data["error"]}". '
                        "The text so far is kept.",
                        title="Server error",
                    )
                message = data.get("message") or {}
                if isinstance(message.get("thinking"), str) and message["thinking"]:
                    yield ReasoningDelta(message["thinking"])
                if isinstance(message.get("content"), str) and message["content"]:
                    yield TextDelta(message["content"])
                if data.get("done"):
                    done = True
                    finish = "length" if data.get("done_reason") == "length" else "stop"
                    prompt, completion = data.get("prompt_eval_count"), data.get("eval_count")
                    yield Usage(
                        prompt if isinstance(prompt, int) else None,
                        completion if isinstance(completion, int) else None,
                    )
                    break
        if not done:
            raise ProtocolError(
                f"{endpoint.where()} ended the stream before its last (`done`) line: the reply "
                "may be incomplete. The text so far is kept."
            )
        yield Finished(finish)


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
