"""What the first frame does not need, made ready in a thread once it is drawn.

The first screen is an empty chat: a prompt, a status bar and the key bar. Everything else (the
Markdown and code machinery a reply is drawn with, the HTTP client, the history store, the
screens a key opens) is imported where it is first used, so that start-up does not wait for
it. Importing it all then, on the event loop, would pause the screen for the first reply or the
first Ctrl+O, so `warm_up` imports it ahead of time, off the loop, right after the first frame.
"""

from __future__ import annotations

import importlib

LATER = (
    "genchat.tui.widgets.markdown",  # the first reply: markdown-it, Rich's Markdown, Pygments
    "httpx",  # remote backends, and looking for an Ollama server
    "genchat.history.store",  # the history thread opens it too; both wait for one import
    "genchat.history.titles",
    "genchat.tui.dialogs.picker",
    "genchat.tui.screens.history",
    "genchat.tui.dialogs.questions",
)
"""Modules a session soon needs, in the order it is likely to need them."""


def warm_up() -> None:
    """Import `LATER`, then compile what the first code block of a reply needs. Meant for a
    thread: the event loop only shares the interpreter with it, and a module the loop asks for
    meanwhile waits for this import instead of starting its own."""
    for name in LATER:
        importlib.import_module(name)
    from genchat.tui.widgets.code import warm_up as warm_up_code

    warm_up_code()
