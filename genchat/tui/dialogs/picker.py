"""The model picker: every profile and the models its backend offers, with type-to-filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from genchat.chat import Target
from genchat.profiles.profile import Profiles

LIST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Choice:
    """One line of the picker."""

    target: Target | None
    """`None` for a profile that cannot be used (shown with its problem)."""
    label: str
    detail: str = ""

    @property
    def search_text(self) -> str:
        return f"{self.label} {self.detail}".lower()


async def list_choices(profiles: Profiles) -> list[Choice]:
    """Every profile's models, asked of all backends at once; broken profiles with why."""

    listed = await profiles.list_models(LIST_TIMEOUT_S)
    choices = []
    for name, models in listed.items():
        if isinstance(models, str):
            choices.append(Choice(None, name, models))
            continue
        backend = profiles.profiles[name].backend
        for model in models:
            detail = [
                backend,
                "default" if model.default else "",
                f"context {model.context_length}" if model.context_length else "",
                model.details.get("quantisation", ""),
                "LoRA adapter" if "adapter" in model.details else "",
            ]
            target = Target(name, None if model.default else model.id)
            choices.append(
                Choice(target, f"{name} · {model.id}", " · ".join(d for d in detail if d))
            )
    for name in sorted(profiles.problems):
        choices.append(Choice(None, name, "; ".join(profiles.problems[name])))
    return choices


class ModelPicker(ModalScreen[Target | None]):
    """Pick a profile and model. Type to filter; Enter picks; Escape cancels.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | escape | `picker_cancel` | Close without changing the model. |
    | down, up | | Move through the list while typing. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker_cancel"),
        Binding("down", "cursor_down", show=False, priority=True),
        Binding("up", "cursor_up", show=False, priority=True),
    ]

    def __init__(self, profiles: Profiles, current: Target) -> None:
        super().__init__()
        self.profiles = profiles
        self.current = current
        self.choices: list[Choice] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static("Choose a model", id="picker-title")
            yield Input(placeholder="type to filter", id="picker-filter")
            yield OptionList(id="picker-options")
            yield Static("listing models…", id="picker-status")

    def on_mount(self) -> None:
        self.load_choices()

    @work(exclusive=True, group="picker")
    async def load_choices(self) -> None:
        self.choices = await list_choices(self.profiles)
        if not self.is_attached or self.app.screen is not self:
            return  # dismissed while the backends answered: nothing is left to fill in
        self.query_one("#picker-status", Static).update(
            f"{sum(c.target is not None for c in self.choices)} models · "
            "enter picks · escape cancels"
        )
        self._show(self.query_one("#picker-filter", Input).value)

    @on(Input.Changed, "#picker-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, query: str) -> None:
        words = query.lower().split()
        options = self.query_one("#picker-options", OptionList)
        options.clear_options()
        highlight = None
        for index, choice in enumerate(self.choices):
            if not all(word in choice.search_text for word in words):
                continue
            label = Text(choice.label, style="bold" if choice.target else "dim strike")
            label.append(f"\n  {choice.detail}", style="dim" if choice.target else "red")
            options.add_option(Option(label, id=str(index), disabled=choice.target is None))
            if highlight is None and choice.target is not None:
                highlight = options.option_count - 1
            if choice.target == self.current and not words:
                highlight = options.option_count - 1
        options.highlighted = highlight

    def action_cursor_down(self) -> None:
        self.query_one("#picker-options", OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#picker-options", OptionList).action_cursor_up()

    @on(Input.Submitted, "#picker-filter")
    def submit_filter(self) -> None:
        options = self.query_one("#picker-options", OptionList)
        if options.highlighted is not None:
            self._pick(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected, "#picker-options")
    def option_selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option.id)

    def _pick(self, option_id: str | None) -> None:
        if option_id is None:
            return
        choice = self.choices[int(option_id)]
        if choice.target is not None:
            self.dismiss(choice.target)

    def action_cancel(self) -> None:
        self.dismiss(None)
