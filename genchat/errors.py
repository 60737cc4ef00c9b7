"""Errors that reach the user: each carries a short title and a message a person can act on.

An error's text often quotes what came from outside (a server's message, a file name, a
plugin's exception), so it is cleaned of terminal control sequences and redacted of secrets as
the error is made (`genchat.untrusted`): every screen, stream, log and history row that shows it
gets the safe text.
"""

from __future__ import annotations

from genchat.untrusted import clean, clean_line, redact


class GenchatError(Exception):
    """Base of every error genchat reports to the user instead of a traceback."""

    title = "Error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        message = redact(clean(message))
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = redact(clean_line(title))

    def one_line(self) -> str:
        """The error as one line of text, for a terminal or a log."""
        return f"{self.title}: {' '.join(self.message.split())}"


class ConfigError(GenchatError):
    """The config file, a profile or a command-line value is wrong. Exit code 2."""

    title = "Configuration error"

    def __init__(self, problems: list[str], *, source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__("; ".join(f"{where}{p}" for p in problems))


class BackendError(GenchatError):
    """A backend could not produce a reply. Exit code 1; shown in the conversation in the TUI."""

    title = "Backend error"


class AuthError(BackendError):
    """The server rejected the credentials."""

    title = "Authentication failed"


class RateLimited(BackendError):
    """The server asks us to slow down."""

    title = "Rate limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelNotFound(BackendError):
    """The model (or model file) does not exist."""

    title = "Model not found"


class ModelLoadError(BackendError):
    """The model exists but could not be loaded."""

    title = "Model failed to load"


class ContextOverflow(BackendError):
    """The conversation does not fit in the model's context window."""

    title = "Prompt too long"


class BackendUnavailable(BackendError):
    """The backend cannot be reached or is not installed."""

    title = "Backend unavailable"


class ProtocolError(BackendError):
    """The backend answered with something we cannot understand."""

    title = "Protocol error"


class PluginFailed(BackendError):
    """A plugin's backend raised something other than a `BackendError`."""

    title = "Plugin failed"
