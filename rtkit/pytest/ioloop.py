"""One background asyncio loop per process for rtkit's servers.

Replay servers and recording proxies run there, so `rt_server` works from sync tests and
from any test event loop (pytest-asyncio's, anyio's), and a test that blocks its own thread
does not stall the server it talks to.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from rtkit.threads import report_loop_errors, start_thread

__all__ = ["IOLoop", "io_loop"]

T = TypeVar("T")
_log = logging.getLogger("rtkit")


class IOLoop:
    """One daemon thread running an asyncio loop for rtkit's servers (one per process)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def thread_id(self) -> int | None:
        """The loop thread's ident (None before the first use)."""
        return self._thread.ident if self._thread else None

    def started_thread_id(self) -> int | None:
        """The loop thread's ident, starting the loop first if it is not running."""
        self._ensure()
        return self.thread_id

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (started on first use)."""
        return self._ensure()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                report_loop_errors(loop, lambda line: _log.error("rtkit: %s", line))
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = start_thread(run, "rtkit-io")
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run `coro` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure()).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)
        if not loop.is_running():
            loop.close()


io_loop = IOLoop()
