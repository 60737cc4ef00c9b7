"""`genchat`'s entry point: parse the command line, run the command, and turn what went wrong
into one line and an exit code (`genchat.cli.exits`).

Only `argparse` and the parser are imported before the command is known, so `genchat --help`
is instant; each command imports what it needs when it runs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from genchat.cli.exits import (
    EXIT_BACKEND,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
)
from genchat.cli.parser import CHAT, COMMANDS, build_parser
from genchat.cli.runner import flush, silence_stdout


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the process's arguments) and run the command. Returns the exit
    code; raises `KeyboardInterrupt`."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    args.no_plugins = getattr(args, "no_plugins", False)

    from genchat.errors import BackendError, ConfigError, GenchatError
    from genchat.logs import start_log

    module, function = (COMMANDS[args.command].runs if args.command else CHAT).split(":")
    try:
        start_log(getattr(args, "log", None), getattr(args, "log_level", None))
        code: int = getattr(importlib.import_module(module), function)(args)
        return code
    except ConfigError as exc:
        print(f"genchat: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except BackendError as exc:
        print(f"genchat: error: {exc.one_line()}", file=sys.stderr)
        return EXIT_BACKEND
    except GenchatError as exc:  # the history cannot be used (StoreError), among others
        print(f"genchat: {exc.one_line()}", file=sys.stderr)
        return EXIT_BACKEND


def main(argv: Sequence[str] | None = None) -> None:
    """The `genchat` console script.

    Output that cannot be written ends the command here, with one line and no traceback: a
    reader that went away (`genchat history | head -1`) exits quietly with 141, as a program
    killed by SIGPIPE would; a full disk or a closed stdout says so and exits 1; a file the
    user named that cannot be opened says so and exits 2.
    """
    if sys.stdout is None:  # started with stdout closed (`genchat ask hi >&-`)
        print("genchat: error: standard output is closed; nothing could be shown", file=sys.stderr)
        sys.exit(EXIT_BACKEND)
    try:
        code = run(argv)
        sys.stdout.flush()  # inside the `try`: a full disk may only show at this last write
    except BrokenPipeError:
        silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except OSError as exc:
        # A file the user named (`-o /no/such/dir/x`) is a usage error; stdout failing is not.
        reason = exc.strerror or exc
        if exc.filename:
            print(f"genchat: error: {exc.filename}: {reason}", file=sys.stderr)
        else:
            print(f"genchat: error: cannot write the output: {reason}", file=sys.stderr)
        code = EXIT_USAGE if exc.filename else EXIT_BACKEND
        silence_stdout()
        sys.exit(code)
    except KeyboardInterrupt:
        print("\ngenchat: interrupted", file=sys.stderr)
        flush()
        # A model may still be loading or generating in a worker thread; leave without
        # running library teardown under its feet.
        os._exit(EXIT_INTERRUPTED)
    flush()
    sys.exit(code)
