"""What the screens work with, handed to each one in its constructor: the profiles (which load
just after the first frame), the history, and the clock replies are timed with.

A screen never reaches for the App to find these, so a screen can be built and tested with any
`Services`, and the App is the one place that knows every screen (`genchat.tui.navigation`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from genchat.tui.history import ChatHistory

if TYPE_CHECKING:
    from genchat.profiles.profile import Profiles


@dataclass(eq=False)
class Services:
    """The app's shared services. `profiles` raises until they are loaded (or given)."""

    history: ChatHistory = field(default_factory=ChatHistory)
    """Where the screens save their conversations, on one ordered thread."""
    clock: Callable[[], float] = time.monotonic
    """What replies are timed with; snapshot tests pass a fixed one."""
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the profiles are loaded: before it, `profiles` raises, and the actions and
    messages that need them wait for it (`needs_profiles`, `ChatScreen.send`)."""
    warmed_up: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once what the first frame did without is imported (`genchat.tui.warm_up`):
    background work that needs it waits, rather than import it on the event loop."""
    given: Profiles | None = None
    """Profiles loaded before the app started (the compare screen and the arena draw from
    them), else `None` until they load."""

    @property
    def profiles(self) -> Profiles:
        """The config's profiles and their backends; loaded just after the first frame."""
        if self.given is None:
            raise RuntimeError("the profiles load after the first frame: await loaded")
        return self.given

    def profiles_loaded(self, profiles: Profiles) -> None:
        """Hand over the loaded profiles, and let what waits for them go on."""
        self.given = profiles
        self.loaded.set()
