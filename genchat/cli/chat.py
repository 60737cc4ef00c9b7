"""`genchat` and `genchat compare`: the TUI, on one profile or on two to four side by side."""

from __future__ import annotations

import argparse
import sys
from typing import Literal

from genchat.cli.exits import EXIT_USAGE
from genchat.cli.runner import run_app


def run_chat(args: argparse.Namespace) -> int:
    from genchat.tui.app import make_app

    conversation: int | Literal["last"] | None = "last" if args.continue_ else args.open
    app = make_app(args.model, no_plugins=args.no_plugins, conversation=conversation)
    code = run_app(app)
    if app.config_error is not None:  # found once the first frame was drawn
        raise app.config_error
    return code


def run_compare(args: argparse.Namespace) -> int:
    if not 2 <= len(args.profiles) <= 4:
        print(
            f"genchat: compare takes two to four profiles, not {len(args.profiles)} "
            "(see `genchat models`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from genchat.tui.app import make_app

    return run_app(make_app(no_plugins=args.no_plugins, compare=args.profiles))
