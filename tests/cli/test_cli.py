"""The inspect commands, --version and --help, as a user runs them."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import genchat
from genchat.cli.parser import COMMANDS, build_parser
from tests.support.helpers import DEADLINE_S, run_in_process


def test_version() -> None:
    result = run_in_process("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"genchat {genchat.__version__}"


def test_help_lists_commands_and_environment() -> None:
    result = run_in_process("--help")
    assert result.returncode == 0
    for word in ("ask", "models", "plugins", "config", "GENCHAT_CONFIG", "GENCHAT_PLUGINS", "130"):
        assert word in result.stdout
    ask_help = run_in_process("ask", "--help").stdout
    for flag in ("--model", "--system", "--temperature", "--max-tokens", "--seed", "--json"):
        assert flag in ask_help


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["-m", "remote", "--continue"],
        ["--no-plugins", "ask", "-m", "remote", "--max-tokens", "3", "hi"],
        ["ask", "history"],  # a prompt that names a command
        ["--log", "ask", "history"],  # an option's value that names one
        ["leaderboard", "--tag", "coding", "--min-votes", "1"],
        ["config", "check", "--no-plugins"],
        ["export", "3", "--format", "json"],
    ],
)
def test_the_parser_builds_only_the_named_commands_and_parses_as_the_whole_one(
    argv: list[str],
) -> None:
    assert build_parser(argv).parse_args(argv) == build_parser().parse_args(argv)


def test_a_command_left_unbuilt_is_listed_with_its_help() -> None:
    listing = build_parser([]).format_help()
    for name, command in COMMANDS.items():
        assert f"{name} " in listing and command.help.split()[0] in listing
    assert build_parser([]).format_help() == build_parser().format_help()


def test_models_lists_profiles_with_their_models(config_file: Path, tmp_path: Path) -> None:
    config_file.write_text(
        f'[profiles.gone]\nbackend = "llama-cpp"\npath = "{tmp_path / "gone.gguf"}"\n'
        '[profiles.broken]\nbackend = "llama-cpp"\n'
    )
    result = run_in_process("models")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "smollm2 (default)  backend: llama-cpp" in out
    assert "SmolLM2-135M-Instruct.Q4_1 *" in out and "context 8192" in out and "Q4_1" in out
    assert "gone  [broken]" in out and "profiles.gone.path: " in out and "does not exist" in out
    assert "broken  [broken]" in out and "profiles.broken.path: required" in out


def test_genchat_with_an_unknown_profile_exits_2_naming_it() -> None:
    result = run_in_process("-m", "nope")
    assert result.returncode == 2
    assert "there is no profile 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_bare_genchat_opens_the_chat_screen_on_a_terminal_and_quits_with_ctrl_q() -> None:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "genchat"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + DEADLINE_S
    while b"smollm2" not in screen and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            screen += os.read(leader, 65536)
    assert b"smollm2" in screen, screen[-2000:]
    os.write(leader, b"\x11")  # ctrl+q
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                os.read(leader, 65536)
            if proc.poll() is not None:
                break
    except OSError:
        pass
    assert proc.wait(timeout=30) == 0
    os.close(leader)
