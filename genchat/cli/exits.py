"""genchat's exit codes: what a script can tell apart."""

from __future__ import annotations

EXIT_OK = 0
EXIT_BACKEND = 1
"""The backend failed, the output could not be written, or the history was found damaged."""
EXIT_USAGE = 2
"""A usage or config error."""
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""The reader of stdout went away: what a shell reports for a program killed by SIGPIPE."""
