"""RealtimeEventHandler: named events with sync or async handlers, and future-based waits."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["EventPayload", "Handler", "RealtimeEventHandler"]

log = logging.getLogger("rtkit")

EventPayload = Any
Handler = Callable[[EventPayload], "Awaitable[Any] | Any"]


class RealtimeEventHandler:
    """Dispatches named events to handlers, like the seed's `RealtimeEventHandler`.

    Handlers may be plain functions or coroutine functions (scheduled as tasks on the running
    loop). An exception in a handler never stops dispatching: it is logged and reported as an
    `error` event (unless the failing handler was itself handling `error`).
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._next_handlers: dict[str, list[Handler]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

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
        """Wait for the next `event_name` and return its payload; None on timeout.

        Future-based (no polling); the listener is removed on timeout or cancellation.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def resolve(payload: EventPayload) -> None:
            if not future.done():
                future.set_result(payload)

        self.on_next(event_name, resolve)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            handlers = self._next_handlers.get(event_name, [])
            if resolve in handlers:
                handlers.remove(resolve)

    def dispatch(self, event_name: str, payload: EventPayload = None) -> None:
        """Call every handler of `event_name` with `payload` (one-shot handlers once)."""
        handlers = list(self._handlers.get(event_name, ()))
        once = self._next_handlers.pop(event_name, [])
        for handler in [*handlers, *once]:
            try:
                result = handler(payload)
            except Exception as exc:  # report, don't kill the caller's loop
                self._handler_failed(event_name, handler, exc)
                continue
            if inspect.isawaitable(result):
                self._track(event_name, handler, result)

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
