"""What the remote API backends (openai, anthropic, ollama) share: their options, and the base
class that makes their HTTP endpoint on first use.

Where a key may go (`KeyPlan`): a profile's *default* key variable (`OPENAI_API_KEY`,
`ANTHROPIC_API_KEY`) is sent only to the host it belongs to, over https; any other base_url gets
a key only from an `api_key_env` the profile names. Every secret a backend sends is registered
with `genchat.untrusted.add_secret` as its endpoint is made, so no error shows it.

This module stays light: httpx and the HTTP machinery (`genchat.backends.remote.http`) are
imported when a remote backend first opens a connection, so start-up never waits for them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar
from urllib.parse import urlsplit

from pydantic import Field
from typing_extensions import TypeVar

from genchat.backends.base import Backend, BackendOptions
from genchat.chat import (
    ChatRequest,
    GenerationParams,
)
from genchat.errors import BackendError
from genchat.untrusted import add_secret

if TYPE_CHECKING:
    from genchat.backends.remote.http import Endpoint

Seconds = Annotated[float, Field(gt=0, strict=False)]
"""A positive number of seconds (a TOML integer is taken too)."""

SECRET_HEADER_NAMES = frozenset({"authorization", "x-api-key", "api-key"})
"""Headers whose values are secrets, wherever they come from (lower case)."""


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

    key_home: ClassVar[str | None] = None
    """The host that the default `api_key_env`'s key belongs to (api.openai.com): the only
    one it is sent to, over https, unless the profile names `api_key_env` itself."""

    def key_plan(self, environ: Mapping[str, str] = os.environ) -> KeyPlan:
        """Which key this profile sends, and what the user should know about it."""
        url = urlsplit(self.base_url)
        host = (url.hostname or "").lower()
        chosen = "api_key_env" in self.model_fields_set
        env = self.api_key_env or None
        withheld = None
        if not chosen and env is not None and not (url.scheme == "https" and host == self.key_home):
            withheld, env = env, None
        key = environ.get(env) if env else None
        plain = url.scheme == "http" and not is_this_machine(host)
        sent = [name for name in self.headers if name.lower() in SECRET_HEADER_NAMES]
        notices = []
        if withheld and environ.get(withheld):
            notices.append(
                f"{withheld} is not sent to {self.base_url}: genchat sends it only to "
                f"https://{self.key_home}. If this server needs that key, add "
                f'api_key_env = "{withheld}" to the profile (api_key_env = "" says it needs '
                "none)."
            )
        if plain and (key or sent):
            what = f"The key in {env}" if key else f"The {' and '.join(sent)} header"
            notices.append(
                f"{what} goes over plain http to {host}, which is not this machine: anyone on "
                "the network between can read it. Use https in base_url."
            )
        return KeyPlan(env=env, key=key or None, withheld=withheld, notices=notices)


@dataclass(frozen=True)
class KeyPlan:
    """The API key a remote profile sends (`RemoteOptions.key_plan`)."""

    env: str | None
    """The variable the key is read from, or None where this profile sends no key."""
    key: str | None
    """The key itself, where that variable is set."""
    withheld: str | None
    """The backend's default key variable, where this base_url is not its host's and the
    profile named no `api_key_env`: the key is not sent."""
    notices: list[str]
    """What to tell the user, once per profile: a default key held back from this base_url,
    a key sent over plain http to another machine."""


def is_this_machine(host: str) -> bool:
    """Whether `host` names this machine: localhost, 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


RemoteOptionsT = TypeVar(
    "RemoteOptionsT", bound=RemoteOptions, default=RemoteOptions, covariant=True
)


class RemoteBackend(Backend[RemoteOptionsT]):
    """A backend that reaches a server over HTTP with one shared httpx client."""

    Options: ClassVar[type[BackendOptions]] = RemoteOptions

    def __init__(self, options: RemoteOptionsT) -> None:
        super().__init__(options)
        self._endpoint: Endpoint | None = None
        self._listed_model: str | None = None

    @property
    def default_model(self) -> str | None:
        return self.options.model

    @property
    def endpoint(self) -> Endpoint:
        """The connection settings and the client, made on first use.

        Every secret it will send is registered for redaction here, before anything is sent;
        a key or header value with a control character in it is refused (`BackendError`), in
        a message that names the variable or header and does not show the value.
        """
        if self._endpoint is None:
            from genchat.backends.remote.http import Endpoint

            plan = self.options.key_plan()
            auth = self.auth_headers(plan.key)
            headers = {**auth, **self.options.headers}
            if plan.key:
                add_secret(plan.key)
            for name, value in headers.items():
                # A profile's own headers are where people put tokens: all of them are secret.
                if name.lower() in SECRET_HEADER_NAMES or name in self.options.headers:
                    add_secret(value)
                    add_secret(value.partition(" ")[2])  # the token after "Bearer "
            _check_header_values(plan, auth, self.options.headers)
            self._endpoint = Endpoint(
                backend=self.name,
                base_url=self.options.base_url.rstrip("/"),
                headers=headers,
                key_env=plan.env,
                key_set=plan.key is not None,
                withheld_key_env=plan.withheld,
                key_home=self.options.key_home,
                connect_timeout_s=self.options.connect_timeout_s,
                read_timeout_s=self.options.read_timeout_s,
                retries=self.options.retries,
                base_url_set="base_url" in self.options.model_fields_set,
                notices=list(plan.notices),
            )
        return self._endpoint

    def auth_headers(self, key: str | None) -> dict[str, str]:
        """The headers that carry the API key, if there is one."""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def model_for(self, request: ChatRequest) -> str | None:
        return request.model or self.options.model

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


def _check_header_values(plan: KeyPlan, auth: Mapping[str, str], own: Mapping[str, str]) -> None:
    """Refuse a key or header value that HTTP cannot carry, before anything is sent.

    httpx's own error ("Illegal header value …") quotes the value whole; this one names where
    the value came from and never shows it.
    """
    for name, value in {**auth, **own}.items():
        if value.isprintable() and value.isascii():
            continue
        if name in own:
            source = f"The profile's header {name!r}"
            fix = "fix it in the profile's `headers`"
        else:
            source = f"The API key in {plan.env}"
            fix = f"set {plan.env} to the key alone"
        what = "a control character (a line break?)" if not value.isprintable() else "non-ASCII"
        raise BackendError(
            f"{source} holds {what}, which HTTP headers cannot carry: {fix}.",
            title="Unusable API key" if name not in own else "Unusable header",
        )


def sampling(params: GenerationParams) -> dict[str, object]:
    """The sampling settings the user or profile set, and only those: a server's own defaults
    apply to the rest (reasoning models reject a temperature other than theirs)."""
    values = params.as_dict()
    if "stop" in values:
        values["stop"] = list(params.stop or ())
    return values
