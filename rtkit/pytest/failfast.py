"""A replay mismatch fails the running test at once, whatever the client.

The replay server sees a mismatch in rtkit's IO thread; the client may never notice it (it
ignores `error` events, or waits 30 s for an answer that will not come). An `Interrupter`
stops the test function as soon as the mismatch is seen, and the plugin reports the mismatch
as the test's failure:

- an async test (asyncio: pytest-asyncio's loop or anyio's asyncio backend) has its task
  cancelled on its own loop, so it unwinds through its `finally` blocks and `async with`s;
- a sync test on the main thread is sent a signal (`SIGRTMAX - 1`, else `SIGUSR2`) whose
  handler raises `ReplayInterrupt`: the signal wakes the thread from any blocking call (a
  socket `recv`, `time.sleep`, a lock), and the exception arrives wherever the test is, as
  Ctrl-C's `KeyboardInterrupt` would. The handler is installed only when the signal is unused.

The interrupter is armed only while the test function runs (never in fixtures or in pytest's
own code). Without a way to interrupt (a sync test off the main thread, a trio test, a signal
already in use) the mismatch is still reported when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import types
from collections.abc import Callable
from typing import Any

__all__ = ["Interrupter", "ReplayInterrupt", "interrupted_at", "restore_signal"]

_SIGNAL: int | None = (
    signal.SIGRTMAX - 1 if hasattr(signal, "SIGRTMAX")
    else getattr(signal, "SIGUSR2", None)
)
_installed: Any = None  # the handler _SIGNAL had before rtkit's (None: not installed)
_armed_main: Interrupter | None = None  # the interrupter whose sync test runs now


class ReplayInterrupt(BaseException):
    """Raised into a sync test to stop it at a replay mismatch (the plugin reports the
    mismatch instead). A `BaseException`, like `KeyboardInterrupt`, so `except Exception`
    in the test does not swallow it."""


def _on_signal(signum: int, frame: types.FrameType | None) -> None:
    target = _armed_main
    if target is not None and target._pending:
        target._pending = False
        raise ReplayInterrupt("rtkit: replay mismatch")


def _install_signal() -> bool:
    """Install the handler on the main thread if the signal is free (once per process)."""
    global _installed
    if _SIGNAL is None or threading.current_thread() is not threading.main_thread():
        return False
    if _installed is not None:
        return True
    current = signal.getsignal(_SIGNAL)
    if current != signal.SIG_DFL:
        return False  # the application uses it: leave it alone
    signal.signal(_SIGNAL, _on_signal)
    _installed = current
    return True


def restore_signal() -> None:
    """Put the signal's previous handler back (at the end of the pytest session)."""
    global _installed
    if _installed is not None and threading.current_thread() is threading.main_thread():
        signal.signal(_SIGNAL, _installed)  # type: ignore[arg-type]
        _installed = None


class Interrupter:
    """Stops one test when `fire(error)` is called from any thread while it is armed."""

    def __init__(self) -> None:
        self.error: BaseException | None = None  # what fire() was given, while armed
        self._lock = threading.Lock()
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._pending = False

    @property
    def fired(self) -> bool:
        """True when the armed test was told to stop."""
        return self.error is not None

    def arm_task(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        """Cancel `task` on `loop` when fired."""
        with self._lock:
            self._loop, self._task = loop, task

    def arm_main_thread(self) -> bool:
        """Interrupt the main thread when fired (call from it); False when that is impossible."""
        global _armed_main
        if not _install_signal():
            return False
        with self._lock:
            self._thread_id = threading.get_ident()
            _armed_main = self
        return True

    def fire(self, error: BaseException) -> None:
        """Stop the armed test (no-op when nothing is armed or it was already stopped)."""
        with self._lock:
            if self.error is not None:
                return
            if self._task is not None and self._loop is not None:
                self.error = error
                task = self._task
                with contextlib.suppress(RuntimeError):  # the loop is closed: test is over
                    self._loop.call_soon_threadsafe(_cancel, task)
            elif self._thread_id is not None and _armed_main is self:
                self.error = error
                self._pending = True
                if hasattr(signal, "pthread_kill"):
                    signal.pthread_kill(self._thread_id, _SIGNAL)  # type: ignore[arg-type]
                else:  # pragma: no cover - no pthreads: runs at the next bytecode
                    import _thread

                    _thread.interrupt_main(_SIGNAL)  # type: ignore[arg-type]

    def disarm(self) -> None:
        """Stop watching; a pending interrupt is dropped. Safe against the interrupt landing
        while it runs."""
        global _armed_main
        while True:
            try:
                with self._lock:
                    self._pending = False
                    self._task = self._loop = None
                    self._thread_id = None
                    if _armed_main is self:
                        _armed_main = None
                return
            except ReplayInterrupt:
                continue  # it landed just now; `error` already says so


def _cancel(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel("rtkit: replay mismatch")


def interrupted_at(exc: BaseException, test_function: Callable[..., Any]
                   ) -> types.TracebackType | None:
    """The traceback entry of `test_function`'s frame in `exc` (or the exceptions it chains
    from), without the frames below it: where the test was when it was interrupted or
    failed. None when absent."""
    func = getattr(test_function, "__func__", test_function)
    while hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    code = getattr(func, "__code__", None)
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is code:  # a copy: `exc` keeps its own traceback
                return types.TracebackType(None, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
            tb = tb.tb_next
        todo += [current.__cause__, current.__context__]
    return None
