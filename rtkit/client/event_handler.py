"""RealtimeEventHandler: named events with sync or async handlers, future-based waits and
buffered event streams, all of which end when the connection does."""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rtkit.client.streams import EventStream, Transform
from rtkit.errors import ConnectionClosedError

__all__ = ["EventPayload", "Handler", "RealtimeEventHandler"]

log = logging.getLogger("rtkit")

EventPayload = Any
Handler = Callable[[EventPayload], "Awaitable[Any] | Any"]


class RealtimeEventHandler:
    """Dispatches named events to handlers, like the seed's `RealtimeEventHandler`.

    Handlers may be plain functions or coroutine functions (scheduled as tasks on the running
    loop). An exception in a handler never stops dispatching: it is logged and reported as an
    `error` event (unless the failing handler was itself handling `error`).

    Waits (`wait_for_next`) and streams (`events`) never outlive the connection: subclasses
    that own one call `_connection_ended` / `_connection_failed`, which wake every pending
    wait with `ConnectionClosedError` / the failure (e.g. a replay mismatch), and later waits
    raise it at once.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._next_handlers: dict[str, list[Handler]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters: dict[asyncio.Future[Any], str] = {}
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self._failure: BaseException | None = None
        self._ended: Mapping[str, Any] | None = None  # the close payload, once closed
        # who gets told that a wait was resolved (the receive loop then lets it run)
        self._wake_target: RealtimeEventHandler | None = None
        self._wake_pending = False

    def clear_event_handlers(self) -> None:
        """Remove every handler."""
        self._handlers.clear()
        self._next_handlers.clear()

    def on(self, event_name: str, handler: Handler) -> Handler:
        """Call `handler(payload)` on every `event_name`; returns the handler."""
        self._handlers.setdefault(event_name, []).append(handler)
        return handler

    def on_next(self, event_name: str, handler: Handler) -> Handler:
        """Call `handler(payload)` on the next `event_name` only."""
        self._next_handlers.setdefault(event_name, []).append(handler)
        return handler

    def off(self, event_name: str, handler: Handler | None = None) -> None:
        """Remove one handler of `event_name`, or all of them."""
        self._remove(self._handlers, event_name, handler)

    def off_next(self, event_name: str, handler: Handler | None = None) -> None:
        """Remove one one-shot handler of `event_name`, or all of them."""
        self._remove(self._next_handlers, event_name, handler)

    @staticmethod
    def _remove(table: dict[str, list[Handler]], name: str, handler: Handler | None) -> None:
        if handler is None:
            table.pop(name, None)
            return
        handlers = table.get(name, [])
        if handler not in handlers:
            raise ValueError(f"handler {handler!r} is not registered for {name!r}")
        handlers.remove(handler)

    async def wait_for_next(self, event_name: str, timeout: float | None = None) -> EventPayload:
        """Wait for the next `event_name` dispatched after the call; its payload, None on timeout.

        Future-based (no polling); the listener is removed on timeout or cancellation. Raises
        `ConnectionClosedError` when the connection ends first (or has ended), and the
        connection's failure (e.g. `CannotOverwriteExistingCassetteException`) when the replay
        server reports one.
        """
        try:
            return await self._next_event(event_name, timeout)
        except TimeoutError:
            return None

    async def _next_event(self, event_name: str, timeout: float | None) -> EventPayload:
        """`wait_for_next`, raising `TimeoutError` on timeout."""
        future = self._new_waiter(event_name)

        def resolve(payload: EventPayload) -> None:
            if not future.done():
                future.set_result(payload)
                self._woke()

        self.on_next(event_name, resolve)
        try:
            return await self._wait(future, event_name, timeout)
        finally:
            handlers = self._next_handlers.get(event_name, [])
            if resolve in handlers:
                handlers.remove(resolve)

    def events(self, *names: str, timeout: float | None = None) -> EventStream:
        """An async iterator of `Event(name, payload)` for the named events (all when none),
        buffered from this call on: nothing dispatched after it is missed.

        `timeout` bounds the wait for each next event (`TimeoutError`). The iteration ends
        after a normal close and raises after an abnormal one or a replay mismatch.
        """
        return self._stream(names, timeout)

    def _stream(self, names: tuple[str, ...] | frozenset[str], timeout: float | None,
                transform: Transform | None = None) -> EventStream:
        stream = EventStream(self, names, timeout, transform)
        if self._failure is not None:
            stream.finish(self._failure)
        elif self._ended is not None:
            stream.finish(self._closed_error("events") if self._ended.get("error") else None)
        else:
            self._streams.add(stream)
        return stream

    def discard_stream(self, stream: EventStream) -> None:
        """Stop feeding `stream` (it calls this when it finishes)."""
        self._streams.discard(stream)

    # -- waits and the connection's end ------------------------------------------------------

    def _new_waiter(self, event_name: str) -> asyncio.Future[Any]:
        """A future for `event_name` that the connection's end or failure will wake."""
        if self._failure is not None:
            raise self._failure
        if self._ended is not None:
            raise self._closed_error(event_name)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[future] = event_name
        return future

    async def _wait(self, future: asyncio.Future[Any], event_name: str,
                    timeout: float | None) -> Any:
        """Await a `_new_waiter` future; `TimeoutError` after `timeout` s.

        No `asyncio.wait_for`: its extra task step would let the receive loop run on before
        the waiting code resumes (see `_woke`).
        """
        handle = None
        if timeout is not None:
            def time_out() -> None:
                if not future.done():
                    future.set_exception(
                        TimeoutError(f"no {event_name} event within {timeout:g} s"))

            handle = asyncio.get_running_loop().call_later(timeout, time_out)
        try:
            return await future
        finally:
            if handle is not None:
                handle.cancel()
            self._waiters.pop(future, None)

    def _woke(self) -> None:
        """A wait was resolved: ask the receive loop to let it run before the next frame, so a
        loop that waits again at once misses nothing (as JavaScript's microtasks guarantee)."""
        (self._wake_target or self)._wake_pending = True

    def _closed_error(self, event_name: str) -> ConnectionClosedError:
        ended = self._ended or {}
        code, reason, by = ended.get("code"), ended.get("reason") or "", ended.get("by") or "server"
        how = f"code {code}" if code is not None else "no close code: the connection dropped"
        return ConnectionClosedError(
            f"cannot wait for {event_name!r}: the connection was closed by the {by} "
            f"({how}, reason {reason!r})", code=code, reason=reason, by=by)

    def _connection_started(self) -> None:
        """A new connection: waits are possible again."""
        self._failure = None
        self._ended = None

    def _connection_ended(self, close: Mapping[str, Any]) -> None:
        """The connection ended (`close`: the `close` event's payload): wake every wait with
        `ConnectionClosedError`; streams end (abnormal close: they raise it)."""
        self._ended = dict(close)
        for future, name in list(self._waiters.items()):
            if not future.done():
                future.set_exception(self._failure or self._closed_error(name))
        error = self._failure or (self._closed_error("events") if close.get("error") else None)
        for stream in list(self._streams):
            stream.finish(error)

    def _connection_failed(self, failure: BaseException) -> None:
        """The connection can no longer succeed (e.g. a replay mismatch): every pending and
        later wait, and every stream, raises `failure` (the first one is kept)."""
        if self._failure is None:
            self._failure = failure
        for future in list(self._waiters):
            if not future.done():
                future.set_exception(self._failure)
        for stream in list(self._streams):
            stream.finish(self._failure)

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(self, event_name: str, payload: EventPayload = None) -> None:
        """Call every handler of `event_name` with `payload` (one-shot handlers once), then
        buffer it in the streams that want it."""
        handlers = self._handlers.get(event_name)
        once = self._next_handlers.pop(event_name, None)
        if handlers or once:
            for handler in [*(handlers or ()), *(once or ())]:
                try:
                    result = handler(payload)
                except Exception as exc:  # report, don't kill the caller's loop
                    self._handler_failed(event_name, handler, exc)
                    continue
                if inspect.isawaitable(result):
                    self._track(event_name, handler, result)
        if self._streams:
            for stream in list(self._streams):
                stream.offer(event_name, payload)

    def _track(self, event_name: str, handler: Handler, result: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(result)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self._handler_failed(event_name, handler, t.exception())  # type: ignore[arg-type]

        task.add_done_callback(done)

    def _handler_failed(self, event_name: str, handler: Handler, exc: BaseException) -> None:
        log.error("rtkit: handler %r for %r raised %r", handler, event_name, exc, exc_info=exc)
        if event_name != "error":
            self.dispatch("error", {
                "type": "handler_error",
                "event": event_name,
                "error": exc,
                "message": f"handler for {event_name!r} raised {exc!r}",
            })

    async def drain(self) -> None:
        """Wait for handler tasks started so far (useful in tests and on shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
