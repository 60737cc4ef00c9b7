"""Start-up: the first screen in a real terminal against a bare Textual app, and the commands.

    .venv/bin/python bench/startup.py [--rounds N]

The yardstick is the least a Textual chat app can be: a `TextArea`, a `Static` and a `Footer`.
It and genchat (on an `openai` profile, and on the default embedded profile) each start in a
fresh process, in a pseudo-terminal of 160x50, alternating, so that the ratios are measured side
by side: each ratio is the median over the rounds of the ratio within a round. "Ready" is the
moment a key typed into the prompt shows on the screen: the first frame is drawn and the prompt
takes keys. A marker key is typed every 10 ms from launch (the terminal's own echo is off, so
only the app can show it), and the clock stops when the app draws it.

`genchat --help` and `genchat ask` up to its first token are timed against a bare
`python -c pass`. Last, what the first screen imports: the time each library takes to import
before the first frame (`python -X importtime`), and whether llama.cpp is among them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from remote import fault_server  # noqa: E402

PYTHON = sys.executable
HEAVY = ("textual", "torch", "transformers", "llama_cpp", "numpy", "pydantic", "pluggy", "httpx")
ROWS, COLS = 50, 160
MARKER = "ж"
"""The key typed until it shows: a character neither app draws by itself."""
TYPE_EVERY_S = 0.01
NO_PYC = "PYTHONDONTWRITEBYTECODE"
"""Left out of the commands' environment: an installed genchat has its bytecode compiled, as
pip compiles it; a run without it would compile every module at every start."""

BARE_APP_CLASS = """
from textual.app import App
from textual.widgets import Footer, Static, TextArea

class Bare(App):
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def compose(self):
        yield Static("A bare Textual app")
        yield TextArea()
        yield Footer()

    def on_mount(self):
        self.query_one(TextArea).focus()
        self.call_after_refresh(self.first_frame)

    def first_frame(self):
        pass
"""

BARE_APP = BARE_APP_CLASS + "\nBare().run()\n"

BARE_APP_WITH_PYDANTIC = (
    """
from pydantic import BaseModel

class Settings(BaseModel):
    name: str = "bare"

Settings.model_validate({"name": "bare"})
"""
    + BARE_APP
)
"""The yardstick, validating a settings model with pydantic first, as genchat validates its
config before its first frame (so that a bad one is reported before any screen): how much of
the gap is that library's import alone."""


def ready_in_pty(argv: list[str], env: dict[str, str], timeout: float = 120) -> float:
    """Seconds from launching `argv` in a fresh pseudo-terminal to the first frame that shows a
    key typed into it."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    attributes = termios.tcgetattr(follower)
    attributes[3] &= ~termios.ECHO  # only the app may show the marker
    termios.tcsetattr(follower, termios.TCSANOW, attributes)
    marker = MARKER.encode()
    start = time.perf_counter()
    child = subprocess.Popen(
        argv,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**env, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(follower)
    seen = bytearray()
    try:
        next_key = start
        while True:
            now = time.perf_counter()
            if now - start > timeout:
                raise TimeoutError(f"{argv} showed no key within {timeout} s")
            if now >= next_key:
                os.write(leader, marker)
                next_key = now + TYPE_EVERY_S
            ready, _, _ = select.select([leader], [], [], max(0.0, next_key - now))
            if ready:
                try:
                    seen += os.read(leader, 1 << 16)
                except OSError as error:  # the app ended
                    ended = f"{argv[-1][:40]!r} ended before it was ready: {seen[-500:]!r}"
                    raise RuntimeError(ended) from error
                if marker in seen:
                    return time.perf_counter() - start
    finally:
        child.kill()
        child.wait()
        os.close(leader)


def time_to_exit(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_to_first_byte(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    proc.stdout.read(1)
    first = time.perf_counter() - start
    proc.communicate()
    assert proc.returncode == 0
    return first


FIRST_FRAME = """
import sys
from genchat.tui.app import GenchatApp, make_app

after_first_screen = GenchatApp._after_first_screen

def first_frame(app):  # the app calls this once the first screen is drawn
    print("FIRST FRAME", " ".join(sys.modules), file=sys.stderr, flush=True)
    after_first_screen(app)
    app.exit()

GenchatApp._after_first_screen = first_frame
make_app(PROFILE).run(headless=True, size=(160, 50))
"""

PHASES = """
import json, sys, time
started = time.perf_counter()
import textual.app, textual.widgets
textual_at = time.perf_counter()
from genchat.tui.app import GenchatApp, make_app
genchat_at = time.perf_counter()
drawn, loaded = [], []
after_first_screen = GenchatApp._after_first_screen

def first_frame(app):  # the app calls this once the first screen is drawn
    drawn.append(time.perf_counter())
    after_first_screen(app)

    async def when_loaded():
        await app.services.loaded.wait()
        loaded.append(time.perf_counter())
        app.exit()

    app.run_worker(when_loaded())

GenchatApp._after_first_screen = first_frame
app = make_app(PROFILE)
made_at = time.perf_counter()
app.run(headless=True, size=(160, 50))
print(json.dumps({
    "Textual": textual_at - started,
    "genchat's modules": genchat_at - textual_at,
    "the config file read": made_at - genchat_at,
    "to the first frame": drawn[0] - made_at,
    "after it: pydantic, the config validated, plugins, profiles": loaded[0] - drawn[0],
}), file=sys.stderr)
"""

BARE_PHASES = (
    """
import json, sys, time
started = time.perf_counter()
import textual.app, textual.widgets
"""
    + BARE_APP_CLASS
    + """
textual_at = time.perf_counter()
drawn = []

class Timed(Bare):
    def first_frame(self):
        drawn.append(time.perf_counter())
        self.exit()

made_at = time.perf_counter()
Timed().run(headless=True, size=(160, 50))
print(json.dumps({"Textual": textual_at - started, "to the first frame": drawn[0] - made_at}),
      file=sys.stderr)
"""
)


def phases(profile: str | None, env: dict[str, str], rounds: int) -> dict[str, float]:
    """Where start-up's time goes, headless, each phase timed inside the process (medians of
    `rounds` runs): `profile` for genchat, None for the bare app."""
    code = BARE_PHASES if profile == "" else PHASES.replace("PROFILE", repr(profile))
    runs = [
        json.loads(
            subprocess.run(
                [PYTHON, "-c", code],
                env=env,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                check=True,
            )
            .stderr.strip()
            .splitlines()[-1]
        )
        for _ in range(rounds)
    ]
    return {phase: statistics.median(run[phase] for run in runs) for phase in runs[0]}


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)")


def first_frame_imports(profile: str | None, env: dict[str, str]) -> dict[str, Any]:
    """What genchat imports before its first frame: milliseconds of each library's own import
    code (`-X importtime`'s self times, summed by top-level package), and the heavy ones."""
    code = FIRST_FRAME.replace("PROFILE", repr(profile))
    stderr = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=True,
    ).stderr
    before, _, after = stderr.partition("FIRST FRAME")
    by_package: dict[str, float] = defaultdict(float)
    for match in IMPORT_LINE.finditer(before):
        by_package[match[3].split(".")[0]] += int(match[1]) / 1000
    modules = {name.split(".")[0] for name in after.split("\n", 1)[0].split()}
    ranked = sorted(by_package.items(), key=lambda item: -item[1])
    return {
        "ms_by_package": dict(ranked),
        "total_ms": sum(by_package.values()),
        "heavy": [name for name in HEAVY if name in modules],
    }


def imported(code: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [PYTHON, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules), file=sys.stderr)"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    ).stderr.split()
    roots = {name.split(".")[0] for name in out}
    return [name for name in HEAVY if name in roots]


@contextlib.contextmanager
def genchat_home() -> Iterator[tuple[dict[str, str], str]]:
    """A temporary config and data dir with an `openai` profile on the fault server; yields the
    environment and that profile's name."""
    with tempfile.TemporaryDirectory() as home, fault_server() as root:
        config = Path(home) / "config.toml"
        config.write_text(
            f'[profiles.remote]\nbackend = "openai"\nbase_url = "{root}"\n'
            'model = "fault-model"\napi_key_env = "GENCHAT_BENCH_KEY"\n',
            encoding="utf-8",
        )
        environment = {name: value for name, value in os.environ.items() if name != NO_PYC}
        yield (
            {
                **environment,
                "GENCHAT_CONFIG": str(config),
                "GENCHAT_DATA_DIR": str(Path(home) / "data"),  # what is saved is not the user's
                "GENCHAT_PLUGINS": "",
                "GENCHAT_BENCH_KEY": "sk-bench",
            },
            "remote",
        )


def paired_ratios(runs: dict[str, list[float]], yardstick: str) -> dict[str, float]:
    """Each command over the yardstick: the median of the ratios of the runs made in the same
    round, one just after the other. A machine's load drifts between rounds more than within
    one, so pairing the runs keeps that drift out of the ratio."""
    return {
        name: statistics.median(t / y for t, y in zip(times, runs[yardstick], strict=True))
        for name, times in runs.items()
    }


def measure(rounds: int = 5) -> dict[str, Any]:
    with genchat_home() as (env, remote):
        commands = {
            "bare Textual app": [PYTHON, "-c", BARE_APP],
            "bare Textual app, validating with pydantic": [PYTHON, "-c", BARE_APP_WITH_PYDANTIC],
            "genchat, openai profile": [PYTHON, "-m", "genchat", "-m", remote],
            "genchat, embedded default": [PYTHON, "-m", "genchat"],
        }
        ready: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():
            ready_in_pty(argv, env)  # warm the page cache
        for _ in range(rounds):
            for name, argv in commands.items():
                ready[name].append(ready_in_pty(argv, env))

        bare = [PYTHON, "-c", "pass"]
        help_cmd = [PYTHON, "-m", "genchat", "--help"]
        ask_cmd = [PYTHON, "-m", "genchat", "ask", "Hi", "--max-tokens", "4", "--temperature", "0"]
        times: dict[str, list[float]] = {"python": [], "help": [], "ask_first_token": []}
        time_to_first_byte(ask_cmd, env)
        for _ in range(rounds):
            times["python"].append(time_to_exit(bare, env))
            times["help"].append(time_to_exit(help_cmd, env))
            times["ask_first_token"].append(time_to_first_byte(ask_cmd, env))

        med = {name: statistics.median(values) for name, values in times.items()}
        return {
            "rounds": rounds,
            "ready_s": {name: statistics.median(values) for name, values in ready.items()},
            "ready_over_bare": paired_ratios(ready, "bare Textual app"),
            "median_s": med,
            "help_over_python": paired_ratios(times, "python")["help"],
            "ask_first_token_over_python": paired_ratios(times, "python")["ask_first_token"],
            "phases_s": {
                "bare Textual app": phases("", env, rounds),
                "openai profile": phases(remote, env, rounds),
                "embedded default": phases(None, env, rounds),
            },
            "first_frame_imports": {
                "openai profile": first_frame_imports(remote, env),
                "embedded default": first_frame_imports(None, env),
            },
            "help_imports": imported(
                "import sys\nsys.argv=['genchat','--help']\nfrom genchat.cli import run\n"
                "try:\n    run()\nexcept SystemExit:\n    pass",
                env,
            ),
            "ask_imports": imported(
                "import sys\nsys.argv=['genchat','ask','Hi','--max-tokens','1']\n"
                "from genchat.cli import run\nrun()",
                env,
            ),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    print(json.dumps(measure(parser.parse_args().rounds), indent=2))
