"""The inspect commands, --version and --help, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import genchat
from tests.helpers import run_genchat


def test_version() -> None:
    result = run_genchat("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"genchat {genchat.__version__}"


def test_help_lists_commands_and_environment() -> None:
    result = run_genchat("--help")
    assert result.returncode == 0
    for word in ("ask", "models", "plugins", "config", "GENCHAT_CONFIG", "GENCHAT_PLUGINS", "130"):
        assert word in result.stdout
    ask_help = run_genchat("ask", "--help").stdout
    for flag in ("--model", "--system", "--temperature", "--max-tokens", "--seed", "--json"):
        assert flag in ask_help


def test_models_lists_profiles_with_their_models(config_file: Path, tmp_path: Path) -> None:
    config_file.write_text(
        f'[profiles.gone]\nbackend = "llama-cpp"\npath = "{tmp_path / "gone.gguf"}"\n'
        '[profiles.broken]\nbackend = "llama-cpp"\n'
    )
    result = run_genchat("models")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "smollm2 (default)  backend: llama-cpp" in out
    assert "SmolLM2-135M-Instruct.Q4_1 *" in out and "context 8192" in out and "Q4_1" in out
    assert "gone  backend: llama-cpp" in out and "does not exist" in out
    assert "broken  [broken]" in out and "profiles.broken.path: required" in out


def test_bare_genchat_says_how_to_chat_for_now() -> None:
    result = run_genchat()
    assert result.returncode == 2
    assert 'genchat ask "your question"' in result.stderr
