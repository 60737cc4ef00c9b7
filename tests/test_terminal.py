"""Control sequences in model output never reach a terminal raw."""

from __future__ import annotations

import pytest

from genchat.terminal import TerminalSanitizer, sanitize


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain text\nwith\ttabs", "plain text\nwith\ttabs"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("clear\x1b[2J\x1b[H", "clear"),
        ("title\x1b]0;pwned\x07", "title"),
        ("clip\x1b]52;c;aGk=\x1b\\board", "clipboard"),
        ("reset\x1bc", "reset"),
        ("c1\x9b2Jcsi", "c12Jcsi"),
        ("bell\x07 backspace\x08 nul\x00", "bell backspace nul"),
        ("over\rwrite", "overwrite"),
        ("crlf\r\n", "crlf\n"),
        ("unicode ✓ stays", "unicode ✓ stays"),
    ],
)
def test_sanitize(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


def test_a_sequence_split_across_chunks_is_still_removed() -> None:
    raw = "a\x1b[38;5;196mb\x1b]0;title\x07c\r\nd"
    for split in range(len(raw)):
        sanitizer = TerminalSanitizer()
        out = sanitizer.feed(raw[:split]) + sanitizer.feed(raw[split:]) + sanitizer.flush()
        assert out == "abc\nd", split


def test_text_is_not_held_back_longer_than_needed() -> None:
    sanitizer = TerminalSanitizer()
    assert sanitizer.feed("hello ") == "hello "
    assert sanitizer.feed("wor\x1b") == "wor"
    assert sanitizer.feed("[1mld") == "ld"
