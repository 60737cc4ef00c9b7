"""Run blocking generation in a worker thread and stream its events into asyncio.

Local models are blocking and CPU/GPU bound, so they generate in a thread of their own. Each event
crosses into the event loop through `loop.call_soon_threadsafe` onto an `asyncio.Queue`: the
generating thread never waits on the loop. Closing the async iterator (or cancelling the task that
consumes it) sets a flag that the worker checks between tokens.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable

from genchat.chat import StreamEvent


class CancelToken:
    """Set by the consumer when it stops listening; checked by the worker between tokens."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


Emit = Callable[[StreamEvent], None]
Work = Callable[[Emit, CancelToken], None]


async def stream_from_thread(
    work: Work, *, name: str = "genchat-generate"
) -> AsyncGenerator[StreamEvent, None]:
    """Run `work(emit, cancel)` in a daemon thread and yield what it emits.

    An exception raised by `work` is re-raised here, in the consumer. The thread is a daemon so
    that an interrupted process can exit without waiting for a token that is being computed.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[StreamEvent | _Failure | _Done] = asyncio.Queue()
    cancel = CancelToken()

    def put(item: StreamEvent | _Failure | _Done) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            # The loop is closed: nobody is listening any more.
            cancel.cancel()

    def run() -> None:
        try:
            work(put, cancel)
        except BaseException as exc:  # handed to the consumer, which decides what it means
            put(_Failure(exc))
        else:
            put(_Done())

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        cancel.cancel()


class _Done:
    """The worker returned normally."""


class _Failure:
    """The worker raised; the consumer re-raises."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
