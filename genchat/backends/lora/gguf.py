"""Convert a peft LoRA adapter into a GGUF LoRA, which llama.cpp applies to a quantised base.

A LoRA adapter adds `scale * B @ A` to a weight `W` (out x in), with `A` (rank x in), `B`
(out x rank) and `scale = alpha / rank`. llama.cpp reads the same factors from a GGUF file whose
tensors are named after the base's (`blk.N.attn_q.weight.lora_a` and `.lora_b`), with the
metadata `general.type = "adapter"`, `adapter.type = "lora"` and `adapter.lora.alpha`.

One trap: for llama-architecture models, converting a model to GGUF permutes the rows of the
query and key projections (llama.cpp computes rotary embeddings on interleaved halves where
Hugging Face uses split halves). The adapter's update to those weights must be permuted the same
way, and since only `B`'s rows are the output rows, only `lora_B` of `q_proj` and `k_proj` is
permuted: by the attention heads for the query, by the key-value heads for the key.

The file is written with the `gguf` package's writer, and kept in genchat's cache dir under the
adapter's content hash, so an adapter converts once. Reading needs numpy, safetensors and gguf
(the `lora` extra); torch only for adapters saved in bfloat16.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genchat.backends.local.gguf_header import NotGGUF, read_gguf_info
from genchat.backends.lora.adapters import WEIGHTS_FILE, Adapter
from genchat.errors import BackendUnavailable, ModelLoadError
from genchat.paths import cache_dir

CONVERTER_VERSION = 1
"""Bumped when the output changes, so cached conversions are redone."""

SUPPORTED_ARCHITECTURES = frozenset({"llama"})

PROJECTIONS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
"""Hugging Face's module names for a llama block -> llama.cpp's tensor names."""

_PEFT_NAME = re.compile(
    r"^(?:base_model\.model\.)?model\.layers\.(?P<layer>\d+)\.(?P<module>[a-z_]+\.[a-z_]+)"
    r"\.lora_(?P<factor>[AB])(?:\.weight)?$"
)

PEFT_HINT = 'Use this adapter with a peft profile (backend = "peft") instead.'


class UnsupportedAdapter(ModelLoadError):
    title = "Adapter not supported on llama.cpp"


@dataclass(frozen=True)
class BaseShape:
    """What the converter needs to know of the GGUF base."""

    architecture: str
    n_head: int
    n_head_kv: int
    tensors: dict[str, tuple[int, ...]]
    """llama.cpp tensor name -> its shape as GGUF stores it: (in, out) for a projection."""


def read_base(path: Path) -> BaseShape:
    try:
        info = read_gguf_info(path)
    except (OSError, NotGGUF) as exc:
        raise ModelLoadError(f"Cannot read the base model {path}: {exc}.") from exc
    n_head = info.head_count or 0
    return BaseShape(
        architecture=info.architecture or "unknown",
        n_head=n_head,
        n_head_kv=info.head_count_kv or n_head,
        tensors=dict(info.tensor_shapes),
    )


def permute_rows(weights: Any, n_head: int) -> Any:
    """llama.cpp's row order for a query or key projection: within each head, the rows of the
    two rotary halves interleave (head, half, row) -> (head, row, half)."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def converted_path(adapter: Adapter, base: BaseShape) -> Path:
    """Where the conversion of `adapter` for this base is cached."""
    key = f"{adapter.digest()[:24]}-{base.architecture}-h{base.n_head}-kv{base.n_head_kv}"
    return cache_dir() / "lora-gguf" / f"v{CONVERTER_VERSION}-{key}.gguf"


def cached_conversion(adapter: Adapter, base_gguf: Path) -> tuple[Path, str | None]:
    """The GGUF LoRA for `adapter` on `base_gguf`, converting it once; and a warning, if any.

    Where the cache dir cannot be written, the adapter is converted into a temporary file each
    time, and the warning says so.
    """
    base = read_base(base_gguf)
    check_supported(adapter, base)
    target = converted_path(adapter, base)
    if target.is_file():
        return target, None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(prefix=".writing-", suffix=".gguf", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        fd, scratch = tempfile.mkstemp(prefix="genchat-lora-", suffix=".gguf")
        os.close(fd)
        convert(adapter, base, Path(scratch))
        return Path(scratch), (
            f"Could not cache the converted adapter {adapter.name!r} in {target.parent} "
            f"({exc.strerror or exc}); it will be converted again next time. Set "
            "GENCHAT_CACHE_DIR to a writable directory."
        )
    try:
        convert(adapter, base, Path(scratch))
        os.replace(scratch, target)
    finally:
        Path(scratch).unlink(missing_ok=True)
    return target, None


def check_supported(adapter: Adapter, base: BaseShape) -> None:
    config = adapter.config
    if base.architecture not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedAdapter(
            f"genchat converts LoRA adapters for llama.cpp on llama-architecture models; this "
            f"base is {base.architecture!r}. {PEFT_HINT}"
        )
    problems = []
    if config.get("use_dora"):
        problems.append("it is a DoRA adapter")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        problems.append("its rank or alpha differ per module")
    if config.get("modules_to_save"):
        problems.append("it also trains whole modules (modules_to_save)")
    if config.get("bias", "none") != "none":
        problems.append("it trains biases")
    if problems:
        raise UnsupportedAdapter(
            f"The adapter {adapter.name!r} cannot run on llama.cpp: {', '.join(problems)}. "
            + PEFT_HINT
        )


def convert(adapter: Adapter, base: BaseShape, out: Path) -> None:
    """Write `adapter` as a GGUF LoRA for `base` to `out`."""
    import numpy as np

    gguf = _import_gguf()
    check_supported(adapter, base)
    factors = _read_factors(adapter)
    pairs: dict[str, dict[str, Any]] = {}
    for name, array in factors.items():
        match = _PEFT_NAME.match(name)
        module = match and PROJECTIONS.get(match["module"])
        if match is None or module is None:
            raise UnsupportedAdapter(
                f"The adapter {adapter.name!r} has a tensor genchat cannot place in a llama.cpp "
                f"model: {name}. {PEFT_HINT}"
            )
        target = f"blk.{match['layer']}.{module}.weight"
        pairs.setdefault(target, {})[match["factor"]] = array
    rank = adapter.rank
    alpha = adapter.alpha
    if adapter.config.get("use_rslora"):
        alpha *= rank**0.5  # rsLoRA scales by alpha / sqrt(rank); llama.cpp by alpha / rank

    writer = gguf.GGUFWriter(str(out), base.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for target, factor in sorted(pairs.items(), key=lambda item: _order(item[0])):
        if set(factor) != {"A", "B"}:
            raise ModelLoadError(f"The adapter {adapter.name!r} has half a pair for {target}.")
        a = np.ascontiguousarray(factor["A"], dtype=np.float32)  # rank x in
        b = np.ascontiguousarray(factor["B"], dtype=np.float32)  # out x rank
        shape = base.tensors.get(target)
        if shape is None or a.shape[1] != shape[0] or b.shape[0] != shape[1]:
            have = f"{b.shape[0]}x{a.shape[1]}"
            want = f"{shape[1]}x{shape[0]}" if shape else "no such tensor"
            raise ModelLoadError(
                f"The adapter {adapter.name!r} does not fit this base model: {target} is "
                f"{want} in the base and {have} in the adapter. It was trained on "
                f"{adapter.trained_on}; use it with that base."
            )
        if target.endswith("attn_q.weight"):
            b = permute_rows(b, base.n_head)
        elif target.endswith("attn_k.weight"):
            b = permute_rows(b, base.n_head_kv)
        writer.add_tensor(f"{target}.lora_a", a)
        writer.add_tensor(f"{target}.lora_b", np.ascontiguousarray(b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _order(name: str) -> tuple[int, str]:
    layer = name.split(".")[1]
    return (int(layer) if layer.isdigit() else -1, name)


def _read_factors(adapter: Adapter) -> dict[str, Any]:
    weights = adapter.path / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelLoadError(
            f"The adapter {adapter.name!r} has no {WEIGHTS_FILE} in {adapter.path}. genchat "
            "converts adapters saved as safetensors (peft's default)."
        )
    try:
        from safetensors.numpy import load_file

        return dict(load_file(str(weights)))
    except Exception as first:  # bfloat16, which numpy lacks, reads through torch
        try:
            from safetensors.torch import load_file as load_torch

            return {k: v.float().numpy() for k, v in load_torch(str(weights)).items()}
        except Exception:
            raise ModelLoadError(f"Cannot read {weights}: {first}.") from first


def _import_gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:
        raise BackendUnavailable(
            "Converting a LoRA adapter for llama.cpp needs the gguf package. Install the LoRA "
            "extra: pip install 'genchat[lora]'."
        ) from exc
    return gguf
