"""Closing what a message leaves open, so that a Markdown export reads as it should after it.

A reply stopped (or cut off by its token limit) inside a code block leaves the fence open, and
in Markdown everything after an open fence is code: every later message of an export would read
as part of that block. The same holds for the HTML blocks that end only at their closing tag
(`<pre>`, `<script>`, `<style>`, `<textarea>`, `<!--`, `<?`, `<!X`, `<![CDATA[`).
`close_open_blocks` finds out with markdown-it-py, the parser genchat renders with, whether
text placed after a message would be swallowed, and appends what ends the open block.
"""

from __future__ import annotations

import re

_HTML_ENDS = (
    (re.compile(r"<(script|pre|style|textarea)(?=[\s>]|$)", re.IGNORECASE), None),
    (re.compile(r"<!--"), "-->"),
    (re.compile(r"<\?"), "?>"),
    (re.compile(r"<!\[CDATA\["), "]]>"),
    (re.compile(r"<![A-Za-z]"), ">"),
)
"""CommonMark's HTML blocks 1 to 5, which a blank line does not end, and what ends each."""


def close_open_blocks(text: str) -> str:
    """`text`, with the code fence or HTML block it leaves open at its end closed."""
    if "```" not in text and "~~~" not in text and "<" not in text:
        return text  # nothing can be open: no parse
    from markdown_it import MarkdownIt

    probe = "genchat-probe"
    while probe in text:
        probe += "-"
    separator = "" if text.endswith("\n") else "\n"
    for token in MarkdownIt("commonmark").parse(f"{text}\n\n{probe}\n"):
        if probe not in token.content:
            continue
        if token.type == "fence":
            return f"{text}{separator}{token.markup}"
        if token.type == "html_block":
            start = token.content.lstrip()
            for pattern, end in _HTML_ENDS:
                found = pattern.match(start)
                if found:
                    return f"{text}{separator}{end or f'</{found.group(1).lower()}>'}"
    return text
