"""The history commands: `genchat history`, `genchat export ID`, `genchat import FILE`.

Each says so when opening the history found the database damaged, and where the damaged file
was moved, and then exits 1 even though it did its work on the fresh database: an empty list
or a missing conversation must not pass for a history that is fine.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from genchat.cli.exits import EXIT_BACKEND, EXIT_OK, EXIT_USAGE
from genchat.history.database import damage_note
from genchat.history.exchange import export_json, export_markdown
from genchat.history.import_check import BadImport, read_export
from genchat.history.search import search
from genchat.history.store import Store


def run_history(args: argparse.Namespace) -> int:
    with Store() as store:
        _say_damage(store)
        if args.search:
            hits = search(store, args.search, limit=args.limit)
            for hit in hits:
                print(f"{hit.conversation_id:>6}  {hit.title}")
                print(f"        {hit.snippet}")
            if not hits:
                print(f"nothing matches {args.search!r}", file=sys.stderr)
        else:
            for c in store.conversations(limit=args.limit):
                when = datetime.fromtimestamp(c.updated).strftime("%Y-%m-%d %H:%M")
                target = " · ".join(p for p in (c.profile, c.model) if p)
                after = f"  [{target}]" if target else ""  # an import may name no model
                print(f"{c.id:>6}  {when}  {c.title or '(untitled)'}{after}")
    return EXIT_BACKEND if store.moved_aside else EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    with Store() as store:
        _say_damage(store)
        if args.format == "json":
            text = json.dumps(export_json(store, args.id), ensure_ascii=False, indent=2) + "\n"
        else:
            text = export_markdown(store, args.id)
    if args.output:
        output = Path(args.output)
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            hint = " (it is a directory: name a file in it)" if output.is_dir() else ""
            print(f"genchat: cannot write {output}: {reason}{hint}", file=sys.stderr)
            return EXIT_USAGE
    else:
        sys.stdout.write(text)
    return EXIT_BACKEND if store.moved_aside else EXIT_OK


def run_import(args: argparse.Namespace) -> int:
    try:
        imported = read_export(Path(args.file))
    except BadImport as exc:
        print(f"genchat: {exc.one_line()}", file=sys.stderr)
        return EXIT_USAGE
    with Store() as store:
        _say_damage(store)
        new_id = store.import_conversation(imported)
    print(f"imported as conversation {new_id}")
    return EXIT_BACKEND if store.moved_aside else EXIT_OK


def _say_damage(store: Store) -> None:
    note = damage_note(store)
    if note:
        print(f"genchat: {note}", file=sys.stderr)
