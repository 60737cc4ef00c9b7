"""`genchat ask` as a user runs it: a subprocess, with real output, exit codes and signals."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.helpers import DEADLINE_S, run_genchat, run_in_process

GREEDY = ("--temperature", "0", "--max-tokens", "8")


def test_ask_streams_the_embedded_model_reply_to_stdout() -> None:
    result = run_in_process("ask", "What is the capital of France?", *GREEDY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stdout.endswith("\n")
    assert result.stderr == ""


def test_ask_reads_the_prompt_from_stdin() -> None:
    piped = run_in_process("ask", *GREEDY, input="What is the capital of France?\n")
    argument = run_in_process("ask", "What is the capital of France?", *GREEDY)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == argument.stdout


def test_ask_json_gives_text_metrics_and_finish_reason() -> None:
    result = run_in_process("ask", "Hello", "--json", "--max-tokens", "3", "--seed", "7")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["text"]
    assert data["finish_reason"] == "length"
    assert data["profile"] == "smollm2"
    assert data["backend"] == "llama-cpp"
    assert data["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert data["adapter"] is None and data["params"] == {"max_tokens": 3, "seed": 7}
    metrics = data["metrics"]
    assert metrics["completion_tokens"] == 3 and metrics["tokens_approximate"] is False
    assert metrics["prompt_tokens"] > 5
    assert metrics["ttft_s"] is not None and metrics["load_s"] >= 0
    assert data["error"] is None


def test_the_embedded_profile_is_capped_and_its_repeat_penalty_ends_a_loop(
    config_file: Path,
) -> None:
    """The built-in profile caps a reply at 512 tokens, and its repeat penalty reaches
    llama.cpp: asked greedily, the 135M model repeats itself until any cap without it."""
    question = ("What is the capital of France?", "--json", "--temperature", "0", "--no-save")
    capped = json.loads(run_in_process("ask", *question).stdout)
    assert capped["params"] == {"temperature": 0.0, "max_tokens": 512}
    assert capped["finish_reason"] == "stop"
    config_file.write_text("[profiles.smollm2]\nrepeat_penalty = 1.0\n")
    looping = json.loads(run_in_process("ask", *question, "--max-tokens", "120").stdout)
    assert looping["finish_reason"] == "length"  # the same words, over and over
    assert capped["metrics"]["completion_tokens"] < 120


def test_the_origin_printed_is_the_one_the_history_saves() -> None:
    """Where a reply came from is one record: `--json` prints what the history keeps."""
    result = run_in_process(
        "ask", "-m", "smollm2-lora-q4", "--adapter", "tldr", "--json", "--max-tokens", "2", "Hi"
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["profile"] == "smollm2-lora-q4" and printed["adapter"] == "tldr"
    exported = json.loads(run_in_process("export", "1", "--format", "json").stdout)
    saved = exported["messages"][-1]["genchat"]
    for key in ("profile", "backend", "model", "adapter", "params"):
        assert saved[key] == printed[key], key


def test_system_prompt_reaches_the_model() -> None:
    plain = json.loads(run_in_process("ask", "Hi", "--json", "--max-tokens", "1").stdout)
    system = json.loads(
        run_in_process(
            "ask", "Hi", "--json", "--max-tokens", "1", "--system", "You are a pirate who rhymes."
        ).stdout
    )
    assert plain["metrics"]["prompt_tokens"] != system["metrics"]["prompt_tokens"]


def test_profile_params_are_defaults_that_flags_override(config_file: Path) -> None:
    config_file.write_text("[profiles.smollm2.params]\nmax_tokens = 2\ntemperature = 0.0\n")
    data = json.loads(run_in_process("ask", "Hi", "--json").stdout)
    assert data["params"] == {"max_tokens": 2, "temperature": 0.0}
    data = json.loads(run_in_process("ask", "Hi", "--json", "--max-tokens", "1").stdout)
    assert data["params"] == {"max_tokens": 1, "temperature": 0.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ask", "-m", "nope", "hi"), "there is no profile 'nope'"),
        (("ask",), "no prompt"),
        (("ask", "hi", "--temperature", "5"), "--temperature must be between 0 and 2"),
        (("ask", "hi", "--max-tokens", "0"), "--max-tokens must be at least 1"),
        (("ask", "hi", "--bogus"), "unrecognized arguments: --bogus"),
        (("nosuchcommand",), "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = run_in_process(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_config_exits_2_naming_file_and_line(config_file: Path) -> None:
    config_file.write_text("[profiles.smollm2\n")
    result = run_in_process("ask", "hi")
    assert result.returncode == 2
    assert str(config_file) in result.stderr and "line 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_option_type_exits_2_naming_the_key(config_file: Path) -> None:
    config_file.write_text('[profiles.smollm2]\nn_threads = "two"\n')
    result = run_in_process("ask", "hi")
    assert result.returncode == 2
    assert "profiles.smollm2.n_threads" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_backend_exits_2(config_file: Path) -> None:
    config_file.write_text('default_profile = "x"\n[profiles.x]\nbackend = "gpt4all"\n')
    result = run_in_process("ask", "hi")
    assert result.returncode == 2
    assert "profiles.x.backend: unknown backend 'gpt4all'" in result.stderr


def test_a_missing_model_file_is_a_config_error_that_names_the_key(
    config_file: Path, tmp_path: Path
) -> None:
    config_file.write_text(f'[profiles.smollm2]\npath = "{tmp_path / "gone.gguf"}"\n')
    result = run_in_process("ask", "hi")
    assert result.returncode == 2
    assert f"profiles.smollm2.path: {tmp_path / 'gone.gguf'} does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_file_that_is_not_a_model_exits_1(config_file: Path, tmp_path: Path) -> None:
    fake = tmp_path / "notes.gguf"
    fake.write_text("shopping list")
    config_file.write_text(f'[profiles.smollm2]\npath = "{fake}"\n')
    result = run_in_process("ask", "hi")
    assert result.returncode == 1
    assert "Model failed to load" in result.stderr and "not a GGUF file" in result.stderr


def test_an_enormous_prompt_on_stdin_is_a_clear_context_overflow() -> None:
    prompt = "All work and no play makes a dull model. " * 25_000  # about 1 MB
    assert len(prompt) > 1_000_000
    result = run_in_process("ask", "--max-tokens", "4", input=prompt)
    assert result.returncode == 1
    assert result.stderr.startswith("genchat: error: Prompt too long: ")
    assert "n_ctx" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_a_failing_backend_with_json_still_prints_the_partial_reply(
    test_plugins: str, config_file: Path
) -> None:
    config_file.write_text('[profiles.flaky]\nbackend = "scripted"\nfail_after = 2\n')
    result = run_in_process(
        "ask", "-m", "flaky", "hi", "--json", env={"GENCHAT_PLUGINS": "scripted"}
    )
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["text"] == "Hello, "
    assert data["error"]["type"] == "BackendUnavailable"
    assert data["error"]["title"] == "Backend unavailable"
    assert "Start it again" in data["error"]["message"]


def _start(args: list[str], config_file: Path, config: str) -> subprocess.Popen[str]:
    """genchat ARGS as a terminal starts it, with Ctrl+C's SIGINT at its default disposition:
    a test run started in the background (`nohup`, `&` in a script) ignores SIGINT, and a child
    inherits that, so that Python would never turn SIGINT into KeyboardInterrupt."""
    config_file.write_text(config)
    return subprocess.Popen(
        [sys.executable, "-m", "genchat", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GENCHAT_PLUGINS": "scripted"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_line(proc: subprocess.Popen[str], marker: str) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if marker in line:
            return
        if not line and proc.poll() is not None:
            break
    pytest.fail(f"never saw {marker!r}")


@pytest.mark.parametrize(
    ("options", "marker"),
    [("load_s = 60.0", "SCRIPTED-LOADING"), ("delay_s = 0.5", "SCRIPTED-STREAMING")],
    ids=["during-load", "during-stream"],
)
def test_ctrl_c_exits_130_without_traceback(
    test_plugins: str, config_file: Path, options: str, marker: str
) -> None:
    config = f'[profiles.slow]\nbackend = "scripted"\nannounce = true\n{options}\n'
    proc = _start(["ask", "-m", "slow", "hi"], config_file, config)
    _wait_for_line(proc, marker)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err


def test_ctrl_c_during_a_real_llama_cpp_stream_exits_130(config_file: Path) -> None:
    proc = _start(
        ["ask", "Write a very long essay about the sea.", "--max-tokens", "2000"],
        config_file,
        "",
    )
    assert proc.stdout is not None
    assert proc.stdout.read(1)  # the reply has started
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 130
    assert "Traceback" not in err


def _run_on_a_terminal(args: list[str]) -> bytes:
    """Run genchat with stdout on a pseudo-terminal, and return what reached the terminal."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "genchat", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**os.environ, "GENCHAT_PLUGINS": "scripted"},
    )
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        output += chunk
    proc.wait(timeout=30)
    os.close(leader)
    assert proc.returncode == 0
    return output


HOSTILE_CHUNKS = [
    "Safe \x1b[2J",  # clear the screen
    "text\x1b]0;pwned\x07 ",  # set the window title
    "\x1b]52;c;aGk=\x1b",  # write the clipboard, split across two chunks
    "\\ here\x1b[3",
    "1m.\x9b",  # a C1 control sequence introducer
    "K\r\nEnd",
]
HOSTILE = f"chunks = {json.dumps(HOSTILE_CHUNKS)}\n"


def test_control_sequences_are_neutralised_on_a_terminal(
    test_plugins: str, config_file: Path
) -> None:
    config_file.write_text(f'[profiles.hostile]\nbackend = "scripted"\n{HOSTILE}')
    output = _run_on_a_terminal(["ask", "-m", "hostile", "hi"])
    assert b"\x1b" not in output and "\x9b".encode() not in output
    assert output.replace(b"\r\n", b"\n") == b"Safe text  here.\nEnd\n"


def test_output_to_a_pipe_and_the_history_are_cleaned_too(
    test_plugins: str, config_file: Path
) -> None:
    """A file written from a pipe is later shown on a terminal, and the history is drawn by
    the TUI: a reply is cleaned as it arrives, whatever reads it."""
    config_file.write_text(f'[profiles.hostile]\nbackend = "scripted"\n{HOSTILE}')
    result = run_genchat("ask", "-m", "hostile", "hi", env={"GENCHAT_PLUGINS": "scripted"})
    assert result.stdout == "Safe text  here.\nEnd\n"
    exported = run_genchat("export", "1", "--format", "json")
    assert json.loads(exported.stdout)["messages"][-1]["content"] == "Safe text  here.\nEnd"
