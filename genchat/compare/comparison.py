"""A comparison's numbers and words, apart from any screen: per-pane metrics for the last turn
and the session, a word-level diff of two replies, and the whole session as Markdown."""

from __future__ import annotations

import difflib
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from genchat.chat import Metrics
from genchat.markdown_blocks import close_open_blocks

MIN_PANES, MAX_PANES = 2, 4
"""How many targets a comparison takes."""

DiffOp: TypeAlias = tuple[Literal["same", "removed", "added"], str]


@dataclass
class Turn:
    """One prompt and each pane's reply to it."""

    prompt: str
    replies: dict[int, str] = field(default_factory=dict)
    """Pane index -> the text of its reply (what it had, where it stopped or failed)."""
    metrics: dict[int, Metrics] = field(default_factory=dict)
    """Pane index -> how its reply went."""
    finish: dict[int, str] = field(default_factory=dict)
    """Pane index -> how its reply ended: `stop`, `length`, `cancelled`, `error`, …"""
    chosen: int | None = None
    """The pane whose reply every pane continues from; `None`: each its own."""
    prompt_id: int | None = None
    """The prompt's id in the history store."""
    reply_ids: dict[int, int] = field(default_factory=dict)
    """Pane index -> its reply's id in the history store."""

    def continuation_id(self) -> int | None:
        """What the next prompt is saved under: the chosen reply, else the first pane's."""
        if self.chosen is not None and self.chosen in self.reply_ids:
            return self.reply_ids[self.chosen]
        first = min(self.reply_ids, default=None)
        return self.reply_ids[first] if first is not None else self.prompt_id


@dataclass(frozen=True)
class PaneSummary:
    """One pane's figures: its last turn, and means over the session's turns it answered."""

    label: str
    last: Metrics | None
    last_finish: str
    mean_ttft_s: float | None
    mean_tokens_per_s: float | None
    answered: int


def summarize(labels: Sequence[str], turns: Sequence[Turn]) -> list[PaneSummary]:
    summaries = []
    for pane, label in enumerate(labels):
        measured = [t.metrics[pane] for t in turns if pane in t.metrics]
        ttfts = [m.ttft_s for m in measured if m.ttft_s is not None]
        rates = [m.tokens_per_s for m in measured if m.tokens_per_s is not None]
        last_turn = next((t for t in reversed(turns) if pane in t.metrics), None)
        summaries.append(
            PaneSummary(
                label=label,
                last=last_turn.metrics[pane] if last_turn else None,
                last_finish=last_turn.finish.get(pane, "") if last_turn else "",
                mean_ttft_s=statistics.fmean(ttfts) if ttfts else None,
                mean_tokens_per_s=statistics.fmean(rates) if rates else None,
                answered=len(measured),
            )
        )
    return summaries


def word_diff(old: str, new: str) -> list[DiffOp]:
    """What changes `old` into `new`, word by word (whitespace kept with the word before it)."""
    a, b = _words(old), _words(new)
    ops: list[DiffOp] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            ops.append(("removed", "".join(a[i1:i2])))
        if j2 > j1:
            ops.append(("added", "".join(b[j1:j2])))
    return ops


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "–"


def _rate(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "–"


def metrics_table(summaries: Sequence[PaneSummary]) -> list[list[str]]:
    """The summary as rows of text: a header, then a row a pane."""
    rows = [
        [
            "pane",
            "TTFT",
            "tokens/s",
            "tokens",
            "elapsed",
            "finish",
            "mean TTFT",
            "mean tokens/s",
            "turns",
        ]
    ]
    for index, s in enumerate(summaries, 1):
        last = s.last
        rows.append(
            [
                f"{index} {s.label}",
                _seconds(last.ttft_s) if last else "–",
                _rate(last.tokens_per_s) if last else "–",
                str(last.completion_tokens) if last and last.completion_tokens is not None else "–",
                _seconds(last.wall_s) if last else "–",
                s.last_finish or "–",
                _seconds(s.mean_ttft_s),
                _rate(s.mean_tokens_per_s),
                str(s.answered),
            ]
        )
    return rows


def markdown(title: str, labels: Sequence[str], turns: Sequence[Turn]) -> str:
    """The whole session: each prompt, every pane's reply with its figures, which reply
    continued, and the summary table."""
    lines = [f"# {title}", ""]
    for number, turn in enumerate(turns, 1):
        lines += [f"## Turn {number}", "", _quote(turn.prompt), ""]
        for pane, label in enumerate(labels):
            if pane not in turn.replies and pane not in turn.metrics:
                continue
            mark = " (continued)" if turn.chosen == pane else ""
            lines += [f"### {pane + 1} · {label}{mark}", ""]
            # A pane stopped inside a code block would turn the rest of the file into code.
            lines += [close_open_blocks(turn.replies.get(pane, "")) or "*(no text)*", ""]
            if pane in turn.metrics:
                figures = turn.metrics[pane].text(timed=True, finish=turn.finish.get(pane, ""))
                lines += [f"*{figures}*", ""]
    rows = metrics_table(summarize(labels, turns))
    lines += ["## Summary", "", _table_row(rows[0]), _table_row(["---"] * len(rows[0]))]
    lines += [_table_row(row) for row in rows[1:]]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def _table_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
