"""Driving the real app with Textual's Pilot: typing and sending, waiting for what a busy machine
makes slow (up to the suite's one deadline), and reading what the app said."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.notifications import SeverityLevel
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import OptionList
from textual.worker import WorkerCancelled

from genchat.errors import ConfigError
from genchat.tui.app import GenchatApp
from genchat.tui.screens.chat import ChatScreen
from genchat.tui.screens.history import HistoryScreen
from genchat.tui.widgets.message import AssistantMessage
from genchat.tui.widgets.prompt import PromptInput
from tests.support.helpers import DEADLINE_S

SIZE = (100, 32)


def scripted_profile(name: str, **options: object) -> str:
    lines = [f"[profiles.{name}]", 'backend = "scripted"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def chat(app: GenchatApp) -> ChatScreen:
    assert isinstance(app.screen, ChatScreen)
    return app.screen


async def send(pilot: Pilot[None], text: str) -> None:
    assert pilot.app.is_running, "the app has ended"  # a key pressed into it would wait for ever
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.focus()
    prompt.insert(text)
    await pilot.press("enter")


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds, for at most the suite's deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE_S:g} s waiting for {what}")
        await pilot.pause(0.05)


async def config_error_of(app: GenchatApp) -> ConfigError:
    """Run `app` until it ends on its config, which it checks once its first frame is drawn;
    it must end with exit code 2."""
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.config_error is not None, "the config's problems")
    assert app.return_code == 2 and app.config_error is not None
    return app.config_error


async def finish(pilot: Pilot[None]) -> None:
    """Wait until every worker is done; a worker that was cancelled counts as done."""
    for _ in range(100):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:
            await pilot.pause()
        else:
            break
    await pilot.pause()


SLOW_REPLY = scripted_profile("scripted", chunks=["word "] * 200, delay_s=0.02)
"""A reply that takes a few seconds, to act on while it streams."""


async def start_slow_reply(pilot: Pilot[None]) -> AssistantMessage:
    """Send a prompt to the `SLOW_REPLY` profile and return its reply once text arrives."""
    await send(pilot, "Talk")
    view = pilot.app.screen.query_one(AssistantMessage)
    await wait_for(pilot, lambda: bool(view.text), "the reply to start")
    return view


def toasts(app: GenchatApp) -> list[tuple[SeverityLevel, str]]:
    """Every toast the app has raised, shown now or since timed out, with its severity (see
    conftest's `every_toast`)."""
    raised: list[tuple[SeverityLevel, str]] = app.__dict__.get("toasts", [])
    return raised


def notifications(app: GenchatApp) -> list[str]:
    """The text of every toast the app has raised."""
    return [message for _, message in toasts(app)]


async def shown(pilot: Pilot[None], screen: type[Screen[Any]]) -> None:
    """Wait until a screen of this type is on top, composed and mounted."""

    def ready() -> bool:
        top = pilot.app.screen
        return isinstance(top, screen) and top.is_mounted and bool(top.children)

    await wait_for(pilot, ready, screen.__name__)


async def open_history(pilot: Pilot[None]) -> HistoryScreen:
    await pilot.press("ctrl+l")
    await shown(pilot, HistoryScreen)
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    listed = screen.query_one(OptionList)
    await wait_for(pilot, lambda: listed.option_count > 0, "the list to load")
    return screen
