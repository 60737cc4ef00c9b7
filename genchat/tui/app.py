"""The Textual app: `make_app()` builds it for the command line and the tests alike."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from genchat.chat import Target
from genchat.embedded import PROFILE_NAME
from genchat.errors import ConfigError
from genchat.paths import config_path, read_config_file
from genchat.tui.memory import settle_memory
from genchat.tui.navigation import (
    HistoryChoice,
    OpenArena,
    OpenCompare,
    OpenHistory,
    OpenLeaderboard,
    OpenSummary,
)
from genchat.tui.screens.chat import ChatScreen
from genchat.tui.services import Services
from genchat.tui.timers import guard_timers
from genchat.tui.warm_up import warm_up
from genchat.tui.widgets.echo import hand_over_quickly

if TYPE_CHECKING:
    from genchat.profiles.profile import Profiles
    from genchat.tui.screens.arena import ArenaSetup


class GenchatApp(App[None]):
    """genchat's terminal interface."""

    CSS_PATH = "genchat.tcss"
    TITLE = "genchat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding(
            "ctrl+p",
            "command_palette",
            "Palette",
            id="command_palette",
            priority=True,
            tooltip="Every command, searchable",
        ),
    ]

    def __init__(
        self,
        profiles: Profiles | Callable[[], Profiles],
        target: Target,
        *,
        keymap: Mapping[str, str] | None = None,
        conversation: int | Literal["last"] | None = None,
        continue_with: Target | None = None,
        compare: list[Target] | None = None,
        arena: ArenaSetup | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        guard_timers()  # before any timer of the app's exists: see genchat.tui.timers
        super().__init__()
        self.compare = compare
        """Targets to open the compare screen on, at start."""
        self.arena = arena
        """The arena to open at start."""
        self.continue_with = continue_with
        """The target that `conversation` continues with, instead of its own."""
        self._load: Callable[[], Profiles] | None = None
        """What loads the profiles, in a thread, once the first frame is drawn."""
        if callable(profiles):
            self._load, given = profiles, None
        else:
            given = profiles
        self._keymap = dict(keymap or {})
        self._switch_interval = sys.getswitchinterval()
        self.services = Services(clock=clock, given=given)
        """What every screen is given: the profiles once loaded, the history, the clock."""
        self.config_error: ConfigError | None = None
        """Why the app ended before it was ready: the config, checked after the first frame."""
        self.initial_target = target
        self.initial_conversation = conversation
        """A stored conversation to open at start (`last`: the latest)."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast, whose text is never read as markup, whatever the caller asks: it often
        quotes a server, a file or a plugin, where a `[` would restyle the text, attach an
        action to a click (`[@click=…]`), or fail to parse and end the app (`[/]`)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def on_mount(self) -> None:
        self._switch_interval = hand_over_quickly()  # for the terminal's threads (echo.py)
        self.set_keymap(self._keymap)
        self.push_screen(
            ChatScreen(
                self.services, self.initial_target, self.initial_conversation, self.continue_with
            )
        )
        if self.compare:
            self.on_open_compare(OpenCompare(self.compare))
        if self.arena:
            self.push_screen(self.arena.screen(self.services))
        self.call_after_refresh(self._after_first_screen)

    # -- one screen opens another (genchat.tui.navigation) --------------------------------------

    def on_open_compare(self, message: OpenCompare) -> None:
        from genchat.tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(self.services, message.targets, message.saved))

    def on_open_arena(self, message: OpenArena) -> None:
        from genchat.tui.screens.arena import ArenaScreen

        self.push_screen(ArenaScreen(self.services, message.targets))

    def on_open_leaderboard(self, message: OpenLeaderboard) -> None:
        from genchat.tui.screens.leaderboard import LeaderboardScreen

        self.push_screen(LeaderboardScreen(self.services.history, message.tag))

    def on_open_history(self, message: OpenHistory) -> None:
        from genchat.tui.screens.history import HistoryScreen

        services = self.services
        screen = HistoryScreen(services.history, services.profiles, current=message.current)

        async def closed(choice: HistoryChoice | None) -> None:
            await message.closed(choice, frozenset(screen.deleted))

        self.push_screen(screen, closed)

    def on_open_summary(self, message: OpenSummary) -> None:
        from genchat.tui.screens.summary import CompareSummary

        self.push_screen(
            CompareSummary(message.title, message.labels, message.turns, name=message.name)
        )

    def _after_first_screen(self) -> None:
        """What can wait until the screen is up: the profiles (`_start`), then the rest."""
        self._start()

    @work(group="start", exit_on_error=False)
    async def _start(self) -> None:
        """Load the profiles, in a thread, so that the prompt takes keys meanwhile; a config
        that is not valid ends the app with its problems (`config_error`, exit code 2). Then
        import what a first reply needs (off the event loop, so that the reply does not pause
        for it), settle memory, look for servers, and open the history. Plugins that failed
        are named here: a toast raised before the first screen exists may never be drawn."""
        profiles = self.services.given
        if self._load is not None:
            try:
                profiles = await asyncio.to_thread(self._load)
            except ConfigError as exc:
                self.config_error = exc
                self.exit(return_code=2)
                return
            self.set_keymap(dict(profiles.loaded.config.keymap))
        assert profiles is not None
        self.services.profiles_loaded(profiles)
        for failure in self.services.profiles.registry.failures:
            self.notify(
                f"Plugin {failure.name} failed at {failure.stage}: {failure.error}",
                title="Plugin not loaded",
                severity="warning",
                timeout=10,
            )
        self._warm_up()
        self.services.history.open_soon()

    @work(group="warm-up", exit_on_error=False)
    async def _warm_up(self) -> None:
        # A module that fails to import here fails again where it is used, and says so there;
        # memory is settled and servers are looked for either way.
        with contextlib.suppress(Exception):
            await asyncio.to_thread(warm_up)
        self.services.warmed_up.set()
        # Frozen after the warm-up, so that what it imported is frozen too; and not at the first
        # frame, where the first key would wait for the collection that comes before the freeze.
        settle_memory()
        await self._discover()

    async def _discover(self) -> None:
        """Look for running servers (an Ollama), and say what was found."""
        for name in await self.services.profiles.discover():
            profile = self.services.profiles.profiles[name]
            where = getattr(profile.options, "base_url", None)
            at = f" at {where}" if where else ""
            self.notify(
                f"A {profile.backend} server is running{at}: profile {name!r} is in the model "
                "picker.",
                title="Found a server",
                timeout=8,
            )

    async def on_unmount(self) -> None:
        if self.services.given is not None:
            await self.services.given.aclose()
        await asyncio.to_thread(self.services.history.close)
        sys.setswitchinterval(self._switch_interval)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette offers every action of the screen, with its key."""
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            key = self.get_key_display(binding)
            action = binding.action

            async def run(action: str = action) -> None:
                await screen.run_action(action)

            title = binding.tooltip or binding.description
            yield SystemCommand(title, f"{key} · {binding.id}", run)


def make_app(
    profile: str | None = None,
    *,
    no_plugins: bool = False,
    conversation: int | Literal["last"] | None = None,
    compare: list[str] | None = None,
    arena: list[str] | None = None,
    live: bool = False,
    tag: str = "",
    seed: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> GenchatApp:
    """Build the app on `profile` (default: the config's `default_profile`), opening a stored
    `conversation` to continue (`last`: the latest) where one is given: with `profile` when
    that is given, else with the conversation's own. `compare` opens the compare screen on
    those profiles; `arena` the blind arena between those (`live`, `tag` and a `seed` for its
    draws: see `ArenaScreen`).

    The chat screen draws first, from the config file's TOML alone (its keymap and default
    profile); the config is validated, and the plugins and profiles loaded, just after that
    frame (`GenchatApp._start`): a problem found then ends the app with exit code 2 and
    `config_error`. Raises `ConfigError` at once for a file that cannot be read or is not TOML.
    The compare screen and the arena need every pane's profile to draw, so with those the
    profiles load first, and a `ConfigError` is raised here.
    """
    if compare or arena:
        profiles = checked_profiles(profile, no_plugins=no_plugins)
        panes = [Target(profiles.get(name).name) for name in compare or ()]
        contenders = [Target(profiles.get(name).name) for name in arena or ()]
        from genchat.tui.screens.arena import ArenaSetup

        return GenchatApp(
            profiles,
            Target(profiles.get(profile).name),
            keymap=profiles.loaded.config.keymap,
            compare=panes or None,
            arena=ArenaSetup(contenders, live, tag, seed) if contenders else None,
            clock=clock,
        )
    raw = read_config_file(config_path()) or {}
    default = raw.get("default_profile")
    name = profile or (default if isinstance(default, str) else PROFILE_NAME)
    keymap = raw.get("keymap")
    if not (isinstance(keymap, dict) and all(isinstance(v, str) for v in keymap.values())):
        keymap = {}  # validated after the first frame, which says what is wrong with it
    return GenchatApp(
        lambda: checked_profiles(profile, no_plugins=no_plugins),
        Target(name),
        keymap=keymap,
        conversation=conversation,
        continue_with=Target(name) if profile else None,
        clock=clock,
    )


def checked_profiles(profile: str | None, *, no_plugins: bool) -> Profiles:
    """The config validated, the plugins loaded and the profiles resolved, with `profile`
    (default: the config's `default_profile`) among them and the keymap valid; else a
    `ConfigError` that names each problem."""
    from genchat.profiles.profile import open_profiles
    from genchat.tui.keymap import keymap_problems

    profiles = open_profiles(no_plugins=no_plugins)
    loaded = profiles.loaded
    problems = keymap_problems(loaded.config.keymap)
    if problems:
        raise ConfigError(problems, source=str(loaded.path))
    profiles.get(profile)
    return profiles
