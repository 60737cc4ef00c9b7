"""Start-up: `genchat --help`, and `genchat ask` up to its first token, against bare Python.

Each command runs in a fresh process, alternating with a bare `python -c pass`, so that the
ratios are measured side by side. Also reports which heavy libraries each command imports.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

PYTHON = sys.executable
HEAVY = ("textual", "torch", "transformers", "llama_cpp", "numpy", "pydantic", "pluggy", "httpx")


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


FIRST_SCREEN = """
from genchat.tui.app import make_app
from genchat.tui.screens.chat import ChatScreen

async def first_screen(pilot):
    while not isinstance(pilot.app.screen, ChatScreen):
        await pilot.pause(0.01)
    await pilot.pause()  # one refresh: the screen is drawn
    pilot.app.exit()

make_app().run(headless=True, size=(100, 30), auto_pilot=first_screen)
"""


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


def measure(rounds: int = 9) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "GENCHAT_CONFIG": os.path.join(home, "config.toml"),
            "GENCHAT_DATA_DIR": os.path.join(home, "data"),  # the asks are saved: not the user's
            "GENCHAT_PLUGINS": "",
        }
        bare = [PYTHON, "-c", "pass"]
        help_cmd = [PYTHON, "-m", "genchat", "--help"]
        ask_cmd = [PYTHON, "-m", "genchat", "ask", "Hi", "--max-tokens", "4", "--temperature", "0"]
        screen_cmd = [PYTHON, "-c", FIRST_SCREEN]
        times: dict[str, list[float]] = {
            "python": [],
            "help": [],
            "first_screen": [],
            "ask_first_token": [],
        }
        time_to_first_byte(ask_cmd, env)  # warm the page cache
        for _ in range(rounds):
            times["python"].append(time_to_exit(bare, env))
            times["help"].append(time_to_exit(help_cmd, env))
            times["first_screen"].append(time_to_exit(screen_cmd, env))
            times["ask_first_token"].append(time_to_first_byte(ask_cmd, env))
        med = {name: statistics.median(values) for name, values in times.items()}
        help_imports = imported(
            "import sys\nsys.argv=['genchat','--help']\nfrom genchat.cli import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass",
            env,
        )
        ask_imports = imported(
            "import sys\nsys.argv=['genchat','ask','Hi','--max-tokens','1']\n"
            "from genchat.cli import run\nrun()",
            env,
        )
    return {
        "rounds": rounds,
        "median_s": med,
        "help_over_python": med["help"] / med["python"],
        "first_screen_over_python": med["first_screen"] / med["python"],
        "ask_first_token_over_python": med["ask_first_token"] / med["python"],
        "help_imports": help_imports,
        "ask_imports": ask_imports,
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
