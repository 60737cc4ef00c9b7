"""The history commands: `genchat history`, `genchat export ID`, `genchat import FILE`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from genchat.cli import EXIT_BACKEND, EXIT_OK, EXIT_USAGE
from genchat.store import Store, StoreError
from genchat.terminal import sanitize


def run_history(args: argparse.Namespace) -> int:
    try:
        with Store() as store:
            if args.search:
                hits = store.search(args.search, limit=args.limit)
                for hit in hits:
                    print(f"{hit.conversation_id:>6}  {_clean(hit.title)}")
                    print(f"        {_clean(hit.snippet)}")
                if not hits:
                    print(f"nothing matches {args.search!r}", file=sys.stderr)
                return EXIT_OK
            for c in store.conversations(limit=args.limit):
                when = datetime.fromtimestamp(c.updated).strftime("%Y-%m-%d %H:%M")
                target = " · ".join(p for p in (c.profile, c.model) if p)
                print(f"{c.id:>6}  {when}  {_clean(c.title) or '(untitled)'}  [{target}]")
    except StoreError as exc:
        print(f"genchat: {exc.one_line()}", file=sys.stderr)
        return EXIT_BACKEND
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    try:
        with Store() as store:
            if args.format == "json":
                text = json.dumps(store.export_json(args.id), ensure_ascii=False, indent=2) + "\n"
            else:
                text = store.export_markdown(args.id)
    except StoreError as exc:
        print(f"genchat: {exc.one_line()}", file=sys.stderr)
        return EXIT_BACKEND
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def run_import(args: argparse.Namespace) -> int:
    try:
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"genchat: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(data, list):
        data = {"messages": data}  # a bare array of OpenAI messages
    if not isinstance(data, dict):
        print(
            f"genchat: {args.file} is neither a genchat JSON export nor an array of messages",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        with Store() as store:
            new_id = store.import_conversation(data)
    except StoreError as exc:
        print(f"genchat: {exc.one_line()}", file=sys.stderr)
        return EXIT_USAGE
    print(f"imported as conversation {new_id}")
    return EXIT_OK


def _clean(text: str) -> str:
    return sanitize(" ".join(text.split()))
