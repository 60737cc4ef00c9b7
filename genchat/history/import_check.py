"""What `genchat import` accepts: a JSON export, read and checked whole before anything is written.

An import file comes from outside (a shared export, another tool's OpenAI messages), so nothing
in it is trusted. `read_export` reads at most `IMPORT_MAX_BYTES`; `check_export` checks every
field and returns an `Import` whose text is cleaned of terminal control sequences
(`genchat.untrusted`), or raises `BadImport` with one line that names the first mistake and
where it is. `Store.import_conversation` then writes the `Import` in one transaction, so a
refused file leaves nothing behind.

A conversation's settings (persona, system prompt, parameters; each compare pane's) are checked
here too, by `settings_problems`, with the config file's own `ParamsConfig`: the store uses it
to refuse bad settings in a file and to drop bad settings already in a database.

Why one module of about 420 lines: it is one check of one file format, field by field, each
mistake named where it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator

from genchat.errors import GenchatError
from genchat.profiles.config import ParamsConfig, describe_validation_error
from genchat.untrusted import clean, clean_line

IMPORT_MAX_BYTES = 64 * 1024 * 1024
"""The largest file `genchat import` reads (64 MiB). Reading JSON takes several times the file's
size in memory, so a bigger file is refused before it is read."""

MAX_DEPTH = 32
"""How deeply values may nest: an export nests 6 levels at most (`tree[i].genchat.params.stop`),
so anything deeper is not an export, and is refused before it can exhaust the stack."""

ROLES = ("system", "user", "assistant")
STATUSES = ("complete", "streaming", "stopped", "error", "interrupted")
KINDS = ("chat", "compare")
MAX_PANES = 8
"""Pane numbers an import may give (0 to 7); the compare screen uses up to four."""


class BadImport(GenchatError):
    """The file is not one genchat can import; the message names the first mistake."""

    title = "Cannot import"


class SamplingParams(ParamsConfig):
    """Generation parameters as a conversation (or a reply) records them: the config's own
    checks, without the system prompt, which is a setting of its own (`settings.system`)."""

    @field_validator("system", mode="before")
    @classmethod
    def _no_system(cls, value: object) -> object:
        if value is not None:
            raise ValueError("the system prompt is `system` in the settings, not a parameter")
        return value


@dataclass(frozen=True)
class ImportedMessage:
    """One message of an import, checked and cleaned."""

    key: int | str | None
    """Its `id` in the file (a tree's messages have one), by which children name it."""
    parent: int | str | None
    role: str
    content: str
    status: str = "complete"
    reasoning: str = ""
    profile: str | None = None
    backend: str | None = None
    model: str | None = None
    adapter: str | None = None
    error: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    pane: int | None = None
    chosen: bool = False


@dataclass(frozen=True)
class Import:
    """A conversation to import: every field checked and cleaned."""

    title: str
    kind: str
    created: float | None
    """When the conversation began, from the file's `created`; `None`: now."""
    settings: Mapping[str, Any]
    messages: Sequence[ImportedMessage]
    """Parents before children. Without a tree, each message's parent is the one before it."""
    tree: bool
    active_leaf: int | str | None
    """The key of the active thread's last message (a tree's `active_leaf`, else the last
    message's); `None` with a tree that says so."""


def read_export(path: Path, *, max_bytes: int = IMPORT_MAX_BYTES) -> Import:
    """Read and check the export at `path`; raises `BadImport` with one clear line."""
    try:
        with path.open("rb") as file:
            raw = file.read(max_bytes + 1)
    except OSError as exc:
        raise BadImport(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if len(raw) > max_bytes:
        raise BadImport(
            f"{path} is larger than the {_size(max_bytes)} genchat imports (IMPORT_MAX_BYTES); "
            "export a smaller conversation."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadImport(
            f"{path} is not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}): not a "
            "genchat export."
        ) from exc
    import json

    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise BadImport(
            f"{path} nests values more than {MAX_DEPTH} levels deep: not a genchat export."
        ) from exc
    except ValueError as exc:
        raise BadImport(f"{path} is not JSON: {exc}.") from exc
    return check_export(data, source=str(path))


def check_export(data: object, *, source: str = "The file") -> Import:
    """Check a parsed export (`export_json`'s shape, or a bare array of OpenAI messages) whole;
    raises `BadImport` naming the first mistake."""
    _check_values(data, source)
    if isinstance(data, list):
        data = {"messages": data}
    if not isinstance(data, dict):
        raise BadImport(f"{source} is neither a genchat JSON export nor an array of messages.")
    tree = data.get("tree")
    if tree is not None and not isinstance(tree, list):
        raise BadImport(f"{source}: `tree` must be a list of messages.")
    is_tree = bool(tree)
    entries = tree if is_tree else data.get("messages")
    if not isinstance(entries, list) or not all(isinstance(m, dict) for m in entries):
        raise BadImport(f"{source} has no `messages` list of objects: not a genchat export.")
    if not entries:
        raise BadImport(f"{source} holds no messages: there is nothing to import.")
    messages: list[ImportedMessage] = []
    keys: set[int | str] = set()
    previous: int | str | None = None
    for number, entry in enumerate(entries, 1):
        message = _message(entry, number, is_tree, keys, previous)
        messages.append(message)
        if message.key is not None:
            keys.add(message.key)
        previous = message.key
    if is_tree:
        active_leaf = data.get("active_leaf", messages[-1].key)
        if active_leaf is not None and (not _is_key(active_leaf) or active_leaf not in keys):
            raise BadImport(f"`active_leaf` {active_leaf!r} is not the id of a message in `tree`.")
    else:
        active_leaf = messages[-1].key
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise BadImport(f"`title` must be text (got {_shown(title)}).")
    kind = data.get("kind", "chat")
    if kind not in KINDS:
        raise BadImport(f"`kind` must be chat or compare (got {_shown(kind)}).")
    settings = data.get("settings")
    if settings is None:
        settings = {}
    problems = settings_problems(settings, compare=kind == "compare")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BadImport(f"{source}: {problems[0]}{more}; fix or remove it, then import again.")
    return Import(
        title=clean_line(title or ""),
        kind=str(kind) if is_tree else "chat",
        created=_created(data.get("created")),
        settings=clean_settings(settings),
        messages=messages,
        tree=is_tree,
        active_leaf=active_leaf,
    )


def settings_problems(
    settings: object, *, compare: bool = True, prefix: str = "settings"
) -> list[str]:
    """What is wrong with a conversation's settings, one line each (none: they are fine).

    A chat's settings are `persona` (a name), `system` (the system prompt) and `params`
    (checked as the config file checks a profile's); a compare session's are `panes`, each
    pane's number ("0" to "3") with settings of its own.
    """
    if not isinstance(settings, dict):
        return [f"{prefix}: must be an object of settings (got {_shown(settings)})"]
    problems = []
    for key, value in settings.items():
        where = f"{prefix}.{key}"
        if key in ("persona", "system"):
            if not isinstance(value, str):
                problems.append(f"{where}: must be text (got {_shown(value)})")
        elif key == "params":
            problems += params_problems(value, prefix=where)
        elif key == "panes" and compare:
            if not isinstance(value, dict):
                problems.append(f"{where}: must be an object of panes (got {_shown(value)})")
                continue
            for pane, pane_settings in value.items():
                if pane not in ("0", "1", "2", "3"):
                    problems.append(f"{where}: {pane!r} is not a pane; panes are 0 to 3")
                else:
                    problems += settings_problems(
                        pane_settings, compare=False, prefix=f"{where}.{pane}"
                    )
        else:
            known = "persona, system, params" + (", panes" if compare else "")
            problems.append(f"{where}: unknown setting (known: {known})")
    return problems


def params_problems(params: object, *, prefix: str = "params") -> list[str]:
    """What is wrong with generation parameters, as the config file words it."""
    if not isinstance(params, dict):
        return [f"{prefix}: must be an object of parameters (got {_shown(params)})"]
    try:
        SamplingParams.model_validate(params)
    except ValidationError as exc:
        return describe_validation_error(exc, prefix=prefix)
    return []


def clean_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings with their text cleaned: a persona's name as one line, the rest as text."""
    cleaned: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "persona" and isinstance(value, str):
            cleaned[key] = clean_line(value)
        elif key == "panes" and isinstance(value, dict):
            cleaned[key] = {
                clean_line(str(p)): clean_settings(s) if isinstance(s, dict) else s
                for p, s in value.items()
            }
        else:
            cleaned[clean_line(str(key))] = clean_json(value)
    return cleaned


def clean_json(value: Any, depth: int = 0) -> Any:
    """A JSON value with every string in it cleaned; what nests deeper than `MAX_DEPTH` is
    dropped (`None`)."""
    if isinstance(value, str):
        return clean(value)
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {clean_line(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, depth + 1) for v in value]
    return value


# -- one message ------------------------------------------------------------------------------


def _message(
    entry: Mapping[str, Any],
    number: int,
    is_tree: bool,
    keys: set[int | str],
    previous: int | str | None,
) -> ImportedMessage:
    role, content = entry.get("role"), entry.get("content")
    if role not in ROLES or not isinstance(content, str):
        raise BadImport(
            f"Message {number} needs a `role` (system, user or assistant) and a string `content`."
        )
    meta = entry.get("genchat")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise BadImport(f"Message {number}: `genchat` must be an object (got {_shown(meta)}).")
    key: int | str | None = None
    parent: int | str | None = previous
    if is_tree:
        key, parent = entry.get("id"), entry.get("parent")
        if not _is_key(key):
            raise BadImport(
                f"Message {number}: its `id` must be a number or a string (got {_shown(key)})."
            )
        if key in keys:
            raise BadImport(f"Message {number}: its `id` {key!r} is used twice in `tree`.")
        if parent is not None and (not _is_key(parent) or parent not in keys):
            raise BadImport(
                f"Message {number}: its `parent` {_shown(parent)} is not the id of a message "
                "before it in `tree`."
            )
    elif "id" in entry and not (entry["id"] is None or _is_key(entry["id"])):
        raise BadImport(f"Message {number}: its `id` must be a number or a string.")
    status = meta.get("status", "complete")
    if status not in STATUSES:
        raise BadImport(
            f"Message {number}: `genchat.status` must be one of {', '.join(STATUSES)} "
            f"(got {_shown(status)})."
        )
    texts: dict[str, str | None] = {}
    for name in ("profile", "backend", "model", "adapter", "error", "reasoning"):
        value = meta.get(name)
        if value is not None and not isinstance(value, str):
            raise BadImport(
                f"Message {number}: `genchat.{name}` must be text (got {_shown(value)})."
            )
        texts[name] = value
    params = meta.get("params", {})
    problems = params_problems(params, prefix=f"Message {number}: genchat.params")
    if problems:
        raise BadImport(f"{problems[0]}.")
    metrics = meta.get("metrics", {})
    if not isinstance(metrics, dict) or not all(
        isinstance(v, int | float | bool) or v is None for v in metrics.values()
    ):
        raise BadImport(
            f"Message {number}: `genchat.metrics` must be an object of numbers "
            f"(got {_shown(metrics)})."
        )
    pane = meta.get("pane")
    if pane is not None and (type(pane) is not int or not 0 <= pane < MAX_PANES):
        raise BadImport(
            f"Message {number}: `genchat.pane` must be a pane number from 0 to {MAX_PANES - 1} "
            f"(got {_shown(pane)})."
        )
    chosen = meta.get("chosen", False)
    if not isinstance(chosen, bool):
        raise BadImport(f"Message {number}: `genchat.chosen` must be true or false.")

    def line(name: str) -> str | None:
        value = texts[name]
        return clean_line(value) if value is not None else None

    return ImportedMessage(
        key=key,
        parent=parent,
        role=role,
        content=clean(content),
        status="interrupted" if status == "streaming" else status,
        reasoning=clean(texts["reasoning"] or ""),
        profile=line("profile"),
        backend=line("backend"),
        model=line("model"),
        adapter=line("adapter"),
        error=clean(texts["error"]) if texts["error"] is not None else None,
        params=clean_json(params),
        metrics={clean_line(str(k)): v for k, v in metrics.items()},
        pane=pane,
        chosen=chosen,
    )


# -- helpers ----------------------------------------------------------------------------------


def _check_values(data: object, source: str) -> None:
    """Refuse what no field of an export may hold: values nested deeper than `MAX_DEPTH`, and
    strings that are not text (a lone surrogate, which JSON's `\\ud800` can write and which
    UTF-8, and so the database, cannot hold). Walks without recursion."""
    stack: list[tuple[object, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            _check_text(value, where or "the file", source)
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise BadImport(
                    f"{source} nests values more than {MAX_DEPTH} levels deep (at "
                    f"{where or 'the top'}): not a genchat export."
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key, f"a key of {where or 'the top'}", source)
                inner = f"{where}[{key}]" if isinstance(value, list) else f"{where}.{key}"
                stack.append((item, depth + 1, inner.lstrip(".")))


def _check_text(text: str, where: str, source: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadImport(
            f"{source}: {where} holds {text[exc.start]!r}, half of a UTF-16 pair, which is "
            "not text: the file was damaged or not written as UTF-8."
        ) from exc


def _is_key(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _created(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    raise BadImport(
        f"`created` must be a date and time as ISO 8601, like 2025-01-31T12:00:00+00:00 "
        f"(got {_shown(value)})."
    )


def _shown(value: object) -> str:
    """A value as a message quotes it: short, whatever its size."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    return f"{n:,} bytes"
