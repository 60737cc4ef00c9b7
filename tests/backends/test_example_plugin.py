"""The example plugin in docs/plugins.md, installed with pip and run like any third-party plugin."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from genchat import Backend
from tests.support.backend_contract import BackendContract
from tests.support.helpers import run_in_process

EXAMPLE = Path(__file__).parents[2] / "examples" / "genchat-echo"


@pytest.fixture(scope="session")
def echo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """genchat-echo, installed by pip into a directory of its own (session-wide: pip is slow)."""
    site = tmp_path_factory.mktemp("echo-site")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--target", str(site), str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return site


@pytest.fixture
def echo_installed(echo_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(echo_site))
    monkeypatch.setenv("PYTHONPATH", str(echo_site))
    yield echo_site


def test_the_installed_example_answers_through_genchat_ask(echo_installed: Path) -> None:
    result = run_in_process(
        "ask", "-m", "echo", "hello plugin world", env={"GENCHAT_PLUGINS": "echo"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello plugin world\n"


def test_the_example_shows_in_plugins_and_models(echo_installed: Path) -> None:
    plugins = run_in_process("plugins", env={"GENCHAT_PLUGINS": "echo"}).stdout
    assert "plugin    echo (genchat-echo 0.1.0)  backends: echo  profiles: echo" in plugins
    models = run_in_process("models", env={"GENCHAT_PLUGINS": "echo"}).stdout
    assert "echo  backend: echo  from: plugin echo" in models


def test_the_example_is_not_loaded_when_the_allow_list_leaves_it_out(echo_installed: Path) -> None:
    result = run_in_process("ask", "-m", "echo", "hi")  # GENCHAT_PLUGINS is empty in tests
    assert result.returncode == 2
    assert "there is no profile 'echo'" in result.stderr


def test_the_example_options_are_validated(echo_installed: Path, config_file: Path) -> None:
    config_file.write_text('[profiles.echo]\ndelay_s = -1\ncolour = "red"\n')
    result = run_in_process("config", "check", env={"GENCHAT_PLUGINS": "echo"})
    assert result.returncode == 2
    assert "profiles.echo.delay_s: Input should be greater than or equal to 0" in result.stderr
    assert "profiles.echo.colour: unknown key" in result.stderr


class TestEchoContract(BackendContract):
    """The example plugin passes the same contract as the built-in backends."""

    @pytest.fixture
    async def backend(self, echo_installed: Path) -> AsyncIterator[Backend]:
        import genchat_echo

        backend: Any = genchat_echo.EchoBackend(genchat_echo.EchoOptions(delay_s=0.01))
        yield backend
        await backend.aclose()
