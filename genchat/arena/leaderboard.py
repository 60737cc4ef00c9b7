"""A leaderboard as people read it: a table, a plot of the ratings with their intervals, CSV and
Markdown. The terminal command and the leaderboard screen both draw from here."""

from __future__ import annotations

import csv
import io
import math

from genchat.arena.ratings import BASE_RATING, Leaderboard, Standing

COLUMNS = (
    "Rank",
    "Model",
    "Rating",
    "95% CI",
    "Elo",
    "Win rate",
    "Votes",
    "W-L-T",
    "TTFT",
    "Tok/s",
)
NUMERIC = {0, 2, 3, 4, 5, 6, 8, 9}
"""The columns aligned right."""
NOT_ENOUGH = "not enough votes"


def rows(board: Leaderboard) -> list[tuple[str, ...]]:
    """One row of text per model, in `COLUMNS` order; a model without enough votes shows its
    counts, and says so where its ratings would be."""
    table: list[tuple[str, ...]] = []
    for rank, s in enumerate(board.standings, 1):
        rated = s.rating is not None
        table.append(
            (
                str(rank) if rated else "",
                s.name,
                f"{s.rating:.0f}" if s.rating is not None else NOT_ENOUGH,
                _interval(s),
                f"{s.elo:.0f}" if s.elo is not None else "",
                f"{s.win_rate:.0%}",
                str(s.votes),
                f"{s.wins}-{s.losses}-{s.ties}",
                f"{s.ttft_s:.2f}s" if s.ttft_s is not None else "–",
                f"{s.tokens_per_s:.1f}" if s.tokens_per_s is not None else "–",
            )
        )
    return table


def text_table(board: Leaderboard) -> str:
    """The table with aligned columns, then the summary line (alone, with no votes)."""
    if not board.standings:
        return board.summary() + "\n"
    table: list[tuple[str, ...]] = [COLUMNS, *rows(board)]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in NUMERIC else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]
    return "\n".join([*lines, "", board.summary()]) + "\n"


def to_csv(board: Leaderboard) -> str:
    """Numbers as numbers (empty where there are none), for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["rank", "model", "rating", "ci_low", "ci_high", "elo", "win_rate", "votes", "wins",
         "losses", "ties", "ttft_s", "tokens_per_s"]
    )  # fmt: skip
    for rank, s in enumerate(board.standings, 1):
        writer.writerow(
            [rank if s.enough else "", s.name, _number(s.rating), _number(s.low),
             _number(s.high), _number(s.elo), f"{s.win_rate:.4f}", s.votes, s.wins, s.losses,
             s.ties, _number(s.ttft_s), _number(s.tokens_per_s)]
        )  # fmt: skip
    return out.getvalue()


def to_markdown(board: Leaderboard, title: str = "Leaderboard") -> str:
    lines = [f"# {title}", "", board.summary(), ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "|".join(" ---: " if i in NUMERIC else " --- " for i in range(10)) + "|")
    for row in rows(board):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"


def plot(board: Leaderboard, width: int = 60) -> list[str]:
    """Each rated model's rating (●) and 95% interval (├──┤) on one axis, a row per model, with
    the mean (1000) marked ┆ and the axis's ends labelled; empty without enough votes."""
    # (name, rating, low, high); without bootstrap rounds an interval is its rating alone
    rated = [
        (
            s.name,
            s.rating,
            s.rating if s.low is None else s.low,
            s.rating if s.high is None else s.high,
        )
        for s in board.standings
        if s.rating is not None
    ]
    if not board.enough or not rated:
        return []
    left = min(BASE_RATING, *(low for _, _, low, _ in rated))
    right = max(BASE_RATING, *(high for _, _, _, high in rated))
    if math.isclose(left, right):
        left, right = left - 50, right + 50
    name_width = max(len(name) for name, *_ in rated)
    span = max(width - name_width - 2, 10)

    def column(value: float) -> int:
        return round((value - left) / (right - left) * (span - 1))

    lines = []
    for name, rating, low, high in rated:
        row = [" "] * span
        row[column(BASE_RATING)] = "┆"
        start, end = column(low), column(high)
        for i in range(start, end + 1):
            row[i] = "─"
        row[start], row[end] = "├", "┤"
        row[column(rating)] = "●"
        lines.append(f"{name.rjust(name_width)}  {''.join(row)}".rstrip())
    scale = f"{left:.0f}".ljust(span - len(f"{right:.0f}")) + f"{right:.0f}"
    lines.append(" " * (name_width + 2) + scale)
    return lines


def _interval(s: Standing) -> str:
    if s.low is None or s.high is None:
        return ""
    return f"{s.low:.0f}–{s.high:.0f}"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}" if abs(value) < 100 else f"{value:.1f}"
