"""Remote backends against real servers on 127.0.0.1: llama.cpp's OpenAI-compatible server
running the embedded model, and the project's fault-injecting server
(tests/support/fault_server.py).

Why one file: every test here runs on the two shared servers through the same backend builders
(`tests/support/remote.py`); the hostile cases are `test_remote_hardening.py`.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from genchat import Backend, ChatRequest, GenerationParams, Message, TextDelta
from genchat.backends.remote.openai import OpenAIBackend, OpenAIOptions
from genchat.chat import Finished, Notice, ReasoningDelta, Usage
from genchat.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    ModelNotFound,
    ProtocolError,
    RateLimited,
)
from genchat.reply import Reply
from tests.support.backend_contract import BackendContract, collect, text_of
from tests.support.fault_server import PARTIAL, TEXT, TOKENS, UTF8_TEXT, FaultServer
from tests.support.helpers import free_port, run_genchat
from tests.support.remote import APIS, SECRET, hello, openai, remote

# -- the contract, on the real server ----------------------------------------------------------


class TestOpenAIOnLlamaServer(BackendContract):
    """llama.cpp's server with the embedded SmolLM2: the openai backend against the real thing."""

    @pytest.fixture
    async def backend(self, llama_server: str) -> AsyncIterator[Backend]:
        backend = openai(llama_server, model="smollm2")
        yield backend
        await backend.aclose()

    async def test_unknown_model_raises_model_not_found(  # type: ignore[override]
        self, backend: Backend, faults: FaultServer
    ) -> None:
        # llama.cpp's server answers any model name with the model it serves; the fault server
        # answers an unknown one with 404, as OpenAI does.
        other = openai(faults.base_url("ok"), model="no-such-model")
        with pytest.raises(ModelNotFound, match="'no-such-model' does not exist there"):
            await collect(other, hello())
        await other.aclose()

    async def test_a_server_that_ignores_stream_options_still_works(self, backend: Backend) -> None:
        # llama.cpp's server sends no usage: tokens are counted from the stream, marked ≈.
        reply = Reply(backend, self.short_reply_request(4))
        async for _ in reply.stream():
            pass
        assert reply.finish_reason == "length"
        assert reply.metrics.completion_tokens == 4 and reply.metrics.tokens_approximate

    async def test_without_a_model_it_uses_the_one_the_server_serves(
        self, llama_server: str
    ) -> None:
        backend = openai(llama_server)
        try:
            assert [m.id for m in await backend.list_models()] == ["smollm2"]
            assert text_of(await collect(backend, hello(3)))
        finally:
            await backend.aclose()


class TestAnthropicOnFaultServer(BackendContract):
    """The anthropic backend against the fault server speaking the Messages API."""

    @pytest.fixture
    async def backend(self, faults: FaultServer) -> AsyncIterator[Backend]:
        backend = remote("anthropic", faults.base_url("ok", "anthropic"))
        yield backend
        await backend.aclose()


class TestOllamaOnFaultServer(BackendContract):
    """The ollama backend against the fault server speaking Ollama's native API."""

    @pytest.fixture
    async def backend(self, faults: FaultServer) -> AsyncIterator[Backend]:
        backend = remote("ollama", faults.base_url("ok", "ollama"))
        yield backend
        await backend.aclose()


async def test_genchat_ask_against_the_llama_server(llama_server: str, config_file: Path) -> None:
    config_file.write_text(
        f'[profiles.local]\nbackend = "openai"\nbase_url = "{llama_server}"\nmodel = "smollm2"\n'
    )
    result = await asyncio.to_thread(
        run_genchat, "ask", "-m", "local", "--max-tokens", "5", "--json", "Say hi"
    )
    assert result.returncode == 0, result.stderr
    assert '"finish_reason": "length"' in result.stdout


# -- what is sent -----------------------------------------------------------------------------


async def test_only_the_params_that_were_set_are_sent(faults: FaultServer) -> None:
    backend = openai(
        faults.base_url("ok"), model="fault-model", max_tokens_field="max_completion_tokens"
    )
    request = ChatRequest(
        [Message("system", "Be brief."), Message("user", "hi")],
        GenerationParams(top_p=0.5, max_tokens=3, stop=("END",)),
    )
    await collect(backend, request)
    await backend.aclose()
    body = faults.requests[-1].body
    assert body["top_p"] == 0.5 and body["max_completion_tokens"] == 3 and body["stop"] == ["END"]
    for unset in ("temperature", "seed", "max_tokens"):
        assert unset not in body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_headers_extra_body_and_key(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    backend = openai(
        faults.base_url("ok"), model="fault-model", api_key_env="MY_KEY",
        headers={"X-Team": "genchat"}, extra_body={"top_k": 5},
    )  # fmt: skip
    await collect(backend, hello())
    await backend.aclose()
    seen = faults.requests[-1]
    assert seen.headers["authorization"] == f"Bearer {SECRET}"
    assert seen.headers["x-team"] == "genchat" and seen.body["top_k"] == 5


async def test_no_key_means_no_authorization_header(faults: FaultServer) -> None:
    backend = openai(faults.base_url("ok"), model="fault-model", api_key_env="GENCHAT_NO_SUCH_VAR")
    await collect(backend, hello())
    await backend.aclose()
    assert "authorization" not in faults.requests[-1].headers


async def test_usage_is_asked_for_and_read(faults: FaultServer) -> None:
    backend = openai(faults.base_url("ok"), model="fault-model")
    events = await collect(backend, hello())
    await backend.aclose()
    assert faults.requests[-1].body["stream_options"] == {"include_usage": True}
    assert Usage(7, len(TOKENS)) in events
    assert text_of(events) == TEXT and events[-1] == Finished("stop")


async def test_a_server_that_refuses_stream_options_is_asked_again_and_remembered(
    faults: FaultServer,
) -> None:
    backend = openai(faults.base_url("no-stream-options"), model="fault-model")
    assert text_of(await collect(backend, hello())) == TEXT
    first = len(faults.requests)
    assert text_of(await collect(backend, hello())) == TEXT
    await backend.aclose()
    later = faults.requests[first:]
    assert len(later) == 1 and "stream_options" not in later[0].body  # remembered


async def test_models_are_listed_from_the_server(faults: FaultServer) -> None:
    backend = openai(faults.base_url("ok"), model="other-model")
    models = await backend.list_models()
    await backend.aclose()
    assert [(m.id, m.default) for m in models] == [("fault-model", False), ("other-model", True)]


# -- faults -------------------------------------------------------------------------------------

FAULTS: list[tuple[str, type[BackendError], str]] = [
    ("status-401", AuthError, "rejected the API key"),
    ("status-403", AuthError, "refused access"),
    ("status-404", ModelNotFound, "base_url is wrong"),
    ("status-429", RateLimited, "wait 1 s"),
    ("status-500", BackendUnavailable, "HTTP 500"),
    ("status-502", BackendUnavailable, "HTTP 502"),
    ("status-503", BackendUnavailable, "HTTP 503"),
    ("status-400", BackendError, "refused the request"),
    ("html", ProtocolError, "HTML page"),
    ("drop", BackendUnavailable, "closed the connection mid-reply"),
    ("silent", BackendUnavailable, "went silent for 0.5 s mid-reply"),
    ("malformed", ProtocolError, "not a JSON object"),
    ("no-done", ProtocolError, "ended the stream before"),
    ("error-event", BackendError, "fault server: overloaded"),
]
MID_STREAM = ("drop", "silent", "malformed", "no-done", "error-event")
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("scenario", "error", "says"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_each_fault_is_a_clear_error_and_keeps_the_text_so_far(
    faults: FaultServer,
    monkeypatch: pytest.MonkeyPatch,
    api: str,
    scenario: str,
    error: type[BackendError],
    says: str,
) -> None:
    # Named explicitly: a default key goes only to its own host, and this one must reach the
    # server (which quotes it back) and still never show. Ollama takes no key by default.
    variable = KEY_VARIABLES.get(api, "OLLAMA_KEY")
    options: dict[str, Any] = {"retries": 0, "read_timeout_s": 0.5, "api_key_env": variable}
    monkeypatch.setenv(variable, SECRET)
    backend = remote(api, faults.base_url(scenario, api), **options)
    reply = Reply(backend, hello())
    with pytest.raises(error) as info:
        async for _ in reply.stream():
            pass
    await backend.aclose()
    assert says in info.value.message
    assert SECRET not in info.value.one_line()
    if scenario == "status-401":
        assert f"The key in {variable} was refused" in info.value.message
    if scenario in MID_STREAM:
        assert reply.text == "".join(TOKENS[:PARTIAL])
        assert "The text so far is kept" in info.value.message
    else:
        assert reply.text == ""


async def test_a_missing_key_is_named(faults: FaultServer) -> None:
    backend = remote(
        "anthropic",
        faults.base_url("status-401", "anthropic"),
        retries=0,
        api_key_env="ANTHROPIC_API_KEY",
    )
    with pytest.raises(AuthError, match="ANTHROPIC_API_KEY is not set"):
        await collect(backend, hello())
    await backend.aclose()


@pytest.mark.parametrize("api", APIS)
async def test_each_protocol_streams_reasoning_utf8_and_a_huge_chunk(
    faults: FaultServer, api: str
) -> None:
    for scenario, check in [
        ("reasoning", lambda events: ReasoningDelta("Thinking it over.") in events),
        ("utf8", lambda events: text_of(events) == UTF8_TEXT),
        ("huge", lambda events: len(text_of(events)) > 2_500_000),
    ]:
        backend = remote(api, faults.base_url(scenario, api))
        events = await collect(backend, hello())
        await backend.aclose()
        assert check(events), scenario
        assert isinstance(events[-1], Finished)


async def test_anthropic_request_shape(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    backend = remote(
        "anthropic", faults.base_url("ok", "anthropic"), api_key_env="ANTHROPIC_API_KEY"
    )
    request = ChatRequest(
        [Message("system", "Be brief."), Message("user", "hi")],
        GenerationParams(temperature=0.2, stop=("END",)),
    )
    await collect(backend, request)
    await backend.aclose()
    seen = faults.requests[-1]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == SECRET and seen.headers["anthropic-version"]
    assert seen.body["system"] == "Be brief."
    assert seen.body["messages"] == [{"role": "user", "content": "hi"}]
    assert seen.body["max_tokens"] == 4096  # the API requires one
    assert seen.body["temperature"] == 0.2 and seen.body["stop_sequences"] == ["END"]
    assert "top_p" not in seen.body


async def test_ollama_request_shape(faults: FaultServer) -> None:
    backend = remote("ollama", faults.base_url("ok", "ollama"))
    await collect(
        backend, ChatRequest([Message("user", "hi")], GenerationParams(max_tokens=3, seed=1))
    )
    models = await backend.list_models()
    await backend.aclose()
    seen = faults.requests[-2]
    assert seen.path == "/api/chat" and seen.body["options"] == {"num_predict": 3, "seed": 1}
    assert [(m.id, m.default, m.details["quantization_level"]) for m in models] == [
        ("fault:latest", True, "Q4_1")
    ]


async def test_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = openai(f"http://127.0.0.1:{free_port()}/v1", model="m", retries=0)
    with pytest.raises(BackendUnavailable, match="Is the server running"):
        await collect(backend, hello())
    await backend.aclose()


async def test_a_host_that_does_not_resolve_is_said_at_once_and_not_retried() -> None:
    """A profile's own base_url that does not resolve: check it. A name that does not
    resolve will not in a second either, so it is not retried, however many retries."""
    backend = openai("http://genchat-test.invalid/v1", model="m", retries=3)
    events = []
    with pytest.raises(BackendUnavailable, match=r"does not resolve\. Check base_url") as info:
        async for event in backend.stream(hello()):
            events.append(event)
    await backend.aclose()
    assert not any(isinstance(e, Notice) and "trying again" in e.text for e in events)
    assert "offline" not in info.value.message


async def test_an_apis_own_host_that_does_not_resolve_asks_whether_the_machine_is_offline() -> None:
    """No base_url set (the API's own, as for the built-in OpenAI profile): "Check base_url"
    would send the user looking for a setting they never made."""

    class Offline(OpenAIOptions):
        base_url: str = "http://genchat-test.invalid/v1"  # the "API's own", that cannot resolve

    backend = OpenAIBackend(Offline(model="m", retries=0))
    with pytest.raises(BackendUnavailable, match="Is this machine offline") as info:
        await collect(backend, hello())
    await backend.aclose()
    assert "base_url" not in info.value.message


async def test_connect_timeout() -> None:
    # A listening socket that never accepts, its backlog filled: the next connect hangs.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        backend = openai(f"http://127.0.0.1:{port}/v1", model="m", retries=0, connect_timeout_s=0.3)
        try:
            with pytest.raises(
                BackendUnavailable, match=r"did not accept a connection within 0\.3 s"
            ):
                await collect(backend, hello())
        finally:
            await backend.aclose()
            for filler in fillers:
                filler.close()


async def test_retries_before_the_first_token_then_streams(faults: FaultServer) -> None:
    backend = openai(faults.base_url(faults.fresh("once-503")), model="fault-model", retries=2)
    events = await collect(backend, hello())
    await backend.aclose()
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "trying again" in notices[0].text
    assert text_of(events) == TEXT


@pytest.mark.parametrize("api", APIS)
async def test_retries_before_the_first_token_for_each_protocol(
    faults: FaultServer, api: str
) -> None:
    backend = remote(api, faults.base_url(faults.fresh("once-502"), api), retries=1)
    events = await collect(backend, hello())
    await backend.aclose()
    assert any(isinstance(e, Notice) for e in events) and text_of(events) == TEXT


async def test_429_is_retried_after_the_time_the_server_asks(faults: FaultServer) -> None:
    backend = openai(faults.base_url(faults.fresh("once-429")), model="fault-model", retries=1)
    started = time.monotonic()
    events = await collect(backend, hello())
    waited = time.monotonic() - started
    await backend.aclose()
    assert text_of(events) == TEXT
    assert waited >= 1.0  # Retry-After: 1 was honoured (a lower bound, not a timing target)


async def test_a_cut_mid_stream_is_never_retried(faults: FaultServer) -> None:
    before = len(faults.requests)
    backend = openai(faults.base_url("drop"), model="fault-model", retries=3)
    with pytest.raises(BackendUnavailable):
        await collect(backend, hello())
    await backend.aclose()
    assert len(faults.requests) == before + 1


async def test_closing_the_stream_closes_the_connection(faults: FaultServer) -> None:
    backend = openai(faults.base_url("paced-20-400"), model="fault-model")
    before = faults.disconnects
    stream = backend.stream(hello())
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    await backend.aclose()
    for _ in range(100):
        if faults.disconnects > before:
            break
        await asyncio.sleep(0.05)
    assert faults.disconnects == before + 1  # the server saw the client leave


async def test_the_key_never_leaks(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch, config_file: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    config_file.write_text(
        f'[profiles.remote]\nbackend = "openai"\nbase_url = "{faults.base_url("status-401")}"\n'
        'model = "fault-model"\nretries = 0\napi_key_env = "OPENAI_API_KEY"\n'
    )
    env = {"OPENAI_API_KEY": SECRET}
    outputs = [
        await asyncio.to_thread(run_genchat, "models", env=env),
        await asyncio.to_thread(run_genchat, "ask", "-m", "remote", "hi", env=env),
        await asyncio.to_thread(run_genchat, "ask", "-m", "remote", "--json", "hi", env=env),
        await asyncio.to_thread(run_genchat, "config", "check", env=env),
    ]
    for result in outputs:
        assert SECRET not in result.stdout + result.stderr
    assert "rejected the API key" in outputs[1].stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


# -- a running Ollama becomes a profile ---------------------------------------------------------


async def test_genchat_models_and_ask_find_a_running_ollama(faults: FaultServer) -> None:
    env = {"OLLAMA_HOST": faults.base_url("ok", "ollama")}
    listed = await asyncio.to_thread(run_genchat, "models", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "ollama  backend: ollama  from: found running" in listed.stdout
    assert "fault:latest" in listed.stdout
    asked = await asyncio.to_thread(run_genchat, "ask", "-m", "ollama", "hi", env=env)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.strip() == TEXT


async def test_nothing_is_looked_for_on_the_way_to_the_default_model(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = faults.fresh("watched")
    monkeypatch.setenv("OLLAMA_HOST", faults.base_url(scenario, "ollama"))
    result = await asyncio.to_thread(run_genchat, "ask", "--max-tokens", "2", "hi")
    assert result.returncode == 0, result.stderr
    assert not [r for r in faults.requests if r.scenario == scenario]


async def test_no_ollama_profile_is_added_when_one_is_configured(
    faults: FaultServer, monkeypatch: pytest.MonkeyPatch, config_file: Path
) -> None:
    from genchat.profiles.profile import open_profiles

    monkeypatch.setenv("OLLAMA_HOST", faults.base_url("ok", "ollama"))
    config_file.write_text(
        f'[profiles.mine]\nbackend = "ollama"\nbase_url = "{faults.base_url("ok", "ollama")}"\n'
    )
    profiles = open_profiles()
    assert await profiles.discover() == []
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # and none when nothing answers
    config_file.write_text("")
    assert await open_profiles().discover() == []


def test_the_readme_remote_profiles_are_valid(config_file: Path) -> None:
    from genchat.profiles.profile import open_profiles

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Remote models", 1)[1]
    config_file.write_text(section.split("```toml\n", 1)[1].split("```", 1)[0])
    profiles = open_profiles()
    assert profiles.problems == {}
    assert {"gpt", "claude", "llama3", "vllm", "llama-server"} <= set(profiles.profiles)


@pytest.mark.parametrize(
    "pieces",
    [
        ["data: a\n\nda", "ta: b\n", "\n"],
        ["data: a\r", "\n\r\ndata: b\r\n\r\n"],  # "\r\n" split between reads
        ["data: a\r\rdata: b\r\r"],  # lone "\r" ends lines too
        ["data: a\u2028still a\n\n", "data: b\n\n"],  # a Unicode line break is text
    ],
)
def test_lines_are_split_as_sse_and_ndjson_define_them(pieces: list[str]) -> None:
    from genchat.backends.remote.http import LineSplitter

    splitter = LineSplitter()
    lines = [line for piece in pieces for line in splitter.feed(piece)] + splitter.end()
    assert [line for line in lines if line] in (
        ["data: a", "data: b"],
        ["data: a\u2028still a", "data: b"],
    )
    assert lines.count("") == 2  # each event's blank line, once
