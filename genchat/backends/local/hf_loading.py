"""Loading transformers models for the peft backend, and the process-wide cache of loaded bases.

A base model comes from a Hugging Face model directory, a hub id already in the local Hugging Face
cache, or a GGUF file. transformers dequantises a GGUF file on every load (about 20 s for
SmolLM2-135M on two cores), so genchat keeps the result as safetensors in its cache dir and later
loads take about a second. transformers refuses `save_pretrained` on a GGUF-loaded model: the state
dict is saved with safetensors, and the config without its `quantization_config`.

transformers draws its progress with tqdm on the terminal; while genchat loads, those bars are
replaced by `Loading` events, which the TUI shows as a progress bar.

torch and transformers are imported on the first load, never at start-up.

Why one module of about 460 lines: the three ways to find a base, the dequantised-base cache and
the progress bars are one load, run under one lock, whose steps share what they found.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genchat.backends.shared_cache import SharedCache
from genchat.chat import Loading, Notice, StreamEvent
from genchat.errors import BackendUnavailable, ModelLoadError, ModelNotFound
from genchat.logs import logger
from genchat.paths import cache_dir

log = logger("genchat.peft")

Emit = Callable[[StreamEvent], None]

LORA_EXTRA_HINT = "Install the LoRA extra: pip install 'genchat[lora]'."
LLAMA_CPP_HINT = (
    "For a 4-bit model on the CPU, use a llama-cpp profile: a GGUF file with `adapters` "
    "(the built-in smollm2-lora-q4 profile is one)."
)


@dataclass(frozen=True)
class BaseKey:
    """What makes two loads of a base model the same load."""

    source: str
    """A resolved directory or GGUF path, or a hub id."""
    device: str
    dtype: str
    load_in_4bit: bool = False
    trust_remote_code: bool = False
    allow_download: bool = False


@dataclass
class LoadedBase:
    """One loaded base model and its tokenizer, shared by every profile and pane that uses it.

    `model` becomes a peft `PeftModel` once an adapter is loaded onto it. Which adapter is active
    is global state of the model, so it is set and generated with under `lock`.
    """

    model: Any
    tokenizer: Any
    device: str
    context_length: int | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    adapters: dict[str, Path] = field(default_factory=dict)
    """peft adapter name -> the adapter directory it was loaded from."""
    combinations: dict[tuple[tuple[str, float], ...], str] = field(default_factory=dict)
    """Weighted combinations made so far: ((adapter, weight), ...) -> their peft adapter name."""
    merged: str | None = None
    """The adapter merged into the weights, if any: then nothing else may share this base."""


def _free(base: LoadedBase) -> None:
    base.model = None


BASES: SharedCache[BaseKey, LoadedBase] = SharedCache(free=_free)
"""Loaded bases by source, device, dtype and 4-bit: shared by every profile that names one."""


# -- devices --------------------------------------------------------------------------------


def import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(f"torch is not installed. {LORA_EXTRA_HINT}") from exc
    return torch


def resolve_device(requested: str) -> str:
    """`auto` -> cuda, mps or cpu, whichever this machine has; a named device is checked."""
    torch = import_torch()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested.startswith("cuda") and not cuda:
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no GPU found"
        raise BackendUnavailable(
            f"The profile asks for device {requested!r}, but CUDA is not available here ({why}). "
            'Set `device = "auto"` (or "cpu") in the profile. ' + LLAMA_CPP_HINT
        )
    if requested == "mps" and not mps:
        raise BackendUnavailable(
            "The profile asks for device 'mps', which this machine does not have. "
            'Set `device = "auto"` in the profile.'
        )
    return requested


def require_cuda_for_4bit(device: str) -> None:
    if not device.startswith("cuda"):
        raise BackendUnavailable(
            "4-bit loading (bitsandbytes nf4) needs a CUDA GPU, and this profile runs on "
            f"{device}. Set `load_in_4bit = false`. " + LLAMA_CPP_HINT
        )


def resolve_dtype(requested: str, device: str) -> str:
    """`auto` -> float32 on the CPU, bfloat16 on a GPU that has it, else float16."""
    if requested != "auto":
        return requested
    if device == "cpu":
        return "float32"
    torch = import_torch()
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float16"


# -- loading --------------------------------------------------------------------------------

_load_lock = threading.Lock()
"""One load at a time: transformers' progress bars are swapped process-wide while loading."""


def load_base(key: BaseKey, emit: Emit) -> LoadedBase:
    import_torch()
    try:
        import transformers
    except ImportError as exc:
        raise BackendUnavailable(f"transformers is not installed. {LORA_EXTRA_HINT}") from exc
    _quiet(transformers)
    with _load_lock, _progress_to(emit):
        try:
            if key.source.endswith(".gguf"):
                model, tokenizer = _load_gguf(Path(key.source), key, emit)
            else:
                model, tokenizer = _load_pretrained(key.source, key, transformers, emit)
        except Exception as exc:
            if _is_out_of_memory(exc):
                raise ModelLoadError(_out_of_memory(key)) from exc
            raise
    model.eval()
    if tokenizer.chat_template is None:
        raise ModelLoadError(
            f"{key.source} has no chat template in its tokenizer, so genchat cannot format a "
            "conversation for it. Use an instruction-tuned (chat) model."
        )
    config = model.config
    context = getattr(config, "max_position_embeddings", None)
    return LoadedBase(model=model, tokenizer=tokenizer, device=key.device, context_length=context)


def _quiet(transformers: Any) -> None:
    """Keep the libraries' advice to developers (deprecations, generation hints) off the user's
    terminal: genchat reports what matters itself. Errors still show."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    transformers.utils.logging.set_verbosity_error()


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text
    )


def _out_of_memory(key: BaseKey) -> str:
    hint = (
        "load it in 4-bit (`load_in_4bit = true`)"
        if key.device.startswith("cuda")
        else "use a llama-cpp profile with a quantised GGUF file instead"
    )
    return (
        f"Not enough memory to load {key.source} on {key.device} as {key.dtype}. Close other "
        f'models, choose a smaller dtype (`dtype = "bfloat16"`), or {hint}.'
    )


def _model_kwargs(key: BaseKey) -> dict[str, Any]:
    torch = import_torch()
    kwargs: dict[str, Any] = {
        "dtype": getattr(torch, key.dtype),
        "trust_remote_code": key.trust_remote_code,
    }
    if key.load_in_4bit:
        require_cuda_for_4bit(key.device)
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable(
                "4-bit loading needs bitsandbytes: pip install bitsandbytes."
            ) from exc
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
        kwargs["device_map"] = {"": key.device}
    return kwargs


def _place(model: Any, key: BaseKey) -> Any:
    return model if key.load_in_4bit else model.to(key.device)


def _load_pretrained(source: str, key: BaseKey, transformers: Any, emit: Emit) -> tuple[Any, Any]:
    """A model directory, or a hub id from the local cache (downloads only when allowed)."""
    directory = Path(source)
    local_only = not key.allow_download and not directory.is_dir()
    emit(Loading(None, f"loading {directory.name if directory.is_dir() else source}"))
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            source, local_files_only=local_only, trust_remote_code=key.trust_remote_code
        )
        model = transformers.AutoModelForCausalLM.from_pretrained(
            source, local_files_only=local_only, **_model_kwargs(key)
        )
    except OSError as exc:
        if directory.is_dir() or "/" not in source or source.startswith(("/", "~", ".")):
            raise ModelNotFound(
                f"Cannot load the base model {source}: {_first_line(exc)}. Point `base` at a "
                "Hugging Face model directory, a hub id in the local cache, or a .gguf file."
            ) from exc
        if not key.allow_download:
            why = "and the profile does not allow downloads (`allow_download = true`)"
        elif os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            why = "and HF_HUB_OFFLINE is set, so nothing is downloaded"
        else:
            why = f"and downloading it failed ({_first_line(exc)})"
        raise ModelNotFound(
            f"The base model {source} is not in the local Hugging Face cache, {why}. Download "
            f"it once with `huggingface-cli download {source}`, or point `base` at a local "
            "directory or .gguf file."
        ) from exc
    except ValueError as exc:  # e.g. custom code that trust_remote_code would run
        raise ModelLoadError(f"Cannot load the base model {source}: {_first_line(exc)}") from exc
    return _place(model, key), tokenizer


# -- GGUF, through a safetensors cache ------------------------------------------------------

CACHE_FORMAT = 1
"""Bumped when what the cache holds changes, so old entries are rebuilt rather than misread."""


def dequantised_cache_dir(gguf: Path) -> Path:
    """Where the dequantised copy of `gguf` is kept, keyed by its path, size and mtime."""
    stat = gguf.stat()
    ident = f"{CACHE_FORMAT}\0{gguf.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return cache_dir() / "dequantised" / f"{gguf.stem}-{digest}"


def _load_gguf(path: Path, key: BaseKey, emit: Emit) -> tuple[Any, Any]:
    if not path.is_file():
        raise ModelNotFound(f"The base model file {path} does not exist. Fix the profile's `base`.")
    cached = dequantised_cache_dir(path)
    if (cached / "genchat.json").is_file():
        emit(Loading(None, f"loading {path.name} from the cache"))
        try:
            return _from_cache(cached, key)
        except Exception as exc:  # a damaged entry of any kind is rebuilt, not trusted
            if _is_out_of_memory(exc):
                raise  # the entry is fine; the machine is full
            log.warning("the cached copy of %s is damaged (%s); rebuilding it", path, exc)
            emit(
                Notice(
                    f"The cached copy of {path.name} was damaged ({_first_line(exc)}); "
                    "genchat is rebuilding it from the GGUF file."
                )
            )
            shutil.rmtree(cached, ignore_errors=True)
    model, tokenizer = _dequantise(path, key.trust_remote_code, emit)
    written: Path | None = cached
    try:
        _write_cache(cached, path, model, tokenizer)
    except OSError as exc:
        emit(
            Notice(
                f"Could not cache the dequantised {path.name} in {cached.parent} "
                f"({exc.strerror or exc}); the next load will dequantise again, which is slower. "
                "Set GENCHAT_CACHE_DIR to a writable directory."
            )
        )
        written = None
    if not key.load_in_4bit:
        return _place(model.to(getattr(import_torch(), key.dtype)), key), tokenizer
    # bitsandbytes quantises as it loads a model directory: the cache entry, or a scratch copy.
    if written is not None:
        del model
        return _from_cache(written, key)
    with tempfile.TemporaryDirectory(prefix="genchat-4bit-") as scratch:
        _write_model_dir(Path(scratch), model, tokenizer)
        del model
        return _from_cache(Path(scratch), key)


def _dequantise(path: Path, trust_remote_code: bool, emit: Emit) -> tuple[Any, Any]:
    """The GGUF file's weights in float32, whatever the profile's dtype: the cached copy is
    the one every dtype and device is loaded from."""
    import transformers

    emit(Loading(None, f"reading the tokenizer of {path.name}"))
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(path.parent), gguf_file=path.name
        )
        emit(Loading(0.0, f"de-quantising {path.name} (first load; cached afterwards)"))
        kwargs = _model_kwargs(BaseKey(str(path), "cpu", "float32", False, trust_remote_code))
        if hasattr(transformers, "GgufConfig"):
            # With the `kernels` package installed, transformers 5 may keep GGUF weights packed,
            # which peft cannot wrap: ask for plain dequantised weights.
            kwargs["quantization_config"] = transformers.GgufConfig(dequantize=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, **kwargs
        )
    except (ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"transformers cannot load {path.name}: {_first_line(exc)}. Its architecture or "
            "quantisation may be unsupported there; a llama-cpp profile runs any GGUF file."
        ) from exc
    return model, tokenizer


def _from_cache(directory: Path, key: BaseKey) -> tuple[Any, Any]:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(directory), local_files_only=True, **_model_kwargs(key)
    )
    return _place(model, key), tokenizer


def _write_cache(cached: Path, source: Path, model: Any, tokenizer: Any) -> None:
    """Write the entry beside its final place, then rename it in: never half an entry."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".writing-", dir=cached.parent))
    try:
        _write_model_dir(scratch, model, tokenizer)
        manifest = {"format": CACHE_FORMAT, "source": str(source.resolve())}
        (scratch / "genchat.json").write_text(json.dumps(manifest, indent=2))
        shutil.rmtree(cached, ignore_errors=True)
        os.replace(scratch, cached)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_model_dir(directory: Path, model: Any, tokenizer: Any) -> None:
    from safetensors.torch import save_file

    state = model.state_dict()
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # shared with the embeddings; safetensors refuses both
    save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"))
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(str(directory))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].rstrip(".")


# -- progress -------------------------------------------------------------------------------


class _Progress:
    """Stands in for a tqdm bar inside transformers' loaders, and reports `Loading` events."""

    def __init__(
        self, emit: Emit, iterable: Iterable[Any] | None = None, *args: Any, **kwargs: Any
    ) -> None:
        self._emit = emit
        self._iterable = iterable
        total = kwargs.get("total")
        if total is None and isinstance(iterable, Sized):
            total = len(iterable)
        self.total = total
        self.n = 0
        self.desc = str(kwargs.get("desc") or "loading").rstrip(".")
        self._shown = -1

    def __iter__(self) -> Iterator[Any]:
        assert self._iterable is not None
        for item in self._iterable:
            yield item
            self.update(1)

    def update(self, n: float = 1) -> None:
        self.n += int(n)
        if self.total:
            percent = min(100, int(100 * self.n / self.total))
            if percent != self._shown:  # at most a hundred events per bar
                self._shown = percent
                self._emit(Loading(percent / 100, self.desc.lower()))

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None  # close, refresh, set_postfix and the rest


@contextlib.contextmanager
def _progress_to(emit: Emit) -> Iterator[None]:
    """Route transformers' progress bars to `emit` for the length of one load."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    def hook(_factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Progress:
        return _Progress(emit, *args, **kwargs)

    def gguf_bar(*args: Any, **kwargs: Any) -> _Progress:
        return _Progress(emit, *args, **kwargs)

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)
    if set_hook is not None:
        previous_hook = set_hook(hook)
    else:  # an older transformers: no bars at all rather than bars across the screen
        hf_logging.disable_progress_bar()
    previous_gguf = gguf_utils.tqdm  # this one module calls tqdm directly
    gguf_utils.tqdm = gguf_bar
    try:
        yield
    finally:
        if set_hook is not None:
            set_hook(previous_hook)
        gguf_utils.tqdm = previous_gguf
