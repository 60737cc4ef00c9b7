"""The key bar: one line of the keys the screen offers now, fitted to the terminal's width.

It takes the place of Textual's `Footer`, for two reasons:
- **It fits.** Keys are shown in the order the screen lists them, which is their order of
  importance, and those that do not fit are left out whole, never cut mid-word. The palette
  and Quit are pinned on the right at every width, so a narrow terminal never hides the way out,
  nor the place where every left-out key can still be found.
- **It is one widget.** `Footer` mounts a widget per key and styles each, which cost about as
  much as the rest of the first frame together (`bench/startup.py`). This draws one line.

The keys come from `Screen.active_bindings`, as `Footer`'s do, so a key that `[keymap]` remaps
shows as remapped, and a binding that its screen disables (`check_action` returning None) is
shown dimmed. The bar redraws when the screen says its bindings changed (on focus, on
`refresh_bindings`). A click presses the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

GAP = 2
"""Cells between two keys."""


@dataclass(frozen=True)
class BarKey:
    """One key as the bar shows it."""

    key: str
    """The key as Textual names it: what a click presses."""
    display: str
    """The key as the user reads it (`^n`, `f2`)."""
    description: str
    enabled: bool
    tooltip: str

    @property
    def width(self) -> int:
        return cell_len(self.display) + 1 + cell_len(self.description)


def fit(offered: list[BarKey], pinned: list[BarKey], width: int) -> list[tuple[int, BarKey]]:
    """Where each shown key starts: as many of `offered`, in order, as fit beside `pinned`,
    which end the line. A key that does not fit is left out, with every key after it, so that
    the keys shown are always the first ones the screen lists."""

    def span(keys: list[BarKey]) -> int:
        return sum(k.width for k in keys) + GAP * max(len(keys) - 1, 0)

    right = span(pinned)
    room = width - 2 - right  # a cell of margin at each end
    shown: list[BarKey] = []
    for key in offered:
        needed = span([*shown, key]) + (GAP if pinned else 0)
        if needed > room:
            break
        shown.append(key)
    placed: list[tuple[int, BarKey]] = []
    x = 1
    for key in shown:
        placed.append((x, key))
        x += key.width + GAP
    x = max(width - 1 - right, x if shown else 1)
    for key in pinned:
        placed.append((x, key))
        x += key.width + GAP
    return placed


class KeyBar(Widget, can_focus=False):
    """The keys of the screen it is on, in one line at the bottom of it."""

    ALLOW_SELECT = False
    PINNED: ClassVar[tuple[str, ...]] = ("command_palette", "help", "quit")
    """The actions always shown, in this order, at the right end of the line."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keybar--key",
        "keybar--description",
        "keybar--hover",
    }
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keybar--hover {
            background: $block-hover-background;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._placed: list[tuple[int, BarKey]] = []
        self._hovered: BarKey | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.app.app_focus:  # the app losing focus is not a change of keys
            self.refresh()

    def keys(self) -> tuple[list[BarKey], list[BarKey]]:
        """The keys on offer now, and the pinned ones: one key per action (the first it is
        bound to), those with `show=False` left out. The screen's own keys come first, in the
        order its `BINDINGS` lists them; then those of the focused widget (the prompt's)."""
        screen = self.screen
        order: dict[str, int] = {}
        for binding in Binding.make_bindings(screen.BINDINGS):  # one per key: `alt+1,1` is two
            order.setdefault(binding.action, len(order))
        offered: list[BarKey] = []
        rank: dict[BarKey, tuple[int, int]] = {}
        pinned: dict[str, BarKey] = {}
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            action = binding.action.removeprefix("app.")
            is_pinned = action in self.PINNED
            if action in seen or not (binding.show or is_pinned):
                continue
            seen.add(action)
            shown = BarKey(
                key=key,
                display=self.app.get_key_display(binding),
                description=binding.description,
                enabled=active.enabled,
                tooltip=active.tooltip or binding.description,
            )
            if is_pinned:
                pinned[action] = shown
            else:
                offered.append(shown)
                ours = active.node is screen and binding.action in order
                rank[shown] = (0, order[binding.action]) if ours else (1, len(rank))
        offered.sort(key=rank.__getitem__)
        return offered, [pinned[a] for a in self.PINNED if a in pinned]

    def render(self) -> Text:
        offered, pinned = self.keys()
        width = self.size.width
        self._placed = fit(offered, pinned, width)
        key_style = self.get_component_rich_style("keybar--key", partial=True)
        text_style = self.get_component_rich_style("keybar--description", partial=True)
        hover_style = self.get_component_rich_style("keybar--hover", partial=True)
        line = Text(no_wrap=True, overflow="crop", end="")
        for x, key in self._placed:
            line.append(" " * (x - line.cell_len))
            start = len(line)
            line.append(key.display, key_style)
            line.append(" " + key.description, text_style)
            if not key.enabled:
                line.stylize("dim", start)
            if key == self._hovered:
                line.stylize(hover_style, start)
        line.truncate(width, pad=True)
        return line

    def key_at(self, x: int) -> BarKey | None:
        """The key drawn at column `x`, if any."""
        for start, key in self._placed:
            if start <= x < start + key.width:
                return key
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        hovered = self.key_at(event.x)
        if hovered != self._hovered:
            self._hovered = hovered
            self.tooltip = hovered.tooltip if hovered else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hovered is not None:
            self._hovered = None
            self.tooltip = None
            self.refresh()

    def on_click(self, event: events.Click) -> None:
        key = self.key_at(event.x)
        if key is None:
            return
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()
