"""Where genchat's files are, the config file read as TOML but not yet validated, and writing an
export there.

No pydantic: the TUI's first frame needs the config's keymap and default profile, and draws
before `genchat.profiles.config` validates the rest (`genchat.tui.app`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from genchat.errors import ConfigError

CONFIG_ENV = "GENCHAT_CONFIG"
DATA_ENV = "GENCHAT_DATA_DIR"
CACHE_ENV = "GENCHAT_CACHE_DIR"
APP_NAME = "genchat"


def config_path() -> Path:
    """Where the config file is read from: `GENCHAT_CONFIG`, else the platform's config dir."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def data_dir() -> Path:
    """Where conversations and saved files go: `GENCHAT_DATA_DIR`, else the platform's data dir."""
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_data_path(APP_NAME)


def cache_dir() -> Path:
    """Where converted and dequantised models are kept: `GENCHAT_CACHE_DIR`, or the user's."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_cache_path(APP_NAME)


def read_config_file(path: Path) -> dict[str, Any] | None:
    """The config file's TOML as it is, or `None` where there is no file.

    Raises `ConfigError` naming the file when it cannot be read or is not TOML.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read the file: {exc}"], source=str(path)) from exc
    try:
        return tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], source=str(path)) from exc


def write_export(path: Path, text: str) -> None:
    """Write an export (a leaderboard, a comparison), making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
