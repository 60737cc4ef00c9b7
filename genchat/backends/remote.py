"""Remote API backends: what they share, and the built-in plugin that registers them.

This module stays light: httpx and the HTTP machinery (`genchat.backends.http`) are imported
when a remote backend first opens a connection, so start-up never waits for them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field

from genchat.backends.base import Backend, BackendOptions
from genchat.chat import ChatRequest, GenerationParams
from genchat.errors import BackendError

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
    model_hint_404: ClassVar[str] = "the model"

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        assert isinstance(options, RemoteOptions)
        self.remote: RemoteOptions = options
        self._endpoint: Endpoint | None = None

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

    def missing_model(self) -> BackendError:
        return BackendError(
            f"The {self.name} profile names no model, and the request gave none: set `model` "
            "in the profile, or pick one with Ctrl+O (`genchat models` lists them).",
            title="No model chosen",
        )

    async def aclose(self) -> None:
        if self._endpoint is not None:
            await self._endpoint.aclose()


def sampling(params: GenerationParams) -> dict[str, object]:
    """The sampling settings the user or profile set, and only those: a server's own defaults
    apply to the rest (reasoning models reject a temperature other than theirs)."""
    values = params.as_dict()
    if "stop" in values:
        values["stop"] = list(params.stop or ())
    return values
