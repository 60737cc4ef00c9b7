"""A long last block streamed into the Markdown view: drawn from where it can still change (a
paragraph from its open line, a list from its last item), it must show what the same text shows
drawn at once, at every step, styles included."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from textual.app import App, ComposeResult
from textual.strip import Strip

from genchat.tui.widgets import markdown_render
from genchat.tui.widgets.markdown import MarkdownView

WIDTHS = (23, 40, 71)


class ViewApp(App[None]):
    """A streamed view and one that is given the whole text, at the width the test draws."""

    CSS = "Screen { overflow: hidden; }"  # no scrollbar: drawn at the app's width

    def compose(self) -> ComposeResult:
        yield MarkdownView(id="streamed")
        yield MarkdownView(id="whole")


def segments(lines: list[Strip]) -> list[list[object]]:
    return [list(strip) for strip in lines]


def pieces(text: str, seed: int, longest: int = 60) -> Iterator[int]:
    """Where `text` is cut, streamed in pieces of 1 to `longest` characters."""
    rng = random.Random(seed)
    position = 0
    while position < len(text):
        position = min(len(text), position + rng.randint(1, longest))
        yield position


async def stream_and_compare(text: str, width: int, seed: int = 1) -> MarkdownView:
    """Stream `text` into a view in pieces, and after each piece, and after the stream's end,
    compare its lines with those of the text so far drawn at once."""
    app = ViewApp()
    async with app.run_test(size=(width, 30)):
        streamed = app.query_one("#streamed", MarkdownView)
        whole = app.query_one("#whole", MarkdownView)
        done = 0
        for end in pieces(text, seed):
            streamed.append(text[done:end])
            done = end
            whole.update(text[:end])
            assert segments(streamed.lines(width)) == segments(whole.lines(width)), text[:end]
        await streamed.end_stream()
        assert segments(streamed.lines(width)) == segments(whole.lines(width))
    return streamed


SENTENCE = (
    "Step {i} reads the **input** with `read_config()`, checks each "
    "[option](https://example.com/docs/{i}) against the _schema_ and reports ~~all~~ *what* it "
    "finds, with &amp; and \\* escaped and snake_case words and 2 * 3 and a < b. "
)


def paragraph(sentences: int, *, line_ends: bool = False) -> str:
    joiner = "\n" if line_ends else ""
    return joiner.join(SENTENCE.format(i=i) for i in range(sentences)).rstrip() + "\n"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("line_ends", [False, True], ids=["one line", "soft line ends"])
async def test_a_long_paragraph_is_drawn_as_drawn_at_once(width: int, line_ends: bool) -> None:
    text = paragraph(14, line_ends=line_ends)
    view = await stream_and_compare(text, width)
    assert view.source == text


async def test_a_long_paragraph_settles_most_of_its_text() -> None:
    """The point of it: appended text is parsed from near the end, not from the start."""
    text = paragraph(30)
    app = ViewApp()
    async with app.run_test(size=(71, 30)):
        view = app.query_one("#streamed", MarkdownView)
        for start in range(0, len(text), 50):
            view.append(text[start : start + 50])
            view.lines(71)
        growth = view._growth
        assert isinstance(growth, markdown_render.GrowingParagraph)
        assert growth.cut > len(text) - 2 * growth.SETTLE_CHARS - 50


def bullets(count: int) -> str:
    return "".join(
        f"- Point {i}: the **key idea** with `code` and more words\n" for i in range(count)
    )


ORDERED = "".join(
    f"{i + 1}. Item with *emphasis* and [a link](https://e.com/{i})\n" for i in range(105)
)
"""An ordered list whose numbers gain a digit twice: Rich makes room for them by the count."""

LIST_CASES = {
    "bullets": bullets(40),
    "ordered": ORDERED,
    "loose, nested, code": "".join(
        f"- item {i}\n\n  - nested {i}\n\n  ```python\n  x = {i}\n  ```\n\n" for i in range(12)
    ),
    "empty items, another list after": "- a\n-\n- b\n*\n* c\n\n1. one\n2. two\n",
    "an item's lazy lines": "1. first\nlazy\n2. second  \nhard break\n\n3. third\n***bold***\n",
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(LIST_CASES))
async def test_a_long_list_is_drawn_as_drawn_at_once(width: int, name: str) -> None:
    await stream_and_compare(LIST_CASES[name], width)


TURNS = {
    "emphasis closed far on": "An *opening star " + "and words " * 30 + "closed here* then more.",
    "code closed far on": "A `tick " + "and words " * 30 + "closed` then more.",
    "a label closed far on": "A [label " + "and words " * 30 + "closed](https://e.com) more.",
    "a destination after words": "A [label] (not a link) and [x](https://e.com/a b) " * 6,
    "inline HTML": "Some <span class=x " + "words " * 20 + "> closed, then <b>bold</b> text. " * 2,
    "an image": "Text then ![an image](https://e.com/i.png) and " + "words " * 40,
    "underlined into a heading": paragraph(6, line_ends=True) + "===\n\nAfter.\n",
    "a table after a line": paragraph(4, line_ends=True) + "a | b\n--- | ---\n1 | 2\n",
    "a hashtag, not a heading": paragraph(4, line_ends=True) + "#tag goes on\n",
    "a rule, then text": paragraph(4, line_ends=True) + "***not a rule***\n",
    "a number that becomes an item": "1. one\n2. two\n\n12. twelve\n\n12\n",
    "tabs": "Tabs\tin\ta paragraph " * 20,
    "a definition after it": "See [the docs][d] " * 20 + "\n\n[d]: https://e.com\n",
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(TURNS))
async def test_text_that_changes_what_came_before_is_drawn_as_drawn_at_once(
    width: int, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(markdown_render.GrowingParagraph, "SETTLE_CHARS", 30)  # settle often
    await stream_and_compare(TURNS[name], width)


WORDS = [
    "alpha", "beta", "gamma", "**bold**", "`code`", "[link](https://e.com/a)", "*em*", "_under_",
    "~~gone~~", "snake_case", "2", "*", "3", "a", "<", "b", "&amp;", "\\*", "word,",
    "longwordwithoutanyspacesthatgoesonandonandon", "*open", "[1]", "`", "#", "***", "12", "-",
    ">", "|", "===", "---", "1.", "<br>", "![i](x.png)",
]  # fmt: skip


def random_document(seed: int) -> str:
    """Paragraphs and lists of words that open, close and begin constructs at random."""
    rng = random.Random(seed)

    def words(count: int) -> str:
        return "".join(
            rng.choice(WORDS) + rng.choice([" "] * 10 + ["\n", "  \n"]) for _ in range(count)
        )

    parts = []
    for _ in range(rng.randint(2, 4)):
        kind = rng.choice(["paragraph", "bullets", "numbers"])
        if kind == "paragraph":
            parts.append(words(rng.randint(20, 80)))
        else:
            marker = "-" if kind == "bullets" else "{}."
            parts += [f"{marker.format(i + 1)} {words(rng.randint(1, 8))}\n" for i in range(12)]
        parts.append(rng.choice(["\n", "\n\n"]))
    return "".join(parts)


@pytest.mark.parametrize("seed", range(8))
async def test_random_markdown_is_drawn_as_drawn_at_once(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(markdown_render.GrowingParagraph, "SETTLE_CHARS", 30)
    await stream_and_compare(random_document(seed), WIDTHS[seed % len(WIDTHS)], seed)
