"""The command line's grammar: the top-level options and a table of commands.

`build_parser(argv)` adds the arguments of only the commands that `argv` names; every other
command is listed by name and help alone, which is all `genchat --help` shows of it. So the
help, and any one command, costs the parsing of one command, and the imports its defaults need
(`leaderboard` shows the vote module's), not those of all fourteen.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

from genchat.cli.exits import EXIT_USAGE

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


class Parser(argparse.ArgumentParser):
    """argparse with genchat's exit code for usage errors and one-line messages."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"genchat: error: {message} (see `{self.prog} --help`)\n")


class Command(NamedTuple):
    """One command of the table: what the top-level help says of it, which shared options
    it takes, how to add its own arguments, and what runs it."""

    help: str
    shared: Literal["logs", "common"]
    """`logs` for `--log` and `--log-level`; `common` adds `--no-plugins`."""
    arguments: Callable[[Parser], None]
    runs: str
    """`module:function`, imported only when the command runs."""


def _ask(parser: Parser) -> None:
    parser.description = (
        "Stream one reply to stdout. The prompt comes from the argument, from stdin when it is "
        "piped, or both (stdin first, then the argument)."
    )
    parser.add_argument("prompt", nargs="?", help="the prompt (default: read from stdin)")
    parser.add_argument(
        "-m", "--model", metavar="PROFILE", default=argparse.SUPPRESS, help="the profile to ask"
    )
    parser.add_argument(
        "--adapter",
        metavar="NAME",
        help="a LoRA adapter of the profile, `base` for none, or a weighted mix: A*0.5+B*0.5",
    )
    parser.add_argument(
        "--system", metavar="TEXT", help="the system prompt (overrides the profile's)"
    )
    parser.add_argument("--temperature", type=float, metavar="T", help="sampling temperature, 0-2")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="the most tokens to generate")
    parser.add_argument(
        "--seed", type=int, metavar="N", help="sampling seed, for repeatable replies"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the text, the metrics and the finish reason",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="do not save the exchange in the history"
    )
    parser.add_argument(
        "--continue",
        dest="continue_",
        action="store_true",
        help="continue the last conversation in the history (it is sent as context)",
    )


def _compare(parser: Parser) -> None:
    parser.description = "Send each prompt to two to four profiles at once, side by side."
    parser.add_argument("profiles", nargs="+", metavar="PROFILE", help="two to four profiles")


def _arena(parser: Parser) -> None:
    parser.description = (
        "Each prompt goes to two of the profiles, drawn at random and shown as Model A and "
        "Model B; vote for the better reply, then see which was which. Votes feed "
        "`genchat leaderboard`."
    )
    parser.add_argument("profiles", nargs="+", metavar="PROFILE", help="two or more profiles")
    parser.add_argument(
        "--live",
        action="store_true",
        help="stream replies as they come (by default both show when both have finished, so "
        "that speed gives no model away)",
    )
    parser.add_argument("--tag", default="", help="a tag for this session's votes (coding…)")
    parser.add_argument("--seed", type=int, help="seed the draws, to replay a session's pairs")


def _history(parser: Parser) -> None:
    parser.add_argument("-s", "--search", metavar="WORDS", help="only those whose text matches")
    parser.add_argument("-n", "--limit", type=int, default=20, metavar="N", help="at most N")


def _export(parser: Parser) -> None:
    parser.add_argument("id", type=int, help="the conversation, as `genchat history` shows it")
    parser.add_argument("--format", choices=("md", "json"), default="md")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def _import(parser: Parser) -> None:
    parser.add_argument("file", help="a file written by `genchat export --format json`")


def _vote_filters(parser: Parser) -> None:
    """The options that choose which stored votes count."""
    parser.add_argument("--tag", help="only votes from arena sessions with this tag")
    parser.add_argument("--since", metavar="DATE", help="only votes from DATE on (2026-11-01)")
    parser.add_argument("--until", metavar="DATE", help="only votes before DATE")
    parser.add_argument(
        "--include-flagged",
        action="store_true",
        help="count votes where a reply named its own model (left out by default)",
    )


def _leaderboard(parser: Parser) -> None:
    from genchat.arena.votes import MIN_VOTES, ROUNDS

    parser.description = (
        "Bradley–Terry ratings with bootstrap intervals, online Elo, win rates and speeds, from "
        "the votes stored by `genchat arena`."
    )
    _vote_filters(parser)
    parser.add_argument("--format", choices=("table", "csv", "md"), default="table")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, metavar="N", help=f"bootstrap rounds ({ROUNDS})"
    )
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (0)")
    parser.add_argument(
        "--min-votes",
        type=int,
        default=MIN_VOTES,
        metavar="N",
        help=f"rate only models with N votes or more ({MIN_VOTES})",
    )


def _votes(parser: Parser) -> None:
    parser.description = (
        "Each vote with a winner as {prompt, chosen, rejected, metadata}, one JSON object a "
        "line, ready for DPO-style training."
    )
    _vote_filters(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def _no_arguments(parser: Parser) -> None:
    pass


def _config(parser: Parser) -> None:
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", parser_class=Parser)
    actions.required = True
    actions.add_parser("path", help="print where the config file is read from")
    init = actions.add_parser("init", help="write a commented example config file")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    actions.add_parser("check", parents=[_shared()["common"]], help="validate the config file")


COMMANDS: dict[str, Command] = {
    "ask": Command("stream one reply to stdout", "common", _ask, "genchat.cli.ask:run_ask"),
    "compare": Command(
        "open two to four profiles side by side", "common", _compare, "genchat.cli.chat:run_compare"
    ),
    "arena": Command(
        "vote blind between two of the given profiles, round after round",
        "common",
        _arena,
        "genchat.cli.arena:run_arena",
    ),
    "history": Command(
        "list saved conversations, newest first",
        "logs",
        _history,
        "genchat.cli.history:run_history",
    ),
    "export": Command(
        "write a saved conversation as Markdown or JSON",
        "logs",
        _export,
        "genchat.cli.history:run_export",
    ),
    "import": Command(
        "add a conversation exported as JSON", "logs", _import, "genchat.cli.history:run_import"
    ),
    "leaderboard": Command(
        "rank models from your arena votes",
        "logs",
        _leaderboard,
        "genchat.cli.arena:run_leaderboard",
    ),
    "votes": Command(
        "export arena votes as preference pairs (JSON lines)",
        "logs",
        _votes,
        "genchat.cli.arena:run_votes",
    ),
    "models": Command(
        "list profiles and the models they offer",
        "common",
        _no_arguments,
        "genchat.cli.configure:run_models",
    ),
    "plugins": Command(
        "list plugins, their backends, and those that failed",
        "common",
        _no_arguments,
        "genchat.cli.configure:run_plugins",
    ),
    "config": Command(
        "show, create or check the config file",
        "logs",
        _config,
        "genchat.cli.configure:run_config",
    ),
}
"""Every command, in the order the help lists them."""

CHAT = "genchat.cli.chat:run_chat"
"""What runs when no command is given: the TUI."""


def _shared() -> dict[str, Parser]:
    """The options that work before and after the command name. SUPPRESS keeps a
    sub-parser's default from overwriting a value given before the command."""
    logs = Parser(add_help=False)
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
    common = Parser(add_help=False, parents=[logs])
    common.add_argument(
        "--no-plugins",
        action="store_true",
        default=argparse.SUPPRESS,
        help="load no third-party plugins, only the built-in backends",
    )
    return {"logs": logs, "common": common}


def build_parser(argv: Sequence[str] | None = None) -> Parser:
    """The command line, with the arguments of each command that `argv` names (of every
    command where `argv` is None). A word of `argv` that names a command, wherever it stands,
    has its command built, so the parse is the same as with the whole table."""
    from genchat import __version__

    named = set(COMMANDS) if argv is None else set(argv) & set(COMMANDS)
    shared = _shared()
    parser = Parser(
        prog="genchat",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[shared["common"]],
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, command in COMMANDS.items():
        if name in named:
            command.arguments(
                commands.add_parser(name, help=command.help, parents=[shared[command.shared]])
            )
        else:
            commands.add_parser(name, help=command.help, add_help=False)
    return parser
