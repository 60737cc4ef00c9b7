"""Running what a command does: a coroutine, or the TUI; and what is left of stdout when it
fails."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from genchat.cli.exits import EXIT_BACKEND, EXIT_OK

T = TypeVar("T")


class Runnable(Protocol):
    """What `run_app` needs of a Textual app."""

    def run(self, *, headless: bool = False) -> object: ...

    @property
    def return_code(self) -> int | None: ...


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


def run_app(app: Runnable, *, headless: bool = False) -> int:
    """Run the TUI; its exit code is non-zero when it ended on an error (Textual has printed
    the traceback by then), so that a crash never looks like success to a script."""
    app.run(headless=headless)
    code = app.return_code
    return EXIT_OK if code in (None, 0) else EXIT_BACKEND


def silence_stdout() -> None:
    """After stdout has failed, point it at /dev/null, so that the flush at interpreter exit
    does not fail on it again and print a second error."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
