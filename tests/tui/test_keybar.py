"""The key bar: the keys that fit, whole, with the palette and Quit always there."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from genchat.tui.app import GenchatApp, make_app
from genchat.tui.screens.history import HistoryScreen
from genchat.tui.widgets.keybar import BarKey, KeyBar, fit
from genchat.tui.widgets.prompt import PromptInput
from tests.support.pilot import scripted_profile, wait_for


@pytest.fixture(autouse=True)
def scripted(test_plugins: str, monkeypatch: pytest.MonkeyPatch, config_file: Path) -> None:
    monkeypatch.setenv("GENCHAT_PLUGINS", "scripted")
    config_file.write_text(scripted_profile("one") + scripted_profile("two"))


def key(description: str, display: str = "^x") -> BarKey:
    return BarKey(display, display, description, enabled=True, tooltip=description)


def test_fit_keeps_the_first_keys_whole_and_the_pinned_ones_at_the_end() -> None:
    offered = [key("New"), key("History"), key("Settings"), key("Compare")]
    pinned = [key("Palette", "^p"), key("Quit", "^q")]
    for width in range(0, 90):
        placed = fit(offered, pinned, width)
        shown = [k for _, k in placed]
        assert shown[-2:] == pinned
        assert shown[:-2] == offered[: len(shown) - 2], "a key left out before one shown"
        ends = [x + k.width for x, k in placed]
        if width >= 2 + sum(k.width for k in pinned) + 2:  # room for the pinned keys
            assert max(ends) <= width - 1, f"{width} columns: a key runs past the edge"
        starts = [x for x, _ in placed]
        assert all(b >= a + 2 for a, b in zip(ends, starts[1:], strict=False)), "keys touch"
    assert [k.description for _, k in fit(offered, pinned, 200)][:4] == [
        "New",
        "History",
        "Settings",
        "Compare",
    ]


def bar_of(app: GenchatApp) -> KeyBar:
    return app.screen.query_one(KeyBar)


def assert_whole(bar: KeyBar) -> list[str]:
    """The bar as drawn: each key's label whole at its place, and the palette and Quit last.
    Returns the descriptions shown."""
    line = bar.render().plain
    assert len(line) == bar.size.width
    placed = bar._placed
    for x, shown in placed:
        assert line[x : x + shown.width] == f"{shown.display} {shown.description}"
    descriptions = [k.description for _, k in placed]
    assert descriptions[-2:] == ["Palette", "Quit"], line
    return descriptions


APPS = {
    "chat": lambda: make_app("one"),
    "compare": lambda: make_app(compare=["one", "two"]),
    "arena": lambda: make_app(arena=["one", "two"], seed=1),
}


@pytest.mark.parametrize("face", ["chat", "compare", "arena"])
async def test_at_80_columns_each_screen_shows_its_first_keys_and_quit(face: str) -> None:
    app = APPS[face]()
    async with app.run_test(size=(80, 30)) as pilot:
        await app.services.loaded.wait()
        await pilot.pause()
        shown = assert_whole(bar_of(app))
        first = {"chat": "Stop", "compare": "Stop all", "arena": "Stop"}[face]  # no votes yet
        assert shown[0] == first, bar_of(app).render().plain
        assert len(shown) > 3, "the bar shows only the pinned keys"
        assert app.screen.size.width == 80


@pytest.mark.parametrize("face", ["chat", "compare", "arena"])
async def test_the_screens_own_keys_come_before_the_prompts(face: str) -> None:
    """The arena binds each vote to two keys (`alt+1,1`): its keys still come in its order,
    and the prompt's after them all."""
    app = APPS[face]()
    async with app.run_test(size=(200, 30)) as pilot:
        await app.services.loaded.wait()
        await pilot.pause()
        shown = assert_whole(bar_of(app))
        assert shown[-4:] == ["Send", "Newline", "Palette", "Quit"], shown


async def test_a_wider_terminal_shows_more_keys_and_the_bar_follows_a_resize() -> None:
    app = make_app("one")
    async with app.run_test(size=(80, 30)) as pilot:
        await app.services.loaded.wait()
        await pilot.pause()
        narrow = assert_whole(bar_of(app))
        await pilot.resize_terminal(160, 30)
        await wait_for(pilot, lambda: bar_of(app).size.width == 160, "the resize")
        await pilot.pause()
        wide = assert_whole(bar_of(app))
        assert len(wide) > len(narrow) and wide[: len(narrow) - 2] == narrow[:-2]


async def test_a_remapped_key_shows_as_remapped(config_file: Path) -> None:
    config_file.write_text(scripted_profile("one") + '[keymap]\nnew_chat = "f9"\n')
    app = make_app("one")
    async with app.run_test(size=(120, 30)) as pilot:
        await app.services.loaded.wait()
        await pilot.pause()
        assert_whole(bar_of(app))
        assert "f9 New" in bar_of(app).render().plain
        assert "^n New" not in bar_of(app).render().plain


async def test_the_bar_follows_the_focus() -> None:
    """The prompt's keys show while it has the focus, and go when it loses it."""
    app = make_app("one")
    async with app.run_test(size=(160, 30)) as pilot:
        await app.services.loaded.wait()
        await pilot.pause()
        assert "Newline" in assert_whole(bar_of(app))
        app.screen.set_focus(None)
        await wait_for(pilot, lambda: "Newline" not in bar_of(app).render().plain, "a redraw")
        app.screen.query_one(PromptInput).focus()
        await wait_for(pilot, lambda: "Newline" in bar_of(app).render().plain, "a redraw")


async def test_clicking_a_key_presses_it() -> None:
    app = make_app("one")
    async with app.run_test(size=(120, 30)) as pilot:
        await app.services.loaded.wait()
        await pilot.pause()
        bar = bar_of(app)
        assert_whole(bar)
        [(x, _)] = [(x, k) for x, k in bar._placed if k.description == "History"]
        await click(pilot, x + 1)
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history")


async def click(pilot: Pilot[None], x: int) -> None:
    assert await pilot.click(KeyBar, offset=(x, 0))
