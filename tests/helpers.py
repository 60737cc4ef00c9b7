"""Shared test helpers: running the CLI as a subprocess, and installing test plugins for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).parent
PLUGIN_SOURCES = TESTS / "plugins"

TEST_PLUGINS = {
    "scripted": "genchat_test_scripted",
    "import-error": "genchat_test_import_error",
    "register-error": "genchat_test_register_error",
    "unknown-hook": "genchat_test_unknown_hook",
    "duplicate": "genchat_test_duplicate",
    "hostile": "genchat_test_hostile",
    "misbehaving": "genchat_test_misbehaving",
}
"""Entry-point name -> module, for the test distribution `genchat-test-plugins`."""


def make_plugin_site(site: Path, plugins: dict[str, str] = TEST_PLUGINS) -> Path:
    """A directory that importlib.metadata sees as an installed distribution with entry points.

    The modules stay in tests/plugins; put both directories on the path (see `plugin_path`).
    """
    dist_info = site / "genchat_test_plugins-0.1.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: genchat-test-plugins\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = ["[genchat]"] + [f"{name} = {module}" for name, module in plugins.items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return site


def plugin_path(site: Path) -> str:
    """PYTHONPATH for a subprocess that should see the test plugins."""
    return os.pathsep.join([str(site), str(PLUGIN_SOURCES)])


def run_genchat(
    *args: str,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m genchat ARGS` with the test environment, and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "genchat", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL if input is None else None,
    )


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def wait_for_streaming_text(db: Path, starts_with: str, timeout: float = 60) -> None:
    """Wait until the history at `db` holds one exchange whose reply, still streaming in another
    process, has saved text beginning with `starts_with`."""
    from genchat.store import Store

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not db.exists():
            continue
        with Store(db) as store:
            found = store.conversations()
            thread = store.thread(found[0].id) if found else []
        if len(thread) == 2 and thread[1].content.startswith(starts_with):
            return
    raise AssertionError(f"no saved reply beginning {starts_with!r} in {db} after {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
