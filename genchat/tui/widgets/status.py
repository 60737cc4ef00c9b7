"""The status bar: the target, the streaming or last reply's metrics, the context window, and
load progress."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import ProgressBar, Static


class StatusBar(Horizontal):
    """One line under the conversation."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    StatusBar > #status-text { width: 1fr; }
    StatusBar > ProgressBar { width: 24; display: none; }
    StatusBar.-busy > ProgressBar { display: block; }
    """

    target: reactive[str] = reactive("")
    """Profile · model."""
    metrics: reactive[str] = reactive("")
    """The reply's metrics, formatted: the streaming one's (see `follow`), else the last's."""
    context: reactive[str] = reactive("")
    """Context window in use."""
    activity: reactive[str] = reactive("")
    """What is happening now: loading, queued, streaming."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._busy_since: float | None = None
        self._live: Callable[[], str] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status-text")
        yield ProgressBar(total=None, show_eta=False, show_percentage=False)

    def on_mount(self) -> None:
        self.set_interval(0.5, self._tick)

    def busy(self, activity: str, progress: float | None = None) -> None:
        """Show `activity` with the elapsed time, and a progress bar: determinate when
        `progress` (0..1) is known, else indeterminate."""
        if self._busy_since is None:
            self._busy_since = time.monotonic()
        self.activity = activity
        bar = self.query_one(ProgressBar)
        if progress is None:
            if bar.total is not None:
                bar.update(total=None)
        else:
            bar.update(total=100, progress=round(100 * progress))
        self.add_class("-busy")

    def idle(self, activity: str = "") -> None:
        self._busy_since = None
        self.activity = activity
        self.remove_class("-busy")

    def follow(self, metrics: Callable[[], str] | None) -> None:
        """Show the figures `metrics` gives, twice a second, while a reply streams; `None`
        stops (the caller then sets `metrics` to the reply's last figures)."""
        self._live = metrics
        if metrics is not None:
            self.metrics = metrics()

    def _tick(self) -> None:
        if self._live is not None:
            self.metrics = self._live()
        if self._busy_since is not None:
            self._refresh_text()

    def watch_target(self) -> None:
        self._refresh_text()

    def watch_metrics(self) -> None:
        self._refresh_text()

    def watch_context(self) -> None:
        self._refresh_text()

    def watch_activity(self) -> None:
        self._refresh_text()

    def _refresh_text(self) -> None:
        text = Text(self.target, style="bold")
        for part in (self.activity_text, self.metrics, self.context):
            if part:
                text.append("  │  ", style="dim")
                text.append(part)
        # One line of fixed size: no layout pass, which costs more the longer the conversation.
        self.query_one("#status-text", Static).update(text, layout=False)

    @property
    def activity_text(self) -> str:
        if not self.activity:
            return ""
        if self._busy_since is None:
            return self.activity
        return f"{self.activity} {time.monotonic() - self._busy_since:.0f}s"
