"""The remote backends against servers that are wrong or hostile: where keys may go, redirects,
secrets in errors, streams that never end, and failures that must name their real cause.

Every server here is real and on this machine: the project's fault server
(tests/support/fault_server.py) records the headers it receives, and a second one on another
port stands in for a stranger's host that a redirect points at.

Why one file: the cases share the fault server's record of what it received and the secrets every
output is searched for.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from genchat import ChatRequest
from genchat.backends.remote.anthropic import AnthropicOptions
from genchat.backends.remote.base import RemoteBackend, is_this_machine
from genchat.backends.remote.decoding import MAX_CHARS_WITHOUT_EVENT
from genchat.backends.remote.http import MAX_LINE_CHARS, LineSplitter, LineTooLong
from genchat.backends.remote.openai import OpenAIOptions
from genchat.chat import Notice
from genchat.errors import BackendError, PluginFailed, ProtocolError
from genchat.reply import Reply
from genchat.untrusted import forget_secrets, redact
from tests.support.backend_contract import collect, text_of
from tests.support.fault_server import (
    ESCAPE_IDS,
    GARBAGE_LIMIT,
    LONG_LINE_CHARS,
    PARTIAL,
    TEXT,
    TOKENS,
    FaultServer,
)
from tests.support.helpers import run_in_process
from tests.support.remote import APIS, SECRET, hello, remote

KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
HEADER_SECRET = "team-token-9f8e7d6c5b4a"
"""A token in a profile's own `headers`: as secret as the key."""


@pytest.fixture(autouse=True)
def no_secrets_yet() -> Iterator[None]:
    """Each test starts with no registered secret, so that it sees what its own backend
    registers."""
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture(scope="module")
def stranger() -> Iterator[FaultServer]:
    """A second server, on another port: another origin, which records what reaches it."""
    server = FaultServer().start()
    yield server
    server.stop()


async def failure(backend: RemoteBackend, request: ChatRequest | None = None) -> BackendError:
    """The error a reply from `backend` ends with (through `Reply`, as every caller streams)."""
    reply = Reply(backend, request or hello())
    try:
        with pytest.raises(BackendError) as info:
            async for _ in reply.stream():
                pass
    finally:
        await backend.aclose()
    return info.value


def reached(server: FaultServer, scenario: str) -> list[dict[str, str]]:
    """The headers of every request `server` got for `scenario`."""
    return [r.headers for r in server.requests if r.scenario == scenario]


# -- item 2: a default key goes only to its own host -----------------------------------------


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_the_default_key_is_not_sent_to_another_host(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    monkeypatch.setenv(KEY_VARIABLES[api], SECRET)
    scenario = faults.fresh("ok")
    backend = remote(api, faults.base_url(scenario, api))
    events = await collect(backend, hello())
    await backend.aclose()
    assert text_of(events) == TEXT
    (headers,) = reached(faults, scenario)
    assert "authorization" not in headers and "x-api-key" not in headers
    assert SECRET not in json.dumps(headers)


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_a_named_api_key_env_sends_the_key_to_any_host(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    variable = KEY_VARIABLES[api]
    monkeypatch.setenv(variable, SECRET)
    scenario = faults.fresh("ok")
    backend = remote(api, faults.base_url(scenario, api), api_key_env=variable)
    events = await collect(backend, hello())
    await backend.aclose()
    assert not [e for e in events if isinstance(e, Notice)]  # named: nothing to say
    (headers,) = reached(faults, scenario)
    sent = headers["authorization"] if api == "openai" else "Bearer " + headers["x-api-key"]
    assert sent == f"Bearer {SECRET}"


def test_the_default_key_goes_to_its_own_host_over_https_only() -> None:
    environ = {"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET}
    assert OpenAIOptions().key_plan(environ).key == SECRET
    assert AnthropicOptions().key_plan(environ).key == SECRET
    for options in (
        OpenAIOptions(base_url="http://api.openai.com/v1"),  # not over plain http
        OpenAIOptions(base_url="https://openrouter.ai/api/v1"),
        OpenAIOptions(base_url="https://api.openai.com.evil.example/v1"),
        OpenAIOptions(base_url="https://me.openai.azure.com/openai"),
        AnthropicOptions(base_url="https://proxy.example/anthropic"),
    ):
        plan = options.key_plan(environ)
        assert plan.key is None and plan.env is None, options.base_url
        assert plan.withheld in environ


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_a_profile_left_without_its_key_says_so_once_on_first_use(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    variable = KEY_VARIABLES[api]
    monkeypatch.setenv(variable, SECRET)
    backend = remote(api, faults.base_url("ok", api))
    first, second = await collect(backend, hello()), await collect(backend, hello())
    await backend.aclose()
    (notice,) = [e for e in first if isinstance(e, Notice)]
    assert f"{variable} is not sent to" in notice.text
    assert f'api_key_env = "{variable}"' in notice.text
    assert not [e for e in second if isinstance(e, Notice)]


async def test_a_refused_request_without_the_withheld_key_says_how_to_send_it(
    faults: FaultServer,
) -> None:
    error = await failure(remote("openai", faults.base_url("status-401"), retries=0))
    assert "OPENAI_API_KEY goes only to https://api.openai.com" in error.message
    assert 'api_key_env = "OPENAI_API_KEY"' in error.message


def test_config_check_names_every_profile_left_without_its_key(config_file: Path) -> None:
    config_file.write_text(
        '[profiles.proxy]\nbackend = "openai"\nbase_url = "https://llm-proxy.example/v1"\n'
        '[profiles.azure]\nbackend = "openai"\nbase_url = "https://me.openai.azure.com/openai"\n'
        '[profiles.router]\nbackend = "openai"\nbase_url = "https://openrouter.ai/api/v1"\n'
        '[profiles.lan]\nbackend = "openai"\nbase_url = "http://127.0.0.1:8000/v1"\n'
        '[profiles.claude-proxy]\nbackend = "anthropic"\nbase_url = "https://gw.example"\n'
        '[profiles.official]\nbackend = "openai"\n'
        '[profiles.named]\nbackend = "openai"\nbase_url = "https://openrouter.ai/api/v1"\n'
        'api_key_env = "OPENAI_API_KEY"\n'
        '[profiles.keyless]\nbackend = "openai"\nbase_url = "http://127.0.0.1:8001/v1"\n'
        'api_key_env = ""\n'
    )
    env = {"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET}
    result = run_in_process("config", "check", env=env)
    assert result.returncode == 0, result.stderr
    warned = {
        line.split("profiles.", 1)[1].split(":", 1)[0]
        for line in result.stderr.splitlines()
        if "is not sent to" in line
    }
    assert warned == {"proxy", "azure", "router", "lan", "claude-proxy"}
    assert 'add api_key_env = "OPENAI_API_KEY"' in result.stderr
    assert 'add api_key_env = "ANTHROPIC_API_KEY"' in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_genchat_ask_notes_the_withheld_key_before_the_reply(
    faults: FaultServer, config_file: Path
) -> None:
    config_file.write_text(
        f'[profiles.lan]\nbackend = "openai"\nbase_url = "{faults.base_url("ok")}"\n'
        'model = "fault-model"\n'
    )
    result = run_in_process("ask", "-m", "lan", "hi", env={"OPENAI_API_KEY": SECRET})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == TEXT
    notes = [line for line in result.stderr.splitlines() if "is not sent to" in line]
    assert len(notes) == 1 and notes[0].startswith("genchat: note: OPENAI_API_KEY")


# -- item 17: a key over plain http to another machine -------------------------------------


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True), ("127.5.6.7", True), ("::1", True), ("[::1]", True),
        ("localhost", True), ("LocalHost", True), ("api.localhost", True),
        ("192.168.1.20", False), ("10.0.0.1", False), ("example.com", False),
        ("127.0.0.1.example.com", False), ("::ffff:10.0.0.1", False),
    ],
)  # fmt: skip
def test_this_machine_is_loopback_and_localhost_only(host: str, local: bool) -> None:
    assert is_this_machine(host) is local


def test_config_check_warns_of_a_key_over_plain_http_to_another_machine(
    config_file: Path,
) -> None:
    config_file.write_text(
        '[profiles.lan-vllm]\nbackend = "openai"\nbase_url = "http://192.168.1.20:8000/v1"\n'
        'api_key_env = "VLLM_KEY"\n'
        '[profiles.lan-header]\nbackend = "ollama"\nbase_url = "http://gpu-box:11434"\n'
        'headers = { Authorization = "Bearer team-token-9f8e7d6c5b4a" }\n'
        '[profiles.here]\nbackend = "openai"\nbase_url = "http://localhost:8000/v1"\n'
        'api_key_env = "VLLM_KEY"\n'
        '[profiles.tls]\nbackend = "openai"\nbase_url = "https://gpu-box/v1"\n'
        'api_key_env = "VLLM_KEY"\n'
        '[profiles.unset]\nbackend = "openai"\nbase_url = "http://192.168.1.21/v1"\n'
        'api_key_env = "GENCHAT_NO_SUCH_KEY"\n'
    )
    result = run_in_process("config", "check", env={"VLLM_KEY": SECRET})
    assert result.returncode == 0, result.stderr
    plain = [line for line in result.stderr.splitlines() if "plain http" in line]
    assert len(plain) == 2, result.stderr
    assert "profiles.lan-vllm: The key in VLLM_KEY goes over plain http to 192.168.1.20" in (
        plain[0] + plain[1]
    )
    assert "profiles.lan-header: The Authorization header goes over plain http to gpu-box" in (
        plain[0] + plain[1]
    )
    assert SECRET not in result.stderr and HEADER_SECRET not in result.stderr


def test_genchat_ask_warns_of_a_key_over_plain_http_before_sending(config_file: Path) -> None:
    # .invalid never resolves: the warning comes before any connection is tried.
    config_file.write_text(
        '[profiles.far]\nbackend = "openai"\nbase_url = "http://genchat-test.invalid/v1"\n'
        'model = "m"\napi_key_env = "FAR_KEY"\nretries = 0\n'
    )
    result = run_in_process("ask", "-m", "far", "hi", env={"FAR_KEY": SECRET})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    warning = [line for line in lines if "plain http" in line]
    assert len(warning) == 1 and warning[0].startswith("genchat: note: The key in FAR_KEY")
    assert lines.index(warning[0]) < next(i for i, line in enumerate(lines) if "error" in line)
    assert SECRET not in result.stderr


# -- item 3: redirects ----------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_a_redirect_to_another_origin_is_refused_and_nothing_reaches_it(
    faults: FaultServer, stranger: FaultServer, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    variable = KEY_VARIABLES.get(api, "OLLAMA_KEY")
    monkeypatch.setenv(variable, SECRET)
    before = len(stranger.requests)
    backend = remote(
        api,
        faults.base_url(f"redirect-{stranger.port}", api),
        api_key_env=variable,
        headers={"X-Team-Token": HEADER_SECRET},
        retries=0,
    )
    error = await failure(backend)
    assert error.title == "Redirected elsewhere"
    assert f"127.0.0.1:{stranger.port}" in error.message and "set base_url to it" in error.message
    listing = remote(api, faults.base_url(f"redirect-{stranger.port}", api), api_key_env=variable)
    with pytest.raises(BackendError, match="genchat follows redirects only within"):
        await listing.list_models()
    await listing.aclose()
    assert stranger.requests[before:] == []  # neither the key, nor the header, nor the prompt


@pytest.mark.parametrize("api", APIS)
async def test_a_redirect_within_the_origin_is_followed_with_the_key(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    variable = KEY_VARIABLES.get(api, "OLLAMA_KEY")
    monkeypatch.setenv(variable, SECRET)
    before = len(faults.requests)
    backend = remote(api, faults.base_url(f"redirect-{faults.port}", api), api_key_env=variable)
    events = await collect(backend, hello())
    models = await backend.list_models()
    await backend.aclose()
    assert text_of(events) == TEXT and models
    landed = [r for r in faults.requests[before:] if r.scenario == "ok"]
    assert len(landed) == 2
    for request in landed:
        assert SECRET in request.headers.get("authorization", request.headers.get("x-api-key"))


async def test_a_redirect_loop_ends_with_a_clear_error(faults: FaultServer) -> None:
    error = await failure(remote("openai", faults.base_url("redirect-loop"), retries=0))
    assert error.title == "Too many redirects" and not isinstance(error, PluginFailed)
    assert "redirected /chat/completions more than 10 times" in error.message


# -- item 7: secrets in errors ----------------------------------------------------------------


async def test_every_secret_a_backend_sends_is_redacted_once_its_endpoint_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    backend = remote(
        "anthropic",
        "https://api.anthropic.com",
        headers={"X-Team-Token": HEADER_SECRET, "Authorization": "Bearer bearer-token-1a2b3c4d"},
    )
    text = f"{SECRET} {HEADER_SECRET} bearer-token-1a2b3c4d"
    assert redact(text) == text  # nothing is registered before the endpoint is made
    assert backend.endpoint.headers["x-api-key"] == SECRET
    assert redact(text) == "[redacted] [redacted] [redacted]"
    assert "2023-06-01" in redact("anthropic-version 2023-06-01")  # not a secret
    await backend.aclose()


@pytest.mark.parametrize("api", APIS)
async def test_an_error_event_quoting_the_key_is_redacted(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    variable = KEY_VARIABLES.get(api, "OLLAMA_KEY")
    monkeypatch.setenv(variable, SECRET)
    backend = remote(api, faults.base_url("error-key", api), api_key_env=variable)
    error = await failure(backend)
    assert "[redacted] is over its quota" in error.message
    assert SECRET not in error.message + error.one_line()


def test_a_key_quoted_mid_stream_reaches_no_output_history_or_export(
    faults: FaultServer, config_file: Path, tmp_path: Path
) -> None:
    config_file.write_text(
        f'[profiles.remote]\nbackend = "openai"\nbase_url = "{faults.base_url("error-key")}"\n'
        'model = "fault-model"\napi_key_env = "MY_KEY"\n'
    )
    env = {"MY_KEY": SECRET}
    asked = run_in_process("ask", "-m", "remote", "hi", env=env)
    assert asked.returncode == 1
    assert "[redacted] is over its quota" in asked.stderr
    assert asked.stdout.startswith("".join(TOKENS[:PARTIAL]))  # the text so far is kept
    exports = [run_in_process("export", "1", "--format", f, env=env) for f in ("md", "json")]
    for result in exports:
        assert result.returncode == 0, result.stderr
        assert "is over its quota" in result.stdout
    for output in [asked, *exports]:
        assert SECRET not in output.stdout + output.stderr
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("bad", ["\n", "\r\n", "\r", "\t", "\x1b", "\x7f"])
def test_a_key_with_a_control_character_is_refused_without_showing_it(
    faults: FaultServer, config_file: Path, tmp_path: Path, bad: str
) -> None:
    scenario = faults.fresh("ok")
    config_file.write_text(
        f'[profiles.remote]\nbackend = "openai"\nbase_url = "{faults.base_url(scenario)}"\n'
        'model = "fault-model"\napi_key_env = "MY_KEY"\n'
    )
    result = run_in_process("ask", "-m", "remote", "hi", env={"MY_KEY": SECRET + bad})
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert "MY_KEY holds a control character" in line and "set MY_KEY to the key alone" in line
    assert SECRET not in result.stdout + result.stderr
    assert reached(faults, scenario) == []  # refused before anything was sent
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


async def test_a_header_with_a_line_break_is_refused_without_showing_it(
    faults: FaultServer,
) -> None:
    scenario = faults.fresh("ok")
    backend = remote(
        "openai", faults.base_url(scenario), headers={"X-Team-Token": HEADER_SECRET + "\r\n"}
    )
    error = await failure(backend)
    assert "The profile's header 'X-Team-Token' holds a control character" in error.message
    assert HEADER_SECRET not in error.message and reached(faults, scenario) == []


# -- item 8: a malformed stream ends --------------------------------------------------------


def test_a_line_longer_than_the_limit_raises_its_named_error() -> None:
    for pieces in (["x" * 11], ["x" * 6, "x" * 5], ["ok\n" + "x" * 11], ["x" * 11 + "\n"]):
        splitter = LineSplitter(max_line_chars=10)
        with pytest.raises(LineTooLong) as info:
            for piece in pieces:
                splitter.feed(piece)
        assert info.value.limit == 10
    splitter = LineSplitter(max_line_chars=10)  # exactly the limit is a line
    assert splitter.feed("x" * 5) == [] and splitter.feed("x" * 5 + "\r\n") == ["x" * 10]


@pytest.mark.parametrize(
    "pieces",
    [
        ["da", "ta: ", "a", "\n", "\n"],  # a line in many pieces, joined once
        ["data: a\r", "\ndata: b\r", "\r"],  # "\r\n" split, then a lone "\r"
        ["data: a\r", "data: b\n\n"],  # a lone "\r" at the end of a piece ends the line
        ["data", ": a\r", "\r", "data: b", "\r\n\r\n"],
    ],
)
def test_lines_in_pieces_come_out_whole(pieces: list[str]) -> None:
    splitter = LineSplitter()
    lines = [line for piece in pieces for line in splitter.feed(piece)] + splitter.end()
    assert [line for line in lines if line] in (["data: a"], ["data: a", "data: b"])


@pytest.mark.parametrize("api", APIS)
async def test_a_line_past_the_default_limit_ends_the_stream_with_a_clear_error(
    faults: FaultServer, api: str
) -> None:
    assert LONG_LINE_CHARS > MAX_LINE_CHARS
    backend = remote(api, faults.base_url("long-line", api))
    reply = Reply(backend, hello())
    with pytest.raises(ProtocolError) as info:
        async for _ in reply.stream():
            pass
    await backend.aclose()
    assert f"a line longer than {MAX_LINE_CHARS:,} characters" in info.value.message
    assert reply.text == "".join(TOKENS[:PARTIAL])


@pytest.mark.parametrize("api", APIS)
async def test_a_line_past_a_lower_limit_ends_the_stream(faults: FaultServer, api: str) -> None:
    backend = remote(api, faults.base_url("ok", api))
    backend.endpoint.max_line_chars = 20  # shorter than every event the server sends
    error = await failure(backend)
    assert "a line longer than 20 characters" in error.message


@pytest.mark.parametrize("api", APIS)
async def test_endless_text_that_is_not_the_protocol_ends_at_the_default_limit(
    faults: FaultServer, api: str
) -> None:
    assert GARBAGE_LIMIT > 4 * MAX_CHARS_WITHOUT_EVENT
    before = faults.disconnects
    error = await failure(remote(api, faults.base_url("garbage", api)))
    assert isinstance(error, ProtocolError)
    assert "without one event of its protocol" in error.message
    assert f"the most genchat reads is {MAX_CHARS_WITHOUT_EVENT:,}" in error.message
    for _ in range(200):  # the server sees genchat leave, long before its own limit
        if faults.disconnects > before:
            break
        await asyncio.sleep(0.05)
    assert faults.disconnects > before


async def test_text_without_an_event_is_bounded_by_the_limit_set(faults: FaultServer) -> None:
    backend = remote("openai", faults.base_url("garbage"))
    backend.endpoint.max_chars_without_event = 1000
    error = await failure(backend)
    sent = int(error.message.split(" sent ", 1)[1].split(" characters", 1)[0].replace(",", ""))
    assert 1000 < sent <= 1000 + 70_000  # at most one read past the limit
    assert "the most genchat reads is 1,000" in error.message


async def test_keep_alive_events_are_events(faults: FaultServer) -> None:
    # Anthropic sends pings that give no text: they must not count as garbage.
    backend = remote("anthropic", faults.base_url("ok", "anthropic"))
    backend.endpoint.max_chars_without_event = 200
    events = await collect(backend, hello())
    await backend.aclose()
    assert text_of(events) == TEXT


# -- item 19: real causes, not "plugin failed" ---------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_a_damaged_gzip_body_is_a_protocol_error_that_says_so(
    faults: FaultServer, api: str
) -> None:
    error = await failure(remote(api, faults.base_url("gzip-broken", api), retries=0))
    assert isinstance(error, ProtocolError) and not isinstance(error, PluginFailed)
    assert "cannot be decoded (Content-Encoding: gzip)" in error.message
    listing = remote(api, faults.base_url("gzip-broken", api))
    with pytest.raises(ProtocolError, match=r"cannot be decoded \(Content-Encoding: gzip\)"):
        await listing.list_models()
    await listing.aclose()


@pytest.mark.parametrize("api", APIS)
async def test_json_nested_too_deeply_is_a_protocol_error_that_says_so(
    faults: FaultServer, api: str
) -> None:
    reply = Reply(remote(api, faults.base_url("deep-json", api)), hello())
    with pytest.raises(ProtocolError, match="JSON nested too deeply to read") as info:
        async for _ in reply.stream():
            pass
    await reply.backend.aclose()
    assert not isinstance(info.value, PluginFailed)
    assert reply.text == "".join(TOKENS[:PARTIAL])
    listing = remote(api, faults.base_url("deep-json", api))
    with pytest.raises(ProtocolError, match="JSON nested too deeply to read"):
        await listing.list_models()
    await listing.aclose()


MEMORY_SCRIPT = """
import resource, sys
from genchat.backends.remote.decoding import parse_json
from genchat.errors import ProtocolError
data = "[" + "0," * 5_000_000 + "0]"  # 10 MB of text, some 40 MB as a list
used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + (16 << 20), resource.RLIM_INFINITY))
try:
    parse_json("The server", data)
except ProtocolError as exc:
    print(exc.message)
"""


def test_json_too_large_for_memory_is_a_protocol_error_that_says_so() -> None:
    # A real MemoryError: the decoder runs with too little address space left for the list.
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "sent JSON too large to read in the memory there is" in result.stdout


# -- models a server lists -------------------------------------------------------------------


def test_genchat_models_prints_server_model_ids_without_escape_sequences(
    faults: FaultServer, config_file: Path
) -> None:
    config_file.write_text(
        f'[profiles.evil]\nbackend = "openai"\nbase_url = "{faults.base_url("escape-ids")}"\n'
    )
    result = run_in_process("models")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "evilmodel" in result.stdout and "wipemodel" in result.stdout
    assert "xred" in result.stdout  # owned_by, cleaned too
    assert all("\x1b" in model_id for model_id in ESCAPE_IDS)
