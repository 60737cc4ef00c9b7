"""Remote backends made for tests: each API's backend against a base URL, with the fault
server's model for it, a secret that must never show, and a first request."""

from __future__ import annotations

from typing import Any

from genchat import ChatRequest, GenerationParams, Message
from genchat.backends.remote.anthropic import AnthropicBackend, AnthropicOptions
from genchat.backends.remote.base import RemoteBackend
from genchat.backends.remote.ollama import OllamaBackend, OllamaOptions
from genchat.backends.remote.openai import OpenAIBackend, OpenAIOptions

SECRET = "sk-genchat-test-0123456789abcdef"
"""An API key that must never appear in anything genchat shows or writes."""


def openai(base_url: str, **options: Any) -> OpenAIBackend:
    return OpenAIBackend(OpenAIOptions(base_url=base_url, **options))


API_MODELS = {"openai": "fault-model", "anthropic": "claude-fault", "ollama": "fault:latest"}
APIS = list(API_MODELS)


def remote(api: str, base_url: str, **options: Any) -> RemoteBackend:
    """A backend of type `api` with the fault server's model for it."""
    options.setdefault("model", API_MODELS[api])
    if api == "openai":
        return OpenAIBackend(OpenAIOptions(base_url=base_url, **options))
    if api == "anthropic":
        return AnthropicBackend(AnthropicOptions(base_url=base_url, **options))
    return OllamaBackend(OllamaOptions(base_url=base_url, **options))


def hello(max_tokens: int | None = None) -> ChatRequest:
    return ChatRequest([Message("user", "Say hello.")], GenerationParams(max_tokens=max_tokens))
