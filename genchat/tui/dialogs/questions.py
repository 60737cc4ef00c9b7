"""Small modal dialogs: ask for a line or a text, confirm, or choose one of a few options."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

ResultT = TypeVar("ResultT")


class _Dialog(ModalScreen[ResultT | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cancel", show=False),
    ]

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskLine(_Dialog[str]):
    """One line of text (a title): Enter accepts, Escape cancels. Dismisses with the stripped
    text, or `None`."""

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Input(self.value, id="dialog-input", select_on_focus=True)
            yield Static("enter accepts · escape cancels", classes="dialog-hint")

    @on(Input.Submitted)
    def accept(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class EditText(_Dialog[str]):
    """A multi-line text (a message to resend): Ctrl+S accepts, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "accept", "Send", id="accept", priority=True),
    ]

    def __init__(self, title: str, value: str, accept: str = "send") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.accept_word = accept

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-tall"):
            yield Static(self.title_text, classes="dialog-title")
            yield TextArea(self.value, id="dialog-text", soft_wrap=True)
            yield Static(f"ctrl+s to {self.accept_word} · escape cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_accept(self) -> None:
        text = self.query_one(TextArea).text
        self.dismiss(text if text.strip() else None)


class Confirm(_Dialog[bool]):
    """A yes/no question; dismisses with True only when the user confirms."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes", id="confirm"),
        Binding("n", "cancel", "No", id="decline"),
    ]

    def __init__(self, question: str, yes: str = "Delete") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)


class Choose(_Dialog[str]):
    """One of a few labelled choices; dismisses with the chosen key, or `None`."""

    def __init__(self, title: str, choices: dict[str, str]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield OptionList(*(Option(label, id=key) for key, label in self.choices.items()))
            yield Static("enter chooses · escape cancels", classes="dialog-hint")

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
