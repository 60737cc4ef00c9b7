"""The streamed Markdown view: block splitting, streamed rendering equal to one-shot rendering,
incremental code highlighting, link references across blocks, selection."""

from __future__ import annotations

import random

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Offset
from textual.selection import Selection

from genchat.tui.widgets.code import CodeHighlighter
from genchat.tui.widgets.markdown import MarkdownView
from genchat.tui.widgets.markdown_split import split_blocks

WIDTH = 70

SAMPLE = """\
# A heading

A paragraph with **bold**, `code` and a [link][docs].
It goes on for a second line.

- one
- two

  still two
- three

```python
def add(a, b):
    \"\"\"Add.\"\"\"
    return a + b
```

| a | b |
| --- | --- |
| 1 | 2 |

> quoted

    indented code

[docs]: https://example.com/docs
"""


@pytest.mark.parametrize(
    "text",
    [
        SAMPLE,
        "",
        "\n\n  \n",
        "just one line",
        "\n\nleading blank lines\n\nand two blocks",
        "windows\r\nline ends\r\n\r\nsecond block\r\n",
        "```\nan unclosed fence\n\nwith a blank line",
        "para\n---\nsetext heading above\n",
    ],
)
def test_blocks_join_back_to_the_text(text: str) -> None:
    assert "".join(split_blocks(text)) == text


def test_blocks_are_the_top_level_blocks() -> None:
    blocks = split_blocks("# Title\n\nPara one\nstill one\n\n- a\n- b\n\n```\nx\n\ny\n```\n")
    assert blocks == [
        "# Title\n\n",
        "Para one\nstill one\n\n",
        "- a\n- b\n\n",
        "```\nx\n\ny\n```\n",
    ]


class ViewApp(App[None]):
    def __init__(self, source: str = "") -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield MarkdownView(self.source)


def texts(view: MarkdownView) -> list[str]:
    return [strip.text for strip in view.lines(WIDTH)]


async def test_streamed_in_pieces_it_renders_as_the_whole_text_does() -> None:
    app = ViewApp(SAMPLE)
    async with app.run_test(size=(WIDTH, 40)):
        whole = app.query_one(MarkdownView)
        expected = [list(strip) for strip in whole.lines(WIDTH)]  # segments: text and styles
        rng = random.Random(7)
        for _ in range(5):
            streamed = MarkdownView()
            await app.mount(streamed)
            position = 0
            while position < len(SAMPLE):
                step = rng.randint(1, 40)
                streamed.append(SAMPLE[position : position + step])
                streamed.lines(WIDTH)  # rendered between appends, as on screen
                position += step
            await streamed.end_stream()
            assert streamed.source == SAMPLE
            assert [list(strip) for strip in streamed.lines(WIDTH)] == expected
            await streamed.remove()


async def test_what_it_shows() -> None:
    app = ViewApp(SAMPLE)
    async with app.run_test(size=(WIDTH, 40)):
        shown = [line.strip() for line in texts(app.query_one(MarkdownView))]
        assert shown[0] == "A heading"  # left-aligned, no box around it
        # the reference resolved, the soft line break joined
        assert "A paragraph with bold, code and a link. It goes on for a second line." in shown
        assert "def add(a, b):" in shown
        assert "[docs]: https://example.com/docs" not in shown  # a definition shows nothing
        assert [line for line in shown if line][-1] == "indented code"
        assert "• two" in shown and "still two" in shown
        assert any(line.split() == ["1", "2"] for line in shown)  # the table's row


async def test_a_link_defined_in_a_later_block_resolves_while_streaming() -> None:
    app = ViewApp()
    async with app.run_test(size=(WIDTH, 20)):
        view = app.query_one(MarkdownView)
        view.append("See [the docs][d].\n\nMore text.\n\n")
        assert "See [the docs][d]." in [line.strip() for line in texts(view)]
        view.append("[d]: https://example.com\n")
        assert "See the docs." in [line.strip() for line in texts(view)]


async def test_a_new_width_wraps_again() -> None:
    app = ViewApp("word " * 40)
    async with app.run_test(size=(WIDTH, 20)):
        view = app.query_one(MarkdownView)
        assert len(view.lines(WIDTH)) == 3
        assert len(view.lines(20)) > 3


async def test_selected_text_shows_selected_and_can_be_copied() -> None:
    app = ViewApp("First line.\n\nSecond line.\n")
    async with app.run_test(size=(WIDTH, 20)) as pilot:
        view = app.query_one(MarkdownView)
        selection = Selection(Offset(0, 0), Offset(6, 2))
        assert view.get_selection(selection) == ("First line.\n\nSecond", "\n")
        app.screen.selections = {view: selection}
        await pilot.pause()
        selected = app.screen.get_component_rich_style("screen--selection").bgcolor
        line = list(view.render_line(2))
        assert [s.text for s in line if s.style and s.style.bgcolor == selected] == ["Second"]


async def test_a_click_on_a_link_opens_it() -> None:
    app = ViewApp("Read [the docs](https://example.com/docs) first.")
    opened: list[str] = []
    app.open_url = lambda url, **_: opened.append(url)  # type: ignore[method-assign]
    async with app.run_test(size=(WIDTH, 20)) as pilot:
        view = app.query_one(MarkdownView)
        await pilot.click(view, offset=(view.lines(WIDTH)[0].text.index("the docs") + 2, 0))
        assert opened == ["https://example.com/docs"]


def python_with_a_long_docstring() -> str:
    lines = ["def documented():", '    """A docstring', *(f"    line {i}" for i in range(60))]
    lines += ['    """', "    return 1", *(f"value_{i} = {i}" for i in range(60))]
    return "\n".join(lines) + "\n"


C_COMMENT = "/* a comment\n" + "   that runs on\n" * 40 + "*/\n" + "int x = 1;\n" * 30
"""Pygments' C lexer only sees a comment once it is closed: tokens change 40 lines back."""


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("python", python_with_a_long_docstring()),
        ("javascript", "".join(f"const v{i} = `template ${{i}}`;\n" for i in range(80))),
        ("nosuchlanguage", "plain\ntext\n" * 40),
    ],
)
def test_incremental_highlighting_equals_whole_highlighting(language: str, code: str) -> None:
    highlighter = CodeHighlighter()
    for end in [*range(1, len(code), 23), len(code)]:  # grows as a stream does, mid-line too
        streamed = highlighter.token_lines(language, code[:end], incremental=True)
        whole = CodeHighlighter().token_lines(language, code[:end], incremental=False)
        assert streamed == whole


async def test_the_last_block_is_highlighted_whole_when_the_stream_ends() -> None:
    python = python_with_a_long_docstring()
    source = f"Two long blocks:\n\n```c\n{C_COMMENT}```\n\n```python\n{python}"
    app = ViewApp(source)
    async with app.run_test(size=(WIDTH, 40)):
        expected = [list(strip) for strip in app.query_one(MarkdownView).lines(WIDTH)]
        streamed = MarkdownView()
        await app.mount(streamed)
        for start in range(0, len(source), 23):
            streamed.append(source[start : start + 23])
            streamed.lines(WIDTH)
        await streamed.end_stream()
        assert [list(strip) for strip in streamed.lines(WIDTH)] == expected


async def test_a_new_theme_renders_again_in_its_colours() -> None:
    app = ViewApp("# Title\n\n```python\nx = 1\n```\n")
    async with app.run_test(size=(WIDTH, 20)) as pilot:
        view = app.query_one(MarkdownView)
        dark = [list(strip) for strip in view.lines(WIDTH)]
        app.theme = "textual-light"
        await pilot.pause()
        light = [list(strip) for strip in view.lines(WIDTH)]
        assert [s.text for s in view.lines(WIDTH)] == [  # the same text, other colours
            "".join(segment.text for segment in line) for line in dark
        ]
        assert light != dark


def test_a_block_sets_every_attribute_richs_markdown_sets() -> None:
    """`BlockMarkdown` does what Rich's `Markdown.__init__` does without calling it (which
    builds a parser per block): when a Rich release sets another attribute, this says so
    before a render fails on it. The runtime requirement keeps Rich below its next major."""
    from rich.markdown import Markdown

    from genchat.tui.widgets.markdown_render import BlockMarkdown

    ours = BlockMarkdown("*x*", {}, "monokai", CodeHighlighter(), incremental=False)
    assert set(vars(Markdown("*x*"))) <= set(vars(ours))
