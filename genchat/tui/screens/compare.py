"""The compare screen: one prompt to two to four targets, streaming side by side.

Each pane streams in a worker group of its own (`pane-N`), so stopping or regenerating one pane
never touches another, and a slow or failing pane holds up nobody. Two panes on one local model
share it: the model's lock serialises them, and the waiting pane says "queued", with its queue
time apart from its time to first token.

What each pane is sent next depends on the continuation of each earlier turn: by default every
pane continues its own thread (each model sees its own earlier answers); once the user picks a
pane's reply for a turn, every pane sees that reply for it instead.

A session is saved in the history as a conversation of kind `compare`: each prompt is a user
message, each pane's reply a child of it with the pane's number (a regenerated reply is
another child of the same pane), and the reply chosen to continue is marked `chosen`. The next
prompt hangs under the chosen reply, or the first pane's. The history screen reopens it here.

Why one module of about 450 lines: it is the screen's keys and layout; a pane's streaming is
`widgets/pane.py`, the figures and export are `genchat.compare`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Static
from textual.worker import WorkerCancelled, WorkerFailed

from genchat.chat import Message, Target
from genchat.compare.comparison import MAX_PANES, MIN_PANES, Turn
from genchat.errors import GenchatError
from genchat.history.store import Store
from genchat.session.stored import stored_metrics, stored_turn
from genchat.session.turns import Turn as ShownTurn
from genchat.tui.dialogs.picker import ModelPicker
from genchat.tui.dialogs.settings import ConversationSettings
from genchat.tui.navigation import OpenArena, OpenSummary, SavedComparison
from genchat.tui.screens.base import GenchatScreen
from genchat.tui.services import Services
from genchat.tui.widgets.keybar import KeyBar
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage
from genchat.tui.widgets.pane import MIN_PANE_WIDTH, Pane
from genchat.tui.widgets.prompt import PromptInput

MIN_PANE_HEIGHT = 8
"""Stacked panes shorter than this (a header, metrics and a few lines of reply) become tabs:
one pane at a time, under a strip that names every pane and how its reply stands."""
OTHER_ROWS = 5
"""The rows that are not panes: the mode line, the prompt and the footer."""
STATE_MARKS = {"streaming": "…", "complete": "✓", "stopped": "■", "error": "✗"}


class CompareScreen(GenchatScreen[None]):
    """Two to four targets side by side. The keys that act on one pane act on the current one
    (its number is highlighted); Alt+Left and Alt+Right move between panes.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | escape | `stop_all` | Stop every pane. |
    | ctrl+x | `stop_pane` | Stop the current pane. |
    | ctrl+g | `regenerate_pane` | Answer the last prompt again in the current pane. |
    | ctrl+k | `keep_reply` | Every pane continues from the current pane's reply (again: undo). |
    | ctrl+o | `pick_pane_model` | Change the current pane's profile and model. |
    | ctrl+t | `pane_settings` | The current pane's persona, system prompt and parameters. |
    | ctrl+s | `sync_scroll` | Scroll every pane together, or each alone. |
    | ctrl+r | `compare_summary` | Figures of every pane, a diff of two replies, and export. |
    | f3 | `open_arena` | A blind arena between the panes' profiles. |
    | f2 | `close_compare` | Back to the chat (the session stays in the history). |
    | ctrl+f | `one_pane` | Show the current pane alone, as a tab; again: every pane. |
    | alt+left, alt+right | `previous_pane`, `next_pane` | Choose the current pane. |

    Panes stand side by side while each gets `MIN_PANE_WIDTH` columns, else one above another
    while each gets `MIN_PANE_HEIGHT` rows, else one at a time as tabs.
    """

    WHAT = "The comparison"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop_all", "Stop all", id="stop_all"),
        Binding("ctrl+g", "regenerate_pane", "Retry pane", id="regenerate_pane"),
        Binding("ctrl+o", "pick_pane_model", "Model", id="pick_pane_model"),
        Binding("f3", "arena", "Arena", id="open_arena", tooltip="Vote blind between these"),
        Binding("f2", "close", "Chat", id="close_compare", tooltip="Back to the chat"),
        Binding("ctrl+x", "stop_pane", "Stop pane", id="stop_pane", priority=True),
        Binding(
            "ctrl+k",
            "keep_reply",
            "Continue from",
            id="keep_reply",
            priority=True,
            tooltip="Continue every pane from the current pane's last reply",
        ),
        Binding("ctrl+t", "pane_settings", "Settings", id="pane_settings"),
        Binding("ctrl+r", "summary", "Summary", id="compare_summary"),
        Binding("ctrl+s", "sync_scroll", "Sync scroll", id="sync_scroll"),
        Binding("ctrl+f", "one_pane", "One pane", id="one_pane"),
        Binding("alt+left", "move(-1)", "Previous pane", id="previous_pane", show=False),
        Binding("alt+right", "move(1)", "Next pane", id="next_pane", show=False),
    ]

    def __init__(
        self, services: Services, targets: list[Target], saved: SavedComparison | None = None
    ) -> None:
        """Compare `targets`; or continue a `saved` session."""
        if not MIN_PANES <= len(targets) <= MAX_PANES:
            raise ValueError(f"compare takes {MIN_PANES} to {MAX_PANES} targets")
        super().__init__(services)
        self.targets = list(targets)
        self.turns: list[Turn] = saved.turns if saved else []
        self.conversation = saved.conversation if saved else None
        """The session's id in the history store, once saved."""
        self._stored = saved.stored if saved else []
        self._settings = dict(saved.settings.get("panes", {})) if saved else {}
        self.current = 0
        self.sync_scroll = False
        self.one_pane = False
        """Whether the user asked for one pane at a time, whatever the terminal's size."""
        self.tabbed = False
        """Whether the panes show one at a time (asked for, or the terminal is too small)."""
        self._syncing = False

    def compose(self) -> ComposeResult:
        yield Static(id="pane-tabs")
        with Horizontal(id="panes"):
            for index, target in enumerate(self.targets):
                pane = Pane(index, target, self.services.profiles.label(target))
                pane.settings = dict(self._settings.get(str(index), {}))
                yield pane
        yield Static(id="compare-mode")
        yield PromptInput(id="prompt")
        yield KeyBar()

    async def on_mount(self) -> None:
        self.query_one(PromptInput).focus()
        if self._stored:
            await self._show_stored()
        self._show_mode()
        for pane in self.panes:
            self.watch(pane.messages, "scroll_y", self._follower(pane), init=False)

    @property
    def panes(self) -> list[Pane]:
        return list(self.query(Pane))

    async def _show_stored(self) -> None:
        """Draw a saved session: every prompt, and each pane's latest reply to it."""
        for prompt, replies in self._stored:
            latest = {reply.pane: reply for reply in replies if reply.pane is not None}
            for pane in self.panes:
                await pane.add_prompt(prompt.content)
                if pane.index in latest:
                    turn = stored_turn(latest[pane.index])
                    assert turn is not None  # a reply
                    view = AssistantMessage(turn)
                    await pane.messages.mount(view)
                    pane.show_stored(view, stored_metrics(latest[pane.index]))
        for pane in self.panes:
            pane.messages.scroll_end(animate=False)
            pane.messages.anchor()

    def _show_mode(self) -> None:
        chosen = self.turns[-1].chosen if self.turns else None
        for pane in self.panes:
            pane.show_header(current=pane.index == self.current, continues=pane.index == chosen)
        if chosen is None:
            mode = "Next prompt: every pane continues its own thread."
        else:
            mode = f"Next prompt: every pane continues from pane {chosen + 1}'s reply."
        sync = " Scrolling together." if self.sync_scroll else ""
        self.query_one("#compare-mode", Static).update(Text(mode + sync, style="dim"))
        self._show_tabs()

    def _show_tabs(self) -> None:
        """As tabs, show the current pane alone, under a strip naming each pane with a mark of
        how its reply stands."""
        strip = Text()
        for pane in self.panes:
            pane.display = not self.tabbed or pane.index == self.current
            mark = STATE_MARKS.get(pane.state or "", "")
            style = "bold reverse" if pane.index == self.current else ""
            strip.append(f" {pane.index + 1} {pane.target.profile} {mark}".rstrip() + " ", style)
            strip.append(" ")
        self.query_one("#pane-tabs", Static).update(strip)

    def on_pane_state_changed(self) -> None:
        if self.tabbed:
            self._show_tabs()

    # -- sending -------------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return any(pane.streaming for pane in self.panes)

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if not event.text.strip():
            event.prompt.give_back(event.text)
            return
        if self.streaming:
            self.notify("Panes are still streaming: Esc stops them.", severity="warning")
            event.prompt.give_back(event.text)
            return
        previous = self.turns[-1] if self.turns else None
        turn = Turn(event.text)
        self.turns.append(turn)
        for pane in self.panes:
            await pane.add_prompt(event.text)
        turn.prompt_id = await self._save_prompt(
            event.text, previous.continuation_id() if previous else None
        )
        for pane in self.panes:
            await self._answer(pane)
        self._show_mode()

    async def _save_prompt(self, text: str, parent: int | None) -> int | None:
        panes = self._pane_settings()

        def add(store: Store) -> int:
            if self.conversation is None:
                self.conversation = store.new_conversation(
                    kind="compare", profile=self.targets[0].profile
                )
                if panes:
                    store.set_settings(self.conversation, {"panes": panes})
            return store.add_message(self.conversation, parent, "user", text)

        saved_id = await self.services.history.call(add)
        self._report_history()
        return saved_id

    def _request_messages(self, pane: Pane) -> list[Message]:
        """What `pane` is sent: its system prompt, then each turn with the reply that continues
        it for this pane, then the last prompt."""
        messages = []
        for turn in self.turns[:-1]:
            messages.append(Message("user", turn.prompt))
            reply = turn.replies.get(pane.index if turn.chosen is None else turn.chosen)
            if reply:
                messages.append(Message("assistant", reply))
        messages.append(Message("user", self.turns[-1].prompt))
        return messages

    async def _answer(self, pane: Pane) -> None:
        """Start the pane's reply to the last prompt, in the pane's own worker group."""
        try:
            reply = pane.new_reply(
                self.services.profiles, self._request_messages(pane), self.services.clock
            )
        except GenchatError as exc:
            await pane.messages.mount(ErrorMessage(ShownTurn.of_error(exc)))
            return
        await pane.start(reply)
        turn = self.turns[-1]
        saved = self.services.history
        conversation, prompt_id = self.conversation, turn.prompt_id
        reply_id = None
        if conversation is not None and prompt_id is not None:
            reply_id = await saved.add_streaming(
                conversation, prompt_id, reply.origin, pane=pane.index
            )
        if reply_id is not None:
            turn.reply_ids[pane.index] = reply_id

        async def record() -> None:
            turn.replies[pane.index] = reply.text
            turn.metrics[pane.index] = reply.metrics
            turn.finish[pane.index] = pane.finish_word()
            error = reply.error.one_line() if reply.error else None
            await saved.finish_reply(
                reply_id, reply.text, pane.state or "stopped", reply.metrics.as_dict(), error
            )

        pane.launch(lambda: saved.progress(reply_id, lambda: reply.text), record)

    # -- one pane, or all ------------------------------------------------------------------------

    def _pane(self) -> Pane:
        return self.panes[self.current]

    def action_move(self, step: int) -> None:
        self.current = (self.current + step) % len(self.panes)
        self._show_mode()

    def action_one_pane(self) -> None:
        self.one_pane = not self.one_pane
        self._lay_out()

    def action_stop_all(self) -> None:
        for pane in self.panes:
            pane.stop()
        self.focus_prompt()

    def action_stop_pane(self) -> None:
        self._pane().stop()

    async def _stop_and_wait(self, pane: Pane) -> None:
        for worker in pane.stop():
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()

    async def action_regenerate_pane(self) -> None:
        """Answer the last prompt again in the current pane; the other panes keep theirs."""
        if not self.turns:
            self.notify("There is nothing to answer again yet.", severity="warning")
            return
        pane = self._pane()
        await self._stop_and_wait(pane)
        await pane.take_back_reply()
        turn = self.turns[-1]
        for values in (turn.replies, turn.metrics, turn.finish):
            values.pop(pane.index, None)
        if turn.chosen == pane.index:
            turn.chosen = None
            self._show_mode()
            replaced = turn.reply_ids.get(pane.index)
            if replaced is not None:
                await self.services.history.call(lambda store: store.choose(replaced, False))
        await self._answer(pane)

    def action_keep_reply(self) -> None:
        """Make the current pane's last reply the one every pane continues from (or, when it
        already is, let each pane continue its own again)."""
        if not self.turns:
            self.notify("There is no reply to continue from yet.", severity="warning")
            return
        pane, turn = self._pane(), self.turns[-1]
        if pane.streaming:
            self.notify(f"Pane {pane.index + 1} is still streaming.", severity="warning")
            return
        if not turn.replies.get(pane.index):
            self.notify(f"Pane {pane.index + 1} has no reply to continue from.", severity="warning")
            return
        turn.chosen = None if turn.chosen == pane.index else pane.index
        self._show_mode()
        reply_id = turn.reply_ids.get(pane.index)
        if reply_id is not None:
            chosen = turn.chosen is not None
            self.run_worker(
                self.services.history.call(lambda store: store.choose(reply_id, chosen))
            )

    def action_pane_settings(self) -> None:
        """Set the current pane's persona or system prompt and parameters; they apply from the
        next prompt (changing them mid-stream does not touch the reply under way)."""
        pane = self._pane()
        try:
            profile = self.services.profiles.get(pane.target.profile)
        except GenchatError as exc:
            self.notify(exc.message, title=exc.title, severity="error")
            return

        def changed(settings: dict[str, Any] | None) -> None:
            if settings is not None:
                pane.settings = settings
                self._show_mode()
                self._save_settings()

        personas = self.services.profiles.loaded.config.personas
        self.app.push_screen(ConversationSettings(profile, personas, pane.settings), changed)

    def _save_settings(self) -> None:
        conversation = self.conversation
        if conversation is None:
            return  # saved with the session, when its first prompt is
        panes = self._pane_settings()
        self.run_worker(
            self.services.history.call(
                lambda store: store.set_settings(conversation, {"panes": panes})
            )
        )

    def _pane_settings(self) -> dict[str, dict[str, Any]]:
        return {str(pane.index): pane.settings for pane in self.panes if pane.settings}

    def action_pick_pane_model(self) -> None:
        pane = self._pane()
        if pane.streaming:
            self.notify(
                f"Pane {pane.index + 1} is streaming: stop it (Ctrl+X) before changing its model.",
                severity="warning",
            )
            return

        def picked(target: Target | None) -> None:
            if target is not None and target != pane.target:
                pane.target = target
                pane.label = self.services.profiles.label(target)
                self._show_mode()

        self.app.push_screen(ModelPicker(self.services.profiles, pane.target), picked)

    def action_arena(self) -> None:
        targets = list(dict.fromkeys(pane.target for pane in self.panes))
        if len(targets) < 2:
            self.notify("The arena needs two different targets in the panes.", severity="warning")
            return
        self.post_message(OpenArena(targets))

    def action_close(self) -> None:
        if self.streaming:
            self.notify("Panes are still streaming: Esc stops them.", severity="warning")
            return
        self.dismiss(None)

    def action_summary(self) -> None:
        title = f"Comparison: {self.turns[0].prompt.splitlines()[0][:60]}" if self.turns else ""
        labels = [pane.label for pane in self.panes]
        name = str(self.conversation) if self.conversation is not None else ""
        self.post_message(OpenSummary(title or "Comparison", labels, self.turns, name=name))

    def action_sync_scroll(self) -> None:
        self.sync_scroll = not self.sync_scroll
        self._show_mode()

    def _follower(self, pane: Pane) -> Callable[[], None]:
        """A watcher of `pane`'s scrolling (without arguments: Textual passes none then)."""
        return lambda: self._scrolled(pane)

    def _scrolled(self, source: Pane) -> None:
        """With synchronised scrolling, put every other pane at the same relative place."""
        if not self.sync_scroll or self._syncing:
            return
        scroll = source.messages
        share = scroll.scroll_y / scroll.max_scroll_y if scroll.max_scroll_y else 1.0
        self._syncing = True
        try:
            for pane in self.panes:
                if pane is not source:
                    other = pane.messages
                    other.scroll_to(y=share * other.max_scroll_y, animate=False)
        finally:
            self._syncing = False

    def on_resize(self) -> None:
        self._lay_out()

    def _lay_out(self) -> None:
        """Side by side, stacked or tabs, as the terminal's size allows (see the class)."""
        count = len(self.targets)
        stacked = self.size.width < MIN_PANE_WIDTH * count
        short = (self.size.height - OTHER_ROWS) // count < MIN_PANE_HEIGHT
        self.tabbed = self.one_pane or (stacked and short)
        self.query_one("#panes", Horizontal).set_class(stacked and not self.tabbed, "-stacked")
        self.set_class(self.tabbed, "-tabbed")
        self._show_tabs()
