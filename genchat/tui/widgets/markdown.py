"""Streamed Markdown whose cost per appended token does not grow with the reply.

Textual's Markdown widget mounts a widget for every block, list item and paragraph, and each
mount restyles and lays out widgets around it, so on a long reply every append costs more than
the last (measured in docs/architecture.md). `MarkdownView` is one widget, drawn line by line:

- the source is split into top-level blocks, with the parser Textual's Markdown widget uses;
- every block but the last is finished: it is rendered once, by Rich's Markdown renderer in the
  app's theme colours, and its lines are kept for as long as the width and theme stay the same;
- appended text re-parses and re-renders only the last block, the one that can still grow;
- and of a last block that is one long paragraph or list, only its end: the text of a paragraph
  that nothing after it can change is wrapped once (`GrowingParagraph`), and so are the items
  of a list that the next item closed (`GrowingList`).

Where blocks split and settle is `markdown_split.py`; rendering one block with Rich is
`markdown_render.py`. Why this module is still about 500 lines: `MarkdownView` is one widget
whose streaming state (the finished blocks' lines, the last block's growth, link references,
the width and theme its caches were drawn for, the selection) is read and reset by nearly all
of its methods.
"""

from __future__ import annotations

import asyncio

from markdown_it.token import Token
from rich.console import ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from rich.theme import Theme
from textual.geometry import Region
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from genchat.tui.widgets.code import DARK_CODE_THEME, LIGHT_CODE_THEME, CodeHighlighter
from genchat.tui.widgets.markdown_render import (
    BlockMarkdown,
    GrowingList,
    GrowingParagraph,
    Growth,
    continues,
    markdown_theme,
    open_line_start,
)
from genchat.tui.widgets.markdown_split import (
    PARSER,
    References,
    drawn_in_line,
    line_offset,
    may_join,
    one_block,
    parse_blocks,
    settles,
    split_at_blocks,
)


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
        self._growth: Growth | None = None
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
        code = [t for t in parse_blocks(self._tail, {}) if t.type in ("fence", "code_block")]
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
        tokens = parse_blocks(source, references)
        if growth is not None and not continues(growth, tokens):
            # What settled may mean something else now (a paragraph underlined into a
            # heading): parse the whole block again.
            growth = None
            if parse_from:
                parse_from, references = 0, dict(self._finished_references)
                source = self._tail + text
                tokens = parse_blocks(source, references)
        blocks = split_at_blocks(source, tokens)
        if len(blocks) > 1 and may_join(blocks, tokens):
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
            return  # a lone "\r" ends a line for the parser, not for `line_offset`
        tail_tokens = [token for token in tokens if token.map and token.map[0] >= tail_line]
        if growth is not None:
            self._growth = self._grown(growth, source, tail_tokens)
        elif tail_line or not parse_from:  # this parse began where the last block begins
            self._growth = self._new_growth(tail_line, tail_tokens)

    def _new_growth(self, tail_line: int, tokens: list[Token]) -> Growth | None:
        """How the last block, new or parsed whole again, grows while streamed, from its
        `tokens` (which number lines from `tail_line` at its start); None for a block drawn
        whole on every append."""
        block = self._tail
        first = tokens[0] if tokens else None
        if first is None or "\r" in block:
            return None
        if first.type == "paragraph_open" and one_block(tokens):
            lead = len(block) - len(block.lstrip(" \t\n"))
            content = tokens[1].content
            if not block.startswith(content, lead):
                return None  # a link reference definition before it, or text the parser changed
            return GrowingParagraph(
                content, lead, cut=lead, first_line=block.rfind("\n", 0, lead) + 1
            )
        if first.type in ("bullet_list_open", "ordered_list_open"):
            ordered = first.type == "ordered_list_open"
            start = int(first.attrs.get("start", 1)) if ordered else 1
            growth = GrowingList(ordered, first.markup, start)
            self._settle_items(growth, block, tokens, tail_line)
            return growth
        return None

    def _grown(self, growth: Growth, source: str, tokens: list[Token]) -> Growth | None:
        """`growth` brought up to date with `source`, the last block parsed from its
        `parse_from` (`tokens`)."""
        if isinstance(growth, GrowingList):
            self._settle_items(growth, source, tokens, 0)
            return growth
        # The line it is parsed from may begin with spaces, which the parser drops.
        lead = len(source) - len(source.lstrip(" \t\n"))
        content = tokens[1].content
        if not (one_block(tokens) and source.startswith(content, lead)):
            return None  # a line that may yet join it, or text the parser changed
        if growth.parse_from + lead > growth.cut:
            return None
        growth.content, growth.content_start = content, growth.parse_from + lead
        return growth

    def _settle_items(
        self, growth: GrowingList, source: str, tokens: list[Token], first_line: int
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
        growth.parse_from += line_offset(source, last)
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
        if isinstance(growth, GrowingParagraph):
            lines = self._draw_paragraph(growth)
        elif isinstance(growth, GrowingList):
            lines = self._draw_list(growth)
        if lines is None:
            if growth is not None:
                self._growth, self._drawn_whole = None, True
            return self._render_block(self._tail, incremental=self._streaming)
        return _trimmed(lines)

    def _draw_paragraph(self, growth: GrowingParagraph) -> list[Strip] | None:
        """The lines of a growing paragraph: the settled ones, then the rest wrapped on from
        the open line. None where it holds what Rich draws apart from its text."""
        text = growth.content[growth.cut - growth.content_start :]
        if "\t" in text:
            return None  # tabs expand by column, counted from the start of the line
        if len(text) >= growth.tried + growth.SETTLE_CHARS:
            end = _last_word_start(text)
            if end and settles(text[:end], self._references):
                settled = self._paragraph_text(text[:end])
                if settled is None:
                    return None
                full = _joined(growth.carry, settled)
                open_line = open_line_start(full, self._width, self._options())
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
        inline = PARSER.parseInline(markup, {"references": dict(self._references)})
        if not drawn_in_line(inline):
            return None
        paragraph = [Token("paragraph_open", "p", 1), *inline, Token("paragraph_close", "p", -1)]
        taken: list[Text] = []
        self._run_renderer(self._markdown(markup, parsed=paragraph, taken=taken))
        return taken[0] if taken else Text(justify="left")

    def _draw_list(self, growth: GrowingList) -> list[Strip] | None:
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
        self, source: str, growth: GrowingList, before: int, *, incremental: bool = False
    ) -> list[Strip] | None:
        """Items of the list, `before` items after its first, drawn as in the whole list."""
        numbering = (growth.start + before, growth.last_number()) if growth.ordered else None
        markdown = self._markdown(source, incremental=incremental, numbering=numbering)
        if not drawn_in_line(markdown.parsed):
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
    ) -> BlockMarkdown:
        assert self._style_key is not None
        code_theme = DARK_CODE_THEME if self._style_key[1] else LIGHT_CODE_THEME
        return BlockMarkdown(
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
