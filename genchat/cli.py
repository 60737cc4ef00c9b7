"""The command line: `genchat`, `genchat ask`, `models`, `plugins` and `config`.

Only `argparse` is imported at start-up, so `genchat --help` is instant; each command imports what
it needs. Exit codes: 0 ok, 1 a backend failed (or the output could not be written, or the
history was found damaged), 2 a usage or config error, 130 interrupted, 141 the reader of
stdout went away.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from textual.app import App

T = TypeVar("T")

EXIT_OK = 0
EXIT_BACKEND = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""The reader of stdout went away: what a shell reports for a program killed by SIGPIPE."""

DESCRIPTION = """\
A terminal client for chatting with language models: a local 4-bit model out of the box,
any GGUF file through llama.cpp, and more backends through plugins."""

EPILOG = """\
environment:
  GENCHAT_CONFIG     the config file (see `genchat config path`)
  GENCHAT_DATA_DIR   where conversations are kept
  GENCHAT_CACHE_DIR  where converted models are cached
  GENCHAT_PLUGINS    comma-separated plugins to load; empty loads built-ins only
  GENCHAT_LOG        append a log to this file (GENCHAT_LOG_LEVEL: debug, info, …)

exit codes: 0 ok, 1 the backend failed, the output could not be written, or the history was
found damaged and moved aside, 2 usage or config error, 130 interrupted, 141 the reader of
the output went away"""


class _Parser(argparse.ArgumentParser):
    """argparse with genchat's exit code for usage errors and one-line messages."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"genchat: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, with a sub-parser per command."""
    from genchat import __version__

    # Options that work before and after the command name. SUPPRESS keeps a sub-parser's
    # default from overwriting a value given before the command.
    logs = _Parser(add_help=False)
    logs.add_argument(
        "--log",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="append a log to FILE (also GENCHAT_LOG), keys redacted",
    )
    logs.add_argument(
        "--log-level",
        metavar="LEVEL",
        default=argparse.SUPPRESS,
        help="debug, info (the default), warning or error (also GENCHAT_LOG_LEVEL)",
    )
    common = _Parser(add_help=False, parents=[logs])
    common.add_argument(
        "--no-plugins",
        action="store_true",
        default=argparse.SUPPRESS,
        help="load no third-party plugins, only the built-in backends",
    )

    parser = _Parser(
        prog="genchat",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"genchat {__version__}")
    parser.add_argument("-m", "--model", metavar="PROFILE", help="the profile to chat with")
    reopen = parser.add_mutually_exclusive_group()
    reopen.add_argument(
        "-c",
        "--continue",
        dest="continue_",
        action="store_true",
        help="reopen the last conversation to continue it",
    )
    reopen.add_argument(
        "--open", type=int, metavar="ID", help="reopen conversation ID (see `genchat history`)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ask = sub.add_parser(
        "ask",
        parents=[common],
        help="stream one reply to stdout",
        description="Stream one reply to stdout. The prompt comes from the argument, from "
        "stdin when it is piped, or both (stdin first, then the argument).",
    )
    ask.add_argument("prompt", nargs="?", help="the prompt (default: read from stdin)")
    ask.add_argument(
        "-m", "--model", metavar="PROFILE", default=argparse.SUPPRESS, help="the profile to ask"
    )
    ask.add_argument(
        "--adapter",
        metavar="NAME",
        help="a LoRA adapter of the profile, `base` for none, or a weighted mix: A*0.5+B*0.5",
    )
    ask.add_argument("--system", metavar="TEXT", help="the system prompt (overrides the profile's)")
    ask.add_argument("--temperature", type=float, metavar="T", help="sampling temperature, 0-2")
    ask.add_argument("--max-tokens", type=int, metavar="N", help="the most tokens to generate")
    ask.add_argument("--seed", type=int, metavar="N", help="sampling seed, for repeatable replies")
    ask.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the text, the metrics and the finish reason",
    )

    ask.add_argument(
        "--no-save", action="store_true", help="do not save the exchange in the history"
    )
    ask.add_argument(
        "--continue",
        dest="continue_",
        action="store_true",
        help="continue the last conversation in the history (it is sent as context)",
    )

    compare = sub.add_parser(
        "compare",
        parents=[common],
        help="open two to four profiles side by side",
        description="Send each prompt to two to four profiles at once, side by side.",
    )
    compare.add_argument("profiles", nargs="+", metavar="PROFILE", help="two to four profiles")

    arena = sub.add_parser(
        "arena",
        parents=[common],
        help="vote blind between two of the given profiles, round after round",
        description="Each prompt goes to two of the profiles, drawn at random and shown as "
        "Model A and Model B; vote for the better reply, then see which was which. Votes "
        "feed `genchat leaderboard`.",
    )
    arena.add_argument("profiles", nargs="+", metavar="PROFILE", help="two or more profiles")
    arena.add_argument(
        "--live",
        action="store_true",
        help="stream replies as they come (by default both show when both have finished, so "
        "that speed gives no model away)",
    )
    arena.add_argument("--tag", default="", help="a tag for this session's votes (coding…)")
    arena.add_argument("--seed", type=int, help="seed the draws, to replay a session's pairs")

    history = sub.add_parser(
        "history", parents=[logs], help="list saved conversations, newest first"
    )
    history.add_argument("-s", "--search", metavar="WORDS", help="only those whose text matches")
    history.add_argument("-n", "--limit", type=int, default=20, metavar="N", help="at most N")
    export = sub.add_parser(
        "export", parents=[logs], help="write a saved conversation as Markdown or JSON"
    )
    export.add_argument("id", type=int, help="the conversation, as `genchat history` shows it")
    export.add_argument("--format", choices=("md", "json"), default="md")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    imported = sub.add_parser("import", parents=[logs], help="add a conversation exported as JSON")
    imported.add_argument("file", help="a file written by `genchat export --format json`")

    from genchat.arena_commands import add_vote_filters
    from genchat.votes import MIN_VOTES, ROUNDS

    board = sub.add_parser(
        "leaderboard",
        parents=[logs],
        help="rank models from your arena votes",
        description="Bradley–Terry ratings with bootstrap intervals, online Elo, win rates and "
        "speeds, from the votes stored by `genchat arena`.",
    )
    add_vote_filters(board)
    board.add_argument("--format", choices=("table", "csv", "md"), default="table")
    board.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    board.add_argument(
        "--rounds", type=int, default=ROUNDS, metavar="N", help=f"bootstrap rounds ({ROUNDS})"
    )
    board.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (0)")
    board.add_argument(
        "--min-votes",
        type=int,
        default=MIN_VOTES,
        metavar="N",
        help=f"rate only models with N votes or more ({MIN_VOTES})",
    )
    votes = sub.add_parser(
        "votes",
        parents=[logs],
        help="export arena votes as preference pairs (JSON lines)",
        description="Each vote with a winner as {prompt, chosen, rejected, metadata}, one JSON "
        "object a line, ready for DPO-style training.",
    )
    add_vote_filters(votes)
    votes.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    sub.add_parser("models", parents=[common], help="list profiles and the models they offer")
    sub.add_parser(
        "plugins", parents=[common], help="list plugins, their backends, and those that failed"
    )

    config = sub.add_parser("config", parents=[logs], help="show, create or check the config file")
    config_sub = config.add_subparsers(
        dest="config_command", metavar="ACTION", parser_class=_Parser
    )
    config_sub.required = True
    config_sub.add_parser("path", help="print where the config file is read from")
    init = config_sub.add_parser("init", help="write a commented example config file")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    config_sub.add_parser("check", parents=[common], help="validate the config file")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the command. Returns the exit code; raises `KeyboardInterrupt`."""
    from genchat.errors import BackendError, ConfigError
    from genchat.logs import start_log

    args = build_parser().parse_args(argv)
    args.no_plugins = getattr(args, "no_plugins", False)
    try:
        start_log(getattr(args, "log", None), getattr(args, "log_level", None))
        if args.command == "ask":
            from genchat.ask import run_ask

            return run_ask(args)
        if args.command == "models":
            from genchat.commands import run_models

            return run_models(args)
        if args.command == "plugins":
            from genchat.commands import run_plugins

            return run_plugins(args)
        if args.command == "config":
            from genchat.commands import run_config

            return run_config(args)
        if args.command == "compare":
            if not 2 <= len(args.profiles) <= 4:
                print(
                    f"genchat: compare takes two to four profiles, not {len(args.profiles)} "
                    "(see `genchat models`)",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            from genchat.tui.app import make_app

            return _run_app(make_app(no_plugins=args.no_plugins, compare=args.profiles))
        if args.command == "arena":
            if len(set(args.profiles)) < 2:
                print(
                    "genchat: the arena needs at least two different profiles "
                    f"(got {', '.join(args.profiles)}; see `genchat models`)",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            from genchat.tui.app import make_app

            return _run_app(
                make_app(
                    no_plugins=args.no_plugins,
                    arena=list(dict.fromkeys(args.profiles)),
                    live=args.live,
                    tag=args.tag,
                    seed=args.seed,
                )
            )
        if args.command in ("leaderboard", "votes"):
            from genchat import arena_commands

            return int(getattr(arena_commands, f"run_{args.command}")(args))
        if args.command in ("history", "export", "import"):
            from genchat import history_commands

            return int(getattr(history_commands, f"run_{args.command}")(args))
        return _run_chat(args)
    except ConfigError as exc:
        print(f"genchat: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except BackendError as exc:
        print(f"genchat: error: {exc.one_line()}", file=sys.stderr)
        return EXIT_BACKEND


def _run_chat(args: argparse.Namespace) -> int:
    from genchat.tui.app import make_app

    conversation: int | Literal["last"] | None = "last" if args.continue_ else args.open
    return _run_app(make_app(args.model, no_plugins=args.no_plugins, conversation=conversation))


def _run_app(app: App[None], *, headless: bool = False) -> int:
    """Run the TUI; its exit code is non-zero when it ended on an error (Textual has printed
    the traceback by then), so that a crash never looks like success to a script."""
    app.run(headless=headless)
    code = app.return_code
    return EXIT_OK if code in (None, 0) else EXIT_BACKEND


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine. Ctrl+C cancels it, so its cleanup runs, then propagates.

    Unlike `asyncio.run`, an interrupted run does not wait for executor threads: a plugin's
    blocking call may take minutes to return, and the process is about to exit anyway.
    """
    import asyncio

    runner = asyncio.Runner()
    try:
        result = runner.run(coro)
    except KeyboardInterrupt:
        raise
    except BaseException:
        runner.close()
        raise
    runner.close()
    return result


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
        _flush()
        # A model may still be loading or generating in a worker thread; leave without
        # running library teardown under its feet.
        os._exit(EXIT_INTERRUPTED)
    _flush()
    sys.exit(code)


def silence_stdout() -> None:
    """After stdout has failed, point it at /dev/null, so that the flush at interpreter exit
    does not fail on it again and print a second error."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
