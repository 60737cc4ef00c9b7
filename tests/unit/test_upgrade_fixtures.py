"""Upgrades lose nothing: what users already have opens with today's code and holds the same.

The files are in tests/fixtures (see its README.md): a schema-3 history database, JSON
exports from before and after the export's `messages` began with the system prompt, and a
config file. Each test works on a copy, so a fixture is never changed by opening it.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from genchat.arena import vote_store
from genchat.history.exchange import export_json
from genchat.history.schema import SCHEMA_VERSION
from genchat.history.search import search
from genchat.history.store import Store
from genchat.profiles.config import load_config
from tests.support.helpers import run_in_process

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A copy of the schema-3 database, where the test's genchat keeps its history."""
    path = tmp_path / "data" / "genchat.db"
    path.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "history-schema3.db", path)
    return path


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def same_export(a: dict[str, Any], b: dict[str, Any], *, ids: bool = True) -> bool:
    """Equal exports: `created` as the same instant in any time zone; `id` only with `ids`."""

    def plain(e: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in e.items() if k != "created" and (ids or k != "id")}

    instant = datetime.fromisoformat(a["created"]) == datetime.fromisoformat(b["created"])
    return instant and plain(a) == plain(b)


def test_a_schema_3_database_opens_with_everything_in_it(history: Path) -> None:
    with Store(history) as store:
        assert store.moved_aside is None and store.interrupted == 0
        listed = {c.id: (c.title, c.kind, c.messages) for c in store.conversations()}
        assert listed == {
            1: ("Lighthouse lenses", "chat", 6),
            2: ("Hello?", "chat", 4),
            3: ("Name a colour", "compare", 7),
            4: ("Hello", "chat", 4),
        }
        lenses = store.conversation(1)
        assert lenses is not None and lenses.title_by == "user"
        assert lenses.settings == {
            "persona": "keeper",
            "system": "You are a lighthouse keeper.",
            "params": {"temperature": 0.7, "max_tokens": 256},
        }
        thread = store.thread(1)
        assert [m.role for m in thread] == ["system", "user", "assistant", "user", "assistant"]
        assert [m.content for m in store.siblings(thread[2].id)] == [
            "A lens made of rings.",
            "A flat lens of concentric rings, for lighthouses.",
        ]
        assert thread[2].reasoning == "Keep it short." and thread[2].metrics["ttft_s"] == 0.25
        assert (thread[-1].status, thread[-1].params) == (
            "stopped",
            {"temperature": 0.7, "max_tokens": 256},
        )
        failed = store.thread(2)
        assert [m.content for m in failed] == ["Tell me a long story.", "Once upon a time"]
        assert failed[-1].status == "interrupted"
        [(first, replies), (second, more)] = store.turns(3)
        assert [(r.content, r.pane, r.chosen, r.status) for r in replies] == [
            ("Red", 0, False, "complete"),
            ("Blue", 1, True, "complete"),
            ("Green", 1, False, "stopped"),
        ]
        assert (first.content, second.content, [r.content for r in more]) == (
            "Name a colour", "Another", ["Yellow", "Teal"],
        )  # fmt: skip
        assert store.conversation(3).settings["panes"]["1"]["system"] == "Be terse."  # type: ignore[union-attr]
        votes = vote_store.votes(store)
        assert [(v.outcome, v.flagged, v.tag) for v in votes] == [
            ("a", None, "coding"), ("tie", "As Claude", ""), ("b", None, "writing"),
        ]  # fmt: skip
        assert votes[0].details["a"]["target"]["backend"] == "llama-cpp"
        assert [b.outcome for b in vote_store.ballots(store)] == ["a", "b"]
        assert [h.conversation_id for h in search(store, "fresnel")] == [1]
        # It keeps working: a new conversation goes in beside the old ones.
        store.add_message(store.new_conversation(), None, "user", "After the upgrade")
        assert store.conversations()[0].title == "After the upgrade"
    assert SCHEMA_VERSION >= 3


def test_todays_export_of_a_schema_3_conversation_is_the_checked_in_export(
    history: Path,
) -> None:
    # A change of the export's shape shows here first: make it on purpose, with a fixture of
    # the new shape beside this one (README.md), never by regenerating this one.
    with Store(history) as store:
        for conversation, name in ((1, "export.json"), (4, "export-system-in-settings.json")):
            exported = json.loads(json.dumps(export_json(store, conversation)))
            assert same_export(exported, fixture_json(name)), name


BEFORE = {
    "export-before-system-message.json": "export.json",
    "export-before-system-message-settings.json": "export-system-in-settings.json",
}
"""An export from before `messages` began with the system prompt -> today's of the same."""


@pytest.mark.parametrize("name", [*BEFORE.values(), *BEFORE])
def test_every_checked_in_export_imports_and_exports_again_the_same(
    history: Path, name: str
) -> None:
    result = run_in_process("import", str(FIXTURES / name))
    assert result.returncode == 0, result.stderr
    new_id = int(result.stdout.split()[-1])
    with Store(history) as store:
        again = json.loads(json.dumps(export_json(store, new_id)))
        original = fixture_json(name)
        # Exports from before the system message opens `messages`: the same conversation,
        # whose export now begins with it; the tree and settings are as they were.
        if name in BEFORE:
            assert same_export(again, fixture_json(BEFORE[name]), ids=False)
            assert [m["content"] for m in again["messages"] if m["role"] != "system"] == [
                m["content"] for m in original["messages"] if m["role"] != "system"
            ]
        else:
            assert same_export(again, original, ids=False)
        assert again["settings"] == original["settings"]
        # The system prompt is applied once: in the settings, and not as a second message.
        roles = [m.role for m in store.thread(new_id)]
        assert roles.count("system") <= 1
        assert [m["role"] for m in again["messages"]].count("system") == 1


def test_the_checked_in_config_loads_and_checks_clean(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    shutil.copyfile(FIXTURES / "config.toml", config)
    loaded = load_config(config).config
    assert loaded.default_profile == "smollm2"
    assert loaded.profiles["smollm2"].options == {"n_threads": 2}
    assert loaded.profiles["smollm2"].generate_titles is True
    assert loaded.profiles["local-server"].params == {
        "system": "You are concise.",
        "stop": ["\n\nUser:"],
    }
    assert loaded.profiles["local-server"].options["base_url"] == "http://127.0.0.1:8080/v1"
    assert set(loaded.personas) == {"keeper", "reviewer"}
    assert loaded.keymap == {"new_chat": "ctrl+n", "history": "ctrl+l"}
    checked = run_in_process("config", "check", env={"GENCHAT_CONFIG": str(config)})
    assert checked.returncode == 0, checked.stderr
    assert "ok (4 profiles, default 'smollm2')" in checked.stdout
