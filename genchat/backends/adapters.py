"""The LoRA adapter helpers' first import path, which `docs/plugins.md` gave plugins; they
live in `genchat.backends.lora.adapters`."""

from genchat.backends.lora.adapters import (
    BASE_ALIAS,
    Adapter,
    adapter_digest,
    choose,
    default_model,
    lora_extra_installed,
    model_infos,
    parse_combination,
    read_adapter,
)

__all__ = [
    "BASE_ALIAS",
    "Adapter",
    "adapter_digest",
    "choose",
    "default_model",
    "lora_extra_installed",
    "model_infos",
    "parse_combination",
    "read_adapter",
]
