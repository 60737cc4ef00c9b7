"""The arena's votes read back: `genchat leaderboard` and `genchat votes`, run as a user runs
them, over a real SQLite file.

Why one file: the arena screen and the commands that read its votes share the vote fixtures (`db`,
`add_votes`, the contenders' config).
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from genchat.arena import vote_store
from genchat.arena.votes import Outcome
from genchat.history.store import Store
from genchat.tui.app import GenchatApp, make_app
from genchat.tui.screens.arena import ArenaScreen
from genchat.tui.screens.chat import ChatScreen
from genchat.tui.screens.compare import CompareScreen
from genchat.tui.screens.leaderboard import LeaderboardScreen
from genchat.tui.widgets.message import ErrorMessage, UserMessage
from genchat.tui.widgets.prompt import PromptInput
from tests.support.helpers import run_in_process
from tests.support.pilot import finish, notifications, scripted_profile, send, wait_for

STRENGTH = {"strong": 1.5, "middling": 0.5, "weak": 0.0}


@pytest.fixture
def db(tmp_path: Path, config_file: Path) -> Path:
    # None of the voted models is a profile any more: votes count by their recorded names.
    config_file.write_text('[profiles.other]\nbackend = "openai"\nbase_url = "http://x/v1"\n')
    return tmp_path / "data" / "genchat.db"


def add_votes(db: Path, count: int, *, tag: str = "", seed: int = 1) -> None:
    """`count` votes between the three models of `STRENGTH`, won as Bradley–Terry says."""
    rng = random.Random(seed)
    with Store(db) as store:
        for _ in range(count):
            a, b = rng.sample(sorted(STRENGTH), 2)
            p_a = 1 / (1 + 2.718281828 ** (STRENGTH[b] - STRENGTH[a]))
            outcome: Outcome = "tie" if rng.random() < 0.1 else "a" if rng.random() < p_a else "b"
            vote_store.add_vote(
                store,
                prompt=f"question {_}",
                outcome=outcome,
                models=(a, b),
                replies=(f"{a} says", f"{b} says"),
                details={side: {"metrics": {"ttft_s": 0.25, "tokens_per_s": 50}} for side in "ab"},
                tag=tag,
            )


def test_the_leaderboard_ranks_the_models_with_intervals_and_a_plot(db: Path) -> None:
    add_votes(db, 120)
    result = run_in_process("leaderboard", "--rounds", "200")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["Rank", "Model", "Rating"]
    assert [line.split()[1] for line in lines[1:4]] == ["strong", "middling", "weak"]
    assert "120 votes; Bradley–Terry ratings with 95% intervals from 200 bootstrap rounds" in (
        result.stdout
    )
    plot = [line for line in lines if "●" in line]
    assert len(plot) == 3 and all("├" in line and "┤" in line for line in plot)
    # the same seed, the same numbers
    assert run_in_process("leaderboard", "--rounds", "200").stdout == result.stdout


def test_the_leaderboard_exports_csv_and_markdown(db: Path, tmp_path: Path) -> None:
    add_votes(db, 60)
    out = tmp_path / "board.csv"
    assert run_in_process("leaderboard", "--format", "csv", "-o", str(out)).returncode == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["model"] for row in table] == ["strong", "middling", "weak"]
    first = table[0]
    assert float(first["ci_low"]) <= float(first["rating"]) <= float(first["ci_high"])
    assert int(first["wins"]) + int(first["losses"]) + int(first["ties"]) == int(first["votes"])
    assert float(first["ttft_s"]) == 0.25
    md = run_in_process("leaderboard", "--format", "md").stdout
    assert md.startswith("# Leaderboard\n") and "| 1 | strong |" in md


def test_too_few_votes_say_so_plainly(db: Path) -> None:
    add_votes(db, 6)
    result = run_in_process("leaderboard")
    assert result.returncode == 0
    assert "Not enough votes: 6 so far." in result.stdout
    assert "not enough votes" in result.stdout  # in place of each model's rating
    assert "●" not in result.stdout


def test_filters_by_tag_time_and_flag(db: Path) -> None:
    add_votes(db, 30, tag="coding")
    add_votes(db, 20, tag="writing", seed=2)
    with Store(db) as store:
        vote_store.add_vote(store,
            prompt="Who are you?", outcome="a", models=("weak", "strong"),
            replies=("As Claude, …", "A model."), flagged="As Claude",
        )  # fmt: skip

    def votes(*options: str) -> int:
        result = run_in_process("leaderboard", "--format", "csv", "--rounds", "10", *options)
        assert result.returncode == 0, result.stderr
        return sum(int(row["votes"]) for row in csv.DictReader(io.StringIO(result.stdout))) // 2

    assert votes() == 50  # the flagged vote is left out
    assert votes("--include-flagged") == 51
    assert votes("--tag", "coding") == 30
    assert votes("--since", "2000-01-01") == 50
    assert votes("--until", "2000-01-01") == 0
    bad = run_in_process("leaderboard", "--since", "last week")
    assert bad.returncode == 2 and "--since 'last week' is not a date" in bad.stderr


def test_votes_export_as_preference_pairs(db: Path, tmp_path: Path) -> None:
    add_votes(db, 40)
    out = tmp_path / "pairs.jsonl"
    result = run_in_process("votes", "-o", str(out))
    assert result.returncode == 0, result.stderr
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    with Store(db) as store:
        decided = [v for v in vote_store.votes(store) if v.outcome in ("a", "b")]
    assert len(pairs) == len(decided) and f"{len(pairs)} preference pairs" in result.stderr
    for pair, vote in zip(pairs, decided, strict=True):
        assert pair["prompt"] == vote.prompt
        winner = pair["metadata"]["chosen_model"]
        assert pair["chosen"] == f"{winner} says"
        assert pair["rejected"] == f"{pair['metadata']['rejected_model']} says"


# -- the arena screen ---------------------------------------------------------------------------

SIZE = (120, 36)


@pytest.fixture
def contenders(test_plugins: str, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(
        scripted_profile("quick", chunks=["Quick ", "answer."])
        + scripted_profile("slow", chunks=["Slow "] * 30, delay_s=0.02)
        + scripted_profile("echo", echo=True)
        + scripted_profile("claude", chunks=["As Claude, I would say yes."])
        + scripted_profile("down", load_s=0.1, fail_after=0)
    )
    return config_file


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """The history database the app writes."""
    return tmp_path / "data" / "genchat.db"


def arena(app: GenchatApp) -> ArenaScreen:
    assert isinstance(app.screen, ArenaScreen)
    return app.screen


async def arena_ready(pilot: Pilot[None]) -> ArenaScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ArenaScreen), "the arena")
    screen = pilot.app.screen
    assert isinstance(screen, ArenaScreen)
    await wait_for(pilot, lambda: bool(screen.query(PromptInput)), "its prompt")
    return screen


def screen_text(screen: ArenaScreen) -> str:
    """Every header, metrics line and status the screen shows."""
    parts = [str(w.render()) for w in screen.query(".pane-header, .pane-metrics, #arena-status")]
    return "\n".join(parts)


async def test_a_blind_round_holds_both_replies_then_reveals_and_keeps_the_vote(
    contenders: Path, saved: Path
) -> None:
    app = make_app(arena=["quick", "slow"], tag="testing", seed=1)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        await send(pilot, "Which is faster?")
        await wait_for(
            pilot,
            lambda: screen.round is not None
            and any(p.reply and p.reply.text for p in screen.panes),
            "a reply to begin",
        )
        # Until the vote: no names, no figures, and no text until both have finished.
        shown = screen_text(screen)
        assert "Model A" in shown and "Model B" in shown
        assert "quick" not in shown and "slow" not in shown and "TTFT" not in shown
        assert not any(pane.messages.display for pane in screen.panes)
        assert not screen.check_action("vote", ())
        await screen.action_vote("a")  # refused: both have not finished
        await wait_for(pilot, lambda: any("No vote now" in n for n in notifications(app)), "no")
        await wait_for(pilot, lambda: screen.voting, "both replies")
        assert all(pane.messages.display for pane in screen.panes)
        assert "quick" not in screen_text(screen)
        assert screen.query_one(PromptInput).has_focus  # the prompt keeps it
        await pilot.press("alt+1")  # Model A is better
        await wait_for(pilot, lambda: screen.round.state == "voted", "the vote")  # type: ignore[union-attr]
        a, b = (pane.target.profile for pane in screen.panes)
        shown = screen_text(screen)
        assert f"Model A: {a}" in shown and f"Model B: {b}" in shown and "TTFT" in shown
        assert "You voted: A is better" in shown
        assert screen.query_one(PromptInput).has_focus
        assert screen.query_one(PromptInput).text == ""  # Alt+1 voted, and typed nothing
    with Store(saved) as store:
        [vote] = vote_store.votes(store)
    assert (vote.prompt, vote.outcome, vote.tag, vote.flagged) == (
        "Which is faster?",
        "a",
        "testing",
        None,
    )
    assert (vote.model_a, vote.model_b) == (a, b)
    assert {vote.reply_a, vote.reply_b} == {"Quick answer.", "Slow " * 30}
    side = vote.details["a"]
    assert side["profile"] == a and side["backend"] == "scripted" and "params" in side
    assert side["started"] <= side["finished"] and side["metrics"]["ttft_s"] is not None


async def test_a_vote_is_undone_and_pairs_are_balanced(contenders: Path, saved: Path) -> None:
    app = make_app(arena=["quick", "echo", "claude"], seed=3)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        met = []
        for number in range(3):
            await send(pilot, f"Question {number}")
            await wait_for(pilot, lambda: screen.voting, "both replies")
            met.append(frozenset(pane.target.profile for pane in screen.panes))
            await pilot.press("alt+3")
            await wait_for(pilot, lambda: screen.round.state == "voted", "the vote")  # type: ignore[union-attr]
        assert len(set(met)) == 3  # each pair once in three rounds
        await pilot.press("ctrl+b")  # the last round's vote
        await wait_for(pilot, lambda: any("undone" in n for n in notifications(app)), "undo")
        await screen.action_vote("a")  # its names are known: no second vote on that round
        await wait_for(pilot, lambda: any("gets none" in n for n in notifications(app)), "no")
        await send(pilot, "One to skip")
        await wait_for(pilot, lambda: screen.voting, "both replies")
        await pilot.press("ctrl+n")
        assert screen.round.state == "skipped" and not screen.query_one("#vote-bar").display  # type: ignore[union-attr]
    with Store(saved) as store:
        votes = vote_store.votes(store)
    assert [v.prompt for v in votes] == ["Question 0", "Question 1"]
    flagged = [v for v in votes if v.flagged]
    assert all("As Claude" in (v.flagged or "") for v in flagged)
    assert len(flagged) == sum("claude" in (v.model_a, v.model_b) for v in votes)


async def test_a_reply_that_names_its_model_flags_the_vote(contenders: Path, saved: Path) -> None:
    app = make_app(arena=["claude", "quick"], seed=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        await send(pilot, "Who are you?")
        await wait_for(pilot, lambda: screen.voting, "both replies")
        await pilot.press("alt+2")
        await wait_for(pilot, lambda: "left out of the leaderboard" in screen_text(screen), "flag")
    with Store(saved) as store:
        [vote] = vote_store.votes(store)
        assert vote.flagged and "As Claude" in vote.flagged
        assert vote_store.ballots(store) == [] and len(vote_store.ballots(store, flagged=True)) == 1


@pytest.mark.parametrize("pair", [["down", "quick"], ["down", "down2"]])
async def test_a_model_that_cannot_answer_skips_the_round(
    contenders: Path, saved: Path, config_file: Path, pair: list[str]
) -> None:
    config_file.write_text(config_file.read_text() + scripted_profile("down2", fail_after=0))
    app = make_app(arena=pair, seed=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        await send(pilot, "Hello")
        await wait_for(pilot, lambda: screen.round.state == "skipped", "the round skipped")  # type: ignore[union-attr]
        assert "No vote this round" in screen_text(screen)
        assert "could not answer" in screen_text(screen)
        assert not screen.query_one("#vote-bar").display
        assert any(pane.query(ErrorMessage) for pane in screen.panes)
        await screen.action_vote("a")
        await wait_for(pilot, lambda: any("No vote now" in n for n in notifications(app)), "no")
        await send(pilot, "Again?")  # the next round starts
        await wait_for(pilot, lambda: screen.rounds == 2, "round 2")
    with Store(saved) as store:
        assert vote_store.votes(store) == []


async def test_stopping_a_round_and_resizing_mid_round(contenders: Path, saved: Path) -> None:
    app = make_app(arena=["slow", "echo"], seed=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        await send(pilot, "Take your time")
        await wait_for(
            pilot,
            lambda: any(p.reply and "Slow Slow" in p.reply.text for p in screen.panes),
            "streaming",
        )
        await pilot.resize_terminal(60, 30)
        await pilot.pause()
        assert screen.query_one("#panes").has_class("-stacked")
        assert "Model A" in screen_text(screen) and "slow" not in screen_text(screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.round.state == "skipped", "the round skipped")  # type: ignore[union-attr]
        assert "the replies were stopped" in screen_text(screen)
        await pilot.resize_terminal(*SIZE)
        await send(pilot, "Now quickly")
        await wait_for(pilot, lambda: screen.voting, "both replies")
        assert not screen.query_one("#panes").has_class("-stacked")
        await pilot.press("shift+tab")  # from the prompt to the buttons, where a digit votes
        assert screen.focused is screen.query_one("#vote-bad")
        await pilot.press("4")
        await wait_for(pilot, lambda: screen.round.state == "voted", "the vote")  # type: ignore[union-attr]
    with Store(saved) as store:
        assert [v.outcome for v in vote_store.votes(store)] == ["bad"]


async def test_a_prompt_typed_after_a_round_goes_to_the_prompt_even_if_it_starts_with_a_digit(
    contenders: Path, saved: Path
) -> None:
    app = make_app(arena=["quick", "echo"], seed=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        await send(pilot, "Tips for sleeping well?")
        await wait_for(pilot, lambda: screen.voting, "both replies")
        prompt = screen.query_one(PromptInput)
        assert prompt.has_focus and not prompt.disabled
        typed = "2 more tips please"
        await pilot.press(*("space" if c == " " else c for c in typed))
        assert prompt.text == typed
        assert screen.voting  # no vote was cast
        await pilot.press("enter")  # the next round; this one gets no vote
        await wait_for(pilot, lambda: screen.rounds == 2 and screen.voting, "round 2")
        assert all(pane.query(UserMessage).first().text == typed for pane in screen.panes)
        assert prompt.text == ""
    with Store(saved) as store:
        assert vote_store.votes(store) == []


async def test_a_held_round_says_how_long_it_has_run_and_the_tokens_between_them(
    contenders: Path,
) -> None:
    """Held replies show nothing, so the status says the round is moving: its time and the
    two replies' tokens together, which give away neither model's speed."""
    contenders.write_text(
        contenders.read_text() + scripted_profile("steady", chunks=["word "] * 200, delay_s=0.05)
    )
    app = make_app(arena=["steady", "slow"], seed=1)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        await send(pilot, "Count")
        status = screen.query_one("#arena-status")
        progress = re.compile(r"answering… \d+ s · [1-9]\d* tokens between them")
        await wait_for(pilot, lambda: bool(progress.search(str(status.render()))), "progress")
        assert "steady" not in screen_text(screen) and "TTFT" not in screen_text(screen)
        await pilot.press("escape")
        await finish(pilot)


async def test_live_rounds_stream_text_but_still_hide_names_and_figures(
    contenders: Path, saved: Path
) -> None:
    app = make_app(arena=["slow", "echo"], live=True, seed=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        await send(pilot, "Go")
        slow = next(p for p in screen.panes if p.target.profile == "slow")
        await wait_for(pilot, lambda: bool(slow.reply and "Slow Slow" in slow.reply.text), "text")
        assert slow.messages.display and slow.streaming
        assert "TTFT" not in screen_text(screen) and "slow" not in screen_text(screen)
        await wait_for(pilot, lambda: screen.voting, "both replies")


async def test_the_compare_screen_opens_an_arena_between_its_panes(contenders: Path) -> None:
    app = make_app(compare=["quick", "echo", "quick"])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "the panes")
        await pilot.press("f3")
        screen = await arena_ready(pilot)
        assert sorted(screen.targets) == ["echo", "quick"]
        await pilot.press("f3")  # back
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), "the panes again")
        await pilot.press("f2")  # and back to the chat
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat")


def test_the_arena_needs_two_different_profiles(contenders: Path) -> None:
    for profiles in (["quick"], ["quick", "quick"]):
        result = run_in_process("arena", *profiles, env={"GENCHAT_PLUGINS": "scripted"})
        assert result.returncode == 2
        assert "at least two different profiles" in result.stderr


async def test_a_round_between_smollm2_and_its_demo_adapter(config_file: Path, saved: Path) -> None:
    """The real model through llama.cpp, against the same 4-bit base with the demo LoRA."""
    greedy = "[profiles.{}.params]\nmax_tokens = 12\ntemperature = 0.0\n"
    config_file.write_text(greedy.format("smollm2") + greedy.format("smollm2-lora-q4"))
    app = make_app(arena=["smollm2", "smollm2-lora-q4"], seed=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await arena_ready(pilot)
        await send(pilot, "Why is the sky blue?")
        await wait_for(pilot, lambda: screen.voting, "both replies")
        assert all(pane.reply and pane.reply.text for pane in screen.panes)
        assert "smollm2" not in screen_text(screen)
        await pilot.press("alt+2")
        await wait_for(pilot, lambda: screen.round.state == "voted", "the vote")  # type: ignore[union-attr]
        assert "smollm2" in screen_text(screen)
    with Store(saved) as store:
        [vote] = vote_store.votes(store)
    assert {vote.model_a, vote.model_b} == {"smollm2", "smollm2-lora-q4"}
    adapted = "a" if vote.model_a == "smollm2-lora-q4" else "b"
    assert (vote.reply_a, vote.reply_b)[adapted == "b"].startswith("TL;DR")
    assert vote.details[adapted]["adapter"] == "tldr"
    assert vote.details["b" if adapted == "a" else "a"]["adapter"] is None


async def test_the_leaderboard_screen_filters_and_exports(
    db: Path, tmp_path: Path, test_plugins: str
) -> None:
    add_votes(db, 40, tag="coding")
    add_votes(db, 30, tag="writing", seed=2)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query(PromptInput)), "the chat")
        await pilot.press("f4")  # from the chat
        await wait_for(pilot, lambda: isinstance(app.screen, LeaderboardScreen), "the board")
        board = app.screen
        assert isinstance(board, LeaderboardScreen)
        await wait_for(pilot, lambda: board.board is not None, "the votes counted")
        assert board.board is not None and board.board.votes == 70
        table = board.query_one(DataTable)
        assert [str(table.get_row_at(i)[1]).strip() for i in range(3)] == [
            "strong",
            "middling",
            "weak",
        ]
        assert "●" in str(board.query_one("#board-plot").render())
        await pilot.press("t")  # the most used tag first
        await wait_for(pilot, lambda: board.board is not None and board.board.votes == 40, "tag")
        assert "tag coding" in str(board.query_one("#board-filters").render())
        await pilot.press("r", "r", "r")  # the last day: every vote was cast just now
        await wait_for(
            pilot, lambda: "the last day" in str(board.query_one("#board-filters").render()), "day"
        )
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("Saved to" in n for n in notifications(app)), "saved")
    exported = sorted((tmp_path / "data" / "exports").iterdir())
    assert [p.suffix for p in exported] == [".csv", ".md"]
    assert "| 1 | strong |" in exported[1].read_text()
