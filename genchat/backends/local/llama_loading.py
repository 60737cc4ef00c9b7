"""Loading GGUF models with llama-cpp-python, and the process-wide cache of loaded models.

Two traps of llama-cpp-python are handled here (see docs/architecture.md):

- with `verbose=False`, loading redirects file descriptors 1 and 2 of the whole process, which
  corrupts a running terminal UI; so models are built with `verbose=True`, and llama.cpp's log
  and the library's own diagnostics are routed into Python's `logging`;
- `n_ctx` defaults to 512; the backend passes the size it worked out from the GGUF header.

`llama_cpp` itself is imported on the first load, never at start-up.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genchat.backends.shared_cache import SharedCache
from genchat.errors import BackendUnavailable, ModelLoadError
from genchat.logs import logger

log = logger("genchat.llama_cpp")


@dataclass(frozen=True)
class LoadKey:
    path: Path
    n_ctx: int
    n_threads: int
    n_gpu_layers: int
    chat_format: str | None


@dataclass
class LoadedModel:
    """One `Llama` instance, shared by every backend with the same file and load options."""

    llm: Any
    n_ctx: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    loras: dict[Path, Any] = field(default_factory=dict)
    """GGUF LoRA file -> the adapter llama.cpp loaded from it, kept for the model's life."""
    active_loras: tuple[tuple[Path, float], ...] = ()
    """The adapters and scales set on the context now."""

    def use_loras(self, chosen: list[tuple[Path, float]]) -> None:
        """Compute with exactly these GGUF LoRA files at these scales (none: the base model).

        Under `lock`. An adapter file loads once per model and stays loaded; switching only sets
        the context's adapter list, and drops the prompt cache, which the old adapters computed.
        """
        wanted = tuple(chosen)
        if wanted == self.active_loras:
            return
        llama_cpp = _import_llama_cpp()
        import ctypes

        pointers = [self._lora(path, llama_cpp) for path, _ in wanted]
        count = len(pointers)
        array = (llama_cpp.llama_adapter_lora_p_ctypes * count)(*pointers) if count else None
        scales = (ctypes.c_float * count)(*(scale for _, scale in wanted)) if count else None
        if llama_cpp.llama_set_adapters_lora(self.llm._ctx.ctx, array, count, scales) != 0:
            raise ModelLoadError("llama.cpp refused to set the LoRA adapters on this model.")
        self.active_loras = wanted
        self.llm.reset()

    def _lora(self, path: Path, llama_cpp: Any) -> Any:
        pointer = self.loras.get(path)
        if pointer is not None:
            return pointer
        with _load_lock, contextlib.redirect_stderr(_LogWriter()):
            pointer = llama_cpp.llama_adapter_lora_init(self.llm.model, str(path).encode())
        if not pointer:
            raise ModelLoadError(
                f"llama.cpp could not load the LoRA adapter {path.name} onto "
                f"{self.llm.model_path}: the adapter and the model may not match."
            )
        self.loras[path] = pointer
        # Freed on close, before the context and model it belongs to (the stack unwinds LIFO).
        self.llm._stack.callback(llama_cpp.llama_adapter_lora_free, pointer)
        return pointer


def load_model(key: LoadKey) -> LoadedModel:
    llm = load_llama(key)
    return LoadedModel(llm=llm, n_ctx=int(llm.n_ctx()))


MODELS: SharedCache[LoadKey, LoadedModel] = SharedCache(free=lambda model: model.llm.close())
"""Loaded models by file and load options."""


# -- loading --------------------------------------------------------------------------------

_load_lock = threading.Lock()
_log_callback: Any = None


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - it is a dependency of genchat
        raise BackendUnavailable(
            f"llama-cpp-python is not installed ({exc}). Install genchat again to get it."
        ) from exc
    _route_llama_log(llama_cpp)
    return llama_cpp


def _route_llama_log(llama_cpp: Any) -> None:
    """Send llama.cpp's own log lines to `logging` instead of the terminal."""
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    # ggml's levels: 1 debug, 2 info, 3 warn, 4 error, 5 "continues the previous line".
    levels = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
    last = [logging.DEBUG]

    @llama_cpp.llama_log_callback  # type: ignore[misc]
    def callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        # llama.cpp is chatty at INFO: that goes to DEBUG, to stay out of genchat's own INFO.
        last[0] = levels.get(level, last[0])
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            log.log(last[0], "%s", message)

    _log_callback = callback  # ctypes callbacks must stay referenced while llama.cpp holds them
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def gpu_offload_supported() -> bool:
    return bool(_import_llama_cpp().llama_supports_gpu_offload())


class _LogWriter(io.StringIO):
    """A text stream that sends what llama-cpp-python prints into `logging`."""

    def write(self, text: str) -> int:
        if text.strip():
            log.debug("%s", text.rstrip())
        return len(text)


def load_llama(key: LoadKey) -> Any:
    llama_cpp = _import_llama_cpp()

    class GenchatLlama(llama_cpp.Llama):  # type: ignore[misc, name-defined]
        """`Llama` with one extra stopping criterion per request: genchat's token counter."""

        token_hook: Callable[[Any, Any], bool] | None = None

        def create_completion(self, *args: Any, **kwargs: Any) -> Any:
            hook = self.token_hook
            if hook is not None:
                others = kwargs.get("stopping_criteria") or []
                kwargs["stopping_criteria"] = llama_cpp.StoppingCriteriaList([hook, *others])
            return super().create_completion(*args, **kwargs)

    kwargs: dict[str, Any] = {
        "model_path": str(key.path),
        "n_ctx": key.n_ctx,
        "n_gpu_layers": key.n_gpu_layers,
        "chat_format": key.chat_format,
        "verbose": True,  # False would redirect the process's stdout and stderr while loading
    }
    kwargs["n_threads"] = key.n_threads
    kwargs["n_threads_batch"] = key.n_threads
    # verbose=True makes llama-cpp-python print diagnostics to sys.stderr while it loads;
    # one load at a time, with sys.stderr pointed at the log for that moment only.
    with _load_lock, contextlib.redirect_stderr(_LogWriter()):
        try:
            llm = GenchatLlama(**kwargs)
        except ValueError as exc:
            if "llama_context" in str(exc):  # "Failed to create llama_context": the model loaded
                raise ModelLoadError(
                    f"llama.cpp loaded {key.path.name} but could not make a context of "
                    f"{key.n_ctx:,} tokens: that needs more memory than there is. Set a "
                    "smaller n_ctx in the profile, or remove it to use the model's own context.",
                    title="Context too large for memory",
                ) from exc
            raise ModelLoadError(
                f"llama.cpp could not load {key.path.name}: {exc}. The file may be damaged, "
                "or need a newer llama.cpp than the one installed."
            ) from exc
    llm.verbose = False  # no per-reply timing dumps from here on
    return llm


def default_threads() -> int:
    """Threads for a profile that sets none: the physical CPU cores this process may use.

    llama-cpp-python's own default is half of all logical CPUs, which assumes two hardware
    threads per core: on a 2-CPU machine without them it used one core, at 71 tokens/s against
    98 with two. Linux's sysfs tells the cores apart; elsewhere, half the logical CPUs.
    """
    try:
        usable = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in usable:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(1, len(usable) // 2) if len(usable) > 1 else 1
        cores.add((package, core))
    return max(1, len(cores))
