"""`genchat ask`: one reply, streamed to stdout, for scripts and pipes.

The reply's text goes to stdout and nothing else does: status, notices, reasoning and errors go
to stderr. Control sequences in the model's output were removed as it arrived (`genchat.reply`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any, TextIO

from genchat.backends.base import Backend
from genchat.chat import (
    GenerationParams,
    Loading,
    Message,
    Notice,
    ReasoningDelta,
    Target,
    TextDelta,
)
from genchat.cli.exits import EXIT_BACKEND, EXIT_BROKEN_PIPE, EXIT_OK, EXIT_USAGE
from genchat.cli.runner import run_async, silence_stdout
from genchat.errors import BackendError, ConfigError
from genchat.history.recorder import ReplyRecorder
from genchat.history.records import Status, StoreError
from genchat.history.store import Store
from genchat.profiles.profile import Profiles, open_profiles
from genchat.reply import Origin, Reply


def run_ask(args: argparse.Namespace) -> int:
    """Run `genchat ask` with parsed arguments; returns the exit code."""
    prompt = read_prompt(args.prompt, sys.stdin)
    if not prompt.strip():
        raise ConfigError(["no prompt: give one as an argument or pipe it on stdin"])
    params = _params_from_args(args)
    profiles = open_profiles(no_plugins=args.no_plugins)
    return run_async(_ask(profiles, args, prompt, params))


def read_prompt(argument: str | None, stdin: TextIO | None) -> str:
    """The prompt: piped stdin, then the argument, joined by a blank line when both are given.

    Text that is not UTF-8 (a Latin-1 file piped in, a byte the shell passed in an argument)
    does not stop the command: each byte that cannot be read becomes U+FFFD, and a note says so.
    """
    parts = []
    if stdin is not None and not stdin.isatty():
        piped = _decoded(stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read())
        if piped.strip():
            parts.append(piped.rstrip("\n"))
    if argument:
        parts.append(_decoded(argument.encode("utf-8", "surrogateescape")))
    return "\n\n".join(parts)


def _decoded(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        print(
            "genchat: note: the prompt is not valid UTF-8; bytes that could not be read "
            "were replaced with \N{REPLACEMENT CHARACTER}",
            file=sys.stderr,
        )
        return data.decode("utf-8", "replace")


def _params_from_args(args: argparse.Namespace) -> GenerationParams:
    problems = []
    if args.temperature is not None and not 0 <= args.temperature <= 2:
        problems.append(f"--temperature must be between 0 and 2 (got {args.temperature})")
    if args.max_tokens is not None and args.max_tokens < 1:
        problems.append(f"--max-tokens must be at least 1 (got {args.max_tokens})")
    if problems:
        raise ConfigError(problems)
    return GenerationParams(
        temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed
    )


async def _ask(
    profiles: Profiles, args: argparse.Namespace, prompt: str, cli: GenerationParams
) -> int:
    try:
        history = _History.open(args)
        earlier = history.earlier() if history else []
        # A continued conversation keeps its profile unless -m names another.
        wanted = args.model or (history.profile if history else None)
        if (wanted or profiles.default_name) not in profiles.profiles:
            await profiles.discover()  # the profile may be a server that is running (Ollama)
        if not args.model and wanted not in profiles.profiles:
            wanted = None  # the conversation's profile is gone: the default answers
        profile = profiles.get(wanted)
        backend = profiles.backend(profile.name)
        # The command line's system prompt and parameters over the profile's, as a
        # conversation's settings are; a continued conversation keeps its system prompt.
        settings: dict[str, Any] = {"params": cli.as_dict()}
        if args.system is not None:
            settings["system"] = args.system
        elif profile.system is None and earlier and earlier[0].role == "system":
            settings["system"] = earlier[0].content
        if args.adapter is not None:
            await _check_adapter(backend, profile.name, profile.backend, args.adapter)
        messages = [m for m in earlier if m.role != "system"] + [Message("user", prompt)]
        reply = profiles.new_reply(Target(profile.name, args.adapter), messages, settings)
        first = reply.request.messages[0]
        system = first.content if first.role == "system" else None
        out = _Output(sys.stdout, enabled=not args.json)
        status = _Status(sys.stderr)
        recorder = history.record(prompt, system, reply.origin) if history else None
        events = reply.stream()
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, TextDelta):
                        status.clear()
                        out.write(event.text)
                        if recorder:
                            recorder.text(reply.text, reply.reasoning)
                    elif isinstance(event, ReasoningDelta) and not args.json:
                        status.clear()
                        sys.stderr.write(event.text)
                    elif isinstance(event, Loading):
                        done = "" if event.progress is None else f" {event.progress:.0%}"
                        status.show(f"{profile.name}: {event.detail or 'loading'}{done}…")
                    elif isinstance(event, Notice):
                        status.clear()
                        print(f"genchat: note: {event.text}", file=sys.stderr)
            out.end()
        except BackendError as exc:
            status.clear()
            out.end()
            if recorder:
                _save_end(recorder, reply, "error", exc.one_line())
            print(f"genchat: error: {exc.one_line()}", file=sys.stderr)
            if args.json:
                _print_json(reply, exc)
            return EXIT_BACKEND
        except OSError as exc:
            # The reply could not be written: the reader went away (`| head -c 10`), the disk
            # is full. What came so far is kept in the history, marked as stopped.
            status.clear()
            if recorder:
                _save_end(recorder, reply, "complete")  # "stopped" where it was cut short
            if isinstance(exc, BrokenPipeError):
                silence_stdout()
                return EXIT_BROKEN_PIPE
            raise
        if recorder:
            _save_end(recorder, reply, "complete")
        if args.json:
            _print_json(reply, None)
        return EXIT_OK
    except ConfigError as exc:
        print(f"genchat: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        await profiles.aclose()


async def _check_adapter(backend: Backend, profile: str, kind: str, adapter: str) -> None:
    """Refuse an `--adapter` the profile cannot run, before anything is sent or saved: it is
    a mistake on the command line, not a failure of the backend."""
    from genchat.backends.lora.adapters import BASE_ALIAS, parse_combination

    if not backend.supports_adapters:
        raise ConfigError(
            [f"--adapter: the profile {profile!r} runs the {kind} backend, which has no adapters"]
        )
    offered = [model.id for model in await backend.list_models()]
    if adapter in (*offered, BASE_ALIAS):
        return
    try:
        names = parse_combination(adapter)
    except BackendError as exc:
        raise ConfigError([f"--adapter: {exc.message}"]) from exc
    unknown = [name for name in names if name not in offered]
    if unknown:
        raise ConfigError(
            [
                f"--adapter: the profile {profile!r} has no adapter {unknown[0]!r}; it offers "
                f"{', '.join([BASE_ALIAS, *offered])} (`genchat models` lists them)"
            ]
        )


class _History:
    """`genchat ask`'s exchange in the history: a new conversation, or the last one continued."""

    def __init__(self, store: Store, conversation: int | None, save: bool) -> None:
        self.store = store
        self.save = save
        self.conversation = conversation
        found = store.conversation(conversation) if conversation is not None else None
        self.thread = (
            store.thread(found.id, found.active_leaf) if found and found.active_leaf else []
        )
        self.profile = found.profile if found else None
        """The continued conversation's profile."""

    @classmethod
    def open(cls, args: argparse.Namespace) -> _History | None:
        if args.no_save and not args.continue_:
            return None
        try:
            store = Store()
        except StoreError as exc:
            if args.continue_:
                raise ConfigError([f"--continue: {exc.message}"]) from exc
            print(f"genchat: note: not saving this exchange. {exc.message}", file=sys.stderr)
            return None
        if store.moved_aside:
            print(
                f"genchat: note: the history database was damaged; it was moved to "
                f"{store.moved_aside} and a new one started.",
                file=sys.stderr,
            )
        conversation = None
        if args.continue_:
            last = store.last_conversation()
            if last is None:
                raise ConfigError(["--continue: there is no conversation in the history yet"])
            conversation = last.id
        return cls(store, conversation, save=not args.no_save)

    def earlier(self) -> list[Message]:
        """The continued conversation's messages that a model should see."""
        return [
            Message(m.role, m.content)  # type: ignore[arg-type]
            for m in self.thread
            if m.content and not (m.role == "assistant" and m.status == "error")
        ]

    def record(self, prompt: str, system: str | None, origin: Origin) -> ReplyRecorder | None:
        """Save the prompt, and an empty reply from `origin` that streams into the store."""
        if not self.save:
            return None
        try:
            store, parent = self.store, self.thread[-1].id if self.thread else None
            if self.conversation is None:
                self.conversation = store.new_conversation(profile=origin.profile)
                if system:
                    parent = store.add_message(self.conversation, None, "system", system)
            parent = store.add_message(self.conversation, parent, "user", prompt)
            reply_id = store.add_message(
                self.conversation, parent, "assistant", "", status="streaming", **origin.as_dict()
            )
        except StoreError as exc:
            print(f"genchat: note: not saving this exchange. {exc.message}", file=sys.stderr)
            return None
        return ReplyRecorder(store, reply_id)


def _save_end(
    recorder: ReplyRecorder, reply: Reply, status: Status, error: str | None = None
) -> None:
    if status == "complete" and reply.finish_reason == "cancelled":
        status = "stopped"
    recorder.finish(
        reply.text,
        status,
        reasoning=reply.reasoning,
        metrics=reply.metrics.as_dict(),
        error=error,
    )
    if recorder.failure:
        print(
            f"genchat: note: the reply was not saved. {recorder.failure.message}",
            file=sys.stderr,
        )


def _print_json(reply: Reply, error: BackendError | None) -> None:
    origin = reply.origin
    result: dict[str, Any] = {
        "text": reply.text,
        "reasoning": reply.reasoning or None,
        "finish_reason": reply.finish_reason,
        "profile": origin.profile,
        "backend": origin.backend,
        "model": origin.model,
        "adapter": origin.adapter,
        "params": origin.params,
        "metrics": reply.metrics.as_dict(),
        "notices": reply.notices,
        "error": None,
    }
    if error is not None:
        result["error"] = {
            "type": type(error).__name__,
            "title": error.title,
            "message": error.message,
        }
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class _Output:
    """The reply on stdout: flushed per delta, ending in a newline. `Reply` has already
    cleaned it of terminal control sequences."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.last = ""

    def write(self, text: str) -> None:
        if not self.enabled:
            return
        if text:
            self.stream.write(text)
            self.stream.flush()
            self.last = text[-1]

    def end(self) -> None:
        if not self.enabled:
            return
        if self.last and self.last != "\n":
            self.stream.write("\n")
        self.stream.flush()


class _Status:
    """A transient status line on stderr, shown only when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = False

    def show(self, text: str) -> None:
        if self.tty and not self.shown:
            self.stream.write(text)
            self.stream.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
