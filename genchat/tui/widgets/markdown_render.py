"""Rendering one Markdown block with Rich in the app's theme colours, as `MarkdownView`
(`markdown.py`) draws it: Rich's elements made to keep a heading's, paragraph's, list's and code
block's lines stable as text is appended, and a growing last paragraph or list drawn from where
it can still change (`GrowingParagraph`, `GrowingList`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from markdown_it.token import Token
from rich._wrap import divide_line
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, Heading, ListElement, Paragraph
from rich.markdown import Markdown as RichMarkdown
from rich.markdown import MarkdownElement as RichElement
from rich.style import Style
from rich.text import DEFAULT_OVERFLOW, Text
from rich.theme import Theme
from textual.color import Color, ColorParseError
from textual.strip import Strip

from genchat.tui.widgets.code import CodeHighlighter
from genchat.tui.widgets.markdown_split import PARSER, References


def open_line_start(text: Text, width: int, options: ConsoleOptions) -> int:
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
class GrowingParagraph:
    """The last block of a stream while it is one paragraph, drawn from where it can change.

    Its text before `cut` settles (see `settles`): whatever follows, it parses as it does now.
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
class GrowingList:
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


Growth = GrowingParagraph | GrowingList


def continues(growth: Growth, tokens: list[Token]) -> bool:
    """Whether `tokens`, parsed from `growth.parse_from`, begin with the block it describes."""
    first = tokens[0] if tokens else None
    if first is None or (growth.parse_from and (first.map is None or first.map[0] != 0)):
        return False
    if isinstance(growth, GrowingParagraph):
        return first.type == "paragraph_open"
    kind = "ordered_list_open" if growth.ordered else "bullet_list_open"
    return first.type == kind and first.markup == growth.markup


class _Heading(Heading):
    """A heading, left-aligned in the theme's heading style (Rich centres them, h1 in a box)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self.text.justify = "left"
        yield self.text


class _Paragraph(Paragraph):
    """A paragraph; one whose Markdown asks to take paragraphs' text (`BlockMarkdown.taken`) hands
    its text over instead of drawing it, for the view to wrap on from a line left open."""

    taken: list[Text] | None

    @classmethod
    def create(cls, markdown: RichMarkdown, token: Token) -> Paragraph:
        paragraph = super().create(markdown, token)
        assert isinstance(paragraph, _Paragraph) and isinstance(markdown, BlockMarkdown)
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
    list (`BlockMarkdown.numbering`)."""

    numbering: tuple[int, int] | None

    @classmethod
    def create(cls, markdown: RichMarkdown, token: Token) -> ListElement:
        element = super().create(markdown, token)
        assert isinstance(element, _List) and isinstance(markdown, BlockMarkdown)
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
        assert isinstance(block, _CodeBlock) and isinstance(markdown, BlockMarkdown)
        block.highlighter, block.incremental = markdown.highlighter, markdown.incremental
        return block

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        yield from self.highlighter.render(
            self.lexer_name, code, self.theme, console, options, incremental=self.incremental
        )


class BlockMarkdown(RichMarkdown):
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
        # and cannot take link references; these are the attributes it sets (a test checks
        # that they still are, and the runtime requirement keeps Rich below its next major).
        self.markup = markup
        self.parsed = parsed or PARSER.parse(markup, {"references": dict(references)})
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
