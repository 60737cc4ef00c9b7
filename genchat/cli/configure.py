"""The inspect-and-configure commands: `genchat models`, `genchat plugins`, `genchat config`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genchat.backends.base import ModelInfo
from genchat.backends.remote.base import RemoteOptions
from genchat.cli.exits import EXIT_OK, EXIT_USAGE
from genchat.cli.runner import run_async
from genchat.paths import config_path
from genchat.plugins.manager import ALLOW_ENV, PluginRegistry, load_plugins
from genchat.profiles.config import load_config, write_example_config
from genchat.profiles.profile import Profiles, open_profiles

LIST_MODELS_TIMEOUT_S = 10.0


def run_models(args: argparse.Namespace) -> int:
    """Print every profile, its backend and the models it offers; broken profiles with why."""
    profiles = open_profiles(no_plugins=args.no_plugins)
    listings = run_async(_list_all(profiles))
    names = sorted(set(profiles.profiles) | set(profiles.problems))
    for name in names:
        marker = " (default)" if name == profiles.default_name else ""
        if name in profiles.problems:
            print(f"{name}{marker}  [broken]")
            for problem in profiles.problems[name]:
                print(f"    {problem}")
            continue
        profile = profiles.profiles[name]
        print(f"{name}{marker}  backend: {profile.backend}  from: {profile.origin}")
        result = listings[name]
        if isinstance(result, str):
            print(f"    cannot list models: {result}")
            continue
        for model in result:
            print(f"    {_describe_model(model)}")
    if profiles.default_name not in names:
        print(f"\ndefault_profile {profiles.default_name!r} names no profile", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


async def _list_all(profiles: Profiles) -> dict[str, list[ModelInfo] | str]:
    try:
        await profiles.discover()
        return await profiles.list_models(LIST_MODELS_TIMEOUT_S)
    finally:
        await profiles.aclose()


def _describe_model(model: ModelInfo) -> str:
    parts = [model.id + (" *" if model.default else "")]
    if model.description and model.description != model.id:
        parts.append(model.description)
    if model.context_length:
        parts.append(f"context {model.context_length}")
    for key in ("architecture", "quantisation"):
        if key in model.details:
            parts.append(model.details[key])
    return "  ·  ".join(parts)


def run_plugins(args: argparse.Namespace) -> int:
    """Print the loaded plugins with their backends and profiles, and every failure."""
    registry = load_plugins(no_plugins=args.no_plugins)
    print_plugins(registry)
    return EXIT_OK


def print_plugins(registry: PluginRegistry) -> None:
    for info in registry.plugins.values():
        kind = "built-in" if info.builtin else "plugin"
        dist = f" ({info.distribution} {info.version})" if info.distribution else ""
        line = f"{kind:8}  {info.name}{dist}"
        if info.backends:
            line += f"  backends: {', '.join(info.backends)}"
        if info.profiles:
            line += f"  profiles: {', '.join(info.profiles)}"
        print(line)
    for failure in registry.failures:
        print(f"{'failed':8}  {failure.name}  at {failure.stage}: {failure.error}")
    if registry.skipped:
        print(f"{'skipped':8}  {', '.join(registry.skipped)}  (not in {ALLOW_ENV})")


def run_config(args: argparse.Namespace) -> int:
    """`genchat config path|init|check`."""
    path = config_path()
    if args.config_command == "path":
        print(path)
        return EXIT_OK
    if args.config_command == "init":
        write_example_config(path, force=args.force)
        print(f"wrote {path}")
        return EXIT_OK
    return _check(path, no_plugins=getattr(args, "no_plugins", False))


def key_notes(profiles: Profiles) -> list[tuple[str, str]]:
    """What `config check` says about the remote profiles' keys: each profile whose default
    key is no longer sent to its base_url, and each key that would go over plain http to
    another machine (`RemoteOptions.key_plan`), as (profile, note)."""
    notes = []
    for name in sorted(profiles.profiles):
        options = profiles.profiles[name].options
        if isinstance(options, RemoteOptions):
            notes += [(name, note) for note in options.key_plan().notices]
    return notes


def _check(path: Path, *, no_plugins: bool) -> int:
    loaded = load_config()  # raises ConfigError for a file that is not valid at all
    registry = load_plugins(no_plugins=no_plugins)
    profiles = Profiles(loaded, registry)
    problems = [p for name in sorted(profiles.problems) for p in profiles.problems[name]]
    if loaded.config.keymap:  # Textual's key tables are read only when there is a keymap
        from genchat.tui.keymap import keymap_problems

        problems += keymap_problems(loaded.config.keymap)
    if (
        profiles.default_name not in profiles.profiles
        and profiles.default_name not in profiles.problems
    ):
        problems.append(f"default_profile: there is no profile {profiles.default_name!r}")
    where = str(path) if loaded.exists else f"{path} (no file: built-in defaults)"
    if problems:
        print(
            f"{where}: {len(problems)} problem{'s' if len(problems) > 1 else ''}", file=sys.stderr
        )
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    for failure in registry.failures:
        print(
            f"warning: plugin {failure.name} failed at {failure.stage}: {failure.error}",
            file=sys.stderr,
        )
    for name, note in key_notes(profiles):
        print(f"warning: profiles.{name}: {note}", file=sys.stderr)
    print(f"{where}: ok ({len(profiles.profiles)} profiles, default {profiles.default_name!r})")
    return EXIT_OK
