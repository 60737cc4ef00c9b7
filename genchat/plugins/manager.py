"""Load plugins one at a time, so that one broken plugin costs only itself.

pluggy's bulk helpers stop at the first failure: `load_setuptools_entrypoints` raises on the first
import error, one raising implementation aborts a whole hook call, and `check_pending` raises on
the first unknown hook. So genchat:

1. creates the manager, adds the hook specs and registers the built-in plugins;
2. imports and registers each entry point of the `genchat` group inside its own `try`, subject to
   the allow-list (`GENCHAT_PLUGINS`, or `--no-plugins`), and checks its hooks against the specs;
3. calls each plugin's `genchat_register_backends` and `genchat_register_profiles` on its own,
   through pluggy's hook caller for that plugin alone (`subset_hook_caller`), with a `register`
   closure that knows which plugin is calling.

Every failure is recorded with the plugin's name and the stage it failed at, for `genchat plugins`
and the TUI to show.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, distributions
from types import ModuleType
from typing import Any, Literal

import pluggy
from pydantic import BaseModel

from genchat.backends.base import Backend
from genchat.plugins import hookspecs
from genchat.plugins.hookspecs import RegisterBackend, RegisterProfile
from genchat.untrusted import clean_line, redact

ENTRY_POINT_GROUP = hookspecs.PROJECT
ALLOW_ENV = "GENCHAT_PLUGINS"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "genchat.backends.local.llama_cpp",
    "genchat.backends.remote.openai",
    "genchat.backends.remote.anthropic",
    "genchat.backends.remote.ollama",
    "genchat.backends.local.peft",
)
"""Modules registered as plugins before any entry point, through the same hooks."""

Stage = Literal["import", "register", "hooks", "backends", "profiles"]


@dataclass
class PluginInfo:
    """A plugin that loaded, and what it registered.

    Names and versions come from a package's metadata, which anyone can write: they are
    cleaned of terminal control sequences as they are recorded.
    """

    name: str
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    backends: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = clean_line(self.name)
        self.distribution = None if self.distribution is None else clean_line(self.distribution)
        self.version = None if self.version is None else clean_line(self.version)


@dataclass(frozen=True)
class PluginFailure:
    """A plugin, or one of its hooks, that failed. The rest of genchat goes on without it.

    The name and the error (a plugin's own exception text) are cleaned and redacted."""

    name: str
    stage: Stage
    error: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_line(self.name))
        object.__setattr__(self, "error", redact(clean_line(self.error)))


@dataclass(frozen=True)
class RegisteredProfile:
    """A profile a plugin contributed: its backend, options and generation defaults."""

    name: str
    plugin: str
    values: Mapping[str, Any]


@dataclass
class PluginRegistry:
    """What the plugins provide: backend types, ready-made profiles, and what went wrong."""

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    backends: dict[str, type[Backend]] = field(default_factory=dict)
    backend_plugins: dict[str, str] = field(default_factory=dict)
    """Backend name -> the plugin that registered it."""
    profiles: dict[str, RegisteredProfile] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Installed plugins left out by the allow-list."""

    def failure_for(self, plugin: str) -> PluginFailure | None:
        """The first recorded failure of `plugin`, if any."""
        return next((f for f in self.failures if f.name == plugin), None)


def parse_allow_list(value: str | None) -> frozenset[str] | None:
    """`GENCHAT_PLUGINS` as a set of entry-point names; `None` when unset (everything loads)."""
    if value is None:
        return None
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def load_plugins(
    *,
    no_plugins: bool = False,
    allow: frozenset[str] | None = None,
    entry_point_list: Iterable[EntryPoint] | None = None,
) -> PluginRegistry:
    """Build the registry: built-ins first, then each allowed entry point, one at a time.

    `allow` defaults to the `GENCHAT_PLUGINS` environment variable, where an empty value means
    built-ins only; `no_plugins` means built-ins only whatever the variable says.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registry = PluginRegistry(manager=manager)

    for module_name in BUILTIN_PLUGINS:
        _register_module(registry, module_name, importlib.import_module, builtin=True)

    if allow is None:
        allow = parse_allow_list(os.environ.get(ALLOW_ENV))
    if no_plugins:
        allow = frozenset()
    eps = _installed_entry_points(registry) if entry_point_list is None else entry_point_list
    seen: set[str] = set()
    for ep in eps:
        if ep.name in seen:
            continue
        seen.add(ep.name)
        if allow is not None and ep.name not in allow:
            registry.skipped.append(ep.name)
            continue
        _register_entry_point(registry, ep)
    for name in sorted((allow or frozenset()) - seen):
        registry.failures.append(
            PluginFailure(name, "import", f"{ALLOW_ENV} names it, but it is not installed")
        )

    for plugin_name in list(registry.plugins):
        _call_registration_hooks(registry, plugin_name)
    return registry


def _installed_entry_points(registry: PluginRegistry) -> list[EntryPoint]:
    """The `genchat` entry points of every installed distribution, read one distribution at a
    time: a package whose entry-point metadata cannot be parsed is recorded as a failure and
    costs only its own plugins, where `entry_points(group=…)` would raise for them all."""
    found: list[EntryPoint] = []
    for dist in distributions():
        try:
            found.extend(dist.entry_points.select(group=ENTRY_POINT_GROUP))
        except Exception as exc:
            name = dist.metadata["Name"] if dist.metadata else None
            registry.failures.append(
                PluginFailure(name or "an installed package", "import", _describe(exc))
            )
    return found


def _register_entry_point(registry: PluginRegistry, ep: EntryPoint) -> None:
    dist = ep.dist
    info = PluginInfo(
        ep.name,
        builtin=False,
        distribution=dist.name if dist else None,
        version=dist.version if dist else None,
    )
    _register_module(registry, ep.name, lambda _name: ep.load(), builtin=False, info=info)


def _register_module(
    registry: PluginRegistry,
    name: str,
    load: Callable[[str], Any],
    *,
    builtin: bool,
    info: PluginInfo | None = None,
) -> None:
    try:
        plugin = load(name)
    except BaseException as exc:  # a plugin may raise anything at import, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        registry.failures.append(PluginFailure(name, "import", _describe(exc)))
        return
    try:
        registry.manager.register(plugin, name=name)
    except Exception as exc:
        registry.failures.append(PluginFailure(name, "register", _describe(exc)))
        return
    unknown = _unknown_hooks(registry.manager, plugin)
    if unknown:
        registry.manager.unregister(plugin)
        registry.failures.append(
            PluginFailure(name, "hooks", f"implements unknown hooks: {', '.join(unknown)}")
        )
        return
    registry.plugins[name] = info or PluginInfo(name, builtin=builtin)


def _unknown_hooks(manager: pluggy.PluginManager, plugin: ModuleType | object) -> list[str]:
    """Hooks this plugin implements that no spec defines (what `check_pending` would reject)."""
    unknown = []
    for caller in manager.get_hookcallers(plugin) or []:
        if caller.spec is not None:
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and not impl.optionalhook:
                unknown.append(caller.name)
    return unknown


def _call_registration_hooks(registry: PluginRegistry, plugin_name: str) -> None:
    plugin = registry.manager.get_plugin(plugin_name)
    info = registry.plugins[plugin_name]

    def register_backend(cls: type[Backend]) -> None:
        problem = _check_backend_class(cls)
        if problem:
            raise TypeError(problem)
        if cls.name in registry.backends:
            owner = registry.backend_plugins[cls.name]
            raise ValueError(f"backend name {cls.name!r} is already registered by plugin {owner!r}")
        if clean_line(cls.name) != cls.name:
            raise ValueError(f"backend name {clean_line(cls.name)!r} holds control characters")
        registry.backends[cls.name] = cls
        registry.backend_plugins[cls.name] = plugin_name
        info.backends.append(cls.name)

    def register_profile(name: str, /, *, foreign_backend: bool = False, **values: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("a profile needs a non-empty name")
        if clean_line(name) != name:
            raise ValueError(f"profile name {clean_line(name)!r} holds control characters")
        if name in registry.profiles:
            owner = registry.profiles[name].plugin
            raise ValueError(f"profile {name!r} is already registered by plugin {owner!r}")
        backend = values.get("backend")
        if isinstance(backend, str) and backend not in info.backends and not foreign_backend:
            provider = registry.backend_plugins.get(backend)
            whose = f"plugin {provider!r} registers it" if provider else "no plugin registers it"
            raise ValueError(
                f"profile {name!r} uses backend {backend!r}, which this plugin does not register"
                f" ({whose}); for another plugin's backend, register it with foreign_backend=True"
            )
        registry.profiles[name] = RegisteredProfile(name, plugin_name, dict(values))
        info.profiles.append(name)

    hooks: list[tuple[Stage, str, RegisterBackend | RegisterProfile]] = [
        ("backends", "genchat_register_backends", register_backend),
        ("profiles", "genchat_register_profiles", register_profile),
    ]
    others = [p for p in registry.manager.get_plugins() if p is not plugin]
    for stage, hook_name, register in hooks:
        # pluggy's own caller, for this plugin's implementation alone: one plugin that raises
        # costs only itself, where a call of the whole hook would stop at the first failure.
        call = registry.manager.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            call(register=register)
        except (Exception, SystemExit) as exc:
            registry.failures.append(PluginFailure(plugin_name, stage, _describe(exc)))


def _check_backend_class(cls: object) -> str | None:
    if not isinstance(cls, type) or not issubclass(cls, Backend):
        return f"{cls!r} is not a subclass of genchat.Backend"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        return f"{cls.__qualname__} does not set a backend `name`"
    if not (isinstance(cls.Options, type) and issubclass(cls.Options, BaseModel)):
        return f"{cls.__qualname__}.Options is not a pydantic model"
    if getattr(cls, "__abstractmethods__", None):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        return f"{cls.__qualname__} does not implement {missing}"
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
