"""Remote backends in the chat screen, driven by Pilot against the fault server: each fault
shows in the conversation, the app keeps responding, and the next message works. And a running
Ollama appears as a profile on its own, after start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from genchat.chat import Target
from genchat.history.exchange import export_json, export_markdown
from genchat.tui.app import make_app
from genchat.tui.dialogs.picker import ModelPicker
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage
from genchat.tui.widgets.prompt import PromptInput
from tests.support.fault_server import PARTIAL, TEXT, TOKENS, FaultServer
from tests.support.pilot import SIZE, chat, finish, notifications, send, wait_for

CASES = [
    ("once-401", "openai", "Authentication failed", False),
    ("once-503", "anthropic", "Server error 503", False),
    ("once-drop", "openai", "Connection dropped", True),
    ("once-silent", "ollama", "Server timed out", True),
    ("once-malformed", "anthropic", "Protocol error", True),
    ("once-html", "openai", "Protocol error", False),
    ("once-error-event", "ollama", "Server error", True),
]


def remote_profile(api: str, base_url: str) -> str:
    model = {"openai": "fault-model", "anthropic": "claude-fault", "ollama": "fault:latest"}[api]
    return (
        f'default_profile = "remote"\n[profiles.remote]\nbackend = "{api}"\n'
        f'base_url = "{base_url}"\nmodel = "{model}"\nretries = 0\nread_timeout_s = 0.5\n'
    )


@pytest.mark.parametrize(("scenario", "api", "title", "mid_stream"), CASES)
async def test_a_remote_fault_shows_and_the_next_message_works(
    faults: FaultServer,
    config_file: Path,
    scenario: str,
    api: str,
    title: str,
    mid_stream: bool,
) -> None:
    config_file.write_text(remote_profile(api, faults.base_url(faults.fresh(scenario), api)))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "First")
        await finish(pilot)
        error = chat(app).query_one(ErrorMessage)
        assert error.turn.label == title
        first = chat(app).query_one(AssistantMessage)
        assert first.text == ("".join(TOKENS[:PARTIAL]) if mid_stream else "")
        assert first.state == "error"
        await pilot.press(*"still responsive")
        assert chat(app).query_one(PromptInput).text == "still responsive"
        chat(app).query_one(PromptInput).clear()
        await send(pilot, "Again")
        await finish(pilot)
        replies = list(chat(app).query(AssistantMessage))
        assert replies[-1].text == TEXT and replies[-1].state == "complete"


async def test_a_running_ollama_becomes_a_profile_after_start_up(
    faults: FaultServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base_url = faults.base_url("ok", "ollama")
    monkeypatch.setenv("OLLAMA_HOST", base_url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, app.services.loaded.is_set, "the profiles")
        await wait_for(
            pilot, lambda: "ollama" in app.services.profiles.profiles, "the Ollama profile"
        )
        assert any("profile 'ollama'" in n for n in notifications(app))
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        await wait_for(pilot, lambda: bool(picker.choices), "the model list")
        assert any("fault:latest" in c.label for c in picker.choices)


async def test_a_retry_is_announced_and_the_reply_follows(
    faults: FaultServer, config_file: Path
) -> None:
    base_url = faults.base_url(faults.fresh("once-503"), "openai")
    config_file.write_text(remote_profile("openai", base_url).replace("retries = 0", "retries = 1"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hello")
        await finish(pilot)
        assert any("trying again" in n for n in notifications(app))
        reply = chat(app).query_one(AssistantMessage)
        assert reply.text == TEXT and reply.state == "complete"
        assert not chat(app).query(ErrorMessage)


async def test_api_keys_never_reach_the_history_or_its_exports(
    faults: FaultServer, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genchat.history.store import Store

    # Keys only ever come from the environment (`api_key_env`): the config has no key field.
    default_key, own_key = "sk-genchat-secret-default-1234", "sk-genchat-secret-own-5678"
    monkeypatch.setenv("OPENAI_API_KEY", default_key)
    monkeypatch.setenv("OTHER_KEY", own_key)
    config_file.write_text(
        remote_profile("openai", faults.base_url(faults.fresh("once-401")))
        + 'api_key_env = "OPENAI_API_KEY"\n'  # sent to 127.0.0.1 only when named
        + f'[profiles.other]\nbackend = "openai"\nbase_url = "{faults.base_url("ok")}"\n'
        'model = "fault-model"\napi_key_env = "OTHER_KEY"\n'
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "First")  # rejected: the error is saved with the reply
        await finish(pilot)
        await send(pilot, "Again")
        await finish(pilot)
        chat(app).target = Target("other")
        await send(pilot, "And you?")
        await finish(pilot)
    data = tmp_path / "data"
    with Store(data / "genchat.db") as store:
        [conversation] = store.conversations()
        thread = store.thread(conversation.id)
        assert thread[1].status == "error" and thread[1].error
        assert "incorrect API key provided: [redacted]" in thread[1].error  # quoted, redacted
        assert thread[-1].profile == "other" and thread[-1].content == TEXT
        exports = export_markdown(store, conversation.id) + str(export_json(store, conversation.id))
    stored = b"".join(p.read_bytes() for p in data.iterdir() if p.is_file())
    for key in (default_key, own_key):
        assert key.encode() not in stored
        assert key not in exports
