"""LoRA-adapted models through transformers and peft: one base model, adapters switched per request.

The base loads once per process (see `hf_loading`) and every profile and pane that names it shares
it. Adapters are loaded onto it with peft's `load_adapter` and chosen per request with
`set_adapter`, a weighted combination (`add_weighted_adapter`), or `disable_adapter` for the base,
never by reloading. peft's active adapter is global state of the model, so choosing it and
generating with it happen under the base's lock; a request that waits says `Queued`.

Generation runs in a worker thread. A streamer of genchat's own turns tokens into text as they are
sampled, and a stopping criterion ends generation between tokens when the consumer goes away.

Why one module of about 420 lines: the backend, its options, its streamer and its plugin hooks;
loading is `hf_loading`, adapters are `genchat.backends.lora`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from genchat.backends.base import Backend, BackendOptions, ModelInfo
from genchat.backends.local.hf_loading import (
    BASES,
    BaseKey,
    LoadedBase,
    import_torch,
    load_base,
    require_cuda_for_4bit,
    resolve_device,
    resolve_dtype,
)
from genchat.backends.lora import adapters as lora
from genchat.backends.thread_stream import CancelToken, Emit, stream_from_thread
from genchat.chat import (
    ChatRequest,
    Finished,
    FinishReason,
    Loading,
    Queued,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
)
from genchat.errors import BackendUnavailable, ContextOverflow, ModelLoadError
from genchat.plugins.hookspecs import RegisterBackend, RegisterProfile, hookimpl

MAX_COMBINATIONS = 4
"""Weighted combinations kept on a base; the oldest is dropped beyond this."""


class PeftOptions(BackendOptions):
    """Options of a `peft` profile."""

    base: str
    """A Hugging Face model directory, a hub id in the local cache, or a .gguf file."""
    adapters: dict[str, Annotated[Path, Field(strict=False)]] = Field(default_factory=dict)
    """Adapter name -> peft LoRA adapter directory."""
    model: str | None = None
    """The default model: the base's id, `base`, an adapter's name or a weighted combination.
    Default: the first adapter."""
    device: str = Field(default="auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")
    """`auto` (cuda, then mps, then cpu), or a device by name."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """`auto`: float32 on the CPU, bfloat16 (or float16) on a GPU."""
    load_in_4bit: bool = False
    """Quantise the base to 4 bits (bitsandbytes nf4) as it loads: QLoRA-style. CUDA only."""
    merge: bool = False
    """Merge the profile's single adapter into the weights, for speed. Needs the base to itself."""
    trust_remote_code: bool = False
    """Run Python code that comes with a hub model. Never on unless set here."""
    allow_download: bool = False
    """Let transformers download a hub id that is not in the local cache."""


class PeftBackend(Backend[PeftOptions]):
    """A transformers model with peft LoRA adapters, in this process."""

    name: ClassVar[str] = "peft"
    Options: ClassVar[type[BackendOptions]] = PeftOptions
    description: ClassVar[str] = "LoRA adapters on a transformers model (peft)"
    supports_adapters: ClassVar[bool] = True

    def __init__(self, options: PeftOptions) -> None:
        super().__init__(options)
        self._key: BaseKey | None = None
        self._key_lock = threading.Lock()
        self._closed = False
        self._names: dict[str, str] = {}
        """This profile's adapter name -> the peft adapter name on the shared base."""

    @property
    def base_id(self) -> str:
        """The base's model id: the directory's or file's name, or the hub id."""
        base = self.options.base
        if base.endswith(".gguf"):
            return Path(base).name.removesuffix(".gguf")
        path = Path(base).expanduser()
        return path.name if path.is_dir() else base

    @property
    def default_model(self) -> str:
        return lora.default_model(self.options.model, self.options.adapters, self.base_id)

    def adapter_of(self, model: str | None) -> str | None:
        chosen = model or self.default_model
        return None if chosen in (self.base_id, lora.BASE_ALIAS) else chosen

    async def list_models(self) -> list[ModelInfo]:
        loaded = BASES.loaded(self._key) if self._key else None
        details = {"base": self.options.base, "device": self.options.device}
        if loaded is not None:
            details["device"] = loaded.device
        info = ModelInfo(
            self.base_id,
            description="base model (transformers)",
            context_length=loaded.context_length if loaded else None,
            details=details,
        )
        return lora.model_infos(self.base_id, info, self.options.adapters, self.default_model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        chosen = lora.choose(request, self.base_id, self.options.adapters, self.default_model)
        events = stream_from_thread(
            lambda emit, cancel: self._generate(request, chosen, emit, cancel),
            name="genchat-peft",
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
            await asyncio.to_thread(BASES.release, key)

    # -- in the worker thread -------------------------------------------------------------

    def _base(self, emit: Emit) -> LoadedBase:
        with self._key_lock:
            if self._closed:
                raise BackendUnavailable("This backend has been closed.")
            key = self._key
        if key is not None and (base := BASES.loaded(key)) is not None:
            return base
        options = self.options
        device = resolve_device(options.device)
        source = options.base
        path = Path(source).expanduser()
        if path.exists() or source.endswith(".gguf"):
            source = str(path.resolve())
        key = BaseKey(
            source=source,
            device=device,
            dtype=resolve_dtype(options.dtype, device),
            load_in_4bit=options.load_in_4bit,
            trust_remote_code=options.trust_remote_code,
            allow_download=options.allow_download,
        )
        if options.load_in_4bit:
            require_cuda_for_4bit(device)  # said before a long load, not after it
        base = BASES.acquire(key, lambda: load_base(key, emit))
        with self._key_lock:
            if self._key is None:
                self._key = key
            else:  # another request of this backend got there first: keep one reference
                BASES.release(key)
        return base

    def _generate(
        self, request: ChatRequest, chosen: dict[str, float], emit: Emit, cancel: CancelToken
    ) -> None:
        base = self._base(emit)
        if not base.lock.acquire(blocking=False):
            emit(Queued())
            base.lock.acquire()
        try:
            if cancel.cancelled:
                emit(Finished("cancelled"))
                return
            self._prepare_adapters(base, list(chosen), emit)
            emit(Started())
            with self._activated(base, chosen):
                _generate_locked(base, request, emit, cancel)
        finally:
            base.lock.release()

    def _prepare_adapters(self, base: LoadedBase, names: list[str], emit: Emit) -> None:
        """Load the named adapters onto the base (each once), and merge if asked. Under the lock.

        Only the adapters a request uses are loaded: a broken one fails its own requests, and
        the base and the other adapters still answer.
        """
        options = self.options
        if base.merged is not None:
            if options.merge and base.merged in self._names.values():
                return
            raise BackendUnavailable(
                "Another profile merged an adapter into this base model, so it cannot be shared. "
                "Turn `merge` off in that profile, or give this one a different base."
            )
        if options.merge:
            if len(options.adapters) != 1:
                raise BackendUnavailable(
                    "`merge = true` needs exactly one adapter in the profile; "
                    f"this one has {len(options.adapters)}."
                )
            if base.users > 1 or base.adapters:
                raise BackendUnavailable(
                    "`merge = true` changes the base model's weights, and another profile or "
                    "pane shares this base. Turn `merge` off (switching adapters is as fast "
                    "after the first reply), or close the other chat first."
                )
            names = list(options.adapters)
        for name in names:
            if name in self._names:
                continue
            adapter = lora.read_adapter(name, options.adapters[name])
            peft_name = "a" + adapter.digest()[:16]
            if peft_name not in base.adapters:
                emit(Loading(None, f"loading adapter {name!r}"))
                _load_adapter(base, adapter, peft_name)
            self._names[name] = peft_name
        if options.merge:
            (peft_name,) = self._names.values()
            base.model.set_adapter(peft_name)
            base.model = base.model.merge_and_unload()
            base.merged = peft_name

    def _activated(self, base: LoadedBase, chosen: dict[str, float]) -> Any:
        """A context in which the base computes with exactly the chosen adapters."""
        import contextlib

        if base.merged is not None:
            merged_name = next(iter(self.options.adapters))
            if chosen != {merged_name: 1.0}:
                raise BackendUnavailable(
                    f"This profile merged {merged_name!r} into the base, so it runs only that "
                    "adapter. Turn `merge` off to switch adapters or use the base."
                )
            return contextlib.nullcontext()
        if not chosen:
            if not base.adapters:
                return contextlib.nullcontext()
            return base.model.disable_adapter()
        weighted = tuple(sorted((self._names[n], w) for n, w in chosen.items()))
        if len(weighted) == 1 and weighted[0][1] == 1.0:
            base.model.set_adapter(weighted[0][0])
        else:
            base.model.set_adapter(_combination(base, weighted))
        return contextlib.nullcontext()


def _load_adapter(base: LoadedBase, adapter: lora.Adapter, peft_name: str) -> None:
    try:
        import peft
    except ImportError as exc:
        raise BackendUnavailable(
            "peft is not installed. Install the LoRA extra: pip install 'genchat[lora]'."
        ) from exc
    try:
        if isinstance(base.model, peft.PeftModel):
            base.model.load_adapter(str(adapter.path), adapter_name=peft_name)
        else:
            base.model = peft.PeftModel.from_pretrained(
                base.model, str(adapter.path), adapter_name=peft_name
            )
    except (RuntimeError, ValueError, KeyError) as exc:
        text = str(exc)
        if "size mismatch" in text or "not found in the base model" in text or "Target" in text:
            raise ModelLoadError(
                f"The adapter {adapter.name!r} does not fit this base model: its weights have "
                f"other shapes or names. It was trained on {adapter.trained_on}; use it with "
                "that base."
            ) from exc
        raise ModelLoadError(f"peft could not load the adapter {adapter.name!r}: {text}") from exc
    base.model.eval()
    base.adapters[peft_name] = adapter.path


def _combination(base: LoadedBase, weighted: tuple[tuple[str, float], ...]) -> str:
    """The peft adapter that is this weighted sum of adapters, made once and kept."""
    name = base.combinations.get(weighted)
    if name is not None:
        return name
    if len(base.combinations) >= MAX_COMBINATIONS:
        oldest = next(iter(base.combinations))
        base.model.delete_adapter(base.combinations.pop(oldest))
    name = f"mix{abs(hash(weighted)):x}"
    # "cat" concatenates the low-rank factors: exactly the weighted sum of the adapters'
    # updates, for any ranks.
    base.model.add_weighted_adapter(
        adapters=[n for n, _ in weighted],
        weights=[w for _, w in weighted],
        adapter_name=name,
        combination_type="cat",
    )
    base.combinations[weighted] = name
    return name


def _generate_locked(
    base: LoadedBase, request: ChatRequest, emit: Emit, cancel: CancelToken
) -> None:
    torch = import_torch()
    from transformers import StoppingCriteria, StoppingCriteriaList
    from transformers.generation.streamers import BaseStreamer

    tokenizer = base.tokenizer
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(base.device)
    prompt_tokens = int(inputs["input_ids"].shape[1])
    params = request.params
    room = (base.context_length or prompt_tokens + 4096) - prompt_tokens
    if room <= 0:
        raise ContextOverflow(
            f"The prompt is {prompt_tokens} tokens, and the model's context is "
            f"{base.context_length}. Shorten the prompt or start a new chat."
        )
    max_new = room if params.max_tokens is None else min(params.max_tokens, room)

    class Stream(BaseStreamer):  # type: ignore[misc]
        """Turns sampled tokens into text deltas, in the generating thread."""

        def __init__(self) -> None:
            self.prompt_seen = False
            self.pending: list[int] = []
            self.shown = 0
            self.tokens = 0

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # generate() hands over the prompt first
                self.prompt_seen = True
                return
            ids = value.reshape(-1).tolist()
            self.tokens += len(ids)
            self.pending.extend(ids)
            text = tokenizer.decode(self.pending, skip_special_tokens=True)
            if text.endswith("\n"):  # a line is done: start the next one afresh
                self._emit(text[self.shown :])
                self.pending, self.shown = [], 0
            elif not text.endswith("\ufffd"):  # not in the middle of a character
                # Up to the last space: a word's later tokens can change how it decodes.
                end = text.rfind(" ") + 1
                if end > self.shown:
                    self._emit(text[self.shown : end])
                    self.shown = end

        def end(self) -> None:
            text = tokenizer.decode(self.pending, skip_special_tokens=True)
            self._emit(text[self.shown :])
            self.pending, self.shown = [], 0

        def _emit(self, text: str) -> None:
            if text:
                emit(TextDelta(text))

    class StopOnCancel(StoppingCriteria):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), cancel.cancelled, dtype=torch.bool)

    kwargs: dict[str, Any] = {"max_new_tokens": max_new}
    if params.temperature is not None:
        if params.temperature == 0:
            kwargs["do_sample"] = False
        else:
            kwargs["do_sample"] = True
            kwargs["temperature"] = params.temperature
    if params.top_p is not None:
        kwargs["top_p"] = params.top_p
    if params.stop:
        kwargs["stop_strings"] = list(params.stop)
        kwargs["tokenizer"] = tokenizer
    if params.seed is not None:
        torch.manual_seed(params.seed)
    if kwargs.get("do_sample") is False:
        kwargs.update(temperature=None, top_p=None, top_k=None)  # no warnings about unused ones
    streamer = Stream()
    with torch.inference_mode():
        base.model.generate(
            **inputs,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([StopOnCancel()]),
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            **kwargs,
        )
    emit(Usage(prompt_tokens=prompt_tokens, completion_tokens=streamer.tokens))
    reason: FinishReason = "stop"
    if cancel.cancelled:
        reason = "cancelled"
    elif streamer.tokens >= max_new:
        reason = "length"
    emit(Finished(reason))


# -- the built-in plugin --------------------------------------------------------------------


@hookimpl
def genchat_register_backends(register: RegisterBackend) -> None:
    register(PeftBackend)


@hookimpl
def genchat_register_profiles(register: RegisterProfile) -> None:
    """With the `lora` extra installed: the embedded model with the demo adapter (the
    llama-cpp plugin registers the same on the 4-bit base)."""
    from genchat.backends.lora import DEMO_ADAPTER, demo_adapter_path
    from genchat.embedded import embedded_model_path

    model, adapter = embedded_model_path(), demo_adapter_path()
    if model is None or adapter is None or not lora.lora_extra_installed():
        return
    adapters = {DEMO_ADAPTER: str(adapter)}
    register("smollm2-lora", backend=PeftBackend.name, base=str(model), adapters=adapters)
