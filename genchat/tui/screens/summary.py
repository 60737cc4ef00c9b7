"""The summary of a comparison: each pane's figures, a word-level diff of two replies, and the
session exported as Markdown."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from genchat.compare.comparison import Turn, markdown, metrics_table, summarize, word_diff
from genchat.paths import data_dir, write_export
from genchat.tui.widgets.keybar import KeyBar

DIFF_STYLES = {"same": "", "removed": "strike red", "added": "bold green"}


class CompareSummary(Screen[None]):
    """A comparison's figures and a diff of two of its last replies.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | a, b | `diff_left`, `diff_right` | Choose the panes to diff. |
    | ctrl+s | `export_compare` | Save the whole session as Markdown. |
    | c | `copy_compare` | Copy the whole session as Markdown. |
    | escape | `close_summary` | Back to the panes. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "diff_pane(0)", "Diff: left pane", id="diff_left"),
        Binding("b", "diff_pane(1)", "Diff: right pane", id="diff_right"),
        Binding("ctrl+s", "export", "Save .md", id="export_compare"),
        Binding("c", "copy", "Copy .md", id="copy_compare"),
        Binding("escape", "close", "Back", id="close_summary"),
    ]

    def __init__(
        self, title: str, labels: Sequence[str], turns: Sequence[Turn], name: str = ""
    ) -> None:
        super().__init__()
        self.title_text = title
        self.labels = list(labels)
        self.turns = list(turns)
        self.file_name = name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        """What the export's file is named after (the session's id once saved)."""
        self.diffed = [0, 1]
        """The two panes whose last replies are compared, left and right."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="summary"):
            yield Static(Text(self.title_text, style="bold"), id="summary-title")
            yield DataTable(id="summary-table", cursor_type="none", zebra_stripes=True)
            yield Static(id="diff-title")
            yield Static(id="diff")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        header, *rows = metrics_table(summarize(self.labels, self.turns))
        table.add_columns(*header)
        table.add_rows(rows)
        self._show_diff()

    def _show_diff(self) -> None:
        left, right = self.diffed
        last = next((t for t in reversed(self.turns) if t.replies), None)
        title = Text()
        title.append(f"Last replies, pane {left + 1} against pane {right + 1}", style="bold")
        title.append("  (a, b: other panes · red: only left · green: only right)", style="dim")
        self.query_one("#diff-title", Static).update(title)
        if last is None:
            self.query_one("#diff", Static).update(Text("No replies yet.", style="dim"))
            return
        body = Text()
        for kind, words in word_diff(last.replies.get(left, ""), last.replies.get(right, "")):
            body.append(words, style=DIFF_STYLES[kind])
        self.query_one("#diff", Static).update(body)

    def action_diff_pane(self, side: int) -> None:
        """Move one side of the diff to the next pane (never onto the other side's)."""
        other = self.diffed[1 - side]
        step = self.diffed[side]
        for _ in self.labels:
            step = (step + 1) % len(self.labels)
            if step != other:
                break
        self.diffed[side] = step
        self._show_diff()

    def _markdown(self) -> str:
        return markdown(self.title_text, self.labels, self.turns)

    async def action_export(self) -> None:
        path = data_dir() / "exports" / f"genchat-compare-{self.file_name}.md"
        try:
            await asyncio.to_thread(write_export, path, self._markdown())
        except OSError as exc:
            self.notify(f"Could not save to {path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"Saved to {path}", timeout=10)

    def action_copy(self) -> None:
        text = self._markdown()
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied the comparison as Markdown ({len(text)} characters).", timeout=5)

    def action_close(self) -> None:
        self.dismiss(None)
