"""LoRA adapters apart from any one backend: `adapters` (checking a directory, choosing adapters
per request, listing them; no torch), `gguf` (peft's LoRA converted for llama.cpp), and the
adapters that ship inside genchat.

`tldr` is the demo adapter for the embedded SmolLM2-135M-Instruct: it makes every answer a
one-line "TL;DR:" and three bullets. `scripts/train_demo_adapter.py` made it, from the training
data in `training/tldr.jsonl`; its README says how, and under which license.
"""

from __future__ import annotations

from pathlib import Path

DEMO_ADAPTER = "tldr"


def demo_adapter_path() -> Path | None:
    """The demo adapter's directory, or `None` if the package was installed without it."""
    path = Path(__file__).resolve().parent / DEMO_ADAPTER
    return path if (path / "adapter_config.json").is_file() else None
