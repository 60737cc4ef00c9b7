"""The arena's commands: `genchat arena` (the TUI), `genchat leaderboard` and `genchat votes`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar

from genchat.arena import vote_store
from genchat.cli.exits import EXIT_OK, EXIT_USAGE
from genchat.cli.runner import run_app
from genchat.untrusted import clean

if TYPE_CHECKING:
    from genchat.history.store import Store

T = TypeVar("T")


class VoteFilter(TypedDict):
    """Which stored votes count (the keywords of `Store.votes` and `Store.ballots`)."""

    tag: str | None
    since: float | None
    until: float | None
    flagged: bool


def run_arena(args: argparse.Namespace) -> int:
    if len(set(args.profiles)) < 2:
        print(
            "genchat: the arena needs at least two different profiles "
            f"(got {', '.join(args.profiles)}; see `genchat models`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from genchat.tui.app import make_app

    return run_app(
        make_app(
            no_plugins=args.no_plugins,
            arena=list(dict.fromkeys(args.profiles)),
            live=args.live,
            tag=args.tag,
            seed=args.seed,
        )
    )


def run_leaderboard(args: argparse.Namespace) -> int:
    from genchat.arena.leaderboard import plot, text_table, to_csv, to_markdown
    from genchat.arena.ratings import leaderboard

    ballots = _read(args, lambda store, filters: vote_store.ballots(store, **filters))
    if isinstance(ballots, int):
        return ballots
    board = leaderboard(ballots, rounds=args.rounds, seed=args.seed, min_votes=args.min_votes)
    if args.format == "csv":
        text = to_csv(board)
    elif args.format == "md":
        title = f"Leaderboard: {args.tag}" if args.tag else "Leaderboard"
        text = to_markdown(board, title)
    else:
        text = text_table(board)
        if board.enough:
            text += "\n" + "\n".join(plot(board)) + "\n"
        text = clean(text)
    return _write(text, args.output)


def run_votes(args: argparse.Namespace) -> int:
    """Votes with a winner as JSON lines of preference pairs."""
    from genchat.arena.votes import preference_pairs

    votes = _read(args, lambda store, filters: vote_store.votes(store, **filters))
    if isinstance(votes, int):
        return votes
    pairs = [json.dumps(pair, ensure_ascii=False) for pair in preference_pairs(votes)]
    code = _write("".join(line + "\n" for line in pairs), args.output)
    skipped = len(votes) - len(pairs)
    print(
        f"{len(pairs)} preference pairs"
        + (f"; {skipped} ties or both-bad votes left out" if skipped else ""),
        file=sys.stderr,
    )
    return code


def _read(args: argparse.Namespace, read: Callable[[Store, VoteFilter], T]) -> T | int:
    """What `read` finds in the history with the options' filters; or the exit code, once
    said why there is nothing (a date it cannot read). A history that cannot be opened raises
    `StoreError`, which `genchat.cli.main` says."""
    from genchat.history.store import Store

    filters = _filters(args)
    if filters is None:
        return EXIT_USAGE
    with Store() as store:
        return read(store, filters)


def _filters(args: argparse.Namespace) -> VoteFilter | None:
    """The store's vote filters from the options; `None` (said why) for a date it can't read."""
    times: dict[str, float | None] = {}
    for name in ("since", "until"):
        value = getattr(args, name)
        try:
            times[name] = None if value is None else datetime.fromisoformat(value).timestamp()
        except ValueError:
            print(
                f"genchat: --{name} {value!r} is not a date; write it as 2026-11-01 "
                "(or 2026-11-01T14:30)",
                file=sys.stderr,
            )
            return None
    return VoteFilter(
        tag=args.tag, since=times["since"], until=times["until"], flagged=args.include_flagged
    )


def _write(text: str, output: str | None) -> int:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"genchat: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        sys.stdout.write(text)
    return EXIT_OK
