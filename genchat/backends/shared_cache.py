"""A process-wide cache of loaded models, shared by every backend that asks for the same key.

Both local backends use it: llama.cpp models by file and load options, transformers bases by
source, device and dtype. A key loads once however many ask at the same moment (each key has
its own load lock, so two different models can load side by side); each acquire counts a user,
and the last release frees the model, after any generation still holding its lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar


class Shared(Protocol):
    users: int
    lock: threading.Lock


K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Shared)


class SharedCache(Generic[K, V]):
    def __init__(self, free: Callable[[V], None]) -> None:
        self._free = free
        self._lock = threading.Lock()
        self._values: dict[K, V] = {}
        self._loading: dict[K, threading.Lock] = {}

    def acquire(self, key: K, load: Callable[[], V]) -> V:
        """The loaded value for `key`, loading it first if needed (blocking: call from a thread)."""
        with self._lock:
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                value = self._values.get(key)
                if value is not None:
                    value.users += 1
                    return value
            value = load()
            value.users = 1
            with self._lock:
                self._values[key] = value
            return value

    def release(self, key: K) -> None:
        """One user is done with `key`; the last one frees it."""
        with self._lock:
            value = self._values.get(key)
            if value is None:
                return
            value.users -= 1
            if value.users > 0:
                return
            del self._values[key]
        with value.lock:  # wait for a generation still finishing after a cancel
            self._free(value)

    def loaded(self, key: K) -> V | None:
        with self._lock:
            return self._values.get(key)
