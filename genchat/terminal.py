"""Neutralise terminal control sequences in model output before it reaches a terminal.

A model can write escape sequences, by accident or because a prompt asked it to. Written raw to a
terminal they can move the cursor, rewrite what is shown, set the window title or the clipboard
(OSC 52), or worse. `TerminalSanitizer` removes them from a stream of text, keeping newlines and
tabs, and holds back a sequence that is split across two deltas until it is complete.
"""

from __future__ import annotations

import re

# ESC followed by: CSI (ESC [ … final byte), OSC/DCS/SOS/PM/APC strings (ended by BEL or ST),
# or a single character (two-character sequences such as ESC c, which resets the terminal).
_ESCAPE = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]                  # CSI
  | \x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)  # OSC, DCS, SOS, PM, APC
  | \x1b[ -/]*[0-~]                          # other escape sequences
    """,
    re.VERBOSE,
)
# What may still be the start of a sequence at the end of a chunk.
_PARTIAL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*\x1b?|[ -/]*)?\Z")
# C0 controls except tab and newline, DEL, and the C1 controls (U+0080..U+009F, CSI among them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """`text` without escape sequences or control characters (newlines and tabs stay)."""
    return _CONTROL.sub("", _ESCAPE.sub("", text.replace("\r\n", "\n")))


class TerminalSanitizer:
    """Sanitises a stream of text chunks, where a sequence may be split between chunks."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str) -> str:
        """The printable part of `chunk`; an unfinished sequence at its end waits for the next."""
        text = self._pending + chunk
        self._pending = ""
        partial = _PARTIAL.search(text)
        if partial:
            self._pending = text[partial.start() :]
            text = text[: partial.start()]
        if text.endswith("\r"):  # may be the first half of \r\n
            self._pending = "\r" + self._pending
            text = text[:-1]
        return sanitize(text)

    def flush(self) -> str:
        """Whatever is held back, sanitised, at the end of the stream."""
        text, self._pending = self._pending, ""
        return sanitize(text)
