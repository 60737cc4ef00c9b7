"""Text from outside genchat, made safe to show and to write: the one trust boundary for text.

Models, servers, imported files, plugins and adapter directories all hand genchat text that
strangers wrote. Two things can go wrong with it:

- **Terminal control sequences.** Written to a terminal, ESC, CSI, OSC, DCS and the C1 controls
  can move the cursor, wipe the screen (`ESC [2J`, `ESC c`), set the window title (OSC 2) or the
  user's clipboard (OSC 52). `clean` removes them, keeping newlines and tabs; `clean_line` also
  makes a name or a title one line; `StreamCleaner` does the same to a stream whose sequences may
  be split between pieces, holding back at most `HOLD_LIMIT` characters.
- **Secrets.** A server may quote the key it refused, and an HTTP library may quote a header.
  Every value registered with `add_secret` (API keys, secret headers) is replaced by `redact`.

Text is cleaned where it enters: as a reply streams (`genchat.reply`), as errors are made
(`genchat.errors`), as the history is read, as models, plugins and adapters are listed. Redaction
happens as errors are made and as logs are written, so that no key reaches a screen, a file or
the history. `docs/architecture.md` ("Trust boundaries") lists every entry point.

Only the standard library is used, so every layer may import this module.
"""

from __future__ import annotations

import re
import threading

HOLD_LIMIT = 512
"""The most a stream holds back while waiting for an escape sequence to end. A sequence still
open past it is taken as stray: its introducer is dropped and the rest shows as text."""

# The introducers of the string sequences (OSC, DCS, SOS, PM, APC): as ESC and a character,
# or as one C1 character. They end at BEL, at ST (ESC \ or the C1 character U+009C), or at the
# next ESC, which begins something else.
_STRING_START = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])"
_SEQUENCE = re.compile(
    rf"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                        # CSI, as ESC [ or as U+009B
  | {_STRING_START}[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)     # OSC, DCS, SOS, PM, APC
  | \x1b[ -/]*[0-~]                                         # two-character sequences: ESC c …
    """,
    re.VERBOSE,
)
# What may still be the start of a sequence at the end of a piece of a stream.
_OPEN_AT_END = re.compile(
    rf"(?:(?:\x1b\[|\x9b)[0-?]*[ -/]*|{_STRING_START}[^\x07\x1b\x9c]*\x1b?|\x1b[ -/]*)\Z"
)
# C0 controls but tab and newline, DEL, and the C1 controls (U+0080..U+009F).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\n\t\u2028\u2029]+")


def clean(text: str) -> str:
    """`text` without terminal control sequences or control characters.

    Newlines and tabs stay; `\\r\\n` becomes `\\n`, and a lone `\\r` (which would let text
    overwrite the line before it) goes.
    """
    if not _CONTROL.search(text):  # nearly all text: one scan, no copy
        return text
    return _CONTROL.sub("", _SEQUENCE.sub("", text.replace("\r\n", "\n")))


def clean_line(text: str) -> str:
    """`text` cleaned and made one line: for names, titles, ids and one-line messages.

    Line breaks and tabs become single spaces; nothing else changes, so an id stays the id.
    """
    return _LINE_BREAKS.sub(" ", clean(text))


class StreamCleaner:
    """`clean` for a stream of pieces, where a sequence may be split between two pieces.

    An escape sequence still open at the end of a piece is held back until the next, up to
    `HOLD_LIMIT` characters: a stray `ESC ]` cannot hold back the rest of a reply.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """The clean part of `piece`; an unfinished sequence at its end waits for the next."""
        text = self._held + piece if self._held else piece
        self._held = ""
        if not _CONTROL.search(text):
            return text
        open_at_end = _OPEN_AT_END.search(text)
        if open_at_end and len(text) - open_at_end.start() <= HOLD_LIMIT:
            self._held = text[open_at_end.start() :]
            text = text[: open_at_end.start()]
        if text.endswith("\r"):  # may be the first half of \r\n
            self._held = "\r" + self._held
            text = text[:-1]
        return clean(text)

    def flush(self) -> str:
        """Whatever is held back, cleaned, at the end of the stream."""
        text, self._held = self._held, ""
        return clean(text)


# -- secrets ---------------------------------------------------------------------------------

MIN_SECRET_CHARS = 8
"""Shorter values are not redacted: a four-letter "key" would blank out ordinary words."""

REDACTED = "[redacted]"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_pattern: re.Pattern[str] | None = None


def add_secret(value: str) -> None:
    """Have `redact` hide `value` (an API key, a secret header's value) from now on."""
    global _secret_pattern
    value = value.strip()
    if len(value) < MIN_SECRET_CHARS:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # Longest first, so that a key that contains another is hidden whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(map(re.escape, ordered)))


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `[redacted]`."""
    pattern = _secret_pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def forget_secrets() -> None:
    """Forget every registered secret (for tests that set keys of their own)."""
    global _secret_pattern
    with _secrets_lock:
        _secrets.clear()
        _secret_pattern = None
