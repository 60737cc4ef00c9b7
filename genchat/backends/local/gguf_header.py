"""Read a GGUF file's metadata without loading the model.

genchat needs a few facts before it asks llama.cpp to load a file: that it is a GGUF file at all
(for a clear error instead of llama.cpp's), its architecture and trained context length (to size
the context window), and its name and quantisation (to list it). The format is documented in
ggml's `docs/gguf.md`: a magic, a version, counts, then typed key/value pairs.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"

# value type -> struct format of a scalar
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING = 8
_ARRAY = 9

# llama.cpp's `general.file_type` values for the common quantisations
_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}


_SCALAR_KEYS = (
    ".context_length",
    ".attention.head_count",
    ".attention.head_count_kv",
    "general.file_type",
)


class NotGGUF(ValueError):
    """The file is not a GGUF file, or its header is damaged."""


@dataclass(frozen=True)
class GGUFInfo:
    """The metadata genchat uses from a GGUF header."""

    version: int
    architecture: str | None
    name: str | None
    context_length: int | None
    file_type: str | None
    has_chat_template: bool
    head_count: int | None = None
    head_count_kv: int | None = None
    tensor_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Tensor name -> its dimensions as GGUF lists them (a projection is (in, out))."""


def read_gguf_info(path: Path) -> GGUFInfo:
    """Read `path`'s header. Raises `NotGGUF` for other files, `OSError` when it cannot be read."""
    with path.open("rb") as f:
        if f.read(4) != MAGIC:
            raise NotGGUF(f"{path} is not a GGUF file (it does not start with 'GGUF')")
        try:
            return _read_header(f)
        except (struct.error, UnicodeDecodeError, _Truncated) as exc:
            raise NotGGUF(f"{path} has a damaged GGUF header ({exc})") from exc


class _Truncated(Exception):
    pass


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _Truncated("the file ends inside its header")
    return data


def _unpack(f: BinaryIO, fmt: str) -> int | float | bool:
    value: int | float | bool = struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]
    return value


def _string(f: BinaryIO) -> str:
    length = int(_unpack(f, "<Q"))
    return _read(f, length).decode("utf-8")


def _skip_value(f: BinaryIO, vtype: int) -> None:
    if vtype in _SCALARS:
        f.seek(struct.calcsize(_SCALARS[vtype]), 1)
    elif vtype == _STRING:
        f.seek(int(_unpack(f, "<Q")), 1)
    elif vtype == _ARRAY:
        item_type = int(_unpack(f, "<I"))
        count = int(_unpack(f, "<Q"))
        if item_type in _SCALARS:
            f.seek(count * struct.calcsize(_SCALARS[item_type]), 1)
        else:
            for _ in range(count):
                _skip_value(f, item_type)
    else:
        raise _Truncated(f"unknown value type {vtype}")


def _read_header(f: BinaryIO) -> GGUFInfo:
    version = int(_unpack(f, "<I"))
    if version < 2:
        raise NotGGUF(f"GGUF version {version} is too old for llama.cpp")
    tensor_count = int(_unpack(f, "<Q"))
    kv_count = int(_unpack(f, "<Q"))
    wanted: dict[str, object] = {}
    for _ in range(kv_count):
        key = _string(f)
        vtype = int(_unpack(f, "<I"))
        if key == "tokenizer.chat_template" and vtype == _STRING:
            wanted[key] = True
            _skip_value(f, vtype)
        elif vtype == _STRING and key in ("general.architecture", "general.name"):
            wanted[key] = _string(f)
        elif vtype in _SCALARS and key.endswith(_SCALAR_KEYS):
            wanted[key] = _unpack(f, _SCALARS[vtype])
        else:
            _skip_value(f, vtype)
    shapes = {}
    for _ in range(tensor_count):
        tensor = _string(f)
        n_dims = int(_unpack(f, "<I"))
        shapes[tensor] = struct.unpack(f"<{n_dims}Q", _read(f, 8 * n_dims))
        f.seek(4 + 8, 1)  # its type and offset
    arch = wanted.get("general.architecture")
    architecture = arch if isinstance(arch, str) else None

    def number(key: str) -> int | None:
        value = wanted.get(f"{architecture}.{key}") if architecture else None
        return int(value) if isinstance(value, int) else None

    ctx = wanted.get(f"{architecture}.context_length") if architecture else None
    file_type = wanted.get("general.file_type")
    name = wanted.get("general.name")
    return GGUFInfo(
        version=version,
        architecture=architecture,
        name=name if isinstance(name, str) else None,
        context_length=int(ctx) if isinstance(ctx, int) else None,
        file_type=_FILE_TYPES.get(file_type) if isinstance(file_type, int) else None,
        has_chat_template=bool(wanted.get("tokenizer.chat_template")),
        head_count=number("attention.head_count"),
        head_count_kv=number("attention.head_count_kv"),
        tensor_shapes=shapes,
    )
