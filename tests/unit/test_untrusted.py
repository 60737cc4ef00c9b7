"""Text from outside is cleaned of terminal control sequences, and secrets are redacted."""

from __future__ import annotations

import pytest

from genchat.untrusted import (
    HOLD_LIMIT,
    REDACTED,
    StreamCleaner,
    add_secret,
    clean,
    clean_line,
    forget_secrets,
    redact,
)
from tests.support.hostile import SEQUENCES, all_planted, assert_inert, planted


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text\nwith\ttabs", "plain text\nwith\ttabs"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("clear\x1b[2J\x1b[H", "clear"),
        ("title\x1b]0;pwned\x07", "title"),
        ("clip\x1b]52;c;aGk=\x1b\\board", "clipboard"),
        ("reset\x1bc", "reset"),
        ("c1\x9b2Jcsi", "c1csi"),
        ("c1 osc\x9d0;t\x9c!", "c1 osc!"),
        ("bell\x07 backspace\x08 nul\x00", "bell backspace nul"),
        ("over\rwrite", "overwrite"),
        ("crlf\r\n", "crlf\n"),
        ("unicode ✓ stays", "unicode ✓ stays"),
    ],
)
def test_clean(raw: str, expected: str) -> None:
    assert clean(raw) == expected


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_every_sequence_of_the_table_is_removed_whole(name: str) -> None:
    index = list(SEQUENCES).index(name)
    assert clean(planted(index, SEQUENCES[name])) == planted(index, "")


def test_the_whole_table_streamed_in_pieces_of_every_size_comes_out_inert() -> None:
    raw = all_planted()
    for size in (1, 2, 3, 5, 8, 13, 64):
        cleaner = StreamCleaner()
        out = "".join(cleaner.feed(raw[i : i + size]) for i in range(0, len(raw), size))
        out += cleaner.flush()
        assert_inert(out)


def test_clean_line_makes_a_name_one_line_and_keeps_the_rest() -> None:
    assert clean_line("model\nid\twith\x1b[2J  spaces") == "model id with  spaces"


def test_a_sequence_split_across_chunks_is_still_removed() -> None:
    raw = "a\x1b[38;5;196mb\x1b]0;title\x07c\r\nd"
    for split in range(len(raw)):
        cleaner = StreamCleaner()
        out = cleaner.feed(raw[:split]) + cleaner.feed(raw[split:]) + cleaner.flush()
        assert out == "abc\nd", split


def test_text_is_not_held_back_longer_than_needed() -> None:
    cleaner = StreamCleaner()
    assert cleaner.feed("hello ") == "hello "
    assert cleaner.feed("wor\x1b") == "wor"
    assert cleaner.feed("[1mld") == "ld"


def test_a_stray_osc_holds_back_no_more_than_the_limit() -> None:
    """A reply with `ESC ]` that never ends must not hold back the rest of the reply."""
    cleaner = StreamCleaner()
    shown = cleaner.feed("before \x1b]")
    for _ in range(HOLD_LIMIT):  # one character at a time, as a model streams
        shown += cleaner.feed("x")
        assert len(cleaner.feed("")) == 0
    shown += cleaner.feed(" after")
    assert shown.count("x") == HOLD_LIMIT
    assert shown.startswith("before ")
    assert shown.endswith(" after")
    assert "\x1b" not in shown
    assert cleaner.flush() == ""


def test_registered_secrets_are_redacted_longest_first() -> None:
    forget_secrets()
    try:
        add_secret("sk-test-1234567890")
        add_secret("sk-test-1234567890-and-more")
        add_secret("short")  # too short to redact safely: ordinary words would vanish
        text = "key sk-test-1234567890-and-more and sk-test-1234567890, short stays"
        assert redact(text) == f"key {REDACTED} and {REDACTED}, short stays"
    finally:
        forget_secrets()
