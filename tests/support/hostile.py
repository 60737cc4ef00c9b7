"""Text that tries to take over a terminal: the table every drawing path is checked against.

Each entry is a sequence that a model, a server, an export or a plugin could send. `planted`
wraps one between two markers, so that a test can check both that the text around it arrived
(the path was really drawn) and that nothing of the sequence did (`assert_inert`).
"""

from __future__ import annotations

import re

SEQUENCES: dict[str, str] = {
    "CSI erase screen": "\x1b[2J",
    "CSI cursor home and colour": "\x1b[H\x1b[31;7m",
    "CSI device status report": "\x1b[6n",
    "OSC 52 clipboard, BEL": "\x1b]52;c;U1RfVEVSTQ==\x07",
    "OSC 52 clipboard, ST": "\x1b]52;c;U1RfVEVSTQ==\x1b\\",
    "OSC 2 window title, ST": "\x1b]2;PWNED-TITLE\x1b\\",
    "OSC 8 hyperlink, BEL": "\x1b]8;;https://example.invalid/x\x07",
    "DCS": "\x1bP+q544e\x1b\\",
    "APC": "\x1b_Gf=100;PWNED-APC\x1b\\",
    "PM": "\x1b^PWNED-PM\x1b\\",
    "SOS": "\x1bXPWNED-SOS\x1b\\",
    "C1 CSI": "\x9b2J",
    "C1 OSC": "\x9d2;PWNED-C1\x9c",
    "C1 DCS": "\x90PWNED-DCS\x9c",
    "ESC c (reset)": "\x1bc",
    "BEL and backspace": "\x07\x08",
    "lone carriage return": "\r",
}
"""Name -> sequence: each must vanish whole."""

MARKUP: dict[str, str] = {
    "markup action on click": "[@click=app.quit]",
    "markup closing nothing": "[/]",
    "markup style": "[reverse]",
}
"""Name -> text that Rich or Textual markup would read: each must show as it was written."""

PAYLOADS = ("U1RfVEVSTQ", "PWNED", "example.invalid", "+q544e")
"""What must never show, even as plain text: the insides of the string sequences."""

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


ENTRIES: list[tuple[str, str, str]] = [
    *((name, raw, "") for name, raw in SEQUENCES.items()),
    *((name, raw, raw) for name, raw in MARKUP.items()),
]
"""(name, what is sent, what must be shown) for every entry of both tables."""


def planted(index: int, text: str, tag: str = "") -> str:
    """`text` between the markers of entry `index`; `tag` tells one path's markers from
    another's."""
    return f"<{tag}{index}<{text}>{tag}{index}>"


def all_planted(tag: str = "", separator: str = " ") -> str:
    """Every entry of both tables, each between its markers."""
    return separator.join(planted(i, raw, tag) for i, (_, raw, _) in enumerate(ENTRIES))


def assert_inert(text: str, *, tags: str | None = "") -> None:
    """`text` holds no control character and no payload, and for each tag in `tags` (a
    string of one-letter tags; `None` for no markers at all) every entry of
    `all_planted(tag)` arrived as it must be shown: a sequence as nothing between its
    markers, markup as written."""
    bad = _UNSAFE.search(text)
    assert bad is None, f"a control character {bad.group()!r} got through: {text!r}"
    for payload in PAYLOADS:
        assert payload not in text, f"{payload!r} got through: {text!r}"
    for tag in [""] if tags == "" else (tags or ""):
        for i, (name, _, shown) in enumerate(ENTRIES):
            expected = planted(i, shown, tag)
            assert expected in text, f"{name}, path {tag!r}: {expected!r} is not in {text!r}"
