"""Where streamed Markdown splits into top-level blocks, with the parser Rich's Markdown renderer
uses, and whether the last block has settled (nothing appended can change how it renders).
`MarkdownView` (`markdown.py`) renders each block once it is finished."""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

PARSER = MarkdownIt("commonmark").enable(["strikethrough", "table"])
"""The parser of Rich's Markdown renderer: blocks are split as they will be rendered."""

_BLOCK_PARSER = MarkdownIt("commonmark").enable(["strikethrough", "table"]).disable("inline")
"""The same parser without its inline rules: where blocks begin and end, and the link reference
definitions, are found without parsing the text in them, most of the cost on a long paragraph."""


References = dict[str, dict[str, Any]]
"""Link reference definitions (`[label]: url`) as markdown-it's parser collects them."""


def parse_blocks(text: str, references: References) -> list[Token]:
    """The block tokens of `text` (inline tokens keep their text, unparsed); the link reference
    definitions found are added to `references`."""
    return _BLOCK_PARSER.parse(text, {"references": references})


def split_at_blocks(text: str, tokens: list[Token]) -> list[str]:
    """`text` cut where its top-level blocks (`tokens`, from `parse_blocks`) begin."""
    starts = sorted({token.map[0] for token in tokens if token.level == 0 and token.map})
    # markdown-it numbers lines split at "\n" (a "\r\n" ends one line too).
    line_offsets = [0, *accumulate(len(line) + 1 for line in text.split("\n"))]
    cuts = [line_offsets[start] for start in starts[1:]]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def split_blocks(text: str, references: References | None = None) -> list[str]:
    """Split Markdown into its top-level blocks. Joined, they give back `text` exactly.

    A block runs from its first line to the first line of the next, so the blank lines after a
    block stay with it, and anything before the first block belongs to the first. The link
    reference definitions found are added to `references`.
    """
    if not text:
        return []
    return split_at_blocks(text, parse_blocks(text, references if references is not None else {}))


def drawn_in_line(tokens: list[Token]) -> bool:
    """Whether Rich draws the inline Markdown in `tokens` within its paragraph's text."""
    return all(child.type in _INLINE_TYPES for token in tokens for child in token.children or ())


def one_block(tokens: list[Token]) -> bool:
    """Whether `tokens` hold one top-level block."""
    return sum(1 for token in tokens if token.level == 0 and token.nesting >= 0) == 1


def line_offset(text: str, line: int) -> int:
    """Where line `line` (counted from 0) of `text` begins."""
    return len(text) - len(text.split("\n", line)[-1]) if line else 0


_MAY_BE_AN_ITEM = re.compile(r" {0,3}[0-9]{1,9}")
"""An unfinished line that is a paragraph now and may yet be an item of an ordered list above
it, blank lines apart (`12` that becomes `12. `)."""

_TAKE_LAZY_LINES = frozenset(
    {"paragraph_open", "bullet_list_open", "ordered_list_open", "blockquote_open", "table_open"}
)
"""Blocks that a line right after them may continue, unless it begins another block."""


def may_join(blocks: list[str], tokens: list[Token]) -> bool:
    """Whether the last of `blocks` (the top-level blocks `tokens` begin), begun on the
    unfinished last line, may yet turn out to be part of the block before it.

    A line that begins a block now may not once it is longer: `#` is a heading, `#tag` goes
    on the paragraph above; `***` is a rule, `***bold***` text. So the block before is not
    finished until the line is.
    """
    last, before = blocks[-1], blocks[-2]
    if "\n" in last:
        return False
    if _MAY_BE_AN_ITEM.fullmatch(last):
        return True
    if not before[before.rfind("\n", 0, len(before) - 1) + 1 :].strip():
        return False  # a blank line between: no lazy continuation
    line = sum(block.count("\n") for block in blocks[:-2])
    first = next(t for t in tokens if t.level == 0 and t.map and t.map[0] >= line)
    return first.type in _TAKE_LAZY_LINES


_INLINE_TYPES = frozenset(
    {"text", "text_special", "softbreak", "hardbreak", "code_inline"}
    | {f"{tag}_{side}" for tag in ("em", "strong", "s", "link") for side in ("open", "close")}
)
"""The inline tokens that Rich's renderer adds to a paragraph's text. It draws any other (an
image, inline HTML) apart from the text, so a paragraph with one is not wrapped piecemeal."""

_MAY_OPEN_HTML = re.compile(r"<(?:[A-Za-z/!?]|$)")
"""A literal `<` that text still to come could close as inline HTML, which may hold spaces."""


def settles(markup: str, references: References) -> bool:
    """Whether the inline Markdown `markup`, which ends in a space or a line end, parses the same
    however the paragraph goes on: no construct in it is left open for later text to close.

    Open constructs are an emphasis or strikethrough opener without its closer (a later closer
    would pair with it), a backtick that opened no code span, a `[` that may yet begin a link
    (unless every `[` is a plain bracket closed in `markup`), and a `<` that may yet begin
    inline HTML. Anything else in inline Markdown is decided within a word, and `markup` ends
    between words. The test errs on the safe side: a construct it cannot rule out only means
    that the paragraph is parsed from before it again.
    """
    state = StateInline(markup, PARSER, {"references": references}, [])
    PARSER.inline.tokenize(state)
    for rule in PARSER.inline.ruler2.getRules(""):
        rule(state)  # pair the delimiters, as markdown-it's own parse does
    if any(delimiter.open and delimiter.end < 0 for delimiter in state.delimiters):
        return False  # an opener left unpaired at the top level (within a link, it stays so)
    if any(token.type not in _INLINE_TYPES for token in state.tokens):
        return False
    text = [token.content for token in state.tokens if token.type == "text"]
    if any("`" in t or "](" in t or "][" in t or _MAY_OPEN_HTML.search(t) for t in text):
        return False
    brackets = "".join(re.findall(r"[\[\]]", "".join(text)))
    if not brackets:
        return True
    if any(token.type == "link_open" for token in state.tokens):
        return False  # a link's destination may hold brackets that count in a label around it
    depth = 0
    for bracket in brackets:
        depth = depth + 1 if bracket == "[" else max(0, depth - 1)
    return depth == 0
