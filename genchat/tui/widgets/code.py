"""Code blocks for streamed Markdown: lexed incrementally as they grow, each line rendered once.

The last block of a streamed reply is rendered again on every append. When it is a long code
block, highlighting and rendering all of it each time froze the screen for longer the longer the
block grew (0.4 s per append at 16,000 characters). A `CodeHighlighter` keeps, per language, the
tokens of the code it lexed last; when the code has only grown at the end, it lexes again from a
few lines back and keeps the tokens before that, once it has checked that lexing from there gives
the tokens it had. It renders each line once per width and theme.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.token import _TokenType
from pygments.util import ClassNotFound
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.syntax import Syntax
from rich.text import Text

TokenLine = tuple[tuple[_TokenType, str], ...]
"""The tokens of one line of code, without its line end."""

TAB_SIZE = 4

DARK_CODE_THEME = "monokai"
LIGHT_CODE_THEME = "friendly"
"""Pygments styles for code blocks, by the lightness of the app's theme."""


class CodeHighlighter:
    """Highlights and renders code blocks for one Markdown view.

    Tokens do not depend on the width or theme; call `forget_rendered()` when those change.
    """

    RELEX_LINES = 24
    """How many lines back from the end of the code lexed last the lexer starts again; also
    how many lines must come out the same for the earlier tokens to be kept."""

    def __init__(self) -> None:
        self._lexed: dict[str, tuple[str, list[TokenLine]]] = {}
        """Per language, the code lexed last and its tokens: where incremental lexing starts."""
        self._whole: dict[tuple[str, str], list[TokenLine]] = {}
        """Code lexed whole, by language and code."""
        self._rendered: dict[tuple[int, str, TokenLine], list[list[Segment]]] = {}

    def forget_rendered(self) -> None:
        self._rendered.clear()

    def lex_whole(self, language: str, code: str) -> None:
        """Lex `code` whole ahead of rendering it; safe to run in a worker thread, so that a
        long block's final lexing does not hold the event loop."""
        if (language, code) not in self._whole:
            self._whole[language, code] = list(_token_lines(_lexer(language), code))

    def token_lines(self, language: str, code: str, *, incremental: bool) -> list[TokenLine]:
        """The tokens of `code`, line by line.

        With `incremental`, code that extends the code last lexed in this language is lexed
        from near its end. Without it, the whole of it is lexed: a few lexers only recognise a
        construct once it is closed (a C comment), which can change tokens far back.
        """
        if not incremental:
            self.lex_whole(language, code)
            return self._whole[language, code]
        lexer = _lexer(language)
        lines = None
        previous = self._lexed.get(language)
        if previous is not None:
            lines = self._relex_end(lexer, *previous, code)
        if lines is None:
            lines = list(_token_lines(lexer, code))
        self._lexed[language] = (code, lines)
        return lines

    def _relex_end(
        self, lexer: Lexer, old_code: str, old_lines: list[TokenLine], code: str
    ) -> list[TokenLine] | None:
        complete = old_code[: old_code.rfind("\n") + 1]  # the last line may have grown since
        restart = complete.count("\n") - self.RELEX_LINES
        if restart <= 0 or not code.startswith(complete):
            return None
        offset = len(complete)
        for _ in range(self.RELEX_LINES + 1):
            offset = complete.rfind("\n", 0, offset)
        offset += 1
        lines = list(_token_lines(lexer, code[offset:]))
        if lines[: self.RELEX_LINES] != old_lines[restart : restart + self.RELEX_LINES]:
            return None  # the lexer was not in its initial state there (a long string, say)
        return old_lines[:restart] + lines

    def render(
        self,
        language: str,
        code: str,
        theme_name: str,
        console: Console,
        options: ConsoleOptions,
        *,
        incremental: bool,
    ) -> Iterator[Segment]:
        """`code` highlighted in a box of the theme's background, one cell of padding around
        (as Rich's Syntax draws it with `padding=1`), wrapped to the width."""
        theme = Syntax.get_theme(theme_name)
        background = theme.get_background_style()
        width = options.max_width
        inner = options.update(width=max(1, width - 2), height=None)
        pad = Segment(" ", background)
        blank = [Segment(" " * width, background), Segment.line()]
        yield from blank
        for tokens in self.token_lines(language, code, incremental=incremental):
            key = (width, theme_name, tokens)
            rendered = self._rendered.get(key)
            if rendered is None:
                text = Text(overflow="fold", end="")
                for token_type, value in tokens:
                    text.append(value, theme.get_style_for_token(token_type))
                rendered = console.render_lines(text, inner, style=background)
                self._rendered[key] = rendered
            for line in rendered:
                yield pad
                yield from line
                yield pad
                yield Segment.line()
        yield from blank


WARM_LANGUAGES = ("python", "bash", "javascript", "json")
"""Languages whose lexers `warm_up()` makes ahead of the first code block."""


def warm_up() -> None:
    """Make, ahead of time, what the first code block of a reply would otherwise make while
    the screen waits: the lexers of common languages (compiling their regular expressions
    takes 10-70 ms each) and the code themes. Meant for a worker thread at start-up."""
    for language in WARM_LANGUAGES:
        list(_lexer(language).get_tokens("x = 1\n"))
    for theme in (DARK_CODE_THEME, LIGHT_CODE_THEME):
        Syntax.get_theme(theme).get_background_style()


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer:
    """The Pygments lexer for a language (made as Rich's Syntax makes it); plain text for a
    language Pygments does not know."""
    try:
        lexer: Lexer = get_lexer_by_name(language, stripnl=False, ensurenl=True)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False, ensurenl=True)
    return lexer


def _token_lines(lexer: Lexer, code: str) -> Iterator[TokenLine]:
    """The tokens of `code`, line by line."""
    line: list[tuple[_TokenType, str]] = []
    for token_type, value in lexer.get_tokens(code.expandtabs(TAB_SIZE)):
        first, *rest = value.split("\n")
        if first:
            line.append((token_type, first))
        for part in rest:
            yield tuple(line)
            line = [(token_type, part)] if part else []
    if line:
        yield tuple(line)
