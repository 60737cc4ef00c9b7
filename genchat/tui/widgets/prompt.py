"""The prompt: a multi-line text area where Enter sends and Ctrl+J inserts a new line."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea
from textual.widgets.text_area import EditResult, Location

from genchat.tui.widgets.echo import typed

MAX_PROMPT_CHARS = 200_000
"""The most characters the prompt holds: about 50,000 tokens, more than most context windows
take, and far more than anyone types. It bounds what a paste can do where the terminal does not
bracket it and sends it as keystrokes (2 MB of keys once grew the app past 4 GB): past the
limit, each key is refused at once, with one notification."""

PROMPT_UNDO_CHECKPOINTS = 50
"""The most undo steps the prompt keeps (Textual's `max_checkpoints`). With the length limit,
this bounds the undo history's memory too: each step holds at most `MAX_PROMPT_CHARS`."""


class PromptInput(TextArea):
    """A multi-line prompt.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | enter | `send` | Send the prompt. |
    | ctrl+j, shift+enter | `newline` | Insert a new line (shift+enter where reported). |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send", id="send", priority=True),
        Binding("ctrl+j,shift+enter", "newline", "Newline", id="newline", priority=True),
    ]

    class Submitted(Message):
        """The user asked to send the prompt."""

        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

        @property
        def control(self) -> PromptInput:
            return self.prompt

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            max_checkpoints=PROMPT_UNDO_CHECKPOINTS,
        )
        self._limit_said = False
        """Whether the length limit has been told since the last edit that fitted."""

    @property
    def length(self) -> int:
        """How many characters the prompt holds (without building its text)."""
        lines = self.document.lines
        return sum(map(len, lines)) + len(lines) - 1

    def _replace_via_keyboard(
        self, insert: str, start: Location, end: Location
    ) -> EditResult | None:
        # Every key typed and every paste comes through here: refuse, whole, an edit that would
        # make the prompt longer than MAX_PROMPT_CHARS, so that what is there is never lost.
        replaced = len(self.get_text_range(start, end)) if start != end else 0
        if self.length - replaced + len(insert) > MAX_PROMPT_CHARS:
            if not self._limit_said:
                self._limit_said = True
                what = "This paste" if len(insert) > 1 else "Typing more"
                self.notify(
                    f"{what} would make the prompt longer than {MAX_PROMPT_CHARS:,} characters, "
                    "the most it holds; nothing was added. Send what is there, or put a long "
                    "text in a file and pipe it to `genchat ask`.",
                    title="The prompt is full",
                    severity="warning",
                    timeout=10,
                )
            return None
        self._limit_said = False
        return super()._replace_via_keyboard(insert, start, end)

    def type_in(self, text: str) -> None:
        """Insert `text` at the cursor as typed text is: within the length limit."""
        if result := self._replace_via_keyboard(text, *self.selection):
            self.move_cursor(result.end_location)

    async def _on_key(self, event: events.Key) -> None:
        typed(self)  # a streaming reply waits for this key to be drawn (genchat.tui.widgets.echo)
        # Alt with a printable key is a command, not text (the arena votes with Alt+1..Alt+4):
        # leave it to the bindings rather than type the bare character. prevent_default keeps
        # TextArea's own handler, which would insert it, from running.
        if event.key.startswith("alt+") and event.is_printable:
            event.prevent_default()

    # Keys that arrive in one burst (SSH lag, a macro, a paste without bracketed paste) are
    # read together: the app forwards each printable key to this prompt's message queue, but it
    # runs a priority binding (send, newline) the moment it reads that key, ahead of the
    # characters still waiting in the queue (Textual #6605): "hello world" + Enter would send
    # "hell". So both actions only queue their work behind the keys typed before them, and it
    # happens in the order typed.

    def action_submit(self) -> None:
        self.call_later(self._submit)

    def action_newline(self) -> None:
        self.call_later(self.type_in, "\n")

    def _submit(self) -> None:
        """Send what is typed so far and empty the prompt, now, so that keys typed after the
        send key begin the next prompt. A screen that cannot send it yet puts it back with
        `give_back`."""
        text = self.text
        self.clear()
        self.post_message(self.Submitted(self, text))

    def give_back(self, text: str) -> None:
        """Put back a submitted `text` the screen could not send (a reply still streams), ahead
        of anything typed since, with the cursor at the end."""
        since = self.text
        self.load_text(f"{text}\n{since}" if since else text)
        self.move_cursor(self.document.end)
