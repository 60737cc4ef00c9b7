"""genchat: a terminal client for chatting with language models.

This module is the public API for plugin authors: implement `genchat_register_backends` with
`hookimpl`, subclass `Backend`, and yield the stream events below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public API is imported on first use (PEP 562), so that `genchat --help` and other
# commands that do not need it start without importing pydantic and pluggy.
_EXPORTS = {
    "genchat.backends.base": ("Backend", "BackendOptions", "ModelInfo"),
    "genchat.chat": (
        "ChatRequest",
        "Finished",
        "FinishReason",
        "GenerationParams",
        "Loading",
        "Message",
        "Metrics",
        "Notice",
        "Queued",
        "ReasoningDelta",
        "Started",
        "StreamEvent",
        "TextDelta",
        "Usage",
    ),
    "genchat.errors": (
        "AuthError",
        "BackendError",
        "BackendUnavailable",
        "ContextOverflow",
        "ModelLoadError",
        "ModelNotFound",
        "ProtocolError",
        "RateLimited",
    ),
    "genchat.plugins.hookspecs": ("RegisterBackend", "RegisterProfile", "hookimpl"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'genchat' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from genchat.backends.base import Backend, BackendOptions, ModelInfo
    from genchat.chat import (
        ChatRequest,
        Finished,
        FinishReason,
        GenerationParams,
        Loading,
        Message,
        Metrics,
        Notice,
        Queued,
        ReasoningDelta,
        Started,
        StreamEvent,
        TextDelta,
        Usage,
    )
    from genchat.errors import (
        AuthError,
        BackendError,
        BackendUnavailable,
        ContextOverflow,
        ModelLoadError,
        ModelNotFound,
        ProtocolError,
        RateLimited,
    )
    from genchat.plugins.hookspecs import RegisterBackend, RegisterProfile, hookimpl


__all__ = [
    "AuthError",
    "Backend",
    "BackendError",
    "BackendOptions",
    "BackendUnavailable",
    "ChatRequest",
    "ContextOverflow",
    "FinishReason",
    "Finished",
    "GenerationParams",
    "Loading",
    "Message",
    "Metrics",
    "ModelInfo",
    "ModelLoadError",
    "ModelNotFound",
    "Notice",
    "ProtocolError",
    "Queued",
    "RateLimited",
    "ReasoningDelta",
    "RegisterBackend",
    "RegisterProfile",
    "Started",
    "StreamEvent",
    "TextDelta",
    "Usage",
    "__version__",
    "hookimpl",
]
