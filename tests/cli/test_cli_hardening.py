"""The command line under bad conditions: odd input, output that cannot be written, a plugin
that exits, mistakes found before anything is sent. Each ends in one clear line, the right
exit code, and nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.app import App

from genchat.cli.exits import EXIT_BACKEND, EXIT_BROKEN_PIPE, EXIT_USAGE
from genchat.cli.runner import run_app
from tests.support.fault_server import FaultServer
from tests.support.helpers import run_genchat, run_in_process
from tests.support.pilot import scripted_profile

SCRIPTED = {"GENCHAT_PLUGINS": "scripted"}


def start_genchat(*args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    """`python -m genchat ARGS` with the test environment, its pipes as the caller says."""
    return subprocess.Popen(
        [sys.executable, "-m", "genchat", *args],
        env={**os.environ, **SCRIPTED},
        **kwargs,  # type: ignore[call-overload]
    )


def exported(conversation: int = 1) -> dict[str, object]:
    result = run_in_process("export", str(conversation), "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def saved_conversations() -> str:
    result = run_in_process("history")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def scripted(test_plugins: str, config_file: Path) -> Path:
    config_file.write_text(
        scripted_profile("scripted")
        + scripted_profile("echo", echo=True)
        + scripted_profile("exits", exit_after=2)
        + scripted_profile("slow", chunks=["word "] * 400, delay_s=0.01)
    )
    return config_file


def test_a_prompt_that_is_not_utf8_is_read_with_each_bad_byte_replaced(scripted: Path) -> None:
    process = start_genchat("ask", "-m", "echo", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)  # fmt: skip
    out, err = process.communicate(b"caf\xe9", timeout=120)
    assert process.returncode == 0, err
    assert "last='caf\ufffd'" in out.decode()
    assert "not valid UTF-8" in err.decode()
    assert "Traceback" not in err.decode()
    assert "caf\ufffd" in json.dumps(exported(), ensure_ascii=False)


def test_an_export_to_a_path_that_cannot_be_written_is_one_line(
    scripted: Path, tmp_path: Path
) -> None:
    assert run_in_process("ask", "-m", "scripted", "hi", env=SCRIPTED).returncode == 0
    for target, reason in [
        (tmp_path / "no" / "such" / "dir" / "x.md", "No such file or directory"),
        (tmp_path, "Is a directory"),
    ]:
        result = run_in_process("export", "1", "-o", str(target))
        assert result.returncode == EXIT_USAGE
        assert result.stderr.startswith("genchat: ")
        assert f"cannot write {target}: {reason}" in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_history_into_a_reader_that_went_away_exits_quietly(scripted: Path) -> None:
    for _ in range(3):
        assert run_genchat("ask", "-m", "scripted", "hi", env=SCRIPTED).returncode == 0
    process = start_genchat("history", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # `| head -0`: the reader is gone before the first line
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_BROKEN_PIPE
    assert err == b""


def test_ask_into_a_reader_that_went_away_keeps_what_was_written(scripted: Path) -> None:
    """`genchat ask … | head -c 10`: no async-generator noise, and the text is saved."""
    process = start_genchat(
        "ask", "-m", "slow", "talk", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    head = process.stdout.read(10)
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_BROKEN_PIPE, err
    assert err == b""
    reply = exported()["messages"][-1]  # type: ignore[index]
    assert reply["content"].startswith(head.decode())


def test_ask_with_stdout_closed_says_so(scripted: Path) -> None:
    result = subprocess.run(
        f"exec {sys.executable} -m genchat ask -m scripted hi >&-",
        shell=True,
        capture_output=True,
        text=True,
        env={**os.environ, **SCRIPTED},
        timeout=120,
    )
    assert result.returncode == EXIT_BACKEND
    assert result.stderr == "genchat: error: standard output is closed; nothing could be shown\n"


def test_ask_onto_a_full_disk_says_so_and_keeps_the_reply(scripted: Path) -> None:
    with open("/dev/full", "wb") as full:
        process = start_genchat("ask", "-m", "scripted", "hi", stdout=full, stderr=subprocess.PIPE)
        _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_BACKEND
    assert err.decode() == "genchat: error: cannot write the output: No space left on device\n"
    assert "hi" in saved_conversations()


def test_a_plugin_that_calls_sys_exit_mid_reply_costs_only_its_reply(scripted: Path) -> None:
    result = run_genchat("ask", "-m", "exits", "hi", env=SCRIPTED)
    assert result.returncode == EXIT_BACKEND
    assert result.stdout == "Hello, \n"
    assert "Plugin failed: The scripted backend (from plugin scripted) failed: SystemExit" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("adapter", "says"),
    [
        ("tdlr", "has no adapter 'tdlr'"),
        ("tldr*half", "is not `ADAPTER` or `ADAPTER*WEIGHT` (a number)"),
        ("tldr+nope*0.5", "has no adapter 'nope'"),
    ],
)
def test_an_adapter_mistake_is_a_usage_error_and_saves_nothing(adapter: str, says: str) -> None:
    result = run_in_process("ask", "-m", "smollm2-lora-q4", "--adapter", adapter, "hi")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert says in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert saved_conversations() == ""


def test_an_unknown_profile_is_a_usage_error_and_saves_nothing() -> None:
    result = run_in_process("ask", "-m", "no-such-profile", "hi")
    assert result.returncode == EXIT_USAGE
    assert saved_conversations() == ""


def test_the_log_holds_a_plugins_failure_cleaned_with_its_traceback(
    test_plugins: str, config_file: Path, tmp_path: Path
) -> None:
    config_file.write_text(
        scripted_profile("buggy", crash_after=1, chunks=["a\x1b]2;PWNED\x07b", "c"])
    )
    log = tmp_path / "genchat.log"
    result = run_in_process("ask", "-m", "buggy", "--log", str(log), "--log-level", "debug", "hi",
                         env=SCRIPTED)  # fmt: skip
    assert result.returncode == EXIT_BACKEND
    text = log.read_text(encoding="utf-8")
    assert "genchat logging at debug level" in text
    assert "ERROR   genchat.reply: Plugin failed" in text
    assert "RuntimeError: the scripted plugin has a bug" in text  # the traceback is kept
    assert "\x1b" not in text and "PWNED" not in text


def test_the_log_from_the_environment_and_a_bad_level(
    test_plugins: str, config_file: Path, tmp_path: Path
) -> None:
    config_file.write_text(scripted_profile("failing", fail_after=1))
    log = tmp_path / "env.log"
    result = run_in_process("ask", "-m", "failing", "hi", env={**SCRIPTED, "GENCHAT_LOG": str(log)})
    assert result.returncode == EXIT_BACKEND
    assert "WARNING genchat.reply: scripted reply failed: Backend unavailable" in log.read_text()
    bad = run_in_process("ask", "hi", env={"GENCHAT_LOG": str(log), "GENCHAT_LOG_LEVEL": "loud"})
    assert bad.returncode == EXIT_USAGE
    assert bad.stderr == ("genchat: log level 'loud' is not one of debug, info, warning, error\n")


def test_a_key_in_an_error_never_reaches_the_log(
    faults: FaultServer, config_file: Path, tmp_path: Path
) -> None:
    secret = "sk-log-test-0123456789abcdef"
    config_file.write_text(
        '[profiles.remote]\nbackend = "openai"\napi_key_env = "LOG_TEST_KEY"\n'
        f'base_url = "{faults.base_url("status-401")}"\nmodel = "fault-model"\nretries = 0\n'
    )
    log = tmp_path / "keys.log"
    result = run_in_process("ask", "-m", "remote", "--log", str(log), "hi",
                         env={"LOG_TEST_KEY": secret})  # fmt: skip
    assert result.returncode == EXIT_BACKEND
    assert "Authentication failed" in log.read_text()
    assert "incorrect API key provided: [redacted]" in log.read_text()  # quoted, and redacted
    assert secret not in log.read_text()
    assert secret not in result.stderr


class _Crashes(App[None]):
    def on_mount(self) -> None:
        raise RuntimeError("a bug in the app")


def test_an_app_that_crashes_never_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(_Crashes(), headless=True) == EXIT_BACKEND
    assert "a bug in the app" in capsys.readouterr().err
