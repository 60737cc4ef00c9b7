"""The compare screen, driven by Pilot: panes stream side by side, each stops, fails and answers
again on its own, and the user picks which reply continues the conversation.

Why one file: every test drives the one screen with the same scripted profiles (`profiles`), and a
file's tests run in one worker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from genchat.chat import Message, Metrics
from genchat.compare.comparison import Turn, markdown, summarize, word_diff
from genchat.history.exchange import export_markdown
from genchat.history.store import Store
from genchat.tui.app import GenchatApp, make_app
from genchat.tui.dialogs.settings import ConversationSettings
from genchat.tui.screens.chat import ChatScreen
from genchat.tui.screens.compare import CompareScreen
from genchat.tui.screens.summary import CompareSummary
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage
from genchat.tui.widgets.pane import Pane
from tests.support.helpers import run_in_process
from tests.support.pilot import (
    finish,
    notifications,
    open_history,
    scripted_profile,
    send,
    wait_for,
)
from tests.support.pilot import shown as shown_screen

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
        assert broken.query_one(ErrorMessage).turn.label == "Backend unavailable"
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


async def test_a_pane_stopped_before_its_worker_began_still_ends_stopped(
    profiles: Path, tmp_path: Path
) -> None:
    """Textual runs none of a worker's code when it is cancelled before its first step; the
    pane must not be left "streaming", nor its saved reply."""
    app = make_app(compare=["echo", "echo"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Hi")
        await finish(pilot)
        screen = compare(app)
        await screen.action_regenerate_pane()  # its last step starts the pane's worker
        screen.action_stop_pane()  # before the event loop has run that worker at all
        await finish(pilot)
        pane = screen.panes[0]
        assert pane.state == "stopped" and pane.view is not None and pane.view.state == "stopped"
        assert screen.turns[-1].finish[0] == "stopped"
        stopped_id = screen.turns[-1].reply_ids[0]
        await send(pilot, "Again")  # and the pane answers the next prompt
        await finish(pilot)
        assert pane.state == "complete"
    with Store(tmp_path / "data" / "genchat.db") as store:
        saved = store.message(stopped_id)
        assert saved is not None and saved.status == "stopped"


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
        refused = "Pane 1 is streaming"
        await wait_for(pilot, lambda: any(refused in n for n in notifications(app)), "a refusal")
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


async def test_small_terminals_show_one_pane_at_a_time_as_tabs(profiles: Path) -> None:
    app = make_app(compare=["fast", "echo", "broken", "fast"])
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await send(pilot, "Hello")
        await finish(pilot)
        screen = compare(app)
        assert screen.tabbed and not screen.query_one("#panes").has_class("-stacked")

        def showing() -> list[int]:
            return [pane.index for pane in screen.panes if pane.display]

        def strip() -> str:
            return str(screen.query_one("#pane-tabs").render())

        await wait_for(pilot, lambda: "3 broken ✗" in strip(), "each pane's state in the tabs")
        assert showing() == [0] and "1 fast ✓" in strip()
        assert screen.panes[0].messages.size.height >= 12  # the whole screen less the rest
        await pilot.press("alt+right", "alt+right")
        assert showing() == [2]
        assert screen.panes[2].query(ErrorMessage)
        await pilot.resize_terminal(200, 40)  # room for all four side by side
        await pilot.pause()
        assert not screen.tabbed and showing() == [0, 1, 2, 3]
        await pilot.press("ctrl+f")  # one pane, asked for
        assert screen.tabbed and showing() == [2]
        await pilot.press("ctrl+f")
        assert showing() == [0, 1, 2, 3]


def test_compare_needs_two_to_four_profiles(profiles: Path) -> None:
    result = run_in_process("compare", "fast", env={"GENCHAT_PLUGINS": "scripted"})
    assert result.returncode == 2
    assert "two to four profiles, not 1" in result.stderr
    unknown = run_in_process("compare", "fast", "nope", env={"GENCHAT_PLUGINS": "scripted"})
    assert unknown.returncode == 2 and "nope" in unknown.stderr


async def test_real_backends_side_by_side_share_one_local_model(
    config_file: Path, llama_server: str
) -> None:
    """SmolLM2 through llama.cpp, the same with the demo adapter (one loaded model: the second
    pane queues behind the first), and llama.cpp's OpenAI-compatible server on 127.0.0.1; then
    the session reopened from the history screen and continued."""
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
        kept = compare(app).turns[0].replies[1]
        assert sent[1] == Message("assistant", kept)
        shown = replies(app)
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await shown_screen(pilot, ChatScreen)
        await open_history(pilot)
        await pilot.press("enter")
        await ready(pilot)
        screen = compare(again)
        assert [p.target.profile for p in screen.panes] == ["smollm2", "smollm2-lora-q4", "server"]
        await wait_for(pilot, lambda: replies(again) == shown, "the saved replies")
        assert [t.chosen for t in screen.turns] == [1, None]
        await send(pilot, "Thank you.")
        await finish(pilot)
        assert [p.state for p in screen.panes] == ["complete"] * 3 and all(replies(again))
        sent = screen._request_messages(screen.panes[2])
        assert sent[1] == Message("assistant", kept)  # the adapter's reply still continues
        assert sent[3] == Message("assistant", shown[2])  # the server's own, to the 2nd prompt


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
        exported = export_markdown(store, conversation.id)  # as the history screen exports it
        assert "### 1 · fast · script (continued)" in exported and "## Turn 2" in exported
        assert shown[1] in exported
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


def test_a_word_diff_keeps_every_word_and_marks_the_changes() -> None:
    ops = word_diff("The cat sat on the mat.", "The dog sat on the mat today.")
    assert ops[:3] == [("same", "The "), ("removed", "cat "), ("added", "dog ")]
    assert "".join(w for kind, w in ops if kind != "added") == "The cat sat on the mat."
    assert "".join(w for kind, w in ops if kind != "removed") == "The dog sat on the mat today."
    assert word_diff("same words", "same words") == [("same", "same words")]


def test_the_summary_has_last_turn_and_session_figures() -> None:
    def m(ttft: float, rate: float) -> Metrics:
        return Metrics(wall_s=2.0, ttft_s=ttft, tokens_per_s=rate, completion_tokens=10)

    turns = [
        Turn("one", {0: "a", 1: "b"}, {0: m(0.1, 10), 1: m(0.3, 30)}, {0: "done", 1: "done"}),
        Turn("two", {0: "c"}, {0: m(0.3, 20)}, {0: "stopped"}, chosen=0),
    ]
    first, second = summarize(["fast", "slow"], turns)
    assert first.last is not None and first.last.ttft_s == 0.3 and first.last_finish == "stopped"
    assert first.mean_ttft_s == pytest.approx(0.2) and first.mean_tokens_per_s == 15
    assert second.answered == 1 and second.mean_tokens_per_s == 30
    text = markdown("Comparison", ["fast", "slow"], turns)
    assert "## Turn 2" in text and "### 1 · fast (continued)" in text
    assert "> two" in text and "| 1 fast | 0.30 s | 20.0 | 10 | 2.00 s | stopped |" in text


async def test_the_summary_screen_diffs_two_replies_and_exports_the_session(
    profiles: Path, tmp_path: Path
) -> None:
    app = make_app(compare=["fast", "echo", "broken"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Compare us")
        await finish(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareSummary), "the summary")
        summary = app.screen
        assert isinstance(summary, CompareSummary)
        # The screen is current before its widgets are mounted: the table may not exist yet.
        await wait_for(
            pilot, lambda: [t.row_count for t in summary.query(DataTable)] == [3], "the table"
        )
        diff = summary.query_one("#diff").render()
        assert "Fast" in str(diff) and "last='Compare us'" in str(diff)
        await pilot.press("b")  # the right side moves to pane 3
        assert summary.diffed == [0, 2]
        await pilot.press("ctrl+s")
        exported = tmp_path / "data" / "exports"
        conversation = compare_id(tmp_path)
        path = exported / f"genchat-compare-{conversation}.md"
        await wait_for(pilot, path.exists, "the export")
        await pilot.press("escape")
        assert isinstance(app.screen, CompareScreen)
    text = path.read_text()
    assert "> Compare us" in text and "### 3 · broken · script" in text
    assert "| 2 echo · script |" in text


def compare_id(tmp_path: Path) -> int:
    with Store(tmp_path / "data" / "genchat.db") as store:
        return store.conversations()[0].id


async def test_all_panes_failing_leaves_the_screen_usable(profiles: Path) -> None:
    app = make_app(compare=["broken", "broken"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Hello")
        await finish(pilot)
        assert [p.state for p in compare(app).panes] == ["error", "error"]
        assert all(p.query(ErrorMessage) for p in compare(app).panes)
        await send(pilot, "Still there?")
        await finish(pilot)
        assert [len(p.query(ErrorMessage)) for p in compare(app).panes] == [2, 2]


async def test_stopping_a_pane_while_its_model_loads(
    profiles: Path, config_file: Path, tmp_path: Path
) -> None:
    loaded = tmp_path / "loaded"  # the load lasts until this file exists
    config_file.write_text(
        config_file.read_text()
        + scripted_profile("loading", load_until=str(loaded), chunks=["never"])
    )
    app = make_app(compare=["loading", "fast"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Hello")
        loading = compare(app).panes[0]
        await wait_for(pilot, lambda: loading.activity.startswith("loading"), "the load")
        assert "loading" in str(loading.query_one(".pane-metrics").render())
        await pilot.press("ctrl+x")
        await finish(pilot)
        assert loading.state == "stopped" and replies(app) == ["", "Fast answer."]
        loaded.touch()  # the loading thread ends, rather than hold up the test's end


async def test_synchronised_scrolling_moves_every_pane(profiles: Path, config_file: Path) -> None:
    config_file.write_text(
        config_file.read_text() + scripted_profile("long", chunks=["A paragraph.\n\n"] * 80)
    )
    app = make_app(compare=["long", "long", "long"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "Write a lot")
        await finish(pilot)
        first, second, third = (p.messages for p in compare(app).panes)
        await wait_for(pilot, lambda: second.max_scroll_y > 20, "the replies to overflow")
        first.scroll_to(y=0, animate=False)  # alone: the others stay at the end
        await pilot.pause()
        assert second.scroll_y == second.max_scroll_y
        await pilot.press("ctrl+s")
        assert "Scrolling together" in str(compare(app).query_one("#compare-mode").render())
        first.scroll_to(y=first.max_scroll_y // 2, animate=False)
        await pilot.pause()
        for other in (second, third):
            assert abs(other.scroll_y - other.max_scroll_y // 2) <= 1


async def test_each_pane_has_its_own_system_prompt_and_parameters(profiles: Path) -> None:
    app = make_app(compare=["echo", "echo"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("alt+right", "ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationSettings), "settings")
        dialog = app.screen
        await wait_for(pilot, lambda: bool(dialog.query("#param-seed")), "its fields")
        dialog.query_one("#system", TextArea).text = "Be brief."
        dialog.query_one("#param-temperature", Input).value = "0.3"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "the panes")
        await send(pilot, "Hi")
        await finish(pilot)
        first, second = replies(app)
        assert "system=None" in first and "params={}" in first
        assert "system='Be brief.'" in second and "'temperature': 0.3" in second
    again = make_app(conversation="last")
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: replies(again) == [first, second], "the saved replies")
        assert [p.settings for p in compare(again).panes] == [
            {},
            {"params": {"temperature": 0.3}, "system": "Be brief."},
        ]
