"""The conversation's settings: a persona (a named system prompt from the config) or a system
prompt of its own, and generation parameters over the profile's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ValidationError
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static, TextArea

from genchat.profiles.config import ParamsConfig, describe_validation_error
from genchat.profiles.profile import Profile

PARAMS = ("temperature", "top_p", "max_tokens", "seed")
"""The parameters a conversation can set, in the order they are shown."""

PROFILE = "\x00profile"
"""The persona choice that means "the profile's own system prompt"."""


class ConversationSettings(ModalScreen[dict[str, Any] | None]):
    """Edit a conversation's persona, system prompt and parameters. Dismisses with the new
    settings (see `ChatScreen.settings`), or `None` when cancelled.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | ctrl+s | `save_settings` | Keep the settings; they apply from the next message. |
    | escape | `cancel` | Leave them as they were. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Keep", id="save_settings", priority=True),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    def __init__(
        self, profile: Profile, personas: Mapping[str, str], settings: Mapping[str, Any]
    ) -> None:
        super().__init__()
        self.profile = profile
        self.personas = dict(personas)
        self.settings = settings

    def compose(self) -> ComposeResult:
        # Settings read from the history may be anything (a database written by hand): what is
        # not of the right type shows as unset here, and is replaced when these are kept.
        persona = self.settings.get("persona")
        system = self.settings.get("system", self.profile.system)
        system = system if isinstance(system, str) else ""
        choices = [("the profile's own", PROFILE)]
        choices += [(name, name) for name in sorted(self.personas)]
        params = self.settings.get("params")
        params = params if isinstance(params, Mapping) else {}
        defaults = self.profile.params.as_dict()
        with Vertical(classes="dialog", id="settings"):
            yield Static(f"This conversation, on {self.profile.name}", classes="dialog-title")
            yield Label("Persona")
            yield Select(
                choices,
                value=persona if isinstance(persona, str) and persona in self.personas else PROFILE,
                allow_blank=False,
                compact=True,
                id="persona",
            )
            yield Label("System prompt")
            yield TextArea(system, id="system", soft_wrap=True, compact=True)
            with Grid(id="params"):
                for name in PARAMS:
                    yield Label(name)
                    default = defaults.get(name)
                    hint = f"profile: {default}" if default is not None else "backend's default"
                    value = params.get(name)
                    yield Input(
                        "" if value is None else str(value),
                        placeholder=hint,
                        compact=True,
                        id=f"param-{name}",
                    )
            yield Static(id="settings-problem")
            yield Static(
                "empty means the profile's default · ctrl+s keeps · escape cancels",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#persona", Select).focus()

    @on(Select.Changed, "#persona")
    def persona_changed(self, event: Select.Changed) -> None:
        text = self.profile.system if event.value == PROFILE else self.personas[str(event.value)]
        area = self.query_one("#system", TextArea)
        if area.text != (text or ""):
            area.text = text or ""

    def action_save(self) -> None:
        raw: dict[str, Any] = {}
        for name in PARAMS:
            value = self.query_one(f"#param-{name}", Input).value.strip()
            if value:
                raw[name] = _number(value)
        try:
            checked = ParamsConfig.model_validate(raw)
        except ValidationError as exc:
            problems = describe_validation_error(exc)
            self.query_one("#settings-problem", Static).update(
                Text("; ".join(problems), style="bold red")
            )
            return
        settings: dict[str, Any] = {}
        params = checked.generation_params().as_dict()
        if params:
            settings["params"] = params
        persona = self.query_one("#persona", Select).value
        system = self.query_one("#system", TextArea).text
        if persona != PROFILE and system == self.personas.get(str(persona)):
            settings["persona"] = str(persona)
        if system != (self.profile.system or ""):
            settings["system"] = system
        self.dismiss(settings)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _number(text: str) -> Any:
    """An int or float where `text` is one (strict validation then checks the type), else the
    text, which validation reports."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
