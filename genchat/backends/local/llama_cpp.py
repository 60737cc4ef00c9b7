"""Local GGUF models (4-bit and others) through llama-cpp-python.

The model file is loaded once per path and load options, shared by every profile and pane that
uses it, and generated from in a worker thread. Calls into one llama.cpp context are serialised by
a lock; a request that has to wait says so with `Queued`. `llama_cpp` itself is imported on the
first load, never at start-up.

`n_ctx` defaults to 512 in llama-cpp-python; genchat defaults to the model's trained context,
capped at 8192. Loading, and the traps it avoids, live in `llama_loading`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field

from genchat.backends.base import Backend, BackendOptions, ModelInfo
from genchat.backends.local.gguf_header import GGUFInfo, NotGGUF, read_gguf_info
from genchat.backends.local.llama_loading import (
    MODELS,
    LoadedModel,
    LoadKey,
    default_threads,
    gpu_offload_supported,
    load_model,
)
from genchat.backends.lora import adapters as lora
from genchat.backends.thread_stream import CancelToken, Emit, stream_from_thread
from genchat.chat import (
    ChatRequest,
    Finished,
    FinishReason,
    Loading,
    Notice,
    Queued,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
)
from genchat.embedded import PROFILE_NAME, embedded_model_path
from genchat.errors import BackendUnavailable, ContextOverflow, ModelLoadError, ModelNotFound
from genchat.plugins.hookspecs import RegisterBackend, RegisterProfile, hookimpl

DEFAULT_CTX_CAP = 8192
"""The context window genchat uses when a profile does not set `n_ctx`, at most."""


class LlamaCppOptions(BackendOptions):
    """Options of a `llama-cpp` profile."""

    path: Annotated[Path, Field(strict=False)]
    """The GGUF model file. `~` is expanded."""
    n_ctx: int | None = Field(default=None, ge=16)
    """Context window in tokens. Default: the model's trained context, at most 8192."""
    n_threads: int | None = Field(default=None, ge=1)
    """CPU threads for generation. Default: the physical CPU cores genchat may use."""
    n_gpu_layers: int = Field(default=0, ge=-1)
    """Layers to offload to the GPU; -1 offloads all. Needs a llama.cpp built with GPU support."""
    chat_format: str | None = None
    """A llama-cpp-python chat format name, to override the chat template in the GGUF file."""
    adapters: dict[str, Annotated[Path, Field(strict=False)]] = Field(default_factory=dict)
    """Adapter name -> peft LoRA adapter directory, converted to a GGUF LoRA on first use."""
    model: str | None = None
    """The default model: the file's id, `base`, an adapter's name or a weighted combination.
    Default: the first adapter, or the file's model when there are none."""
    repeat_penalty: float | None = Field(default=None, gt=0)
    """How much llama.cpp lowers the odds of tokens the reply has just used; 1 leaves them
    alone, and above 1 keeps a small model from running round in circles. Default: 1."""


EMBEDDED_PARAMS = {"max_tokens": 512}
"""The embedded profile's cap: a 135M model that loses its way runs on for minutes."""
EMBEDDED_REPEAT_PENALTY = 1.1
"""The embedded profile's repeat penalty: SmolLM2-135M repeats itself without one."""


class LlamaCppBackend(Backend[LlamaCppOptions]):
    """A GGUF model file run by llama.cpp, in this process."""

    name: ClassVar[str] = "llama-cpp"
    Options: ClassVar[type[BackendOptions]] = LlamaCppOptions
    description: ClassVar[str] = "local GGUF models (4-bit and others) through llama.cpp"
    supports_adapters: ClassVar[bool] = True

    def __init__(self, options: LlamaCppOptions) -> None:
        super().__init__(options)
        self._path = options.path.expanduser()
        self._key: LoadKey | None = None
        self._key_lock = threading.Lock()
        self._closed = False
        self._lora_files: dict[str, Path] = {}
        """Adapter name -> its converted GGUF LoRA file."""

    @property
    def model_id(self) -> str:
        """The one model this backend offers: the file's name without `.gguf`."""
        return self._path.name.removesuffix(".gguf")

    @property
    def default_model(self) -> str:
        return lora.default_model(self.options.model, self.options.adapters, self.model_id)

    def adapter_of(self, model: str | None) -> str | None:
        chosen = model or self.default_model
        return None if chosen in (self.model_id, lora.BASE_ALIAS) else chosen

    async def list_models(self) -> list[ModelInfo]:
        try:
            info = await asyncio.to_thread(self._inspect)
        except (ModelNotFound, ModelLoadError) as exc:
            return [ModelInfo(self.model_id, description=exc.message, default=True)]
        loaded = MODELS.loaded(self._key) if self._key else None
        ctx = loaded.n_ctx if loaded else self._planned_n_ctx(info)
        details = {
            "architecture": info.architecture or "unknown",
            "quantisation": info.file_type or "unknown",
            "trained context": str(info.context_length or "unknown"),
            "path": str(self._path),
        }
        base = ModelInfo(
            self.model_id,
            description=info.name or self.model_id,
            context_length=ctx,
            details=details,
        )
        return lora.model_infos(self.model_id, base, self.options.adapters, self.default_model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if not self.options.adapters and request.model not in (None, self.model_id, "base"):
            raise ModelNotFound(
                f"This profile runs {self.model_id}; it has no model {request.model!r}. "
                "Point a profile's `path` at that GGUF file to use it."
            )
        chosen = lora.choose(request, self.model_id, self.options.adapters, self.default_model)
        events = stream_from_thread(
            lambda emit, cancel: self._generate(request, chosen, emit, cancel)
        )
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    async def aclose(self) -> None:
        with self._key_lock:
            key, self._key = self._key, None
            self._closed = True
        if key is not None:
            await asyncio.to_thread(MODELS.release, key)

    # -- in the worker thread -------------------------------------------------------------

    def _inspect(self) -> GGUFInfo:
        try:
            stat = self._path.stat()
            return _cached_gguf_info(self._path, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError as exc:
            raise ModelNotFound(
                f"The model file {self._path} does not exist. Fix the profile's `path`."
            ) from exc
        except IsADirectoryError as exc:
            raise ModelNotFound(
                f"{self._path} is a directory; `path` must name a .gguf file."
            ) from exc
        except NotGGUF as exc:
            raise ModelLoadError(
                f"{exc}. Point the profile's `path` at a .gguf model file."
            ) from exc
        except OSError as exc:
            raise ModelLoadError(f"Cannot read {self._path}: {exc.strerror or exc}.") from exc

    def _planned_n_ctx(self, info: GGUFInfo) -> int:
        if self.options.n_ctx is not None:
            return self.options.n_ctx
        return min(info.context_length or DEFAULT_CTX_CAP, DEFAULT_CTX_CAP)

    def _model(self, emit: Emit) -> LoadedModel:
        with self._key_lock:
            if self._closed:
                raise BackendUnavailable("This backend has been closed.")
            key = self._key
        if key is not None:
            model = MODELS.loaded(key)
            if model is not None:
                return model
        info = self._inspect()
        key = LoadKey(
            path=self._path.resolve(),
            n_ctx=self._planned_n_ctx(info),
            n_threads=self.options.n_threads or default_threads(),
            n_gpu_layers=self.options.n_gpu_layers,
            chat_format=self.options.chat_format,
        )

        def load() -> LoadedModel:
            emit(Loading(None, f"loading {self._path.name}"))
            return load_model(key)

        model = MODELS.acquire(key, load)
        with self._key_lock:
            if self._key is None:
                self._key = key
            else:  # another request of this backend loaded it first: keep one reference
                MODELS.release(key)
        if self.options.n_gpu_layers != 0 and not gpu_offload_supported():
            emit(
                Notice(
                    "n_gpu_layers is set, but this llama.cpp build has no GPU support, so the "
                    "model runs on the CPU. Reinstall llama-cpp-python built for your GPU "
                    "(for CUDA: CMAKE_ARGS=-DGGML_CUDA=on)."
                )
            )
        return model

    def _lora_file(self, name: str, emit: Emit) -> Path:
        """The adapter `name` as a GGUF LoRA, converted (once, and cached) from its peft form."""
        path = self._lora_files.get(name)
        if path is None:
            from genchat.backends.lora.gguf import cached_conversion

            adapter = lora.read_adapter(name, self.options.adapters[name])
            emit(Loading(None, f"preparing adapter {name!r} for llama.cpp"))
            path, warning = cached_conversion(adapter, self._path)
            if warning:
                emit(Notice(warning))
            self._lora_files[name] = path
        return path

    def _generate(
        self, request: ChatRequest, chosen: dict[str, float], emit: Emit, cancel: CancelToken
    ) -> None:
        loras = [(self._lora_file(name, emit), weight) for name, weight in chosen.items()]
        model = self._model(emit)
        if not model.lock.acquire(blocking=False):
            emit(Queued())
            model.lock.acquire()
        try:
            if cancel.cancelled:
                emit(Finished("cancelled"))
                return
            model.use_loras(loras)
            emit(Started())
            self._generate_locked(model, request, emit, cancel)
        finally:
            model.lock.release()

    def _generate_locked(
        self, model: LoadedModel, request: ChatRequest, emit: Emit, cancel: CancelToken
    ) -> None:
        counter = _TokenCounter(cancel)
        params = request.params
        kwargs: dict[str, Any] = {}
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if self.options.repeat_penalty is not None:
            kwargs["repeat_penalty"] = self.options.repeat_penalty
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if params.seed is not None:
            # A seed asks for a repeatable reply. llama.cpp's logits differ slightly between a
            # prompt evaluated afresh and one continued from the cached prefix of the previous
            # request, so evaluate from scratch.
            model.llm.reset()
        reason: FinishReason = "stop"
        model.llm.token_hook = counter
        try:
            chunks: Iterator[dict[str, Any]] = model.llm.create_chat_completion(
                messages=messages, max_tokens=params.max_tokens, stream=True, **kwargs
            )
            with contextlib.closing(chunks):  # type: ignore[type-var]
                for chunk in chunks:
                    if cancel.cancelled:
                        break
                    choice = chunk["choices"][0]
                    text = choice["delta"].get("content")
                    if text:
                        emit(TextDelta(text))
                    if choice.get("finish_reason"):
                        reason = choice["finish_reason"]
        except ValueError as exc:
            raise _translate_value_error(exc, model, self._path) from exc
        finally:
            model.llm.token_hook = None
        completion = counter.completion_tokens
        if params.max_tokens is not None:  # the sample that hit the limit is not part of the reply
            completion = min(completion, params.max_tokens)
        emit(Usage(prompt_tokens=counter.prompt_tokens, completion_tokens=completion))
        emit(Finished("cancelled" if cancel.cancelled else reason))


@functools.lru_cache(maxsize=64)
def _cached_gguf_info(path: Path, _mtime_ns: int, _size: int) -> GGUFInfo:
    """A file's header, read once per version of the file (the picker lists models often)."""
    return read_gguf_info(path)


class _TokenCounter:
    """Called by llama.cpp once per sampled token: counts tokens and stops on cancel."""

    def __init__(self, cancel: CancelToken) -> None:
        self.cancel = cancel
        self.prompt_tokens: int | None = None
        self.completion_tokens = 0

    def __call__(self, input_ids: Any, _logits: Any) -> bool:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        self.completion_tokens += 1
        return self.cancel.cancelled


def _translate_value_error(exc: ValueError, model: LoadedModel, path: Path) -> Exception:
    text = str(exc)
    if "exceed context window" in text:
        return ContextOverflow(
            f"{text}. Shorten the prompt or start a new chat, or raise `n_ctx` in the profile "
            f"(now {model.n_ctx} tokens for {path.name})."
        )
    return exc


# -- the built-in plugin --------------------------------------------------------------------


@hookimpl
def genchat_register_backends(register: RegisterBackend) -> None:
    register(LlamaCppBackend)


@hookimpl
def genchat_register_profiles(register: RegisterProfile) -> None:
    """The embedded model; and with the `lora` extra, the same with the demo adapter, which
    llama.cpp runs on the 4-bit base once converted to GGUF (`genchat.backends.lora.gguf`)."""
    from genchat.backends.lora import DEMO_ADAPTER, demo_adapter_path

    path = embedded_model_path()
    if path is None:
        return
    embedded: dict[str, Any] = {
        "path": str(path),
        "params": EMBEDDED_PARAMS,
        "repeat_penalty": EMBEDDED_REPEAT_PENALTY,
    }
    register(PROFILE_NAME, backend=LlamaCppBackend.name, **embedded)
    adapter = demo_adapter_path()
    if adapter is not None and lora.lora_extra_installed():
        adapters = {DEMO_ADAPTER: str(adapter)}
        register(
            f"{PROFILE_NAME}-lora-q4", backend=LlamaCppBackend.name, **embedded, adapters=adapters
        )
