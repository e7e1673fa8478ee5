"""EventStream: an async iterator over a handler's events, buffered from its creation.

`async for event in client.events():` sees every event dispatched after `events()` was called,
even those dispatched while the loop body was busy (unlike `wait_for_next`, which returns the
next event after each call). The iteration ends when the connection closes normally, and raises
when it closes abnormally (`ConnectionClosedError`) or the replay server reports a mismatch.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from rtkit.client.event_handler import RealtimeEventHandler

__all__ = ["Event", "EventStream"]


class Event(NamedTuple):
    """One dispatched event: its name (e.g. `conversation.updated`) and payload."""

    name: str
    payload: Any


Transform = Callable[[str, Any], Any]


class EventStream:
    """Buffers the events named in `names` (all when None) from the moment it is created.

    Iterate with `async for`; `timeout` (seconds) bounds the wait for each next event and
    raises `TimeoutError`. `close()` (or leaving `async with`) stops buffering. Events buffered
    before the connection ended are still yielded, then the iteration ends or raises.
    """

    def __init__(
        self,
        source: RealtimeEventHandler,
        names: Collection[str] | None = None,
        timeout: float | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.names: frozenset[str] | None = frozenset(names) if names else None
        self.timeout = timeout
        self._transform = transform
        self._source = weakref.ref(source)
        self._buffer: deque[Any] = deque()
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- fed by the handler ------------------------------------------------------------------

    def offer(self, name: str, payload: Any) -> None:
        """Buffer `payload` if `name` is one of this stream's events."""
        if self._ended or (self.names is not None and name not in self.names):
            return
        self._buffer.append(Event(name, payload) if self._transform is None
                            else self._transform(name, payload))
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        """End the stream: after the buffered events, raise `error` or stop iterating."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        source = self._source()
        if source is not None:
            source.discard_stream(self)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- read by the app ----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events buffered and not yet read."""
        return len(self._buffer)

    def close(self) -> None:
        """Stop buffering and drop what is buffered; the iteration ends."""
        self._buffer.clear()
        self.finish(None)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Any:
        while not self._buffer:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            await self._wait()
        return self._buffer.popleft()

    async def _wait(self) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timed_out = False

        def time_out() -> None:
            nonlocal timed_out
            timed_out = True
            if not waiter.done():
                waiter.set_result(None)

        handle = loop.call_later(self.timeout, time_out) if self.timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()
        if timed_out and not self._buffer and not self._ended:
            what = ", ".join(sorted(self.names)) if self.names else "event"
            raise TimeoutError(f"no {what} within {self.timeout:g} s")

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
