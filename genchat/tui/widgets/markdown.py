"""Streamed Markdown whose cost per appended token does not grow with the reply.

Textual's Markdown widget mounts a widget for every block, list item and paragraph, and each
mount restyles and lays out widgets around it, so on a long reply every append costs more than
the last (measured in docs/architecture.md). `MarkdownView` is one widget, drawn line by line:

- the source is split into top-level blocks, with the parser Textual's Markdown widget uses;
- every block but the last is finished: it is rendered once, by Rich's Markdown renderer in the
  app's theme colours, and its lines are kept for as long as the width and theme stay the same;
- appended text re-parses and re-renders only the last block, the one that can still grow;
- and of a last block that is one long paragraph or list, only its end: the text of a paragraph
  that nothing after it can change is wrapped once (`_GrowingParagraph`), and so are the items
  of a list that the next item closed (`_GrowingList`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, ClassVar

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from rich._wrap import divide_line
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markdown import CodeBlock, Heading, ListElement, Paragraph
from rich.markdown import Markdown as RichMarkdown
from rich.markdown import MarkdownElement as RichElement
from rich.segment import Segment
from rich.style import Style
from rich.text import DEFAULT_OVERFLOW, Text
from rich.theme import Theme
from textual.color import Color, ColorParseError
from textual.geometry import Region
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from genchat.tui.widgets.code import DARK_CODE_THEME, LIGHT_CODE_THEME, CodeHighlighter

_PARSER = MarkdownIt("commonmark").enable(["strikethrough", "table"])
"""The parser of Rich's Markdown renderer: blocks are split as they will be rendered."""

_BLOCK_PARSER = MarkdownIt("commonmark").enable(["strikethrough", "table"]).disable("inline")
"""The same parser without its inline rules: where blocks begin and end, and the link reference
definitions, are found without parsing the text in them, most of the cost on a long paragraph."""


References = dict[str, dict[str, Any]]
"""Link reference definitions (`[label]: url`) as markdown-it's parser collects them."""


def _parse_blocks(text: str, references: References) -> list[Token]:
    """The block tokens of `text` (inline tokens keep their text, unparsed); the link reference
    definitions found are added to `references`."""
    return _BLOCK_PARSER.parse(text, {"references": references})


def _split(text: str, tokens: list[Token]) -> list[str]:
    """`text` cut where its top-level blocks (`tokens`, from `_parse_blocks`) begin."""
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
    return _split(text, _parse_blocks(text, references if references is not None else {}))


def _drawn_in_line(tokens: list[Token]) -> bool:
    """Whether Rich draws the inline Markdown in `tokens` within its paragraph's text."""
    return all(child.type in _INLINE_TYPES for token in tokens for child in token.children or ())


def _one_block(tokens: list[Token]) -> bool:
    """Whether `tokens` hold one top-level block."""
    return sum(1 for token in tokens if token.level == 0 and token.nesting >= 0) == 1


def _line_offset(text: str, line: int) -> int:
    """Where line `line` (counted from 0) of `text` begins."""
    return len(text) - len(text.split("\n", line)[-1]) if line else 0


_MAY_BE_AN_ITEM = re.compile(r" {0,3}[0-9]{1,9}")
"""An unfinished line that is a paragraph now and may yet be an item of an ordered list above
it, blank lines apart (`12` that becomes `12. `)."""

_TAKE_LAZY_LINES = frozenset(
    {"paragraph_open", "bullet_list_open", "ordered_list_open", "blockquote_open", "table_open"}
)
"""Blocks that a line right after them may continue, unless it begins another block."""


def _may_join(blocks: list[str], tokens: list[Token]) -> bool:
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


def _settles(markup: str, references: References) -> bool:
    """Whether the inline Markdown `markup`, which ends in a space or a line end, parses the same
    however the paragraph goes on: no construct in it is left open for later text to close.

    Open constructs are an emphasis or strikethrough opener without its closer (a later closer
    would pair with it), a backtick that opened no code span, a `[` that may yet begin a link
    (unless every `[` is a plain bracket closed in `markup`), and a `<` that may yet begin
    inline HTML. Anything else in inline Markdown is decided within a word, and `markup` ends
    between words. The test errs on the safe side: a construct it cannot rule out only means
    that the paragraph is parsed from before it again.
    """
    state = StateInline(markup, _PARSER, {"references": references}, [])
    _PARSER.inline.tokenize(state)
    for rule in _PARSER.inline.ruler2.getRules(""):
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


def _open_line_start(text: Text, width: int, options: ConsoleOptions) -> int:
    """Where the last line of `text` wrapped to `width` begins, as Rich's `Text.wrap` wraps
    it: a paragraph's lines before that one stay as they are when text is added to it."""
    plain = text.plain
    start = plain.rfind("\n") + 1  # lines end at hard breaks, then wrap
    if text.no_wrap or options.no_wrap:
        return start
    overflow = text.overflow or options.overflow or DEFAULT_OVERFLOW
    breaks = divide_line(plain[start:], width, fold=overflow == "fold")
    return start + (breaks[-1] if breaks else 0)


@dataclass
class _GrowingParagraph:
    """The last block of a stream while it is one paragraph, drawn from where it can change.

    Its text before `cut` settles (see `_settles`): whatever follows, it parses as it does now.
    It is parsed once, and its wrapped lines but the last are drawn once, in `lines`; the last,
    which later words may join, is kept as `carry`, the text it holds. Appended text is parsed
    from `cut` on, and wrapped on from the start of `carry`: Rich wraps a line's words
    greedily, so the lines before are the same. Its block structure is checked from
    `parse_from`, the start of the line before `cut`'s (a line's meaning can depend on the
    line above it: a table's header, a heading's underline), so that the paragraph's start is
    not parsed again either.
    """

    content: str
    """The paragraph's inline text as the parser last gave it, from `content_start` on."""
    content_start: int
    """Where `content` begins in the block's source."""
    cut: int
    """Where the settled text ends in the block's source (at first, where the text begins)."""
    first_line: int
    """Where the paragraph's first line begins in the block's source."""
    parse_from: int = 0
    lines: list[Strip] = field(default_factory=list)
    carry: Text = field(default_factory=Text)
    tried: int = 0
    """How long the unsettled text was when it last failed to settle: it is tried again once
    it is `SETTLE_CHARS` longer."""

    SETTLE_CHARS: ClassVar[int] = 400
    """How much unsettled text makes the paragraph try to settle it: each append parses and
    wraps about this much, whatever the paragraph's length."""


@dataclass
class _GrowingList:
    """The last block of a stream while it is a list: items before the last are closed (the
    next item's start closed them), so they are parsed once and drawn once, in `lines`; the
    source is parsed from `parse_from`, where the last item begins.

    Rich numbers an ordered list by its items' count and makes room for the numbers by the
    count's digits, so a piece of it is drawn with its place in the whole (`_List`), and the
    drawn items are drawn again if the count gains a digit.
    """

    ordered: bool
    markup: str
    """The bullet (`-`, `*`, `+`) or the number's delimiter (`.`, `)`): a new list after
    another marker."""
    start: int
    """The first item's number."""
    parse_from: int = 0
    items: int = 0
    """The items before `parse_from`."""
    total: int = 1
    """The items in all, as the last parse counted them."""
    drawn_to: int = 0
    """Where the source drawn in `lines` ends."""
    drawn_items: int = 0
    digits: int = 0
    """The digits of the numbers `lines` was drawn with (an ordered list's)."""
    lines: list[Strip] = field(default_factory=list)

    def last_number(self) -> int:
        """The number Rich sizes an ordered list's numbers by: one past its last item's."""
        return self.start + self.total


_Growth = _GrowingParagraph | _GrowingList


def _continues(growth: _Growth, tokens: list[Token]) -> bool:
    """Whether `tokens`, parsed from `growth.parse_from`, begin with the block it describes."""
    first = tokens[0] if tokens else None
    if first is None or (growth.parse_from and (first.map is None or first.map[0] != 0)):
        return False
    if isinstance(growth, _GrowingParagraph):
        return first.type == "paragraph_open"
    kind = "ordered_list_open" if growth.ordered else "bullet_list_open"
    return first.type == kind and first.markup == growth.markup


class _Heading(Heading):
    """A heading, left-aligned in the theme's heading style (Rich centres them, h1 in a box)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self.text.justify = "left"
        yield self.text


class _Paragraph(Paragraph):
    """A paragraph; one whose Markdown asks to take paragraphs' text (`_Markdown.taken`) hands
    its text over instead of drawing it, for the view to wrap on from a line left open."""

    taken: list[Text] | None

    @classmethod
    def create(cls, markdown: RichMarkdown, token: Token) -> Paragraph:
        paragraph = super().create(markdown, token)
        assert isinstance(paragraph, _Paragraph) and isinstance(markdown, _Markdown)
        paragraph.taken = markdown.taken
        return paragraph

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.taken is None:
            yield from super().__rich_console__(console, options)
        else:
            self.text.justify = self.justify
            self.taken.append(self.text)


class _List(ListElement):
    """A list; the top-level one of a piece of an ordered list is numbered as in the whole
    list (`_Markdown.numbering`)."""

    numbering: tuple[int, int] | None

    @classmethod
    def create(cls, markdown: RichMarkdown, token: Token) -> ListElement:
        element = super().create(markdown, token)
        assert isinstance(element, _List) and isinstance(markdown, _Markdown)
        element.numbering = markdown.numbering if token.level == 0 else None
        return element

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.list_type == "bullet_list_open" or self.numbering is None:
            yield from super().__rich_console__(console, options)
            return
        first, last_number = self.numbering
        for index, item in enumerate(self.items):
            yield from item.render_number(console, options, first + index, last_number)


class _CodeBlock(CodeBlock):
    """A code block, drawn by the view's `CodeHighlighter` (see genchat/tui/widgets/code.py)."""

    highlighter: CodeHighlighter
    incremental: bool

    @classmethod
    def create(cls, markdown: RichMarkdown, token: Token) -> CodeBlock:
        block = super().create(markdown, token)
        assert isinstance(block, _CodeBlock) and isinstance(markdown, _Markdown)
        block.highlighter, block.incremental = markdown.highlighter, markdown.incremental
        return block

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        yield from self.highlighter.render(
            self.lexer_name, code, self.theme, console, options, incremental=self.incremental
        )


class _Markdown(RichMarkdown):
    """Rich's Markdown with our headings, code blocks, paragraphs and lists, and link
    references defined in other blocks."""

    elements: ClassVar[dict[str, type[RichElement]]] = {
        **RichMarkdown.elements,
        "heading_open": _Heading,
        "fence": _CodeBlock,
        "code_block": _CodeBlock,
        "paragraph_open": _Paragraph,
        "bullet_list_open": _List,
        "ordered_list_open": _List,
    }

    def __init__(
        self,
        markup: str,
        references: References,
        code_theme: str,
        highlighter: CodeHighlighter,
        *,
        incremental: bool,
        parsed: list[Token] | None = None,
        numbering: tuple[int, int] | None = None,
        taken: list[Text] | None = None,
    ) -> None:
        # Rich's own __init__ builds a new parser each time (0.4 ms, for every block rendered)
        # and cannot take link references; these are the attributes it sets.
        self.markup = markup
        self.parsed = parsed or _PARSER.parse(markup, {"references": dict(references)})
        self.code_theme = self.inline_code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = True
        self.inline_code_lexer = None
        self.highlighter = highlighter
        self.incremental = incremental
        """Whether this is the last block of a stream, which only ever grows at the end."""
        self.numbering = numbering
        """For a piece of an ordered list: its first item's number in the whole list, and the
        number Rich sizes the whole list's numbers by."""
        self.taken = taken
        """Where paragraphs put their text, undrawn, when given."""


def _rich_colour(value: str | None) -> str | None:
    """A Textual CSS colour as Rich takes it, or None where it has none (`transparent`)."""
    if not value:
        return None
    try:
        colour = Color.parse(value)
    except ColorParseError:
        return None
    return None if colour.a == 0 else colour.rich_color.name


def markdown_theme(variables: dict[str, str]) -> Theme:
    """Rich's Markdown styles, in the colours of a Textual theme (its CSS variables)."""
    styles: dict[str, Style] = {}
    for level in range(1, 7):
        prefix = f"markdown-h{level}"
        styles[f"markdown.h{level}"] = Style.parse(
            " ".join(
                filter(
                    None,
                    [
                        variables.get(f"{prefix}-text-style", "bold"),
                        _rich_colour(variables.get(f"{prefix}-color")),
                    ],
                )
            )
        )
    primary = _rich_colour(variables.get("primary"))
    accent = _rich_colour(variables.get("text-accent") or variables.get("accent"))
    muted = _rich_colour(variables.get("secondary"))
    styles["markdown.link"] = Style(color=primary, underline=True)
    styles["markdown.link_url"] = Style(color=primary, underline=True)
    styles["markdown.code"] = Style(color=accent, bold=True)
    styles["markdown.item.bullet"] = Style(color=accent, bold=True)
    styles["markdown.item.number"] = Style(color=accent, bold=True)
    styles["markdown.block_quote"] = Style(color=muted, italic=True)
    styles["markdown.hr"] = Style(color=muted)
    return Theme(styles)


class MarkdownView(Widget):
    """Markdown that can be appended to, rendered block by block (see the module's docs)."""

    DEFAULT_CSS = """
    MarkdownView {
        height: auto;
    }
    """

    def __init__(
        self,
        source: str = "",
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._width = 0
        self._style_key: tuple[str, bool] | None = None
        self._theme: Theme | None = None
        self._highlighter = CodeHighlighter()
        self._paint_style = Style()
        self._forget_source()
        self._add(source)

    def _forget_source(self) -> None:
        self._finished: list[str] = []
        """The blocks that can no longer change."""
        self._tail = ""
        """The last block: it may still grow, or turn out to be more than one block."""
        self._rendered: list[list[Strip]] = []
        """The lines of the finished blocks rendered so far, at `_width`."""
        self._tail_lines: list[Strip] | None = None
        self._lines: list[Strip] | None = None
        self._streaming = False
        """Whether text is being appended: the last block is then highlighted incrementally."""
        self._growth: _Growth | None = None
        """While streaming, how the last block is drawn from where it can still change."""
        self._drawn_whole = False
        """Whether the last block turned out to hold what is only drawn whole (an image)."""
        self._references: References = {}
        """Link reference definitions seen so far: a link in one block may be defined in
        another."""
        self._finished_references: References = {}
        """Those of them in finished blocks; one in the last block may still change."""

    @property
    def source(self) -> str:
        """The Markdown shown."""
        return "".join(self._finished) + self._tail

    def append(self, text: str) -> None:
        """Add text to the end; only the last block is parsed and rendered again.

        Call `end_stream()` after the last append.
        """
        if not text:
            return
        lines, tail = self._lines, self._tail_lines
        self._streaming = True
        self._add(text)
        if lines is None or tail is None or not self._width:
            self.refresh(layout=True)
            return
        # While the height stays, repainting from the first line of the last block that is
        # not drawn as it was is enough; a new line needs a layout pass.
        if len(self.lines(self._width)) == len(lines):
            kept = _same_start(tail, self._tail_lines or [])
            first_changed = len(lines) - len(tail) + kept
            self.refresh(Region(0, first_changed, self._width, len(lines) - first_changed))
        else:
            self.refresh(layout=True)

    async def end_stream(self) -> None:
        """The text is complete: highlight the last block whole, as every other block was.

        The code blocks in it are lexed in a worker thread first, so that a long one does not
        hold the event loop. A last block without code is drawn as it was: drawn piecemeal,
        it shows what it would drawn whole.
        """
        if not self._streaming:
            return
        code = [t for t in _parse_blocks(self._tail, {}) if t.type in ("fence", "code_block")]
        if not code and self._width:
            self.lines(self._width)  # what has not been drawn yet, drawn as it grew
        for token in code:
            language = (token.info or "").partition(" ")[0] or "text"
            await asyncio.to_thread(self._highlighter.lex_whole, language, token.content.rstrip())
        self._streaming, self._growth = False, None
        if code:
            self._tail_lines = self._lines = None
        self.refresh(layout=True)

    def update(self, source: str) -> None:
        """Replace what is shown."""
        self._forget_source()
        self._add(source)
        self.refresh(layout=True)

    def _add(self, text: str) -> None:
        growth = self._growth
        parse_from = growth.parse_from if growth is not None else 0
        references = dict(self._finished_references)  # the first definition of a label wins
        source = self._tail[parse_from:] + text
        tokens = _parse_blocks(source, references)
        if growth is not None and not _continues(growth, tokens):
            # What settled may mean something else now (a paragraph underlined into a
            # heading): parse the whole block again.
            growth = None
            if parse_from:
                parse_from, references = 0, dict(self._finished_references)
                source = self._tail + text
                tokens = _parse_blocks(source, references)
        blocks = _split(source, tokens)
        if len(blocks) > 1 and _may_join(blocks, tokens):
            blocks[-2:] = ["".join(blocks[-2:])]
        tail_line = sum(block.count("\n") for block in blocks[:-1])
        for label, definition in references.items():
            if label not in self._finished_references and definition["map"][0] < tail_line:
                self._finished_references[label] = definition
        if references != self._references:  # rare: render every block again
            self._references, self._rendered, growth = references, [], None
        blocks[0] = self._tail[:parse_from] + blocks[0]
        self._finished.extend(blocks[:-1])
        self._tail = blocks[-1]
        self._tail_lines = self._lines = None
        if tail_line:
            growth, self._drawn_whole = None, False  # a new last block
        self._growth = None
        if not self._streaming or self._drawn_whole or "\r" in text:
            return  # a lone "\r" ends a line for the parser, not for `_line_offset`
        tail_tokens = [token for token in tokens if token.map and token.map[0] >= tail_line]
        if growth is not None:
            self._growth = self._grown(growth, source, tail_tokens)
        elif tail_line or not parse_from:  # this parse began where the last block begins
            self._growth = self._new_growth(tail_line, tail_tokens)

    def _new_growth(self, tail_line: int, tokens: list[Token]) -> _Growth | None:
        """How the last block, new or parsed whole again, grows while streamed, from its
        `tokens` (which number lines from `tail_line` at its start); None for a block drawn
        whole on every append."""
        block = self._tail
        first = tokens[0] if tokens else None
        if first is None or "\r" in block:
            return None
        if first.type == "paragraph_open" and _one_block(tokens):
            lead = len(block) - len(block.lstrip(" \t\n"))
            content = tokens[1].content
            if not block.startswith(content, lead):
                return None  # a link reference definition before it, or text the parser changed
            return _GrowingParagraph(
                content, lead, cut=lead, first_line=block.rfind("\n", 0, lead) + 1
            )
        if first.type in ("bullet_list_open", "ordered_list_open"):
            ordered = first.type == "ordered_list_open"
            start = int(first.attrs.get("start", 1)) if ordered else 1
            growth = _GrowingList(ordered, first.markup, start)
            self._settle_items(growth, block, tokens, tail_line)
            return growth
        return None

    def _grown(self, growth: _Growth, source: str, tokens: list[Token]) -> _Growth | None:
        """`growth` brought up to date with `source`, the last block parsed from its
        `parse_from` (`tokens`)."""
        if isinstance(growth, _GrowingList):
            self._settle_items(growth, source, tokens, 0)
            return growth
        # The line it is parsed from may begin with spaces, which the parser drops.
        lead = len(source) - len(source.lstrip(" \t\n"))
        content = tokens[1].content
        if not (_one_block(tokens) and source.startswith(content, lead)):
            return None  # a line that may yet join it, or text the parser changed
        if growth.parse_from + lead > growth.cut:
            return None
        growth.content, growth.content_start = content, growth.parse_from + lead
        return growth

    def _settle_items(
        self, growth: _GrowingList, source: str, tokens: list[Token], first_line: int
    ) -> None:
        """Count the list's items in `source`, the list parsed from `growth.parse_from`
        (`tokens`, lines numbered from `first_line`), and settle every item but the last."""
        assert tokens[0].map is not None
        end = tokens[0].map[1]  # of the list: a line that may yet join it comes after
        starts = [t.map[0] for t in tokens if t.type == "list_item_open" and t.level == 1 and t.map]
        starts = [start for start in starts if start < end]
        growth.total = growth.items + len(starts)
        if len(starts) < 2:
            return
        last = starts[-1] - first_line
        for label, definition in self._references.items():
            if label not in self._finished_references and definition["map"][0] < starts[-1]:
                self._finished_references[label] = definition  # in an item now closed
        growth.parse_from += _line_offset(source, last)
        growth.items += len(starts) - 1

    # -- rendering ---------------------------------------------------------------------------

    def lines(self, width: int) -> list[Strip]:
        """Every line of the rendered Markdown at `width`, blocks one blank line apart."""
        self._check_cache(width)
        if self._lines is None:
            while len(self._rendered) < len(self._finished):
                source = self._finished[len(self._rendered)]
                self._rendered.append(self._render_block(source, incremental=False))
            if self._tail_lines is None:
                self._tail_lines = self._render_tail()
            gap = Strip.blank(width)
            lines: list[Strip] = []
            for block in (*self._rendered, self._tail_lines):
                if block:
                    if lines:
                        lines.append(gap)
                    lines.extend(block)
            self._lines = lines
        return self._lines

    def _check_cache(self, width: int) -> None:
        """Forget rendered lines made at another width or in another theme."""
        if width == self._width and self._style_key is not None:
            return  # the common case, once per line drawn: no theme lookup
        theme = self.app.current_theme
        key = (theme.name, theme.dark)
        if width != self._width or key != self._style_key:
            self._width, self._style_key = width, key
            self._theme = markdown_theme(self.app.get_css_variables())
            self._rendered, self._tail_lines, self._lines = [], None, None
            self._growth = None  # drawn whole until the next append parses it whole
            self._highlighter.forget_rendered()

    def _render_tail(self) -> list[Strip]:
        """The last block's lines: of a growing paragraph or list, only what can still change
        is drawn again."""
        growth, lines = self._growth, None
        if not self._tail.strip() or self._width <= 0:
            return []
        if isinstance(growth, _GrowingParagraph):
            lines = self._draw_paragraph(growth)
        elif isinstance(growth, _GrowingList):
            lines = self._draw_list(growth)
        if lines is None:
            if growth is not None:
                self._growth, self._drawn_whole = None, True
            return self._render_block(self._tail, incremental=self._streaming)
        return _trimmed(lines)

    def _draw_paragraph(self, growth: _GrowingParagraph) -> list[Strip] | None:
        """The lines of a growing paragraph: the settled ones, then the rest wrapped on from
        the open line. None where it holds what Rich draws apart from its text."""
        text = growth.content[growth.cut - growth.content_start :]
        if "\t" in text:
            return None  # tabs expand by column, counted from the start of the line
        if len(text) >= growth.tried + growth.SETTLE_CHARS:
            end = _last_word_start(text)
            if end and _settles(text[:end], self._references):
                settled = self._paragraph_text(text[:end])
                if settled is None:
                    return None
                full = _joined(growth.carry, settled)
                open_line = _open_line_start(full, self._width, self._options())
                growth.lines += self._render_lines(full)[:-1]
                growth.carry = full[open_line:] if open_line < len(full) else Text()
                growth.cut += end
                line = self._tail.rfind("\n", 0, growth.cut) + 1
                above = self._tail.rfind("\n", 0, max(0, line - 1)) + 1 if line else 0
                growth.parse_from, growth.tried = max(above, growth.first_line), 0
                text = text[end:]
            else:
                growth.tried = len(text)
        rest = self._paragraph_text(text)
        if rest is None:
            return None
        return growth.lines + self._render_lines(_joined(growth.carry, rest))

    def _paragraph_text(self, markup: str) -> Text | None:
        """The text Rich's renderer makes of inline Markdown `markup`, as a paragraph's; None
        where it would draw something apart from the text (an image, inline HTML)."""
        inline = _PARSER.parseInline(markup, {"references": dict(self._references)})
        if not _drawn_in_line(inline):
            return None
        paragraph = [Token("paragraph_open", "p", 1), *inline, Token("paragraph_close", "p", -1)]
        taken: list[Text] = []
        self._run_renderer(self._markdown(markup, parsed=paragraph, taken=taken))
        return taken[0] if taken else Text(justify="left")

    def _draw_list(self, growth: _GrowingList) -> list[Strip] | None:
        """The lines of a growing list: its closed items as drawn once, then the last one.
        None where it holds what Rich draws apart from the list (an image)."""
        digits = len(str(growth.last_number())) if growth.ordered else 0
        if digits != growth.digits:  # the numbers take more room: draw the closed items again
            growth.lines, growth.drawn_to, growth.drawn_items, growth.digits = [], 0, 0, digits
        if growth.drawn_to < growth.parse_from:
            closed = self._draw_items(
                self._tail[growth.drawn_to : growth.parse_from], growth, growth.drawn_items
            )
            if closed is None:
                return None
            growth.lines += closed
            growth.drawn_to, growth.drawn_items = growth.parse_from, growth.items
        last = self._draw_items(
            self._tail[growth.parse_from :], growth, growth.items, incremental=self._streaming
        )
        return None if last is None else growth.lines + last

    def _draw_items(
        self, source: str, growth: _GrowingList, before: int, *, incremental: bool = False
    ) -> list[Strip] | None:
        """Items of the list, `before` items after its first, drawn as in the whole list."""
        numbering = (growth.start + before, growth.last_number()) if growth.ordered else None
        markdown = self._markdown(source, incremental=incremental, numbering=numbering)
        if not _drawn_in_line(markdown.parsed):
            return None  # Rich draws an image in an item before the whole list
        # Rich leads a list with one blank line (an empty item draws no line of its own).
        lines = self._render_lines(markdown)
        return lines[1:] if lines and _is_blank(lines[0]) else lines

    def _render_block(self, source: str, *, incremental: bool) -> list[Strip]:
        if not source.strip() or self._width <= 0:
            return []
        return _trimmed(self._render_lines(self._markdown(source, incremental=incremental)))

    def _markdown(
        self,
        source: str,
        *,
        incremental: bool = False,
        parsed: list[Token] | None = None,
        numbering: tuple[int, int] | None = None,
        taken: list[Text] | None = None,
    ) -> _Markdown:
        assert self._style_key is not None
        code_theme = DARK_CODE_THEME if self._style_key[1] else LIGHT_CODE_THEME
        return _Markdown(
            source,
            self._references,
            code_theme,
            self._highlighter,
            incremental=incremental,
            parsed=parsed,
            numbering=numbering,
            taken=taken,
        )

    def _options(self) -> ConsoleOptions:
        return self.app.console.options.update(width=self._width, height=None, highlight=False)

    def _run_renderer(self, renderable: RenderableType) -> None:
        """Run Rich's renderer over `renderable` for what it hands over, drawing nothing."""
        console = self.app.console
        assert self._theme is not None
        with console.use_theme(self._theme):
            for _segment in console.render(renderable, self._options()):
                pass

    def _render_lines(self, renderable: RenderableType) -> list[Strip]:
        console = self.app.console
        assert self._theme is not None
        with console.use_theme(self._theme):
            rendered = console.render_lines(renderable, self._options())
        return [Strip(_clickable_links(line), self._width) for line in rendered]

    def action_link(self, href: str) -> None:
        """Open a link the user clicked (in the browser, or as the terminal does)."""
        self.app.open_url(href)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_key = None  # the theme may have changed: render again when next drawn

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return len(self.lines(width))

    def render_lines(self, crop: Region) -> list[Strip]:
        self._paint_style = self.rich_style  # once a paint: it walks every ancestor's style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        lines = self.lines(width)
        strip = lines[y] if y < len(lines) else Strip.blank(width)
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(y)) is not None:
            start, end = span
            style = self.screen.get_component_rich_style("screen--selection")
            strip = _stylize(strip, start, width if end == -1 else end, style)
        # Rich's styles leave out what the widget's style gives (the background, for one).
        return strip.crop_extend(0, width, None).apply_style(self._paint_style)

    # -- text selection ----------------------------------------------------------------------

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        text = "\n".join(strip.text.rstrip() for strip in self.lines(self.size.width))
        return selection.extract(text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()


def _clickable_links(line: list[Segment]) -> list[Segment]:
    """`line`, with a click on a link running the view's `link` action.

    A style that adds nothing is left out: Rich gives a paragraph's plain text an empty style
    or none, by whether any text in the whole paragraph has one, and a line drawn alone must
    come out as drawn in the whole.
    """
    return [
        Segment(text, style + Style.from_meta({"@click": f"link({style.link!r})"}), control)
        if style is not None and style.link
        else Segment(text, style or None, control)
        for text, style, control in line
    ]


def _is_blank(strip: Strip) -> bool:
    """Whether a line shows nothing: only spaces, on no background of their own."""
    return not strip.text.strip() and not any(
        segment.style is not None and segment.style.bgcolor is not None for segment in strip
    )


def _stylize(strip: Strip, start: int, end: int, style: Style) -> Strip:
    """`strip` with `style` laid over the cells from `start` to `end`."""
    before, middle, after = strip.divide([start, end, strip.cell_length])[:3]
    return Strip.join([before, middle.apply_style(style), after])


def _trimmed(lines: list[Strip]) -> list[Strip]:
    """`lines` without blank lines at either end: Rich leads lists and tables with a blank
    line, and closes tables with one; the gap between blocks is ours to draw."""
    start, end = 0, len(lines)
    while start < end and _is_blank(lines[start]):
        start += 1
    while end > start and _is_blank(lines[end - 1]):
        end -= 1
    return lines[start:end]


def _same_start(old: list[Strip], new: list[Strip]) -> int:
    """How many lines `new` begins with that are `old`'s own (kept, not drawn again)."""
    kept = 0
    for before, after in zip(old, new, strict=False):
        if before is not after:
            break
        kept += 1
    return kept


def _last_word_start(text: str) -> int:
    """Where the last word of `text` that follows a space or a line end begins (0 if none):
    the place to settle text up to, between words, with the next word already known."""
    end = len(text) - 1
    while end > 0:
        end = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end))
        if end < 0:
            return 0
        if text[end + 1] not in " \t\n":
            return end + 1
    return 0


def _joined(carry: Text, text: Text) -> Text:
    """`text` (a paragraph's, from Rich's renderer) after `carry`, the open line's text."""
    joined = text.blank_copy()
    joined.append_text(carry)
    joined.append_text(text)
    return joined
