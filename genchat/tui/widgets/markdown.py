"""Streamed Markdown whose cost per appended token does not grow with the reply.

Textual's Markdown widget mounts a widget for every block, list item and paragraph, and each
mount restyles and lays out widgets around it, so on a long reply every append costs more than
the last (measured in docs/architecture.md). `MarkdownView` is one widget, drawn line by line:

- the source is split into top-level blocks, with the parser Textual's Markdown widget uses;
- every block but the last is finished: it is rendered once, by Rich's Markdown renderer in the
  app's theme colours, and its lines are kept for as long as the width and theme stay the same;
- appended text re-parses and re-renders only the last block, the one that can still grow.
"""

from __future__ import annotations

import asyncio
from itertools import accumulate
from typing import Any, ClassVar

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, Heading
from rich.markdown import Markdown as RichMarkdown
from rich.markdown import MarkdownElement as RichElement
from rich.segment import Segment
from rich.style import Style
from rich.theme import Theme
from textual.color import Color, ColorParseError
from textual.geometry import Region
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from genchat.tui.widgets.code import DARK_CODE_THEME, LIGHT_CODE_THEME, CodeHighlighter

_PARSER = MarkdownIt("commonmark").enable(["strikethrough", "table"])
"""The parser of Rich's Markdown renderer: blocks are split as they will be rendered."""


References = dict[str, dict[str, Any]]
"""Link reference definitions (`[label]: url`) as markdown-it's parser collects them."""


def split_blocks(text: str, references: References | None = None) -> list[str]:
    """Split Markdown into its top-level blocks. Joined, they give back `text` exactly.

    A block runs from its first line to the first line of the next, so the blank lines after a
    block stay with it, and anything before the first block belongs to the first. The link
    reference definitions found are added to `references`.
    """
    if not text:
        return []
    env: dict[str, References] = {"references": references if references is not None else {}}
    tokens = _PARSER.parse(text, env)
    starts = sorted({token.map[0] for token in tokens if token.level == 0 and token.map})
    # markdown-it numbers lines split at "\n" (a "\r\n" ends one line too).
    line_offsets = [0, *accumulate(len(line) + 1 for line in text.split("\n"))]
    cuts = [line_offsets[start] for start in starts[1:]]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


class _Heading(Heading):
    """A heading, left-aligned in the theme's heading style (Rich centres them, h1 in a box)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self.text.justify = "left"
        yield self.text


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
    """Rich's Markdown with our headings and code blocks, and link references defined in
    other blocks."""

    elements: ClassVar[dict[str, type[RichElement]]] = {
        **RichMarkdown.elements,
        "heading_open": _Heading,
        "fence": _CodeBlock,
        "code_block": _CodeBlock,
    }

    def __init__(
        self,
        markup: str,
        references: References,
        code_theme: str,
        highlighter: CodeHighlighter,
        *,
        incremental: bool,
    ) -> None:
        # Rich's own __init__ builds a new parser each time (0.4 ms, for every block rendered)
        # and cannot take link references; these are the attributes it sets.
        self.markup = markup
        self.parsed = _PARSER.parse(markup, {"references": dict(references)})
        self.code_theme = self.inline_code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = True
        self.inline_code_lexer = None
        self.highlighter = highlighter
        self.incremental = incremental
        """Whether this is the last block of a stream, which only ever grows at the end."""


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
        # While the height stays, repainting from where the last block began is enough; a new
        # line needs a layout pass.
        first_changed = len(lines) - len(tail)
        if len(self.lines(self._width)) == len(lines):
            self.refresh(Region(0, first_changed, self._width, len(lines) - first_changed))
        else:
            self.refresh(layout=True)

    async def end_stream(self) -> None:
        """The text is complete: highlight the last block whole, as every other block was.

        The code blocks in it are lexed in a worker thread first, so that a long one does not
        hold the event loop.
        """
        if not self._streaming:
            return
        for token in _PARSER.parse(self._tail):
            if token.type in ("fence", "code_block"):
                language = (token.info or "").partition(" ")[0] or "text"
                code = token.content.rstrip()
                await asyncio.to_thread(self._highlighter.lex_whole, language, code)
        self._streaming = False
        self._tail_lines = self._lines = None
        self.refresh(layout=True)

    def update(self, source: str) -> None:
        """Replace what is shown."""
        self._forget_source()
        self._add(source)
        self.refresh(layout=True)

    def _add(self, text: str) -> None:
        references = dict(self._finished_references)  # the first definition of a label wins
        blocks = split_blocks(self._tail + text, references)
        if not blocks:
            return
        tail_line = sum(block.count("\n") for block in blocks[:-1])
        for label, definition in references.items():
            if label not in self._finished_references and definition["map"][0] < tail_line:
                self._finished_references[label] = definition
        if references != self._references:  # rare: render every block again
            self._references, self._rendered = references, []
        self._finished.extend(blocks[:-1])
        self._tail = blocks[-1]
        self._tail_lines = self._lines = None

    # -- rendering ---------------------------------------------------------------------------

    def lines(self, width: int) -> list[Strip]:
        """Every line of the rendered Markdown at `width`, blocks one blank line apart."""
        self._check_cache(width)
        if self._lines is None:
            while len(self._rendered) < len(self._finished):
                source = self._finished[len(self._rendered)]
                self._rendered.append(self._render_block(source, incremental=False))
            if self._tail_lines is None:
                self._tail_lines = self._render_block(self._tail, incremental=self._streaming)
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
            self._highlighter.forget_rendered()

    def _render_block(self, source: str, *, incremental: bool) -> list[Strip]:
        if not source.strip() or self._width <= 0:
            return []
        assert self._theme is not None and self._style_key is not None
        code_theme = DARK_CODE_THEME if self._style_key[1] else LIGHT_CODE_THEME
        console = self.app.console
        options = console.options.update(width=self._width, height=None, highlight=False)
        with console.use_theme(self._theme):
            rendered = console.render_lines(
                _Markdown(
                    source,
                    self._references,
                    code_theme,
                    self._highlighter,
                    incremental=incremental,
                ),
                options,
            )
        lines = [Strip(_clickable_links(line), self._width) for line in rendered]
        # Rich leads lists and tables with a blank line, and closes tables with one; the gap
        # between blocks is ours to draw.
        while lines and _is_blank(lines[0]):
            del lines[0]
        while lines and _is_blank(lines[-1]):
            del lines[-1]
        return lines

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
    """`line`, with a click on a link running the view's `link` action."""
    return [
        Segment(text, style + Style.from_meta({"@click": f"link({style.link!r})"}), control)
        if style is not None and style.link
        else Segment(text, style, control)
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
