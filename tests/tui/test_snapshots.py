"""Snapshots of the main screens, with deterministic content from the scripted test plugin.

Replies are timed with a fixed clock, so the metrics read the same on every run. Update the
snapshots on purpose with `pytest tests/tui/test_snapshots.py --snapshot-update`, and look at them.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from genchat.arena import vote_store
from genchat.arena.votes import Outcome
from genchat.history.store import Store
from genchat.tui.app import make_app
from genchat.tui.dialogs.picker import ModelPicker
from genchat.tui.screens.leaderboard import LeaderboardScreen
from genchat.tui.widgets.prompt import PromptInput
from tests.support.pilot import wait_for

SIZE = (90, 30)
REPLY = [
    "Here is a function that adds two numbers:\n\n",
    "```python\ndef add(a: int, b: int) -> int:\n",
    '    """The sum of a and b."""\n    return a + b\n```\n\n',
    "Call it as `add(2, 3)`.",
]


@pytest.fixture(autouse=True)
def scripted(test_plugins: str, monkeypatch: pytest.MonkeyPatch, config_file: Path) -> None:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(
        f'[profiles.scripted]\nbackend = "scripted"\nchunks = {json.dumps(REPLY)}\n'
        '[profiles.flaky]\nbackend = "scripted"\nfail_after = 1\n'
    )


def fixed_clock() -> float:
    return 0.0


def ask(prompt: str) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        box = pilot.app.screen.query_one(PromptInput)
        box.cursor_blink = False
        box.insert(prompt)
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


def test_chat_with_a_finished_reply(snap_compare: Any) -> None:
    """The question; the reply with a highlighted Python block and inline code; the footer line
    and the status bar with `≈` token counts; an empty prompt; the bindings in the footer."""
    app = make_app("scripted", clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=ask("Add two numbers in Python"))


def test_a_backend_error_in_the_conversation(snap_compare: Any) -> None:
    """The reply's first word, marked failed with a red border, then the error message:
    "Backend unavailable" and what to do."""
    app = make_app("flaky", clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=ask("Hello?"))


def test_a_failed_reply_after_a_theme_change(snap_compare: Any) -> None:
    """The failed reply above after a switch to the nord theme: its left border and the error
    in nord's red (#BF616A), like the rest of the screen, not in the first theme's."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ask("Hello?")(pilot)
        pilot.app.theme = "nord"
        await pilot.pause()

    app = make_app("flaky", clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_model_picker(snap_compare: Any) -> None:
    """The picker over the chat: a filter box, then the embedded SmolLM2 (default, context
    8192, Q4_1) and the scripted profiles, the current one highlighted."""

    async def open_picker(pilot: Pilot[None]) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False
        await pilot.press("ctrl+o")

        def listed() -> bool:
            screen = pilot.app.screen
            return isinstance(screen, ModelPicker) and bool(screen.choices)

        await wait_for(pilot, listed, "the models")
        screen = pilot.app.screen
        screen.query_one("#picker-filter").cursor_blink = False  # type: ignore[attr-defined]
        await pilot.pause()

    app = make_app("scripted", clock=fixed_clock)
    assert snap_compare(app, terminal_size=SIZE, run_before=open_picker)


PANE_REPLIES = {
    "scripted": REPLY,
    "terse": ["Use `a + b`."],
    "listy": ["Two ways:\n\n", "- `a + b`\n", "- `sum([a, b])`\n"],
    "flaky": None,
}


def write_pane_profiles(config_file: Path) -> None:
    lines = []
    for name, chunks in PANE_REPLIES.items():
        lines.append(f'[profiles.{name}]\nbackend = "scripted"')
        lines.append(f"chunks = {json.dumps(chunks)}" if chunks else "fail_after = 1")
    config_file.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("panes", [2, 3, 4])
def test_the_compare_screen(snap_compare: Any, config_file: Path, panes: int, width: int) -> None:
    """Panes with their number, profile and model, the metrics line, the prompt and each reply
    (the fourth pane's backend fails: its error stays in it); the mode line, the prompt and the
    keys. At 80 columns the panes stack; at 200 they stand side by side."""
    write_pane_profiles(config_file)
    app = make_app(compare=list(PANE_REPLIES)[:panes], clock=fixed_clock)
    assert snap_compare(app, terminal_size=(width, 40), run_before=ask("Add two numbers in Python"))


def test_the_compare_screen_as_tabs(snap_compare: Any, config_file: Path) -> None:
    """At 80 × 24, four panes show one at a time: a strip names each pane with a mark of how
    its reply ended (the fourth failed), and the second pane, chosen with Alt+Right, fills the
    screen above the mode line and the prompt."""
    write_pane_profiles(config_file)
    app = make_app(compare=list(PANE_REPLIES), clock=fixed_clock)

    async def run_before(pilot: Pilot[None]) -> None:
        await ask("Add two numbers in Python")(pilot)
        await pilot.press("alt+right")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_the_arena_waiting_for_a_vote(snap_compare: Any, config_file: Path) -> None:
    """Two unnamed panes, "Model A" and "Model B", their replies shown together once both have
    finished, no figures; the vote buttons, the status line naming Alt+1..Alt+4 for the vote,
    the prompt still focused (a next prompt can be typed), and the vote keys in the footer."""
    write_pane_profiles(config_file)
    app = make_app(arena=["terse", "listy"], seed=1, clock=fixed_clock)
    assert snap_compare(app, terminal_size=(100, 28), run_before=ask("Add two numbers"))


def test_the_leaderboard_with_seeded_votes(snap_compare: Any, tmp_path: Path) -> None:
    """Four models ranked by Bradley–Terry rating with 95% intervals, Elo, win rate, votes,
    W-L-T and speeds, the plot of the intervals around 1000, and the summary line."""
    strength = {"qwen-remote": 1.0, "smollm2-lora-q4": 0.4, "llama-server": 0.2, "smollm2": 0.0}
    rng = random.Random(7)
    with Store(tmp_path / "data" / "genchat.db") as store:
        for n in range(200):
            a, b = rng.sample(sorted(strength), 2)
            p_a = 1 / (1 + math.exp(strength[b] - strength[a]))
            outcome: Outcome = "tie" if rng.random() < 0.1 else "a" if rng.random() < p_a else "b"
            metrics = {"a": {"metrics": {"ttft_s": 0.1 + n % 5 / 10, "tokens_per_s": 40.0}}}
            vote_store.add_vote(
                store,
                prompt=f"q{n}",
                outcome=outcome,
                models=(a, b),
                replies=("x", "y"),
                details={**metrics, "b": {}},
            )

    async def open_board(pilot: Pilot[None]) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False
        board = LeaderboardScreen(app.services.history)
        await pilot.app.push_screen(board)
        await wait_for(pilot, lambda: board.board is not None, "the ratings")
        await pilot.pause()

    app = make_app("scripted", clock=fixed_clock)
    assert snap_compare(app, terminal_size=(100, 30), run_before=open_board)
