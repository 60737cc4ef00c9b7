"""LoRA adapters as profiles name them: what the peft and llama-cpp backends share.

A profile lists adapters by name (`adapters = { tldr = "/path/to/peft-adapter-dir" }`). A request
chooses among them through its model id (the base's id, an adapter's name, or a weighted
combination such as `tldr*0.5+formal*0.5`), or through `ChatRequest.adapters` directly. Neither
backend reloads its base model to switch.

Nothing here imports torch or peft: an adapter directory is read as JSON and safetensors headers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genchat.backends.base import ModelInfo
from genchat.chat import ChatRequest
from genchat.errors import ModelLoadError, ModelNotFound

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
BASE_ALIAS = "base"
LORA_MODULES = ("torch", "transformers", "peft", "gguf", "safetensors")
"""What the `lora` extra installs."""
"""Besides the base's own id, `base` always names the model without adapters."""


@dataclass(frozen=True)
class Adapter:
    """A peft LoRA adapter directory, checked."""

    name: str
    path: Path
    config: Mapping[str, Any]

    @property
    def rank(self) -> int:
        return int(self.config.get("r", 8))

    @property
    def alpha(self) -> float:
        return float(self.config.get("lora_alpha", self.rank))

    @property
    def trained_on(self) -> str:
        """The base the adapter's config names (a hub id or a path), for messages."""
        return str(self.config.get("base_model_name_or_path") or "an unnamed base model")

    def digest(self) -> str:
        """A hash of the adapter's config and weights: what converted copies are cached by."""
        return adapter_digest(self.path)


def read_adapter(name: str, path: Path) -> Adapter:
    """Check that `path` holds a peft LoRA adapter; raise an error that says what is wrong."""
    path = path.expanduser()
    if not path.exists():
        raise ModelNotFound(
            f"The adapter {name!r} points at {path}, which does not exist. Fix `adapters` in "
            "the profile."
        )
    if not path.is_dir():
        raise ModelLoadError(
            f"The adapter {name!r} must be a peft adapter directory; {path} is a file."
        )
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise ModelLoadError(
            f"The adapter {name!r} has no {CONFIG_FILE} in {path}, so it is not a peft adapter "
            "directory. Point it at the directory that peft's save_pretrained wrote."
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Cannot read {config_path}: {exc}.") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{config_path} does not hold a JSON object.")
    kind = config.get("peft_type")
    if kind != "LORA":
        raise ModelLoadError(
            f"The adapter {name!r} is a {kind or 'unknown'} adapter; genchat runs LoRA adapters."
        )
    return Adapter(name, path, config)


def adapter_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.name == CONFIG_FILE or file.name.startswith("adapter_model."):
            digest.update(file.name.encode() + b"\0")
            with file.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()


def default_model(option: str | None, adapters: Mapping[str, object], base_id: str) -> str:
    """A profile's default model id: its `model` option, else its first adapter, else the base."""
    if option == BASE_ALIAS:
        return base_id
    return option or next(iter(adapters), base_id)


def parse_combination(text: str) -> dict[str, float]:
    """`tldr` -> {tldr: 1.0}; `tldr*0.5+formal*0.5` -> both at half weight."""
    chosen: dict[str, float] = {}
    for part in text.split("+"):
        name, _, weight = part.strip().partition("*")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ModelNotFound(
                f"{part.strip()!r} is not `ADAPTER` or `ADAPTER*WEIGHT` (a number)."
            ) from None
        if not name.strip() or not math.isfinite(value):
            raise ModelNotFound(f"{part.strip()!r} is not `ADAPTER` or `ADAPTER*WEIGHT`.")
        chosen[name.strip()] = value
    return chosen


def choose(
    request: ChatRequest, base_id: str, names: Mapping[str, object], default: str | None
) -> dict[str, float]:
    """The adapters a request asks for, by name and weight; empty for the base model.

    `ChatRequest.adapters` wins; otherwise the request's model id decides, and a request with
    no model gets the profile's default.
    """
    if request.adapters:
        chosen = dict(request.adapters)
    else:
        model = request.model or default_model(default, names, base_id)
        if model in (base_id, BASE_ALIAS):
            return {}
        chosen = parse_combination(model)
    unknown = [name for name in chosen if name not in names]
    if unknown:
        offered = ", ".join([base_id, *names]) or base_id
        raise ModelNotFound(
            f"This profile has no model or adapter {unknown[0]!r}. It offers: {offered}; "
            "or combine adapters as `NAME*WEIGHT+NAME*WEIGHT`."
        )
    return {name: weight for name, weight in chosen.items() if weight != 0.0}


def model_infos(
    base_id: str,
    base_info: ModelInfo,
    adapters: Mapping[str, Path],
    default: str | None,
) -> list[ModelInfo]:
    """The base, then one entry per adapter saying which base it belongs to."""
    default = default_model(default, adapters, base_id)
    details = dict(base_info.details)
    if adapters:
        details["adapters"] = ", ".join(adapters)
    infos = [
        ModelInfo(
            base_id,
            description=base_info.description,
            context_length=base_info.context_length,
            details=details,
            default=default == base_id,
        )
    ]
    for name, path in adapters.items():
        infos.append(
            ModelInfo(
                name,
                description=f"LoRA adapter on {base_id}",
                context_length=base_info.context_length,
                details={"base": base_id, "adapter": str(path.expanduser())},
                default=default == name,
            )
        )
    return infos


def lora_extra_installed() -> bool:
    """True when the `lora` extra is installed (found without importing anything)."""
    return all(importlib.util.find_spec(m) is not None for m in LORA_MODULES)
