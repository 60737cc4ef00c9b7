"""The chat screen's conversation, saved in the history store without blocking the event loop.

Every store call runs on one thread of its own, in the order the screen makes them, so a reply's
progress never lands after its end. A store that cannot be used (an unwritable data dir, a
newer schema) is reported once; the chat goes on unsaved.

The thread is a single-thread executor of its own, not a Textual thread worker: Textual runs
thread workers side by side in the event loop's default executor, so two saves given to two
workers may land in either order, and one worker serving a queue for the whole session would
hold a thread of the pool that `asyncio.to_thread` shares, and keep `asyncio.run` from
finishing until it is told to stop. What the thread runs only reads and writes the store:
which conversation and leaf new messages go to is kept here, on the event loop, and handed to
each call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from genchat.history.recorder import SaveClock
    from genchat.history.records import Conversation, Status, StoredMessage, StoreError
    from genchat.history.store import Store
    from genchat.reply import Origin
    from genchat.session.turns import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Opened:
    """A stored conversation, as the chat screen shows it."""

    conversation: Conversation
    thread: list[StoredMessage]
    """Its active branch, oldest first."""
    session: Session
    """That branch as the chat shows it (made on the history thread: a long one takes a while),
    each message's versions counted."""
    whole: bool
    """Whether `thread` goes back to the conversation's first message."""


def _open_the_users_store() -> Store:
    """The user's history. `genchat.history.store` is imported here, on the history thread, so that
    the first frame does not wait for it."""
    from genchat.history.store import Store

    return Store()


def _load(store: Store, conversation_id: int, last: int | None) -> Opened | None:
    from genchat.session.stored import stored_turn
    from genchat.session.turns import Session

    conversation = store.conversation(conversation_id)
    if conversation is None:
        return None
    thread = store.thread(conversation_id, last=last)
    versions = store.versions(conversation_id, thread if last is not None else None)
    made = (stored_turn(message, versions.get(message.id)) for message in thread)
    whole = not thread or thread[0].parent_id is None
    return Opened(conversation, thread, Session(t for t in made if t is not None), whole)


class ChatHistory:
    def __init__(self, open_store: Callable[[], Store] = _open_the_users_store) -> None:
        self._open_store = open_store
        self._store: Store | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genchat-history")
        self.failure: StoreError | None = None
        """Why nothing is being saved, once a store call failed."""
        self.notices: list[str] = []
        """What opening the store found (a damaged file moved aside, interrupted replies)."""
        self.conversation: int | None = None
        self.leaf: int | None = None
        self._saving: dict[int, SaveClock] = {}
        """The replies still streaming, and when each one's text is next due to be written."""

    def open_soon(self) -> None:
        """Open the store in the background, so that the first message does not wait for it."""
        self._submit(lambda store: None)

    def new_conversation(self) -> None:
        self.conversation = self.leaf = None

    async def call(self, work: Callable[[Store], T]) -> T | None:
        """Run `work` on the history thread; `None` when nothing is being saved."""
        return await self._run(work)

    async def open(
        self, conversation_id: int, leaf: int | None = None, *, last: int | None = None
    ) -> Opened | None:
        """Load a conversation (on the branch ending at `leaf`, else its active one), or only
        its `last` messages, and make it the one that new messages go to. `None` when it does
        not exist or cannot be read."""

        def load(store: Store) -> Opened | None:
            if leaf is not None:
                store.set_active_leaf(conversation_id, leaf)
            return _load(store, conversation_id, last)

        opened = await self._run(load)
        if opened is not None:
            self.conversation, self.leaf = conversation_id, opened.conversation.active_leaf
        return opened

    async def whole(self, conversation_id: int) -> Opened | None:
        """The whole of a conversation's active branch (after `open(..., last=...)`)."""
        return await self._run(lambda store: _load(store, conversation_id, None))

    async def add_user(
        self,
        text: str,
        system: str | None,
        profile: str,
        model: str | None,
        settings: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Save the user's message under the current leaf (in a new conversation when there is
        none, with `system` first); returns its id."""

        conversation, leaf = self.conversation, self.leaf

        def add(store: Store) -> tuple[int, int]:
            into, parent = conversation, leaf
            if into is None:
                into = store.new_conversation(profile=profile, model=model)
                if settings:
                    store.set_settings(into, settings)
                if system:
                    parent = store.add_message(into, None, "system", system)
            return into, store.add_message(into, parent, "user", text)

        added = await self._run(add)
        if added is None:
            return None
        self.conversation, self.leaf = added
        return self.leaf

    async def versions(self, message_id: int | None) -> tuple[int, int] | None:
        """(which version, how many) of a message that has other versions, else `None`."""
        if message_id is None:
            return None
        siblings = await self._run(lambda store: [s.id for s in store.siblings(message_id)])
        if not siblings or len(siblings) < 2:
            return None
        return siblings.index(message_id) + 1, len(siblings)

    async def start_reply(self, origin: Origin) -> int | None:
        """Save an empty reply from `origin` under the current leaf, `streaming`, and make it
        the leaf; returns its id (None when not saving)."""
        if self.conversation is None:
            return None
        reply = await self.add_streaming(self.conversation, self.leaf, origin)
        if reply is not None:
            self.leaf = reply
        return reply

    async def add_streaming(
        self, conversation: int, parent: int | None, origin: Origin, *, pane: int | None = None
    ) -> int | None:
        """Save an empty reply from `origin` under `parent` (in compare `pane`), `streaming`,
        whose text `progress` saves until `finish_reply`; returns its id (None when not
        saving)."""
        meta = origin.as_dict()
        reply = await self._run(
            lambda store: store.add_message(
                conversation, parent, "assistant", "", status="streaming", pane=pane, **meta
            )
        )
        if reply is not None:
            # Not at the top: this module is imported before the first frame, and the
            # recorder's imports (the store) only once the history thread has opened it.
            from genchat.history.recorder import SaveClock

            self._saving[reply] = SaveClock()
        return reply

    def progress(self, message_id: int | None, text: Callable[[], str]) -> None:
        """Save a streaming reply's text if a second has passed since its last save; never
        waits. A reply that `finish_reply` ended is not saved again."""
        due = self._saving.get(message_id) if message_id is not None else None
        if message_id is None or due is None or not due.due():
            return
        content = text()
        self._submit(lambda store: store.update_message(message_id, content=content))

    async def finish_reply(
        self,
        message_id: int | None,
        text: str,
        status: Status,
        metrics: Mapping[str, Any],
        error: str | None,
    ) -> None:
        if message_id is None:
            return
        self._saving.pop(message_id, None)
        await self._run(
            lambda store: store.update_message(
                message_id, content=text, status=status, metrics=metrics, error=error
            )
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._store is not None:
            self._store.close()

    # -- on the history thread ---------------------------------------------------------------

    async def _run(self, work: Callable[[Store], T]) -> T | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._guarded, work)

    def _submit(self, work: Callable[[Store], Any]) -> None:
        self._executor.submit(self._guarded, work)

    def _guarded(self, work: Callable[[Store], T]) -> T | None:
        from genchat.history.records import StoreError

        if self.failure is not None:
            return None
        try:
            if self._store is None:
                self._store = self._open_store()
                if self._store.moved_aside:
                    self.notices.append(
                        f"The history database was damaged; it was moved to "
                        f"{self._store.moved_aside} and a new one started."
                    )
                if self._store.interrupted:
                    self.notices.append(
                        f"{self._store.interrupted} reply(s) were cut off when genchat last "
                        "stopped; they are kept in the history, marked interrupted."
                    )
            return work(self._store)
        except StoreError as exc:
            self.failure = exc
            return None
