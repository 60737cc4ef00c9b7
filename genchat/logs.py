"""The log a user can read and attach to a bug report: `--log FILE` or `GENCHAT_LOG`.

genchat, its backends (llama.cpp's own log arrives as `genchat.llama_cpp`) and its plugins log
through `logging`; nothing is written anywhere unless a log file is asked for. Every record is
cleaned of terminal control sequences and redacted of secrets as it is written
(`genchat.untrusted`), tracebacks included, so a log can be shared as it is.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG_ENV = "GENCHAT_LOG"
LEVEL_ENV = "GENCHAT_LOG_LEVEL"
LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LEVEL = "info"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# genchat's records are written only where a log was asked for; without this, Python's
# last-resort handler would print warnings over the terminal UI and into scripts' stderr.
logging.getLogger("genchat").addHandler(logging.NullHandler())


def logger(name: str) -> logging.Logger:
    """The logger of one part of genchat (`genchat.reply`): every module takes its logger
    here, so that none can write to the terminal before a log is asked for. Not in
    `genchat/__init__.py`, which `genchat --help` imports too, and should not pay for
    `logging` there."""
    return logging.getLogger(name)


class SafeFormatter(logging.Formatter):
    """A formatter whose output, traceback and all, is cleaned and redacted."""

    def format(self, record: logging.LogRecord) -> str:
        from genchat.untrusted import clean, redact

        return redact(clean(super().format(record)))


def start_log(path: str | None, level: str | None) -> Path | None:
    """Write the log to `path` (else `GENCHAT_LOG`) at `level` (else `GENCHAT_LOG_LEVEL`, else
    info); return the file, or `None` when no log was asked for.

    The handler goes on the root logger, so that plugins' own loggers are written too; records
    below `level` from libraries are dropped as usual. Raises `ConfigError` for a level that is
    not one of `LEVELS`, or a file that cannot be opened for appending.
    """
    from genchat.errors import ConfigError

    path = path or os.environ.get(LOG_ENV) or None
    if path is None:
        return None
    name = (level or os.environ.get(LEVEL_ENV) or DEFAULT_LEVEL).lower()
    if name not in LEVELS:
        raise ConfigError([f"log level {name!r} is not one of {', '.join(LEVELS)}"])
    file = Path(path).expanduser()
    try:
        handler = logging.FileHandler(file, encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot write the log to {file}: {exc.strerror or exc}"]) from exc
    handler.setFormatter(SafeFormatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, name.upper()))
    logging.getLogger("genchat").info("genchat logging at %s level to %s", name, file)
    return file
