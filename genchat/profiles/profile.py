"""Profiles: the config file's profiles merged over the plugins' ones, validated, and built.

A *profile* is a named, configured use of a backend type. This module turns the validated config
and the plugin registry into `Profile`s, keeps every broken profile's problems (so one mistake
does not hide the others, and a bad profile you do not use does not stop you), and builds one
backend instance per profile on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genchat.backends.base import Backend, BackendOptions, ModelInfo
from genchat.chat import ChatRequest, GenerationParams, Message, Target
from genchat.errors import ConfigError, GenchatError, PluginFailed
from genchat.plugins.manager import PluginRegistry, load_plugins
from genchat.profiles.config import (
    LoadedConfig,
    ParamsConfig,
    SamplingConfig,
    describe_validation_error,
    load_config,
)
from genchat.reply import Reply
from genchat.untrusted import clean_line, redact


@dataclass(frozen=True)
class Profile:
    """A ready-to-use profile."""

    name: str
    backend: str
    options: BackendOptions
    params: GenerationParams
    system: str | None
    origin: str
    """Where it was defined: the config file, a plugin, or both."""
    generate_titles: bool = False
    """Whether the model names each new conversation."""

    def overridden(self, settings: Mapping[str, Any]) -> tuple[str | None, GenerationParams]:
        """The system prompt and parameters of a request on this profile, with a conversation's
        (or a pane's) `settings` over the profile's own: `system`, and `params` checked as the
        config file checks a profile's.

        Settings come from the history, so from files and other programs too: raises a
        `ConfigError` naming each bad setting, rather than failing on it later.
        """
        problems = []
        system = settings.get("system", self.system)
        if system is not None and not isinstance(system, str):
            problems.append(f"settings.system: must be text (got {system!r})")
        raw = settings.get("params", {})
        sampling = SamplingConfig()
        if not isinstance(raw, Mapping):
            problems.append(f"settings.params: must be a table of parameters (got {raw!r})")
        else:
            try:
                sampling = SamplingConfig.model_validate(dict(raw))
            except ValidationError as exc:
                problems += describe_validation_error(exc, prefix="settings.params")
        if problems:
            raise ConfigError(problems)
        return system, self.params.merged(sampling.generation_params())


class Profiles:
    """Every profile, the problems of the broken ones, and their backend instances."""

    def __init__(self, loaded: LoadedConfig, registry: PluginRegistry) -> None:
        self.loaded = loaded
        self.registry = registry
        self.profiles: dict[str, Profile] = {}
        self.problems: dict[str, list[str]] = {}
        self._backends: dict[str, Backend] = {}
        for name, values, origin in _merged_profiles(loaded, registry):
            try:
                self.profiles[name] = _build_profile(name, values, origin, registry)
            except ConfigError as exc:
                self.problems[name] = exc.problems

    @property
    def default_name(self) -> str:
        return self.loaded.config.default_profile

    def get(self, name: str | None = None) -> Profile:
        """The profile `name` (default: `default_profile`); a `ConfigError` says what is wrong."""
        name = name or self.default_name
        if name in self.profiles:
            return self.profiles[name]
        source = str(self.loaded.path) if self.loaded.exists else None
        if name in self.problems:
            raise ConfigError(self.problems[name], source=source)
        known = ", ".join(sorted(self.profiles)) or "none"
        problem = f"there is no profile {name!r} (profiles: {known}); `genchat models` lists them"
        if name == self.default_name and source:
            problem = f"default_profile: {problem}"
        raise ConfigError([problem], source=source)

    def backend(self, name: str | None = None) -> Backend:
        """The backend instance of profile `name`, built on first use and then reused."""
        profile = self.get(name)
        backend = self._backends.get(profile.name)
        if backend is None:
            cls = self.registry.backends[profile.backend]
            try:
                backend = cls(profile.options)
            except Exception as exc:
                raise PluginFailed(
                    f"The {profile.backend} backend (from plugin "
                    f"{self.registry.backend_plugins[profile.backend]}) could not start: "
                    f"{type(exc).__name__}: {exc}."
                ) from exc
            self._backends[profile.name] = backend
        return backend

    async def list_models(self, per_backend_s: float = 10.0) -> dict[str, list[ModelInfo] | str]:
        """Every usable profile's models, asked of all backends at once.

        A profile whose backend fails or does not answer within `per_backend_s` gets a line
        saying why instead, so one slow or broken backend never hides the others.
        """

        async def one(name: str) -> list[ModelInfo] | str:
            try:
                return await asyncio.wait_for(self.backend(name).list_models(), per_backend_s)
            except TimeoutError:
                return f"no answer within {per_backend_s:.0f} s"
            except GenchatError as exc:
                return exc.one_line()
            except Exception as exc:  # a plugin's bug must not hide the other profiles
                return redact(clean_line(f"{type(exc).__name__}: {exc}"))

        names = sorted(self.profiles)
        results = await asyncio.gather(*(one(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def discover(self, timeout_s: float = 2.0) -> list[str]:
        """Add profiles for servers found running (an Ollama, say): each backend type that no
        profile uses yet is asked (`Backend.discover`), all at once. Returns the names added.

        Network I/O: call it off the start-up path (the TUI does, once its screen is up).
        """
        used = {profile.backend for profile in self.profiles.values()}
        candidates = [cls for name, cls in self.registry.backends.items() if name not in used]

        async def ask(cls: type[Backend]) -> dict[str, dict[str, Any]]:
            try:
                return await asyncio.wait_for(cls.discover(), timeout_s)
            except Exception:  # a slow or failing discovery only means nothing was found
                return {}

        added = []
        answers = await asyncio.gather(*map(ask, candidates))
        for cls, found in zip(candidates, answers, strict=True):
            for name, options in found.items():
                if name in self.profiles or name in self.problems:
                    continue
                values = {"backend": cls.name, **options}
                try:
                    self.profiles[name] = _build_profile(
                        name, values, "found running", self.registry
                    )
                except ConfigError as exc:
                    self.problems[name] = exc.problems
                    continue
                added.append(name)
        return added

    def label(self, target: Target) -> str:
        """A target as the chat's status bar and a pane's header name it: `profile · model`
        (the model asked for, else the backend's default), or the profile alone where its
        backend cannot be had."""
        model = target.model
        if model is None:
            with contextlib.suppress(GenchatError):
                model = self.backend(target.profile).default_model
        return f"{target.profile} · {model}" if model else target.profile

    def source_of(self, backend_name: str) -> str | None:
        """The plugin that registered a backend type."""
        return self.registry.backend_plugins.get(backend_name)

    def new_reply(
        self,
        target: Target,
        messages: Sequence[Message],
        settings: Mapping[str, Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> Reply:
        """The one place a conversation's request is made: a reply from `target` to
        `messages`, after the system prompt (the settings', else the profile's), with the
        settings' parameters over the profile's, for `target.model`. Raises `GenchatError`
        when the profile or its backend cannot be had, and `ConfigError` when the settings
        are not valid (`Profile.overridden`)."""
        profile = self.get(target.profile)
        backend = self.backend(profile.name)
        system, params = profile.overridden(settings)
        request = ChatRequest(
            [*([Message("system", system)] if system else []), *messages],
            params=params,
            model=target.model,
        )
        return Reply(
            backend,
            request,
            profile=profile.name,
            source=self.source_of(profile.backend),
            clock=clock,
        )

    async def aclose(self) -> None:
        """Close every backend built so far."""
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.aclose()


def open_profiles(*, no_plugins: bool = False) -> Profiles:
    """Load the config file and the plugins, and resolve every profile."""
    loaded = load_config()
    return Profiles(loaded, load_plugins(no_plugins=no_plugins))


def _merged_profiles(
    loaded: LoadedConfig, registry: PluginRegistry
) -> list[tuple[str, dict[str, Any], str]]:
    """Each profile's raw values: a plugin's profile with the config file's keys over it."""
    merged: dict[str, tuple[dict[str, Any], str]] = {}
    for name, registered in registry.profiles.items():
        merged[name] = (dict(registered.values), f"plugin {registered.plugin}")
    for name, profile in loaded.config.profiles.items():
        values = profile.model_dump(exclude_unset=True)
        base, origin = merged.get(name, ({}, ""))
        if "backend" in values and base.get("backend") not in (None, values["backend"]):
            base = {}  # a different backend: the file's profile replaces the plugin's
        params = {**base.get("params", {}), **values.get("params", {})}
        combined = {**base, **values, "params": params}
        where = f"{loaded.path}" + (f" over {origin}" if base else "")
        merged[name] = (combined, where)
    return [(name, values, origin) for name, (values, origin) in merged.items()]


def _build_profile(
    name: str, values: Mapping[str, Any], origin: str, registry: PluginRegistry
) -> Profile:
    prefix = f"profiles.{name}"
    values = dict(values)
    backend_name = values.pop("backend", None)
    raw_params = values.pop("params", {})
    generate_titles = values.pop("generate_titles", False)
    if backend_name is None:
        raise ConfigError([f"{prefix}.backend: required, but not set"])
    cls = registry.backends.get(backend_name)
    if cls is None:
        known = ", ".join(sorted(registry.backends)) or "none"
        hint = ""
        failed = ", ".join(sorted({f.name for f in registry.failures}))
        if failed:
            hint = f"; plugins that failed to load: {failed} (see `genchat plugins`)"
        raise ConfigError(
            [f"{prefix}.backend: unknown backend {backend_name!r} (backends: {known}){hint}"]
        )
    problems: list[str] = []
    try:
        params = ParamsConfig.model_validate(raw_params)
    except ValidationError as exc:
        problems += describe_validation_error(exc, prefix=f"{prefix}.params")
        params = ParamsConfig()
    try:
        options = cls.Options.model_validate(values)
    except ValidationError as exc:
        problems += describe_validation_error(
            exc, prefix=prefix, known_keys=cls.Options.model_fields
        )
    else:
        problems += _path_problems(prefix, options)
    if problems:
        raise ConfigError(problems)
    return Profile(
        name=name,
        backend=backend_name,
        options=options,
        params=params.generation_params(),
        system=params.system,
        origin=origin,
        generate_titles=generate_titles,
    )


def _path_problems(prefix: str, options: BackendOptions) -> list[str]:
    """A profile's model file (its `path` option, where the backend has one) must be a file that
    exists: found here, `config check` and start-up name it, rather than the first reply."""
    path = getattr(options, "path", None)
    if not isinstance(path, Path):
        return []
    path = path.expanduser()
    if path.is_dir():
        return [f"{prefix}.path: {path} is a directory, not a model file"]
    if not path.exists():
        return [f"{prefix}.path: {path} does not exist"]
    return []
