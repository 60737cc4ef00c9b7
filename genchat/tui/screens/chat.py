"""The chat screen: the conversation, the prompt, the status bar, and every chat action.

Why one module of about 900 lines: every action here (send, stop, regenerate, edit, fork, open a
stored conversation, copy, move between messages) acts on the same few things, the session the
message list is drawn from, the reply streaming now, and where the history saves, and Textual
binds keys to methods of the screen. What each action needs beyond those lives elsewhere: the
request (`Profiles.new_reply`), the saving (`tui/history.py`), the drawing (`MessageList`,
`AssistantMessage`), the stored turns (`genchat.session`). The sections below follow the keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from genchat.chat import Message, Target, TextDelta
from genchat.errors import BackendError, ConfigError, GenchatError
from genchat.logs import logger
from genchat.paths import data_dir
from genchat.reply import Reply
from genchat.session.turns import Session, Turn
from genchat.tui.memory import collect_when_idle
from genchat.tui.navigation import (
    HistoryChoice,
    OpenCompare,
    OpenHistory,
    OpenLeaderboard,
    SavedComparison,
)
from genchat.tui.screens.base import GenchatScreen, needs_profiles
from genchat.tui.services import Services
from genchat.tui.watchdog import LoopWatchdog, Suspect
from genchat.tui.widgets.keybar import KeyBar
from genchat.tui.widgets.message import AssistantMessage, MessageView, stream_into
from genchat.tui.widgets.prompt import PromptInput
from genchat.tui.widgets.status import StatusBar
from genchat.tui.widgets.thread import OPEN_TURNS, MessageList

if TYPE_CHECKING:
    from genchat.backends.base import Backend, ModelInfo
    from genchat.history.records import Status, StoredMessage
    from genchat.history.store import Store
    from genchat.profiles.profile import Profile

STREAMING_HINT = "A reply is streaming: Esc stops it."

STOP_GRACE_S = 5.0
"""How long a reply may take to end after it is stopped before the app says that its plugin
does not stop. Built-in backends stop within a token; this leaves room for a loaded machine."""

_log = logger("genchat.tui")


def last_code_block(markdown: str) -> str | None:
    """The content of the last fenced or indented code block in `markdown`, if any."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    blocks = [t.content for t in tokens if t.type in ("fence", "code_block")]
    return blocks[-1] if blocks else None


class ChatScreen(GenchatScreen[None]):
    """One conversation with one target.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | escape | `stop` | Stop the reply (its text so far stays, as stopped); back to the prompt. |
    | ctrl+n | `new_chat` | Start a new chat. |
    | ctrl+l | `history` | Saved conversations: search, open, rename, delete, fork, export. |
    | ctrl+g | `regenerate` | Answer the last message again; the earlier reply stays a version. |
    | ctrl+o | `pick_model` | Choose the profile and model. |
    | ctrl+t | `settings` | This conversation's persona, system prompt and parameters. |
    | f2 | `compare` | Compare this model with another, side by side. |
    | f4 | `chat_leaderboard` | The leaderboard of your arena votes (in the palette). |
    | ctrl+r | `copy_reply` | Copy the last reply. |
    | ctrl+b | `copy_code` | Copy the last code block. |
    | ctrl+s | `save_copy` | Save what was last copied to a file. |
    | alt+up, alt+down | `select_previous`, `select_next` | Move between messages; c copies one. |
    | ctrl+up, ctrl+down | `scroll_up`, `scroll_down` | Scroll the conversation. |
    | shift+pageup, shift+pagedown | `page_up`, `page_down` | Scroll the conversation by a page. |
    """

    WHAT = "This chat"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop", id="stop", tooltip="Stop the reply"),
        Binding("ctrl+n", "new_chat", "New", id="new_chat", tooltip="Start a new chat"),
        Binding("ctrl+l", "history", "History", id="history", tooltip="Saved conversations"),
        Binding(
            "ctrl+g", "regenerate", "Retry", id="regenerate", tooltip="Regenerate the last reply"
        ),
        Binding("ctrl+o", "pick_model", "Model", id="pick_model", tooltip="Choose the model"),
        Binding(
            "ctrl+t",
            "settings",
            "Settings",
            id="settings",
            tooltip="Persona, system prompt and parameters of this conversation",
        ),
        Binding("f2", "compare", "Compare", id="compare", tooltip="Compare models side by side"),
        Binding(
            "f4",
            "leaderboard",
            "Leaderboard",
            id="chat_leaderboard",
            show=False,
            tooltip="Ratings from your arena votes",
        ),
        Binding("ctrl+r", "copy_reply", "Copy", id="copy_reply", tooltip="Copy the last reply"),
        Binding("ctrl+b", "copy_code", "Code", id="copy_code", tooltip="Copy the last code block"),
        Binding(
            "ctrl+s", "save_copy", "Save", id="save_copy", tooltip="Save the last copy to a file"
        ),
        Binding("alt+up", "select_previous", "Previous message", id="select_previous", show=False),
        Binding("alt+down", "select_next", "Next message", id="select_next", show=False),
        Binding("ctrl+up", "scroll_up", "Scroll up", id="scroll_up", show=False, priority=True),
        Binding(
            "ctrl+down", "scroll_down", "Scroll down", id="scroll_down", show=False, priority=True
        ),
        Binding("shift+pageup", "page_up", "Page up", id="page_up", show=False, priority=True),
        Binding(
            "shift+pagedown", "page_down", "Page down", id="page_down", show=False, priority=True
        ),
    ]

    def __init__(
        self,
        services: Services,
        target: Target,
        conversation: int | Literal["last"] | None = None,
        continue_with: Target | None = None,
    ) -> None:
        super().__init__(services)
        self.target = target
        self.settings: dict[str, Any] = {}
        """What this conversation sets over its profile: `system` (and the `persona` it came
        from) and `params`. Saved with the conversation."""
        self.last_copied: str | None = None
        self._open_on_mount = conversation
        self._continue_with = continue_with
        self._model_info: ModelInfo | None = None
        self._streaming_reply: Reply | None = None
        """The reply being streamed, for the watchdog that checks a stop takes effect."""
        self._streaming_what: Suspect | None = None
        """The backend and plugin of the reply streaming now, as the watchdog names them."""
        self._watchdog: LoopWatchdog | None = None
        self._sending = asyncio.Lock()
        """Held while a message is being sent, until its reply streams: one that was sent as
        the app started goes in a worker, and the next must find it streaming."""
        self._abandoned: set[Worker[None]] = set()
        """Reply workers whose plugin did not stop when asked: no longer counted as
        streaming, so that the chat goes on (a next reply cancels them again)."""

    def compose(self) -> ComposeResult:
        yield MessageList(id="messages")
        yield StatusBar(id="status")
        yield PromptInput(id="prompt")
        yield KeyBar()

    def on_mount(self) -> None:
        self._watchdog = LoopWatchdog(
            asyncio.get_running_loop(), lambda: self._streaming_what, self._say_blocked
        )
        self._watchdog.start()
        self.thread.anchor()
        self.query_one("#prompt", PromptInput).focus()
        self._show_target()
        self._when_loaded()

    @work(group="start")
    async def _when_loaded(self) -> None:
        """Once the app has its profiles: show the model, and open the conversation asked
        for at start."""
        if not self.services.loaded.is_set():
            await self.services.loaded.wait()
            self._show_target()
        if self._open_on_mount is not None:
            wanted = self._open_on_mount
            await self.open_conversation(
                None if wanted == "last" else wanted, target=self._continue_with
            )

    @property
    def thread(self) -> MessageList:
        """The conversation's messages, drawn near the view."""
        return self.query_one("#messages", MessageList)

    @property
    def session(self) -> Session:
        """The conversation shown: the model its messages are drawn from."""
        return self.thread.session

    @work(group="earlier", exclusive=True, exit_on_error=False)
    async def _load_earlier(self, session: Session, conversation_id: int) -> None:
        """Put the turns before those shown in `session` (opened with its last turns only):
        a reply waits for them (`_reply`), since the model is sent the whole conversation."""
        whole = await self.services.history.whole(conversation_id)
        if whole is None or self.session is not session or not session.turns:
            return
        first = session.turns[0].message_id
        earlier = whole.session.turns
        index = next((i for i, t in enumerate(earlier) if t.message_id == first), None)
        if index is None:
            return  # the conversation changed meanwhile (another genchat)
        self.thread.put_before(earlier[:index])
        system = whole.thread[0] if whole.thread and whole.thread[0].role == "system" else None
        if system is not None and "system" not in self.settings:
            self.settings["system"] = system.content
            self._show_target()

    async def _earlier_loaded(self) -> None:
        """Wait until the conversation shown is whole (see `_load_earlier`)."""
        for worker in [w for w in self.workers if w.group == "earlier"]:
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()

    @property
    def history(self) -> list[Message]:
        """The conversation as the model sees it next, without the system prompt: its turns,
        less errors, and replies that are still streaming or have no text."""
        return self.session.messages()

    async def _add_error(self, error: GenchatError) -> None:
        await self.thread.add(Turn.of_error(error))

    # -- the target ------------------------------------------------------------------------

    def _target_label(self) -> str:
        """`profile · model`; the profile alone until the profiles are loaded."""
        if not self.services.loaded.is_set():
            return self.target.profile
        return self.services.profiles.label(self.target)

    def _show_target(self) -> None:
        status = self.query_one(StatusBar)
        persona = self.settings.get("persona")
        custom = "system" in self.settings and persona is None
        extra = f"persona {persona}" if persona else "own system prompt" if custom else ""
        status.target = " · ".join(p for p in (self._target_label(), extra) if p)
        status.context = ""
        self._model_info = None
        self._load_model_info()

    @work(exclusive=True, group="model-info")
    async def _load_model_info(self) -> None:
        await self.services.warmed_up.wait()  # the HTTP client, imported off the loop
        try:
            models = await self.services.profiles.backend(self.target.profile).list_models()
        except GenchatError:
            return
        wanted = self.target.model
        self._model_info = next(
            (m for m in models if (m.id == wanted if wanted else m.default)), None
        )

    @needs_profiles
    def action_pick_model(self) -> None:
        from genchat.tui.dialogs.picker import ModelPicker

        def picked(target: Target | None) -> None:
            if target is not None and target != self.target:
                self._use_target(target)
                self.notify(f"Next message goes to {target.profile}", timeout=3)

        self.app.push_screen(ModelPicker(self.services.profiles, self.target), picked)

    @needs_profiles
    def action_settings(self) -> None:
        try:
            profile = self.services.profiles.get(self.target.profile)
        except GenchatError as exc:
            self.notify(exc.message, title=exc.title, severity="error")
            return
        personas = self.services.profiles.loaded.config.personas
        from genchat.tui.dialogs.settings import ConversationSettings

        async def changed(settings: dict[str, Any] | None) -> None:
            if settings is None or settings == self.settings:
                return
            self.settings = settings
            self._show_target()
            saved = self.services.history
            conversation = saved.conversation
            if conversation is not None:
                await saved.call(lambda store: store.set_settings(conversation, settings))
                self._report_history()
            self.notify("The next message uses these settings.", timeout=3)

        self.app.push_screen(ConversationSettings(profile, personas, self.settings), changed)

    def action_leaderboard(self) -> None:
        self.post_message(OpenLeaderboard())

    @needs_profiles
    def action_compare(self) -> None:
        """Open the compare screen on this chat's target and the next profile; each pane's
        model can then be changed (Ctrl+O there)."""
        names = [n for n in self.services.profiles.profiles if n != self.target.profile]
        if not names:
            self.notify("There is only one profile: add another to compare.", severity="warning")
            return
        self.post_message(OpenCompare([self.target, Target(names[0])]))

    # -- sending and streaming ---------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return any(
            w.is_running for w in self.workers if w.group == "reply" and w not in self._abandoned
        )

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if not self.services.loaded.is_set():  # sent as the app starts: it goes once it can
            self.run_worker(self._send_when_loaded(event), group="start")
            return
        async with self._sending:
            await self._send(event)

    async def _send_when_loaded(self, event: PromptInput.Submitted) -> None:
        await self.services.loaded.wait()
        async with self._sending:
            await self._send(event)

    async def _send(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if self.streaming:
            self.notify(STREAMING_HINT, severity="warning", timeout=3)
            event.prompt.give_back(text)
            return
        if not text.strip() or not self._settings_valid():
            event.prompt.give_back(text)
            return
        await self.start_reply(text)

    async def start_reply(self, text: str, *, edited: bool = False) -> None:
        """Add the user's message and stream the reply to it."""
        view = await self.thread.add(Turn("user", text))
        try:
            profile = self.services.profiles.get(self.target.profile)
            backend = self.services.profiles.backend(profile.name)
            system, _ = profile.overridden(self.settings)
        except GenchatError as exc:
            await self._add_error(exc)
            return
        saved = self.services.history
        view.message_id = await saved.add_user(
            text, system, profile.name, self._model(backend), self.settings
        )
        if edited:
            view.show_versions(await saved.versions(view.message_id))
        await self._reply(profile)

    def _settings_valid(self) -> bool:
        """Whether this conversation's settings make a request; where they do not (a database
        written by hand, an old import), a notification names each bad setting and the fix."""
        try:
            profile = self.services.profiles.get(self.target.profile)
        except GenchatError:
            return True  # sending shows what is wrong with the profile, in the conversation
        try:
            profile.overridden(self.settings)
        except ConfigError as exc:
            self.notify(
                f"{exc.message}. {self._key_for('settings')} sets them again; your text is kept.",
                title="This conversation's settings are not valid",
                severity="error",
                timeout=15,
            )
            return False
        return True

    def _model(self, backend: Backend) -> str | None:
        return self.target.model or backend.default_model

    async def _reply(self, profile: Profile, *, again: bool = False) -> None:
        """Stream a reply to the conversation as it stands; `again` when it is a new version
        of a reply."""
        await self._earlier_loaded()
        history = self.history
        try:
            reply = self.services.profiles.new_reply(
                self.target, history, self.settings, self.services.clock
            )
        except GenchatError as exc:  # settings are checked before sending: a last defence
            await self._add_error(exc)
            return
        turn = Turn("assistant", label=self._target_label())
        view = AssistantMessage(turn, live=True)
        await self.thread.add(turn, view)
        self.thread.anchor()
        saved = self.services.history
        view.message_id = await saved.start_reply(reply.origin)
        if again:
            view.show_versions(await saved.versions(view.message_id))
        self._report_history()
        first = history[0].content if len(history) == 1 else None
        # A coroutine, not a `@work` method: a finished worker keeps the callable it ran, and
        # asyncio keeps the worker (in the context of each cancelled timer made while it ran,
        # such as httpx's 120 s read timeout) until the timer's time comes. Through `@work`'s
        # arguments that kept every reply's widgets for two minutes after a new chat.
        stream = self.stream_reply(
            reply, view, view.message_id, title_from=first if profile.generate_titles else None
        )
        self.run_worker(stream, group="reply", exclusive=True, exit_on_error=False)

    async def stream_reply(
        self,
        reply: Reply,
        view: AssistantMessage,
        reply_id: int | None = None,
        title_from: str | None = None,
    ) -> None:
        """Stream `reply` into `view`, saving it as it goes; then, where `title_from` is the
        first message of the conversation, ask the model to name it."""
        status = self.query_one(StatusBar)
        status.busy("waiting")
        status.follow(lambda: reply.metrics.text())  # this reply's figures, not the last one's
        self._streaming_reply = reply
        plugin = f" (from plugin {reply.source})" if reply.source else ""
        self._streaming_what = Suspect.of(
            f"The {reply.backend.name} backend{plugin}", reply.backend
        )
        state: Status = "stopped"  # unless the stream ends otherwise
        error: BackendError | None = None
        saved = self.services.history

        def activity(what: str, progress: float | None) -> None:
            what = "queued behind another reply" if what == "queued" else what
            status.busy(what, progress)

        try:
            state, error = await stream_into(
                reply,
                view,
                activity,
                lambda text: self.notify(text, severity="warning", timeout=8),
                lambda: saved.progress(reply_id, lambda: reply.text),
            )
        finally:
            self._streaming_what = None
            await self._finish(reply, view, state, error)
            await saved.finish_reply(
                reply_id,
                reply.text,
                state,
                reply.metrics.as_dict(),
                error.one_line() if error else None,
            )
            self._report_history()
        if title_from is not None and state == "complete" and saved.conversation is not None:
            naming = self._name_conversation(reply, saved.conversation, title_from)
            self.run_worker(naming, group="title", exit_on_error=False)  # a coroutine, as above

    async def _name_conversation(self, reply: Reply, conversation: int, question: str) -> None:
        """Ask the model that replied for a short title; the first message stays the title
        when it gives none, fails, or the user has named the conversation since."""
        from genchat.history.titles import clean_title, title_request

        request = title_request(question, reply.text, reply.request.model)
        asked = Reply(reply.backend, request, source=reply.source)
        answer = []
        try:
            async for event in asked.stream():
                if isinstance(event, TextDelta):
                    answer.append(event.text)
        except GenchatError:
            return
        title = clean_title("".join(answer))
        if title is not None:
            await self.services.history.call(
                lambda store: store.rename(conversation, title, by="model")
            )

    async def _finish(
        self, reply: Reply, view: AssistantMessage, state: Status, error: BackendError | None
    ) -> None:
        metrics = reply.metrics
        summary = metrics.text()
        footer = {
            "stopped": "stopped",
            "error": "failed",
            "complete": {"length": "cut at max tokens", "content_filter": "filtered"}.get(
                reply.finish_reason or "", ""
            ),
        }[state]
        await view.finish(" · ".join(p for p in (footer, summary) if p), state=state)
        if error is not None:
            await self._add_error(error)
        status = self.query_one(StatusBar)
        status.idle()
        status.follow(None)
        status.metrics = summary
        status.context = self._context_text(metrics.prompt_tokens, metrics.completion_tokens)
        collect_when_idle(self, lambda: self.streaming)  # collect while the reply is read

    def _context_text(self, prompt: int | None, completion: int | None) -> str:
        window = self._model_info.context_length if self._model_info else None
        if prompt is None or not window:
            return ""
        used = prompt + (completion or 0)
        return f"context {used}/{window} ({100 * used / window:.0f}%)"

    def action_stop(self) -> None:
        """Stop the reply, and bring the focus back to the prompt (from a message, say)."""
        if self.streaming:
            workers = self.workers.cancel_group(self, "reply")
            reply = self._streaming_reply

            def check() -> None:
                running = [worker for worker in workers if worker.is_running]
                if reply is not None and running:
                    self._abandoned.update(running)
                    self._say_not_stopping(reply)

            self.set_timer(STOP_GRACE_S, check)
        self.focus_prompt()

    async def _stop_and_wait(self) -> None:
        """Stop the reply, and wait until its text and metrics are recorded; at most
        `STOP_GRACE_S`, after which the plugin that does not stop is named, and left behind."""
        reply = self._streaming_reply
        for worker in self.workers.cancel_group(self, "reply"):
            try:
                await asyncio.wait_for(asyncio.shield(worker.wait()), STOP_GRACE_S)
            except (WorkerCancelled, WorkerFailed):
                pass
            except TimeoutError:
                self._abandoned.add(worker)
                if reply is not None:
                    self._say_not_stopping(reply)

    def on_unmount(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()

    def _say_blocked(self, what: str, seconds: float) -> None:
        """Name the plugin that froze the screen (the event-loop watchdog's finding)."""
        self.notify(
            f"{what} froze the screen for {seconds:.0f} s while it streamed: it blocks the "
            "event loop, so no key works meanwhile. Report this to the plugin's authors.",
            title="A plugin blocks the screen",
            severity="error",
            timeout=20,
        )

    def _say_not_stopping(self, reply: Reply) -> None:
        """Name the plugin whose reply went on after it was stopped (a watchdog's finding)."""
        plugin = f" (from plugin {reply.source})" if reply.source else ""
        message = (
            f"The {reply.backend.name} backend{plugin} did not stop within "
            f"{STOP_GRACE_S:g} s of being asked: it ignores being stopped, or blocks. It may go "
            "on in the background; report this to the plugin's authors."
        )
        _log.warning("%s", message)
        self.notify(message, title="A plugin does not stop", severity="error", timeout=20)

    async def action_new_chat(self) -> None:
        await self._stop_and_wait()
        self.settings = {}
        self._show_target()
        self.services.history.new_conversation()
        self.workers.cancel_group(self, "earlier")
        await self.thread.clear()
        status = self.query_one(StatusBar)
        status.metrics = status.context = ""
        self.query_one("#prompt", PromptInput).focus()

    # -- versions, forks and stored conversations -----------------------------------------

    @needs_profiles
    async def action_regenerate(self) -> None:
        """Answer the last user message again. The earlier reply stays, as another version."""
        if self.streaming:
            self.notify(STREAMING_HINT, severity="warning", timeout=3)
            return
        users = [turn for turn in self.session if turn.role == "user"]
        if not users:
            self.notify("There is no message to answer again yet.", severity="warning")
            return
        if not self._settings_valid():
            return
        try:
            profile = self.services.profiles.get(self.target.profile)
            self.services.profiles.backend(profile.name)  # before the reply is cut
        except GenchatError as exc:
            await self._add_error(exc)
            return
        await self.thread.cut(users[-1], keep=True)
        self.services.history.leaf = users[-1].message_id
        await self._reply(profile, again=True)

    @on(MessageView.EditRequested)
    def edit_message(self, event: MessageView.EditRequested) -> None:
        from genchat.tui.dialogs.questions import EditText

        view = event.view

        async def edited(text: str | None) -> None:
            if text is not None and text != view.text and self._settings_valid():
                await self._resend(view, text)

        title = "Edit and send again: a new version of this message, with its own reply"
        self.app.push_screen(EditText(title, view.text), edited)

    async def _resend(self, view: MessageView, text: str) -> None:
        """Send `text` in place of `view`'s message: a new version of it, with its own reply."""
        await self._stop_and_wait()
        saved = self.services.history
        if view.message_id is not None:
            found = await saved.call(lambda store: store.message(view.message_id or 0))
            saved.leaf = found.parent_id if found else None
        await self.thread.cut(view.turn, keep=False)
        await self.start_reply(text, edited=True)

    @on(MessageView.VersionRequested)
    async def switch_version(self, event: MessageView.VersionRequested) -> None:
        view, saved = event.view, self.services.history
        if view.versions is None or view.message_id is None or saved.conversation is None:
            self.notify("This message has no other versions.", timeout=3)
            return
        which, count = view.versions
        index = which - 1 + event.step
        if not 0 <= index < count:
            return
        if self.streaming:
            self.notify(STREAMING_HINT, severity="warning", timeout=3)
            return
        message_id = view.message_id

        def pick(store: Store) -> tuple[int, int]:
            chosen = store.siblings(message_id)[index].id
            return chosen, store.newest_leaf(chosen)

        picked = await saved.call(pick)
        if picked is not None:
            await self.open_conversation(saved.conversation, leaf=picked[1], focus=picked[0])

    @on(MessageView.ForkRequested)
    async def fork_message(self, event: MessageView.ForkRequested) -> None:
        saved = self.services.history
        upto, conversation = event.view.message_id, saved.conversation
        if upto is None or conversation is None:
            self.notify("This message is not saved, so there is nothing to fork.", timeout=4)
            return
        if self.streaming:
            self.notify(STREAMING_HINT, severity="warning", timeout=3)
            return
        fork = await saved.call(lambda store: store.fork(conversation, upto))
        self._report_history()
        if fork is not None and await self.open_conversation(fork):
            self.notify("Forked into a new conversation; the original is unchanged.", timeout=5)

    @needs_profiles
    def action_history(self) -> None:
        saved = self.services.history

        async def closed(choice: HistoryChoice | None, deleted: frozenset[int]) -> None:
            if choice is not None:
                leaf, found = None, choice.message
                if found is not None:
                    leaf = await saved.call(
                        lambda store: store.branch_through(choice.conversation, found)
                    )
                await self.open_conversation(
                    choice.conversation, leaf=leaf, target=choice.target, focus=found
                )
            elif saved.conversation is not None and saved.conversation in deleted:
                await self.action_new_chat()

        self.post_message(OpenHistory(saved.conversation, closed))

    async def open_conversation(
        self,
        conversation_id: int | None,
        *,
        leaf: int | None = None,
        target: Target | None = None,
        focus: int | None = None,
    ) -> bool:
        """Show a stored conversation (`None`: the last one) to continue it, on its branch
        ending at `leaf` (default: its active one), with its own profile unless `target`."""
        await self._stop_and_wait()
        saved = self.services.history
        if conversation_id is None:
            last = await saved.call(lambda store: store.last_conversation())
            if last is None:
                self._report_history()
                if saved.failure is None:
                    self.notify("There is no saved conversation yet: this one is new.")
                return False
            conversation_id = last.id
        wanted = conversation_id
        found = await saved.call(lambda store: store.conversation(wanted))
        if found is not None and found.kind == "compare":
            return await self._open_compare(found.id, found.settings)
        # The end of the conversation first, the rest behind it (`_load_earlier`); a message
        # looked for may be anywhere, so the whole of it then.
        opened = await saved.open(conversation_id, leaf, last=OPEN_TURNS if focus is None else None)
        if not self.is_attached:
            return False
        self._report_history()
        if opened is None:
            if saved.failure is None:
                self.notify(f"There is no conversation {conversation_id}.", severity="error")
            return False
        self.settings = dict(opened.conversation.settings)
        system = next((m for m in opened.thread if m.role == "system"), None)
        if system is not None and "system" not in self.settings:
            self.settings["system"] = system.content
        self.target = target or self._stored_target(opened.thread, opened.conversation.profile)
        self._show_target()
        session = opened.session
        focused = next((t for t in session if focus is not None and t.message_id == focus), None)
        self.workers.cancel_group(self, "earlier")  # of the conversation shown before
        await self.thread.show(session, around=focused)
        if not self.is_attached:
            return False  # the app closed while the conversation was being shown
        if not opened.whole:
            self._load_earlier(session, conversation_id)
        from genchat.session.stored import stored_metrics  # the first frame shows no history

        status = self.query_one(StatusBar)
        last_reply = next((m for m in reversed(opened.thread) if m.role == "assistant"), None)
        status.metrics = stored_metrics(last_reply) if last_reply else ""
        status.context = ""
        view = self.thread.view_for(focused) if focused is not None else None
        if view is not None:
            view.focus()
            view.scroll_visible(animate=False)
        else:
            # The app may be closing while the conversation was shown: the prompt may be gone.
            for prompt in self.query("#prompt").results(PromptInput):
                prompt.focus()
        return True

    async def _open_compare(self, conversation_id: int, settings: Mapping[str, Any]) -> bool:
        """Reopen a saved comparison on the compare screen, to read or continue it."""
        from genchat.compare.comparison import MAX_PANES, MIN_PANES
        from genchat.history.exchange import restore_turns

        stored = await self.services.history.call(lambda store: store.turns(conversation_id))
        targets, turns = restore_turns(stored or [])
        known = self.services.profiles.profiles
        for index, target in enumerate(targets):
            if target.profile not in known:
                self.notify(
                    f"Profile {target.profile!r} of pane {index + 1} no longer exists; the pane "
                    f"continues with {self.target.profile!r}.",
                    severity="warning",
                    timeout=8,
                )
                targets[index] = self.target
        if not MIN_PANES <= len(targets) <= MAX_PANES:
            self.notify("That comparison has no replies to show.", severity="warning")
            return False
        saved = SavedComparison(conversation_id, turns, stored or [], settings)
        self.post_message(OpenCompare(targets, saved))
        return True

    def _stored_target(self, thread: list[StoredMessage], profile: str | None) -> Target:
        """What the conversation last talked to, where that profile still exists."""
        last = next((m for m in reversed(thread) if m.role == "assistant"), None)
        name = (last.profile if last else None) or profile
        if name is None or name not in self.services.profiles.profiles:
            if name is not None:
                self.notify(
                    f"Profile {name!r} no longer exists; this conversation continues with "
                    f"{self.target.profile!r}.",
                    severity="warning",
                    timeout=8,
                )
            return self.target
        model = last.adapter or last.model if last else None
        with contextlib.suppress(GenchatError):
            if model == self.services.profiles.backend(name).default_model:
                model = None
        return Target(name, model)

    def _use_target(self, target: Target) -> None:
        if target != self.target:
            self.target = target
            self._show_target()

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        # A stopped reply (Esc, Ctrl+N) ends its worker CANCELLED, with the CancelledError as
        # its `error`: that is the normal end of a stop, not a failure. Only ERROR is one.
        if event.worker.group == "reply" and event.state == WorkerState.ERROR:
            # stream_reply turns backend errors into messages; anything else is a bug in genchat
            self.notify(f"Internal error: {event.worker.error!r}", severity="error")

    # -- copying ---------------------------------------------------------------------------

    def _reply_texts(self) -> list[str]:
        """The text of each reply, oldest first: of one that streams, its text so far."""
        reply = self._streaming_reply
        return [
            reply.text if turn.state == "streaming" and reply is not None else turn.text
            for turn in self.session.replies()
        ]

    def action_copy_reply(self) -> None:
        texts = [text for text in self._reply_texts() if text]
        if not texts:
            self.notify("There is no reply to copy yet.", severity="warning")
            return
        self.copy_text(texts[-1], "the last reply")

    def action_copy_code(self) -> None:
        for text in reversed(self._reply_texts()):
            code = last_code_block(text)
            if code is not None:
                self.copy_text(code, "the last code block")
                return
        self.notify("There is no code block to copy.", severity="warning")

    @on(MessageView.CopyRequested)
    def copy_message(self, event: MessageView.CopyRequested) -> None:
        if event.save:
            self.save_text(event.view.text)
        else:
            self.copy_text(event.view.text, "the message")

    def copy_text(self, text: str, what: str) -> None:
        """Copy with OSC 52, and offer to save, since no terminal confirms a clipboard write."""
        self.app.copy_to_clipboard(text)
        self.last_copied = text
        keys = self._key_for("save_copy")
        self.notify(
            f"Copied {what} ({len(text)} characters). Terminals don't confirm clipboard "
            f"writes: {keys} saves it to a file instead.",
            timeout=6,
        )

    def action_save_copy(self) -> None:
        if self.last_copied is None:
            self.notify("Nothing has been copied yet.", severity="warning")
            return
        self.save_text(self.last_copied)

    def save_text(self, text: str) -> None:
        folder = data_dir() / "saved"
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = folder / f"genchat-{stamp}.md"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.notify(f"Could not save to {path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"Saved to {path}", timeout=8)

    def _key_for(self, binding_id: str) -> str:
        """How the key of a binding shows, after any remapping in `[keymap]`."""
        for active in self.active_bindings.values():
            if active.binding.id == binding_id:
                return self.app.get_key_display(active.binding)
        return binding_id

    # -- moving around -----------------------------------------------------------------------

    def _select(self, step: int) -> None:
        views = self.thread.views
        if not views:
            return
        focused = self.focused
        if isinstance(focused, MessageView) and focused in views:
            if focused is views[0] and step < 0 and self.thread.can_draw_earlier:
                self._select_before(focused)
                return
            index = views.index(focused) + step
        else:
            index = len(views) - 1
        if 0 <= index < len(views):
            views[index].focus()
            views[index].scroll_visible()
        elif step > 0:
            self.query_one("#prompt", PromptInput).focus()

    @work(group="select", exit_on_error=False)
    async def _select_before(self, view: MessageView) -> None:
        """Draw the turns before `view`, the first drawn, and select the one just before it (a
        worker: drawing waits for the screen to be drawn)."""
        await self.thread.draw_earlier()
        views = self.thread.views
        if view in views and (index := views.index(view)) > 0:
            views[index - 1].focus()
            views[index - 1].scroll_visible()

    def action_select_previous(self) -> None:
        self._select(-1)

    def action_select_next(self) -> None:
        self._select(+1)

    def action_scroll_up(self) -> None:
        self.thread.scroll_up()

    def action_scroll_down(self) -> None:
        self.thread.scroll_down()

    def action_page_up(self) -> None:
        self.thread.scroll_page_up()

    def action_page_down(self) -> None:
        self.thread.scroll_page_down()
