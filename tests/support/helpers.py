"""Shared test helpers: running the CLI in this process, as a subprocess or in a pseudo-terminal,
and installing test plugins for real."""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).parents[1]

DEADLINE_S = float(os.environ.get("GENCHAT_TEST_DEADLINE_S", "180"))
"""How long any test waits for something to happen before it fails: one setting for the whole
suite, generous by default, so that a busy machine makes tests slower, never red. Set
GENCHAT_TEST_DEADLINE_S to change it."""
PLUGIN_SOURCES = TESTS / "plugins"

TEST_PLUGINS = {
    "scripted": "genchat_test_scripted",
    "import-error": "genchat_test_import_error",
    "register-error": "genchat_test_register_error",
    "unknown-hook": "genchat_test_unknown_hook",
    "duplicate": "genchat_test_duplicate",
    "hostile": "genchat_test_hostile",
    "misbehaving": "genchat_test_misbehaving",
    "foreign": "genchat_test_foreign",
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


def run_in_process(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `genchat ARGS` in this process, as the console script would (`genchat.cli.main`),
    with `input` on a stdin that is not a terminal (empty without it), `env` over the
    environment, and what it prints captured: for tests that only read a command's output and
    exit code. What needs a real process (a pipe closed early, a TTY, signals, a crash, start-up
    imports) runs it with `run_genchat` or `Terminal`."""
    from genchat.cli.main import main

    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        with (
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
            _stdin(stdin),
        ):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
    return subprocess.CompletedProcess(["genchat", *args], code, _written(stdout), _written(stderr))


@contextlib.contextmanager
def _stdin(stream: io.TextIOWrapper) -> Iterator[None]:
    saved, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = saved


def _written(stream: io.TextIOWrapper) -> str:
    """What was written to `stream`, its newlines read as a text-mode pipe would be."""
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    text = buffer.getvalue().decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def wait_for_streaming_text(db: Path, starts_with: str, timeout: float = DEADLINE_S) -> None:
    """Wait until the history at `db` holds one exchange whose reply, still streaming in another
    process, has saved text beginning with `starts_with`."""
    from genchat.history.store import Store

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


TEXTUAL_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
"""The CSI sequences Textual writes for the cursor, colours and modes: taken out to read what
a screen shows as text."""


class Terminal:
    """`genchat ARGS` in a pseudo-terminal of `rows` x `cols`: what it writes is read as it
    comes (the app blocks if nobody reads its terminal), and keys are typed with `type`.

    Use it as a context manager; leaving kills the app if it still runs.
    """

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, rows: int = 32, cols: int = 100
    ) -> None:
        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.child = subprocess.Popen(
            [sys.executable, "-m", "genchat", *args],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env={**os.environ, "TERM": "xterm-256color", **(env or {})},
            start_new_session=True,
        )
        os.close(follower)
        self.raw = bytearray()
        """Every byte the app wrote to its terminal."""
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.leader], [], [], 0.1)
            if ready:
                try:
                    self.raw.extend(os.read(self.leader, 65536))
                except OSError:
                    return

    def shown(self) -> str:
        """What was written, as text, with Textual's own sequences taken out."""
        return TEXTUAL_SEQUENCE.sub("", bytes(self.raw).decode(errors="replace"))

    def wait_for(self, text: str, timeout: float = DEADLINE_S) -> None:
        """Wait until `text` has been drawn."""
        deadline = time.monotonic() + timeout
        while text not in self.shown():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} was not drawn within {timeout} s")
            time.sleep(0.1)

    def type(self, keys: bytes) -> None:
        os.write(self.leader, keys)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.child.poll() is None:
            self.child.kill()
        self.child.wait()
        self._stop.set()
        self._reader.join()
        os.close(self.leader)
