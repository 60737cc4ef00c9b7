"""The compare screen, driven by Pilot: panes stream side by side, each stops, fails and answers
again on its own, and the user picks which reply continues the conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from genchat.chat import Message
from genchat.store import Store
from genchat.tui.app import GenchatApp, make_app
from genchat.tui.screens.compare import CompareScreen
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage
from genchat.tui.widgets.pane import Pane
from tests.helpers import run_genchat
from tests.test_tui import finish, notifications, scripted_profile, send, wait_for

SIZE = (160, 40)


@pytest.fixture
def profiles(test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(
        scripted_profile("fast", chunks=["Fast ", "answer."])
        + scripted_profile("slow", chunks=["slow "] * 200, delay_s=0.02)
        + scripted_profile("echo", echo=True)
        + scripted_profile("broken", fail_after=1)
    )
    return config_file


def compare(app: GenchatApp) -> CompareScreen:
    assert isinstance(app.screen, CompareScreen)
    return app.screen


def replies(app: GenchatApp) -> list[str]:
    """The last reply of each pane."""
    return [pane.view.text if pane.view else "" for pane in compare(app).panes]


async def ready(pilot: Pilot[None]) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), "the screen")
    await wait_for(pilot, lambda: len(compare(pilot.app).panes) > 1, "the panes")  # type: ignore[arg-type]


async def test_panes_stream_side_by_side_and_a_failing_one_keeps_its_error(
    profiles: Path,
) -> None:
    app = make_app(compare=["fast", "echo", "broken"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Hello")
        await finish(pilot)
        fast, echo, broken = compare(app).panes
        assert fast.view is not None and fast.view.text == "Fast answer."
        assert echo.view is not None and "last='Hello'" in echo.view.text
        assert [p.state for p in (fast, echo, broken)] == ["complete", "complete", "error"]
        assert broken.query_one(ErrorMessage).error.title == "Backend unavailable"
        assert "TTFT" in str(fast.query_one(".pane-metrics").render())
        # every pane is ready for the next prompt, the broken one too
        await send(pilot, "Again")
        await finish(pilot)
        assert len(fast.query(AssistantMessage)) == 2


async def test_stop_one_pane_while_the_others_finish(profiles: Path) -> None:
    app = make_app(compare=["slow", "slow", "fast"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Talk")
        first, second, third = compare(app).panes
        await wait_for(pilot, lambda: "slow slow" in replies(app)[1], "pane 2 to stream")
        await pilot.press("alt+right", "ctrl+x")
        await finish(pilot)
        assert first.state == "complete" and first.view is not None
        assert first.view.text == "slow " * 200
        assert second.state == "stopped" and second.view is not None
        assert 0 < len(second.view.text) < len("slow " * 200)
        assert third.state == "complete"


async def test_two_panes_on_one_model_queue_and_stop_all(profiles: Path) -> None:
    app = make_app(compare=["slow", "fast"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Talk")
        await wait_for(pilot, lambda: "slow slow" in replies(app)[0], "pane 1 to stream")
        await pilot.press("escape")
        await finish(pilot)
        assert compare(app).panes[0].state == "stopped"


async def test_regenerate_one_pane_keeps_the_others(profiles: Path) -> None:
    app = make_app(compare=["echo", "echo"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Hi")
        await finish(pilot)
        before = replies(app)
        await pilot.press("alt+right", "ctrl+g")
        await finish(pilot)
        after = replies(app)
        assert after[0] == before[0]
        assert after[1] != before[1] and "last='Hi'" in after[1]
        assert len(compare(app).panes[1].query(AssistantMessage)) == 1
        assert compare(app).turns[-1].replies[1] == after[1]


async def test_each_pane_continues_its_own_thread_or_the_chosen_reply(profiles: Path) -> None:
    app = make_app(compare=["fast", "echo"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = compare(app)
        await send(pilot, "One")
        await finish(pilot)
        fast, echo = screen.panes
        await send(pilot, "Two")
        await finish(pilot)
        # each its own: the echo pane was sent its own first answer
        assert screen._request_messages(echo)[1] == Message("assistant", screen.turns[0].replies[1])
        assert screen._request_messages(fast)[1] == Message("assistant", "Fast answer.")
        await pilot.press("ctrl+k")  # pane 1's reply to "Two" continues both
        assert "continues from pane 1" in str(screen.query_one("#compare-mode").render())
        await send(pilot, "Three")
        await finish(pilot)
        sent = screen._request_messages(echo)
        assert sent[3] == Message("assistant", "Fast answer.")  # the chosen reply to "Two"
        assert sent[1] == Message("assistant", screen.turns[0].replies[1])  # its own to "One"
        assert screen.turns[1].chosen == 0 and screen.turns[2].chosen is None
        assert "own thread" in str(screen.query_one("#compare-mode").render())


async def test_changing_a_streaming_panes_model_is_refused_with_a_message(
    profiles: Path,
) -> None:
    app = make_app(compare=["slow", "fast"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Talk")
        await wait_for(pilot, lambda: "slow" in replies(app)[0], "pane 1 to stream")
        await pilot.press("ctrl+o")
        assert any("Pane 1 is streaming" in n for n in notifications(app))
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("escape")
        await finish(pilot)


async def test_narrow_terminals_stack_the_panes(profiles: Path) -> None:
    app = make_app(compare=["fast", "echo", "broken"])
    async with app.run_test(size=(80, 40)) as pilot:
        await ready(pilot)
        await pilot.pause()
        panes = compare(app).query_one("#panes")
        assert panes.has_class("-stacked")
        widths = {pane.size.width for pane in compare(app).query(Pane)}
        assert min(widths) >= 70


def test_compare_needs_two_to_four_profiles(profiles: Path) -> None:
    result = run_genchat("compare", "fast", env={"GENCHAT_PLUGINS": "scripted"})
    assert result.returncode == 2
    assert "two to four profiles, not 1" in result.stderr
    unknown = run_genchat("compare", "fast", "nope", env={"GENCHAT_PLUGINS": "scripted"})
    assert unknown.returncode == 2 and "nope" in unknown.stderr


async def test_real_backends_side_by_side_share_one_local_model(
    config_file: Path, llama_server: str
) -> None:
    """SmolLM2 through llama.cpp, the same with the demo adapter (one loaded model: the second
    pane queues behind the first), and llama.cpp's OpenAI-compatible server on 127.0.0.1."""
    greedy = "[profiles.{}.params]\nmax_tokens = 12\ntemperature = 0.0\n"
    config_file.write_text(
        greedy.format("smollm2")
        + greedy.format("smollm2-lora-q4")
        + f'[profiles.server]\nbackend = "openai"\nbase_url = "{llama_server}"\n'
        'model = "smollm2"\n[profiles.server.params]\nmax_tokens = 12\ntemperature = 0.0\n'
    )
    app = make_app(compare=["smollm2", "smollm2-lora-q4", "server"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Why is the sky blue?")
        await finish(pilot)
        local, adapted, remote = compare(app).panes
        assert [p.state for p in (local, adapted, remote)] == ["complete"] * 3
        assert all(replies(app)), replies(app)
        assert adapted.view is not None and adapted.view.text.startswith("TL;DR")
        queued = [p.reply.metrics.queued_s for p in (local, adapted) if p.reply]
        assert max(queued) > 0 and min(queued) == 0
        await pilot.press("alt+left", "ctrl+g")  # regenerate the server's pane alone
        await finish(pilot)
        assert remote.state == "complete" and replies(app)[0] == local.view.text  # type: ignore[union-attr]
        await pilot.press("alt+left", "ctrl+k")  # the adapter's reply continues every pane
        await send(pilot, "Shorter, please.")
        await finish(pilot)
        assert [p.state for p in (local, adapted, remote)] == ["complete"] * 3
        sent = compare(app)._request_messages(local)
        assert sent[1] == Message("assistant", compare(app).turns[0].replies[1])


async def test_a_comparison_is_saved_and_reopened_from_the_history(
    profiles: Path, tmp_path: Path
) -> None:
    app = make_app(compare=["fast", "echo"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "One")
        await finish(pilot)
        await pilot.press("ctrl+k")  # the fast pane's answer continues both
        await send(pilot, "Two")
        await finish(pilot)
        await pilot.press("alt+right", "ctrl+g")  # the echo pane answers "Two" again
        await finish(pilot)
        shown = replies(app)
    with Store(tmp_path / "data" / "genchat.db") as store:
        [conversation] = store.conversations()
        assert conversation.kind == "compare" and conversation.title == "One"
        (_, one_replies), (two, two_replies) = store.turns(conversation.id)
        assert [(r.pane, r.chosen) for r in one_replies] == [(0, True), (1, False)]
        assert two.parent_id == one_replies[0].id  # the chosen reply continues
        assert [r.pane for r in two_replies] == [0, 1, 1]  # the regenerated reply is kept too
        assert [r.status for r in two_replies] == ["complete"] * 3
        assert two_replies[2].content == shown[1] and two_replies[0].content == "Fast answer."
    again = make_app(conversation="last")
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = compare(again)
        assert [p.target.profile for p in screen.panes] == ["fast", "echo"]
        await wait_for(pilot, lambda: replies(again) == shown, "the saved replies")
        assert [t.chosen for t in screen.turns] == [0, None]
        await send(pilot, "Three")
        await finish(pilot)
        sent = screen._request_messages(screen.panes[1])
        assert sent[1] == Message("assistant", "Fast answer.")  # the chosen reply to "One"
        assert sent[3] == Message("assistant", shown[1])  # its own, regenerated, to "Two"
    with Store(tmp_path / "data" / "genchat.db") as store:
        assert len(store.turns(conversation.id)) == 3
