"""The backend contract: what every backend, built-in or from a plugin, provides.

A backend type is a subclass of `Backend`. A *profile* in the config names a backend type and
gives it options; genchat validates those options with the backend's `Options` model and builds
one backend instance per profile.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar

from genchat.chat import ChatRequest, StreamEvent
from genchat.untrusted import clean_line


class BackendOptions(BaseModel):
    """Base for a backend's options model: unknown keys are mistakes, and types are strict
    (TOML has real types, so `n_ctx = "4096"` is a mistake worth naming). Each model's
    validator is built when it first validates: start-up builds only those of the backends
    the config uses."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


OptionsT = TypeVar("OptionsT", bound=BackendOptions, default=BackendOptions, covariant=True)
"""A backend's options type: `Backend[LlamaCppOptions]` has `options` of that type. A plugin's
`Backend` without one has `BackendOptions`, as before."""


@dataclass(frozen=True)
class ModelInfo:
    """A model a backend can run, as `list_models()` reports it.

    Its text comes from a server or a model file, so it is cleaned of terminal control
    sequences as it is made: every list, picker and label shows the clean text.
    """

    id: str
    """What `ChatRequest.model` takes."""
    description: str = ""
    context_length: int | None = None
    """The context window genchat will use, where known."""
    details: Mapping[str, str] = field(default_factory=dict)
    default: bool = False
    """True for the profile's default model."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", clean_line(self.id))
        object.__setattr__(self, "description", clean_line(self.description))
        details = {clean_line(k): clean_line(v) for k, v in self.details.items()}
        object.__setattr__(self, "details", details)


class Backend(ABC, Generic[OptionsT]):
    """A source of chat replies: a local model runtime or a remote API.

    Subclasses set `name` and `Options`, and implement `list_models` and `stream`. The capability
    flags are class attributes so that the UI can read them before building anything. A
    subclass of `Backend[ItsOptions]` gets `options` typed as `ItsOptions`: genchat builds it
    with what its `Options` validated.
    """

    name: ClassVar[str]
    """The backend type, as profiles name it (`backend = "llama-cpp"`)."""
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    """The model that validates a profile's options for this backend."""
    description: ClassVar[str] = ""
    supports_cancel: ClassVar[bool] = True
    """Cancelling the consuming task stops generation promptly."""
    supports_adapters: ClassVar[bool] = False
    """`ChatRequest.adapters` is honoured."""

    def __init__(self, options: OptionsT) -> None:
        self.options: OptionsT = options

    @property
    def default_model(self) -> str | None:
        """The model a request with `model=None` gets, where known without I/O."""
        return None

    def adapter_of(self, model: str | None) -> str | None:
        """The adapter (or weighted combination) that a request for `model` runs, or `None`
        for a plain model; what the history records as a reply's adapter."""
        return None

    @abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """The models this backend instance can run. Must not load a model or block the loop."""

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one assistant reply.

        Yields `StreamEvent`s and ends with exactly one `Finished`, or raises a `BackendError`
        subclass whose title and message tell the user what to do. Closing the iterator or
        cancelling the task that consumes it must stop the work promptly, and leave the backend
        ready for the next request.
        """

    @classmethod
    async def discover(cls) -> dict[str, dict[str, Any]]:
        """Profiles for servers of this type that are running now: name -> options.

        genchat asks once, after start-up and off its path (the chat screen is already up), and
        only when no profile uses this backend yet. Answer within about a second. None by
        default.
        """
        return {}

    async def aclose(self) -> None:
        """Release what this instance holds (models, connections). Safe to call twice."""
