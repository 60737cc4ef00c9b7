"""The llama-cpp backend's first import path, kept so that plugins written against it (a
backend that subclasses `LlamaCppBackend`) keep loading. It lives in
`genchat.backends.local.llama_cpp`."""

from genchat.backends.local.llama_cpp import LlamaCppBackend, LlamaCppOptions

__all__ = ["LlamaCppBackend", "LlamaCppOptions"]
