"""The leaderboard: every stored arena vote as ratings with their intervals, win rates and
speeds, a plot, filters by tag, time and flag, and export to CSV and Markdown."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from genchat.arena import vote_store
from genchat.arena.leaderboard import COLUMNS, NUMERIC, plot, rows, to_csv, to_markdown
from genchat.arena.ratings import Leaderboard, leaderboard
from genchat.arena.votes import Ballot
from genchat.history.store import Store
from genchat.paths import data_dir, write_export
from genchat.tui.history import ChatHistory
from genchat.tui.widgets.keybar import KeyBar

DAY_S = 24 * 3600
PERIODS: tuple[tuple[str, float | None], ...] = (
    ("all time", None),
    ("the last 30 days", 30 * DAY_S),
    ("the last 7 days", 7 * DAY_S),
    ("the last day", DAY_S),
)


class LeaderboardScreen(Screen[None]):
    """Ratings from the arena's votes.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | t | `board_tag` | Only the votes with the next tag (then all tags again). |
    | r | `board_period` | All time, the last 30 days, 7 days, or day. |
    | f | `board_flagged` | Count the votes where a reply named its model, or leave them out. |
    | ctrl+s | `board_export` | Save the board as CSV and Markdown. |
    | escape | `close_board` | Back. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "next_tag", "Tag", id="board_tag"),
        Binding("r", "next_period", "Period", id="board_period"),
        Binding("f", "flagged", "Flagged", id="board_flagged"),
        Binding("ctrl+s", "export", "Save .csv .md", id="board_export"),
        Binding("escape", "close", "Back", id="close_board"),
    ]

    def __init__(
        self, history: ChatHistory, tag: str | None = None, *, now: float | None = None
    ) -> None:
        super().__init__()
        self.history = history
        self.tag = tag
        self.tags: list[str] = []
        self.period = 0
        self.flagged = False
        self.now = now
        """The end of the time periods (default: the moment the board is counted)."""
        self.board: Leaderboard | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="leaderboard"):
            yield Static(id="board-filters")
            yield DataTable(id="board-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="board-plot")
            yield Static(id="board-summary")
        yield KeyBar()

    def on_mount(self) -> None:
        self._count()

    def _count(self) -> None:
        """Read the votes the filters choose and rate them, off the event loop."""
        self._show_filters()
        self.query_one("#board-summary", Static).update(Text("Counting votes…", style="dim"))
        self.run_worker(self._rate(), group="board", exclusive=True, exit_on_error=False)

    async def _rate(self) -> None:
        _, span = PERIODS[self.period]
        since = (self.now or time.time()) - span if span else None
        tag, flagged = self.tag, self.flagged

        def read(store: Store) -> tuple[list[str], list[Ballot]]:
            return vote_store.vote_tags(store), vote_store.ballots(
                store, since=since, tag=tag, flagged=flagged
            )

        found = await self.history.call(read)
        if found is None:
            failure = self.history.failure
            why = failure.message if failure else "The history could not be read."
            self.query_one("#board-summary", Static).update(Text(why, style="red"))
            return
        self.tags, ballots = found
        self.board = await asyncio.to_thread(leaderboard, ballots)
        self._show()

    def _show(self) -> None:
        board = self.board
        assert board is not None
        table = self.query_one(DataTable)
        table.clear(columns=True)
        lines = rows(board)
        widths = [max(len(row[i]) for row in (COLUMNS, *lines)) for i in range(len(COLUMNS))]

        def aligned(row: tuple[str, ...]) -> list[str]:
            return [
                cell.rjust(width) if index in NUMERIC else cell
                for index, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]

        table.add_columns(*aligned(COLUMNS))
        table.add_rows(aligned(row) for row in lines)
        self._show_plot()
        style = "" if board.enough else "bold"
        self.query_one("#board-summary", Static).update(Text(board.summary(), style=style))
        self._show_filters()

    def _show_filters(self) -> None:
        line = Text("Leaderboard", style="bold")
        line.append(f" · tag {self.tag}" if self.tag else " · every tag")
        line.append(f" · {PERIODS[self.period][0]}")
        line.append(" · flagged votes counted" if self.flagged else " · flagged votes left out")
        line.append("   (t, r, f change these)", style="dim")
        self.query_one("#board-filters", Static).update(line)

    def action_next_tag(self) -> None:
        choices: list[str | None] = [None, *self.tags]
        position = choices.index(self.tag) if self.tag in choices else 0
        self.tag = choices[(position + 1) % len(choices)]
        self._count()

    def action_next_period(self) -> None:
        self.period = (self.period + 1) % len(PERIODS)
        self._count()

    def action_flagged(self) -> None:
        self.flagged = not self.flagged
        self._count()

    async def action_export(self) -> None:
        if self.board is None:
            self.notify("The votes are still being counted.", severity="warning")
            return
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = data_dir() / "exports"
        title = f"Leaderboard: {self.tag}" if self.tag else "Leaderboard"
        saved = []
        for suffix, text in (("csv", to_csv(self.board)), ("md", to_markdown(self.board, title))):
            path = folder / f"genchat-leaderboard-{stamp}.{suffix}"
            try:
                await asyncio.to_thread(write_export, path, text)
            except OSError as exc:
                self.notify(f"Could not save to {path}: {exc.strerror or exc}", severity="error")
                return
            saved.append(path)
        self.notify(f"Saved to {saved[0]} and {saved[1].name}", timeout=10)

    def _show_plot(self) -> None:
        if self.board is not None:
            width = max(self.size.width - 6, 40)
            self.query_one("#board-plot", Static).update(Text("\n".join(plot(self.board, width))))

    def on_resize(self) -> None:
        self._show_plot()

    def action_close(self) -> None:
        self.dismiss(None)
