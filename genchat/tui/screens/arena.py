"""The blind arena: each prompt goes to two of the given profiles, drawn at random and shown as
"Model A" and "Model B"; the user votes, and only then learns which was which.

A round is one prompt. Its pair is drawn so that over the session every pair meets about as
often as every other (`Pairings`), and which one is "Model A" is a coin toss. Until the vote,
neither pane shows a name, a model, an adapter or a figure; by default neither shows any text
either until both have finished, so that speed gives nothing away (`live` streams both as they
come). A round where a model fails, or that is stopped, gets no vote. The vote is kept in the
history database with the prompt, both replies, the targets, their parameters and metrics,
and when each reply started and finished; a reply that names its own model flags the vote,
which the leaderboard leaves out by default.

Why one module of about 420 lines: a round's states and the screen's keys; pairings, votes and
ratings are `genchat.arena`, each pane is `widgets/pane.py`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Static

from genchat.arena import vote_store
from genchat.arena.votes import OUTCOMES, Outcome, Pairings, identity_claim
from genchat.chat import Message, Target
from genchat.errors import GenchatError
from genchat.session.turns import Turn
from genchat.tui.dialogs.questions import AskLine
from genchat.tui.navigation import OpenLeaderboard
from genchat.tui.screens.base import GenchatScreen
from genchat.tui.services import Services
from genchat.tui.widgets.keybar import KeyBar
from genchat.tui.widgets.message import ErrorMessage
from genchat.tui.widgets.pane import MIN_PANE_WIDTH, Pane
from genchat.tui.widgets.prompt import PromptInput

SIDES = ("a", "b")
BUTTONS: dict[Outcome, str] = {
    "a": "A is better",
    "b": "B is better",
    "tie": "Tie",
    "bad": "Both are bad",
}
VOTE_WORDS: dict[Outcome, str] = {
    "a": "A is better",
    "b": "B is better",
    "tie": "a tie",
    "bad": "both are bad",
}
HELD = "held back until both have finished"
RoundState = Literal["answering", "voting", "voted", "skipped"]


@dataclass
class Round:
    """One prompt, the two targets that answer it, and how far it has got."""

    prompt: str
    targets: tuple[Target, Target]
    state: RoundState = "answering"
    started: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per side: the target, backend, parameters (filled as each reply starts)."""
    vote_id: int | None = None
    asked: float = 0.0
    """When the prompt was sent, by the app's clock."""


@dataclass(frozen=True)
class ArenaSetup:
    """An arena to open: its profiles, whether replies stream live, the votes' tag, and a seed
    for its draws (for a session that can be replayed; default: fresh each time)."""

    targets: list[Target]
    live: bool = False
    tag: str = ""
    seed: int | None = None

    def screen(self, services: Services) -> ArenaScreen:
        rng = random.Random(self.seed) if self.seed is not None else None
        return ArenaScreen(services, self.targets, live=self.live, tag=self.tag, rng=rng)


class ArenaScreen(GenchatScreen[None]):
    """Blind pairwise votes between the given profiles.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | alt+1..4, 1..4 | `vote_a`, `vote_b`, `vote_tie`, `vote_bad` | Vote (1..4 off the prompt). |
    | ctrl+n | `skip_round` | Leave this round without a vote. |
    | escape | `stop_round` | Stop both replies; the round gets no vote. |
    | ctrl+b | `undo_vote` | Undo the last vote of this session. |
    | ctrl+t | `arena_tag` | The tag this session's votes are given ("coding", "writing"). |
    | ctrl+s | `arena_live` | Stream replies live, or hold both until both have finished. |
    | ctrl+l | `leaderboard` | The leaderboard. |
    | f3 | `close_arena` | Back to the screen the arena was opened from. |

    The vote keys never take a key meant for the prompt: when a round ends, the focus stays in
    the prompt, which takes what is typed (a next question may well begin "2 more…"), and
    there Alt+1..Alt+4 vote. The plain digits vote where they cannot be text: with the focus on
    the vote buttons (Shift+Tab from the prompt) or on a reply.
    """

    WHAT = "The arena"

    BINDINGS: ClassVar[list[BindingType]] = [
        # Not priority bindings: the focused prompt takes the plain digits as text first (and
        # leaves Alt+digit to these; see PromptInput).
        Binding("alt+1,1", "vote('a')", "A better", id="vote_a"),
        Binding("alt+2,2", "vote('b')", "B better", id="vote_b"),
        Binding("alt+3,3", "vote('tie')", "Tie", id="vote_tie"),
        Binding("alt+4,4", "vote('bad')", "Both bad", id="vote_bad"),
        Binding("ctrl+n", "skip", "Skip", id="skip_round", tooltip="No vote this round"),
        Binding("escape", "stop_round", "Stop", id="stop_round"),
        Binding("ctrl+b", "undo_vote", "Undo vote", id="undo_vote"),
        Binding("ctrl+t", "tag", "Tag", id="arena_tag"),
        Binding("ctrl+s", "live", "Live", id="arena_live"),
        Binding("ctrl+l", "leaderboard", "Leaderboard", id="leaderboard"),
        Binding("f3", "close", "Back", id="close_arena"),
    ]

    def __init__(
        self,
        services: Services,
        targets: list[Target],
        *,
        live: bool = False,
        tag: str = "",
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(services)
        self.targets = {_name(target): target for target in targets}
        """The contenders, by the names their votes are recorded under."""
        self.pairings = Pairings(list(self.targets), rng)
        self.live = live
        self.tag = tag
        self.round: Round | None = None
        self.rounds = 0
        self.votes: list[int] = []
        """This session's votes, oldest first, for undo."""

    def compose(self) -> ComposeResult:
        yield Static(id="arena-status")
        yield Horizontal(id="panes")
        with Horizontal(id="vote-bar"):
            for outcome, key in zip(OUTCOMES, "1234", strict=True):
                yield Button(f"{key} {BUTTONS[outcome]}", id=f"vote-{outcome}", compact=True)
        yield PromptInput(id="prompt")
        yield KeyBar()

    def on_mount(self) -> None:
        self.set_interval(0.5, self._show_answering)  # not every token: the panes stream apart
        self.query_one(PromptInput).focus()
        self._say(
            f"Ask anything: two of {len(self.targets)} models answer, unnamed, and you vote "
            "for the better reply."
        )
        self._show_vote_bar()

    @property
    def panes(self) -> list[Pane]:
        return list(self.query(Pane))

    def _say(self, text: str) -> None:
        head = f"Round {self.rounds}" if self.rounds else "Arena"
        mode = "live" if self.live else "held until both finish"
        tag = f" · tag {self.tag}" if self.tag else ""
        line = Text(f"{head} · {mode}{tag} · ", style="bold")
        line.append(text)
        self.query_one("#arena-status", Static).update(line)

    @property
    def voting(self) -> bool:
        return self.round is not None and self.round.state == "voting"

    def _show_vote_bar(self) -> None:
        # The prompt stays usable while a round waits for its vote: typing a next prompt is
        # never lost, and sending it leaves the round without a vote.
        self.query_one("#vote-bar").display = self.voting
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The vote keys, and skipping, only while a round waits for its vote."""
        return self.voting if action in ("vote", "skip") else True

    def on_resize(self) -> None:
        """Side by side where each pane gets `MIN_PANE_WIDTH` columns, else one above another."""
        stacked = self.size.width < MIN_PANE_WIDTH * 2
        self.query_one("#panes", Horizontal).set_class(stacked, "-stacked")

    # -- a round ---------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if not event.text.strip():
            event.prompt.give_back(event.text)
            return
        if self.round is not None and self.round.state == "answering":
            self.notify("Both models are still answering: Esc stops them.", severity="warning")
            event.prompt.give_back(event.text)
            return
        await self._start_round(event.text)

    async def _start_round(self, prompt: str) -> None:
        first, second = self.pairings.draw()
        self.rounds += 1
        current = Round(
            prompt, (self.targets[first], self.targets[second]), asked=self.services.clock()
        )
        self.round = current
        panes = self.query_one("#panes", Horizontal)
        await panes.remove_children()
        for index, target in enumerate(current.targets):
            pane = Pane(index, target, _side(index))
            pane.blind_note = "" if self.live else HELD
            await panes.mount(pane)
            pane.messages.display = self.live
            await pane.add_prompt(prompt)
        self._show_answering()
        for pane in self.panes:
            await self._answer(pane, current)

    def _show_answering(self) -> None:
        """While both models answer: how long the round has run, and how many tokens the two
        replies hold between them (together, so that neither's speed shows before the vote)."""
        current = self.round
        if current is None or current.state != "answering":
            return
        elapsed = self.services.clock() - current.asked
        tokens = sum(p.reply.metrics.completion_tokens or 0 for p in self.panes if p.reply)
        self._say(f"both models are answering… {elapsed:.0f} s · {tokens} tokens between them")

    async def _answer(self, pane: Pane, current: Round) -> None:
        side = SIDES[pane.index]
        try:
            messages = [Message("user", current.prompt)]
            reply = pane.new_reply(self.services.profiles, messages, self.services.clock)
        except GenchatError as exc:
            await pane.messages.mount(ErrorMessage(Turn.of_error(exc)))
            pane.state = "error"
            await self._settle(current)
            return
        current.details[side] = reply.origin.as_dict()
        current.started[side] = time.time()
        await pane.start(reply)

        async def ended() -> None:
            current.finished[side] = time.time()
            await self._settle(current)

        pane.launch(lambda: None, ended)

    async def _settle(self, current: Round) -> None:
        """When both replies have ended: show both, and ask for a vote, or say why there is
        none this round."""
        if current is not self.round or current.state != "answering":
            return
        panes = self.panes
        if any(pane.state in (None, "streaming") for pane in panes):
            return
        for pane in panes:
            pane.blind_note = ""
            pane.show_metrics()
            pane.messages.display = True
            pane.messages.scroll_end(animate=False)
        failed = [pane for pane in panes if pane.state == "error"]
        stopped = [pane for pane in panes if pane.state == "stopped"]
        empty = [pane for pane in panes if pane.reply is not None and not pane.reply.text.strip()]
        if failed or stopped or empty:
            current.state = "skipped"
            if failed:
                who = " and ".join(pane.label for pane in failed)
                why = f"{who} could not answer"
            else:
                why = "the replies were stopped" if stopped else "a reply was empty"
            self._say(f"No vote this round: {why}. Ask again for a new pair.")
        else:
            current.state = "voting"
            self._say("your vote? Alt+1 A · Alt+2 B · Alt+3 tie · Alt+4 both bad")
        self._show_vote_bar()
        if not isinstance(self.focused, Button):
            self.focus_prompt()

    def action_skip(self) -> None:
        if self.round is not None and self.round.state == "voting":
            self.round.state = "skipped"
            self._say("No vote this round. Ask again for a new pair.")
            self._show_vote_bar()
            self.query_one(PromptInput).focus()

    def action_stop_round(self) -> None:
        for pane in self.panes:
            pane.stop()
        self.focus_prompt()

    # -- the vote --------------------------------------------------------------------------

    @on(Button.Pressed, "#vote-bar Button")
    async def pressed(self, event: Button.Pressed) -> None:
        assert event.button.id is not None
        outcome = event.button.id.removeprefix("vote-")
        await self.action_vote(outcome)

    async def action_vote(self, outcome: str) -> None:
        current = self.round
        if current is None or current.state != "voting":
            why = {
                None: "there is no round yet",
                "answering": "both replies have not finished",
                "voted": "this round has its vote (Ctrl+B undoes it)",
                "skipped": "this round gets none (ask again for a new pair)",
            }[current.state if current else None]
            self.notify(f"No vote now: {why}.", severity="warning")
            return
        assert outcome in VOTE_WORDS
        chosen: Outcome = outcome  # type: ignore[assignment]
        panes = self.panes
        replies = tuple(pane.reply.text if pane.reply else "" for pane in panes)
        names = tuple(_name(pane.target) for pane in panes)
        flagged = self._identity_claims(current, panes)
        details = {
            side: {
                **current.details[side],
                "metrics": pane.reply.metrics.as_dict() if pane.reply else {},
                "started": current.started.get(side),
                "finished": current.finished.get(side),
            }
            for side, pane in zip(SIDES, panes, strict=True)
        }
        tag = self.tag
        current.state = "voted"
        current.vote_id = await self.services.history.call(
            lambda store: vote_store.add_vote(
                store,
                prompt=current.prompt,
                outcome=chosen,
                models=(names[0], names[1]),
                replies=(replies[0], replies[1]),
                details=details,
                flagged=flagged,
                tag=tag,
            )
        )
        self._report_history()
        if current.vote_id is not None:
            self.votes.append(current.vote_id)
        self._reveal(panes)
        said = f"You voted: {VOTE_WORDS[chosen]}. " + " · ".join(
            f"{_side(pane.index)} was {names[pane.index]}" for pane in panes
        )
        if flagged:
            said += f". A reply named its model ({flagged}): kept, left out of the leaderboard"
        self._say(said + ".")
        self._show_vote_bar()
        self.query_one(PromptInput).focus()

    def _identity_claims(self, current: Round, panes: list[Pane]) -> str | None:
        """Where a reply names its model: the round's model names (not its profiles', which
        are the user's own words, often ordinary ones) and the well-known families."""
        names = [str(current.details[side].get("model") or "") for side in current.details]
        for pane in panes:
            claim = identity_claim(pane.reply.text if pane.reply else "", names)
            if claim:
                return f"{pane.label}: “{claim}”"
        return None

    def _reveal(self, panes: list[Pane]) -> None:
        for pane in panes:
            label = self.services.profiles.label(pane.target)
            pane.label = f"{_side(pane.index)}: {label}"
            pane.blind_note = None
            pane.show_header()
            pane.show_metrics()

    async def action_undo_vote(self) -> None:
        if not self.votes:
            self.notify("There is no vote of this session to undo.", severity="warning")
            return
        vote_id = self.votes.pop()
        existed = await self.services.history.call(
            lambda store: vote_store.delete_vote(store, vote_id)
        )
        if self.round is not None and self.round.vote_id == vote_id:
            # Its names are known now: this round cannot be voted on blind again.
            self.round.vote_id, self.round.state = None, "skipped"
            self._say("the vote is undone. Ask again for a new pair.")
        self.notify(
            "The vote is undone: it no longer counts."
            if existed
            else "That vote was already gone from the history.",
        )

    def action_tag(self) -> None:
        def tagged(tag: str | None) -> None:
            if tag is not None:
                self.tag = tag
                self._say(f"votes from now on are tagged {tag!r}.")

        self.app.push_screen(
            AskLine("Tag this session's votes (coding, writing…)", self.tag), tagged
        )

    def action_close(self) -> None:
        if self.round is not None and self.round.state == "answering":
            self.notify("Both models are still answering: Esc stops them.", severity="warning")
            return
        self.dismiss(None)

    def action_live(self) -> None:
        self.live = not self.live
        self._say(
            "replies stream live from the next round."
            if self.live
            else "replies are held until both have finished, from the next round."
        )

    def action_leaderboard(self) -> None:
        self.post_message(OpenLeaderboard(self.tag or None))


def _side(index: int) -> str:
    return f"Model {'AB'[index]}"


def _name(target: Target) -> str:
    """What a vote records a target as: its profile, and the model where it chose one."""
    return f"{target.profile}:{target.model}" if target.model else target.profile
