"""The history screen: saved conversations, newest first, and full-text search over every
message. From here a conversation is opened (with its own profile or another), renamed, deleted,
forked or exported.

Every store call runs on the history thread (`ChatHistory.call`); the list loads a page at a
time as the cursor nears its end, so opening the screen costs the same with ten conversations
or ten thousand.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from genchat.chat import Target
from genchat.history.exchange import export_json, export_markdown
from genchat.history.records import Conversation, SearchHit
from genchat.history.search import search
from genchat.history.store import Store
from genchat.paths import data_dir
from genchat.profiles.profile import Profiles
from genchat.tui.dialogs.picker import ModelPicker
from genchat.tui.dialogs.questions import AskLine, Choose, Confirm
from genchat.tui.history import ChatHistory
from genchat.tui.navigation import HistoryChoice
from genchat.tui.widgets.keybar import KeyBar

PAGE = 100
"""Conversations loaded at a time."""

SEARCH_DELAY_S = 0.15
"""Typing pauses this long before a search runs, so that each key does not start one."""

MARKS = ("\x02", "\x03")
"""What the store puts around each match in a search snippet: characters no message holds."""


class HistoryScreen(Screen[HistoryChoice | None]):
    """Saved conversations. Type to search every message; the keys act on the highlighted one.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | enter | | Open the conversation and continue it. |
    | ctrl+o | `open_with` | Open it with another profile or model. |
    | ctrl+r | `rename` | Rename it. |
    | ctrl+d | `delete` | Delete it, after a confirmation. |
    | ctrl+f | `fork` | Fork it: a copy to take elsewhere, the original unchanged. |
    | ctrl+s | `export` | Export it as Markdown or JSON, or copy it as Markdown. |
    | escape | `close_history` | Back to the chat. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="close_history"),
        Binding("ctrl+o", "open_with", "Open with", id="open_with", priority=True),
        Binding("ctrl+r", "rename", "Rename", id="rename", priority=True),
        Binding("ctrl+d", "delete", "Delete", id="delete", priority=True),
        Binding("ctrl+f", "fork", "Fork", id="fork", priority=True),
        Binding("ctrl+s", "export", "Export", id="export", priority=True),
        Binding("down", "move('cursor_down')", show=False),
        Binding("up", "move('cursor_up')", show=False),
        Binding("pagedown", "move('page_down')", show=False),
        Binding("pageup", "move('page_up')", show=False),
    ]

    def __init__(self, saved: ChatHistory, profiles: Profiles, current: int | None = None) -> None:
        super().__init__()
        self.saved = saved
        self.profiles = profiles
        self.current = current
        """The conversation the chat shows."""
        self.deleted: set[int] = set()
        """Conversations deleted here: the chat starts afresh if it showed one of them."""
        self.rows: list[Conversation] = []
        self.hits: list[SearchHit] | None = None
        """Search results while searching, else `None` (the list shows `rows`)."""
        self._complete = False
        """Whether `rows` holds every conversation."""

    def compose(self) -> ComposeResult:
        with Vertical(id="history"):
            yield Static("History", id="history-title")
            yield Input(placeholder="search every message: words or word prefixes", id="search")
            yield OptionList(id="history-list")
            yield Static("loading…", id="history-status")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#history-list", OptionList).can_focus = False
        self.query_one("#search", Input).focus()
        self.load_more()

    # -- listing and searching ---------------------------------------------------------------

    @work(exclusive=True, group="history-list")
    async def load_more(self, reload: bool = False) -> None:
        """Load the next page of conversations (or, with `reload`, as many as are shown)."""
        offset = 0 if reload else len(self.rows)
        limit = max(PAGE, len(self.rows)) if reload else PAGE
        rows = await self.saved.call(lambda store: store.conversations(limit, offset))
        if rows is None:
            self._say_unavailable()
            return
        self.rows = rows if reload else [*self.rows, *rows]
        self._complete = len(rows) < limit
        if self.hits is None:
            self._show()

    @on(Input.Changed, "#search")
    def search_changed(self, event: Input.Changed) -> None:
        if event.value.strip():
            self.search(event.value)
        else:
            self.workers.cancel_group(self, "search")
            self.hits = None
            self._show()

    @work(exclusive=True, group="search")
    async def search(self, query: str) -> None:
        await asyncio.sleep(SEARCH_DELAY_S)
        hits = await self.saved.call(lambda store: search(store, query, 200, MARKS))
        if hits is None:
            self._say_unavailable()
            return
        self.hits = hits
        self._show()

    def _show(self) -> None:
        """Fill the list from `hits` or `rows`, keeping the cursor where it was."""
        options = self.query_one("#history-list", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        if self.hits is not None:
            options.add_options(
                Option(self._hit_label(h), id=str(i)) for i, h in enumerate(self.hits)
            )
            found = len(self.hits)
            status = f"{found} matching message{'s' * (found != 1)}" if found else "no match"
        else:
            options.add_options(
                Option(self._row_label(c), id=str(i)) for i, c in enumerate(self.rows)
            )
            more = "" if self._complete else "+"
            status = f"{len(self.rows)}{more} conversations, newest first"
        if options.option_count:
            options.highlighted = min(highlighted or 0, options.option_count - 1)
        keys = "enter opens · ctrl+o opens with another model · escape goes back"
        self.query_one("#history-status", Static).update(f"{status} · {keys}")

    def _row_label(self, row: Conversation) -> Text:
        label = Text(row.title or "(untitled)", style="bold" if row.title else "dim")
        if row.id == self.current:
            label.append("  (open now)", style="italic")
        when = datetime.fromtimestamp(row.updated).strftime("%Y-%m-%d %H:%M")
        kind = "" if row.kind == "chat" else f"{row.kind} · "
        target = " · ".join(p for p in (row.profile, row.model) if p)
        count = f"{row.messages} message{'s' * (row.messages != 1)}"
        label.append(f"\n  {kind}{when} · {target} · {count}", style="dim")
        return label

    def _hit_label(self, hit: SearchHit) -> Text:
        label = Text(hit.title or "(untitled)", style="bold")
        label.append("\n  ")
        snippet = " ".join(hit.snippet.split())
        for index, part in enumerate(re.split(f"[{''.join(MARKS)}]", snippet)):
            label.append(part, style="reverse" if index % 2 else "")
        return label

    @on(OptionList.OptionHighlighted, "#history-list")
    def near_the_end(self, event: OptionList.OptionHighlighted) -> None:
        if self.hits is None and not self._complete and event.option_index >= len(self.rows) - 10:
            self.load_more()

    def action_move(self, how: str) -> None:
        getattr(self.query_one("#history-list", OptionList), f"action_{how}")()

    def _say_unavailable(self) -> None:
        failure = self.saved.failure
        reason = failure.message if failure else "The history cannot be read."
        self.query_one("#history-status", Static).update(Text(reason, style="bold red"))

    # -- the highlighted conversation -----------------------------------------------------------

    def _selected(self) -> tuple[int, str, int | None] | None:
        """(conversation id, title, message found by the search) of the highlighted entry."""
        index = self.query_one("#history-list", OptionList).highlighted
        if index is None:
            return None
        if self.hits is not None:
            if index >= len(self.hits):
                return None
            hit = self.hits[index]
            return hit.conversation_id, hit.title, hit.message_id
        if index >= len(self.rows):
            return None
        row = self.rows[index]
        return row.id, row.title, None

    @on(OptionList.OptionSelected, "#history-list")
    @on(Input.Submitted, "#search")
    def open_selected(self) -> None:
        selected = self._selected()
        if selected is not None:
            self.dismiss(HistoryChoice(selected[0], message=selected[2]))

    def action_open_with(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        row = next((r for r in self.rows if r.id == selected[0]), None)
        current = Target(row.profile) if row and row.profile else Target(self.profiles.get().name)

        def picked(target: Target | None) -> None:
            if target is not None:
                self.dismiss(HistoryChoice(selected[0], target, selected[2]))

        self.app.push_screen(ModelPicker(self.profiles, current), picked)

    def action_rename(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        conversation, title, _ = selected

        async def renamed(new: str | None) -> None:
            if new is not None and new != title:
                if await self.saved.call(lambda store: store.rename(conversation, new)) is None:
                    self._say_unavailable()
                self._refresh()

        self.app.push_screen(AskLine("Rename the conversation", title), renamed)

    def action_delete(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        conversation, title, _ = selected

        async def confirmed(yes: bool | None) -> None:
            if yes:
                if await self.saved.call(lambda store: store.delete(conversation)) is None:
                    self._say_unavailable()
                    return
                self.deleted.add(conversation)
                self.notify(f"Deleted “{title or 'untitled'}”.", timeout=4)
                self._refresh()

        question = f"Delete “{title or 'untitled'}” and all its messages? This cannot be undone."
        self.app.push_screen(Confirm(question), confirmed)

    async def action_fork(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        conversation = selected[0]
        fork = await self.saved.call(lambda store: store.fork(conversation))
        if fork is None:
            self._say_unavailable()
            return
        self.notify("Forked: the copy is at the top of the list.", timeout=4)
        self.query_one("#search", Input).value = ""
        self.hits = None
        self._refresh()
        self.query_one("#history-list", OptionList).highlighted = 0

    def action_export(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        conversation, title, _ = selected
        choices = {
            "md": "Markdown file (.md)",
            "json": "JSON file: OpenAI messages, with genchat's metadata (.json)",
            "copy": "Markdown to the clipboard",
        }

        async def chosen(how: str | None) -> None:
            if how is None:
                return
            if how == "copy":
                text = await self.saved.call(lambda store: export_markdown(store, conversation))
                if text is not None:
                    self.app.copy_to_clipboard(text)
                    self.notify(f"Copied the conversation ({len(text)} characters).", timeout=5)
                return
            try:
                path = await self.saved.call(lambda store: export_file(store, conversation, how))
            except OSError as exc:
                self.notify(f"Could not export: {exc}", severity="error", timeout=10)
                return
            if path is not None:
                self.notify(f"Exported to {path}", timeout=10)
            else:
                self._say_unavailable()

        self.app.push_screen(Choose(f"Export “{title or 'untitled'}”", choices), chosen)

    def _refresh(self) -> None:
        if self.hits is not None:
            self.search(self.query_one("#search", Input).value)
        else:
            self.load_more(reload=True)

    def action_close(self) -> None:
        self.dismiss(None)


def export_file(store: Store, conversation: int, form: str) -> Path:
    """Write a conversation to `exports/` in the data dir as Markdown (`md`) or JSON; returns
    the file's path."""
    found = store.conversation(conversation)
    slug = re.sub(r"[^\w-]+", "-", (found.title if found else "").lower()).strip("-")[:40]
    folder = data_dir() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"genchat-{conversation}{'-' + slug if slug else ''}.{form}"
    if form == "json":
        text = json.dumps(export_json(store, conversation), ensure_ascii=False, indent=2) + "\n"
    else:
        text = export_markdown(store, conversation)
    path.write_text(text, encoding="utf-8")
    return path
