"""The config file, validated: TOML at `platformdirs.user_config_path("genchat")/config.toml`.

`GENCHAT_CONFIG` overrides the path (`genchat.paths`). Without a file, the built-in defaults
apply. Every mistake is reported with the file and the key it is at; nothing here raises a
traceback at the user.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genchat.chat import GenerationParams
from genchat.embedded import PROFILE_NAME
from genchat.errors import ConfigError
from genchat.paths import config_path, read_config_file


class SamplingConfig(BaseModel):
    """Sampling parameters, as a profile's `params` and a conversation's settings set them;
    unset: the backend's default."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2)
    """Sampling temperature; 0 is greedy."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    """Nucleus sampling: keep the smallest set of tokens whose probability adds up to this."""
    max_tokens: int | None = Field(default=None, ge=1)
    """The most tokens a reply may have."""
    seed: int | None = None
    """Seed for sampling, for repeatable replies where the backend supports it."""
    stop: list[str] | None = None
    """Strings that end the reply when the model writes them."""

    def generation_params(self) -> GenerationParams:
        """The sampling part, as the backend contract takes it."""
        return GenerationParams(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed,
            stop=tuple(self.stop) if self.stop is not None else None,
        )


class ParamsConfig(SamplingConfig):
    """A profile's generation defaults (`[profiles.NAME.params]`): sampling, and its system
    prompt."""

    system: str | None = None
    """The system prompt sent first in every conversation on this profile."""


class ProfileConfig(BaseModel):
    """A profile (`[profiles.NAME]`): a backend, its options, and generation defaults.

    Keys other than `backend` and `params` are the backend's options, checked against that
    backend's own options model once the plugins are loaded.
    """

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    backend: str | None = None
    """The backend type (`llama-cpp`, …). May be left out when overriding a built-in profile."""
    params: dict[str, Any] = {}
    """Generation defaults, checked as `ParamsConfig` with the rest of the profile, so that a
    mistake in one profile does not stop the others."""
    generate_titles: bool = False
    """After a conversation's first reply, ask this profile's model for a short title (else the
    title is the first message, trimmed)."""

    @property
    def options(self) -> dict[str, Any]:
        """The backend options this profile sets."""
        return dict(self.model_extra or {})


class Config(BaseModel):
    """The whole config file."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    default_profile: str = PROFILE_NAME
    """The profile that a new chat and `genchat ask` use."""
    profiles: dict[str, ProfileConfig] = {}
    """Named profiles. A built-in profile of the same name is merged under the file's keys."""
    personas: dict[str, str] = {}
    """Named system prompts."""
    keymap: dict[str, str] = {}
    """Binding id -> keys, as Textual's `set_keymap` takes them."""


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and where it came from."""

    config: Config
    path: Path
    exists: bool


def load_config(path: Path | None = None) -> LoadedConfig:
    """Read and validate the config file. A missing file gives the defaults.

    Raises `ConfigError` naming the file and every mistake by its key.
    """
    path = path or config_path()
    data = read_config_file(path)
    if data is None:
        return LoadedConfig(Config(), path, exists=False)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc), source=str(path)) from exc
    return LoadedConfig(config, path, exists=True)


def describe_validation_error(
    exc: ValidationError, *, prefix: str = "", known_keys: Iterable[str] = ()
) -> list[str]:
    """One line per mistake: the dotted key, what is wrong, and what was given."""
    known = set(known_keys) | _all_field_names()
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        if error["type"] == "extra_forbidden":
            last = str(error["loc"][-1]) if error["loc"] else ""
            close = difflib.get_close_matches(last, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"{key}: unknown key{hint}")
        elif error["type"] == "missing":
            lines.append(f"{key}: required, but not set")
        else:
            lines.append(f"{key}: {error['msg']} (got {error['input']!r})")
    return lines


def _all_field_names() -> set[str]:
    return (
        set(Config.model_fields) | set(ProfileConfig.model_fields) | set(ParamsConfig.model_fields)
    )


EXAMPLE_CONFIG = """\
# genchat configuration. Every key is optional: without this file, genchat chats with the
# embedded SmolLM2-135M-Instruct (4-bit, run by llama.cpp). Check this file with
# `genchat config check`.

# The profile that a new chat and `genchat ask` use.
default_profile = "smollm2"

# A profile names a backend and gives it options. `genchat models` lists them all.
# The built-in `smollm2` profile can be changed key by key, without repeating its path:
# [profiles.smollm2]
# n_threads = 4

# Any GGUF file, run by llama.cpp:
# [profiles.qwen]
# backend = "llama-cpp"
# path = "~/models/qwen2.5-7b-instruct-q4_k_m.gguf"
# n_ctx = 8192          # default: the model's trained context, at most 8192
# n_threads = 8         # default: the physical CPU cores genchat may use
# n_gpu_layers = -1     # offload every layer, where llama.cpp was built with GPU support
# chat_format = "chatml"  # only to override the chat template in the GGUF file

# Generation defaults for a profile. Unset values are the backend's defaults.
# generate_titles = true   # the model names each new conversation
# [profiles.qwen.params]
# temperature = 0.7
# top_p = 0.95
# max_tokens = 1024
# seed = 0
# system = "You are concise."

# Named system prompts.
# [personas]
# reviewer = "You review code and point out bugs."

# Key bindings: binding id -> keys.
# [keymap]
# send = "enter"
"""


def write_example_config(path: Path, *, force: bool = False) -> None:
    """Write the commented example config to `path`. Refuses to overwrite unless `force`."""
    if path.exists() and not force:
        raise ConfigError(
            ["a config file already exists; use --force to replace it"], source=str(path)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
