"""Pure data shared by every part of genchat: messages, requests, stream events and metrics.

Nothing here imports Textual, pydantic or any backend library, so a backend, a script and the TUI
can all speak the same types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Literal, TypeAlias

Role: TypeAlias = Literal["system", "user", "assistant"]
FinishReason: TypeAlias = Literal["stop", "length", "cancelled", "content_filter"]
FINISH_REASONS: tuple[FinishReason, ...] = ("stop", "length", "cancelled", "content_filter")


@dataclass(frozen=True)
class Message:
    """One turn of a conversation, as a model sees it."""

    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings. `None` means "not set": the backend or server uses its own default."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None

    def merged(self, override: GenerationParams) -> GenerationParams:
        """These params with every value that `override` sets taking precedence."""
        values = {k: v for k, v in asdict(override).items() if v is not None}
        return GenerationParams(**{**asdict(self), **values})

    def as_dict(self) -> dict[str, object]:
        """Only the values that are set, for logs, JSON output and request bodies."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ChatRequest:
    """What a backend is asked to do: continue `messages` with one assistant reply."""

    messages: Sequence[Message]
    """The whole history, oldest first. A system prompt is the first message."""
    params: GenerationParams = field(default_factory=GenerationParams)
    model: str | None = None
    """A model the backend lists; `None` is the profile's default model."""
    adapters: Mapping[str, float] = field(default_factory=dict)
    """Adapter name -> weight, for backends that support adapters. Empty is the base model."""


@dataclass(frozen=True)
class Target:
    """What a chat or pane talks to: a profile, and a model within it (`None`: its default)."""

    profile: str
    model: str | None = None


# Stream events. A backend's stream yields these, and ends with exactly one `Finished`,
# or raises a `BackendError`.


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text."""

    text: str
    deltas: int = 1
    """How many of the model's deltas (about one token each) the text joins: a backend may
    send what arrived together as one event. Counts tokens when the backend reports none."""


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning, for models that stream it apart from the reply."""

    text: str
    deltas: int = 1
    """As for `TextDelta`."""


@dataclass(frozen=True)
class Usage:
    """Token counts, where the backend knows them. A later `Usage` replaces an earlier one."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Loading:
    """The backend is loading its model. `progress` is 0..1 where known, else `None`."""

    progress: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class Queued:
    """The request waits for another request on the same model to finish."""


@dataclass(frozen=True)
class Started:
    """The backend has begun work on this request: any load and queue are behind it."""


@dataclass(frozen=True)
class Notice:
    """Something the user should know that does not stop the reply, such as a fallback."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The last event of every stream that did not fail."""

    reason: FinishReason


StreamEvent: TypeAlias = (
    TextDelta | ReasoningDelta | Usage | Loading | Queued | Started | Notice | Finished
)


@dataclass(frozen=True)
class Metrics:
    """How one reply went, measured the same way for every backend (see `genchat.reply`)."""

    wall_s: float
    """From the request to the end of the stream."""
    load_s: float = 0.0
    """Time spent loading the model for this request."""
    queued_s: float = 0.0
    """Time spent waiting behind another request on the same model."""
    ttft_s: float | None = None
    """From the moment the backend started on the request to the first text."""
    tokens_per_s: float | None = None
    """Decoding speed: tokens after the first, over the time since the first."""
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    tokens_approximate: bool = False
    """True when the backend reported no usage and tokens were counted from the stream."""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return asdict(self)

    def text(self, *, timed: bool = False, finish: str = "") -> str:
        """These figures as one line, written the same wherever a reply's figures show (the
        status bar, a message's footer, a compare pane, a comparison's export): the time
        queued behind another reply and loading, where they count; TTFT, tokens/s and tokens
        (`≈` where tokens were counted from the stream); with `timed`, TTFT as `–` until the
        first token and the time so far after the tokens; then how the reply ended."""
        approx = "≈" if self.tokens_approximate else ""
        parts = []
        if self.queued_s >= 0.05:
            parts.append(f"queued {self.queued_s:.1f}s")
        if self.load_s >= 0.05:
            parts.append(f"load {self.load_s:.1f}s")
        if self.ttft_s is not None or timed:
            parts.append(f"TTFT {self.ttft_s:.2f}s" if self.ttft_s is not None else "TTFT –")
        if self.tokens_per_s is not None:
            parts.append(f"{approx}{self.tokens_per_s:.1f} tok/s")
        if self.completion_tokens is not None:
            parts.append(f"{approx}{self.completion_tokens} tok")
        if timed:
            parts.append(f"{self.wall_s:.1f}s")
        if finish:
            parts.append(finish)
        return " · ".join(parts)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Metrics | None:
        """Metrics saved with `as_dict`; `None` where they are missing or not metrics."""
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]
        except TypeError:
            return None
