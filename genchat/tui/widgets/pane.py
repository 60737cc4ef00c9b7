"""One pane of the compare screen: its target, live metrics, and its side of the conversation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from rich.text import Text
from textual import message
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static
from textual.worker import Worker

from genchat.chat import Message, Target
from genchat.errors import BackendError
from genchat.history.records import Status
from genchat.profiles.profile import Profiles
from genchat.reply import Reply
from genchat.session.turns import Turn
from genchat.tui.memory import collect_when_idle
from genchat.tui.widgets.message import AssistantMessage, ErrorMessage, UserMessage, stream_into

MIN_PANE_WIDTH = 36
"""Narrower than this, panes stack one above another: a reply in a column of 30 is unreadable."""

FINISH_WORDS = {
    "stop": "done",
    "length": "cut at max tokens",
    "cancelled": "stopped",
    "content_filter": "filtered",
}


class Pane(Vertical):
    """A target's side of a comparison: a header, a line of live metrics, and the messages."""

    def __init__(self, index: int, target: Target, label: str) -> None:
        super().__init__(classes="pane", id=f"pane-{index}")
        self.index = index
        self.target = target
        self.label = label
        self.reply: Reply | None = None
        """The last reply, streaming or finished."""
        self.view: AssistantMessage | None = None
        self._state: Status | None = None
        self.activity = ""
        """What the reply waits for, before its text: loading, queued, thinking."""
        self._unbegun: tuple[Coroutine[Any, Any, None], Callable[[], Awaitable[None]]] | None
        self._unbegun = None
        """The reply's work while its worker has not begun, and what to run when it ends."""
        self.blind_note: str | None = None
        """While set, the metrics line says this instead of the reply's figures, which would
        give the model away (a blind arena round)."""
        self.settings: dict[str, Any] = {}
        """This pane's persona or system prompt and parameters over its profile's (as a chat's
        `settings`)."""

    def compose(self) -> ComposeResult:
        yield Static(classes="pane-header")
        yield Static(classes="pane-metrics")
        yield VerticalScroll(classes="pane-messages")

    def on_mount(self) -> None:
        self.query_one(".pane-messages", VerticalScroll).anchor()
        self.show_header()
        self.set_interval(0.25, self._tick)

    @property
    def messages(self) -> VerticalScroll:
        return self.query_one(".pane-messages", VerticalScroll)

    class StateChanged(message.Message):
        """A pane's reply began, or ended."""

        def __init__(self, pane: Pane) -> None:
            super().__init__()
            self.pane = pane

    @property
    def state(self) -> Status | None:
        """The last reply's state: `streaming`, then `complete`, `stopped` or `error`."""
        return self._state

    @state.setter
    def state(self, value: Status | None) -> None:
        if value != self._state:
            self._state = value
            self.post_message(self.StateChanged(self))

    @property
    def streaming(self) -> bool:
        return self.state == "streaming"

    def show_header(self, *, current: bool = False, continues: bool = False) -> None:
        header = Text(f"{self.index + 1} ", style="bold reverse" if current else "bold")
        header.append(self.label, style="bold")
        persona = self.settings.get("persona")
        if persona or "system" in self.settings or self.settings.get("params"):
            header.append(f"  ({persona or 'own settings'})", style="dim")
        if continues:
            header.append("  ✓ continues", style="italic")
        self.query_one(".pane-header", Static).update(header)

    def show_stored(self, view: AssistantMessage, metrics: str) -> None:
        """Make a reply from the history the pane's last one."""
        self.view, self.reply, self.state = view, None, None
        self.query_one(".pane-metrics", Static).update(Text(metrics, style="dim"))

    def finish_word(self) -> str:
        """How the last reply ended, in a word or three."""
        if self.state == "error":
            return "failed"
        reason = self.reply.finish_reason if self.reply else None
        if reason is None and self.state == "stopped":
            reason = "cancelled"  # stopped before it began
        return FINISH_WORDS.get(reason or "", "")

    def show_metrics(self) -> None:
        reply = self.reply
        if self.blind_note is not None:
            text = self.blind_note
        elif reply is None:
            text = ""
        elif self.streaming:
            activity = f"{self.activity} · " if self.activity else ""
            text = activity + reply.metrics.text(timed=True)
        else:
            text = reply.metrics.text(timed=True, finish=self.finish_word())
        self.query_one(".pane-metrics", Static).update(Text(text, style="dim"))

    def _tick(self) -> None:
        if self.streaming:
            self.show_metrics()

    def new_reply(
        self, profiles: Profiles, messages: Sequence[Message], clock: Callable[[], float]
    ) -> Reply:
        """A reply from the pane's target to `messages`, with the pane's own settings (see
        `Profiles.new_reply`)."""
        return profiles.new_reply(self.target, messages, self.settings, clock)

    async def add_prompt(self, text: str) -> None:
        await self.messages.mount(UserMessage(Turn("user", text)))

    async def start(self, reply: Reply) -> None:
        """Show a new reply, before it streams."""
        self.reply = reply
        self.view = AssistantMessage(Turn("assistant", label=self.label), live=True)
        self.state = "streaming"
        self.activity = "waiting"
        await self.messages.mount(self.view)
        self.messages.anchor()
        self.show_metrics()

    async def stream(self, on_text: Callable[[], None] = lambda: None) -> None:
        """Stream the reply started with `start` into the pane; its errors stay in the pane.
        `on_text` is called after each piece of text (to save it, at its own pace)."""
        reply, view = self.reply, self.view
        assert reply is not None and view is not None
        state: Status = "stopped"  # unless the stream ends otherwise
        error: BackendError | None = None

        def activity(what: str, progress: float | None) -> None:
            if what.startswith("loading"):
                what = "loading" + (f" {progress:.0%}" if progress is not None else "")
            self.activity = {"streaming": "", "queued": "queued behind another pane"}.get(
                what, what
            )
            self.show_metrics()

        try:
            state, error = await stream_into(
                reply,
                view,
                activity,
                lambda text: self.app.notify(f"Pane {self.index + 1}: {text}", severity="warning"),
                on_text,
            )
        finally:
            self.state = state
            await view.finish(self.finish_word(), state=state)
            if error is not None:
                await self.messages.mount(ErrorMessage(Turn.of_error(error)))
            self.show_metrics()
            # Collect while the replies are read, once the last pane of the screen has ended.
            collect_when_idle(self, lambda: any(pane.streaming for pane in self.screen.query(Pane)))

    def launch(self, on_text: Callable[[], None], on_end: Callable[[], Awaitable[None]]) -> None:
        """Stream the reply `start` showed, in the pane's own worker group (`pane-N`), then
        run `on_end`, however the stream ended; also when it was stopped before its worker
        began, which runs none of the worker's code (see `stop`)."""

        async def run() -> None:
            self._unbegun = None
            try:
                await self.stream(on_text)
            finally:
                await on_end()

        work = run()
        self._unbegun = (work, on_end)
        self.run_worker(work, group=f"pane-{self.index}", exclusive=True, exit_on_error=False)

    def stop(self) -> list[Worker[None]]:
        """Stop the reply; returns the workers to wait for, to know it has ended.

        A worker cancelled before its task first ran runs none of its code, posts no
        `Worker.StateChanged` (its state stays `RUNNING`, Textual 8.2.8), and leaves the
        coroutine it was given unawaited, so `Worker.StateChanged` cannot end such a reply:
        this closes the coroutine and ends the reply. The worker is given a coroutine, not a
        function, because a finished worker keeps what it ran, and a coroutine that has run
        holds nothing (see `ChatScreen._reply`)."""
        workers = self.workers.cancel_group(self, f"pane-{self.index}")
        if self._unbegun is not None:
            work, on_end = self._unbegun
            self._unbegun = None
            work.close()

            async def end() -> None:
                await self.abandon()
                await on_end()

            workers.append(self.run_worker(end(), group=f"pane-{self.index}-end"))
        return workers

    async def abandon(self) -> None:
        """End a reply that was stopped before it began to stream."""
        if self.streaming and self.view is not None:
            self.state = "stopped"
            await self.view.finish(self.finish_word(), state="stopped")
            self.show_metrics()

    async def take_back_reply(self) -> None:
        """Remove the last reply (and its error), to answer again."""
        views = list(self.messages.children)
        while views and not isinstance(views[-1], UserMessage):
            await views.pop().remove()
        self.reply = self.view = None
        self.state = None
        self.show_metrics()
