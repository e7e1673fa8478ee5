"""What runs around a marked test's function: fail-fast on a replay mismatch, the event-loop
check for `rt_client`, and the mismatch reported as the test's failure."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import pytest

from rtkit.pytest.failfast import interrupted_at
from rtkit.pytest.session import RtSession

__all__ = ["LOOP_MISMATCH", "guard_call"]

LOOP_MISMATCH = (
    "rtkit: rt_client was connected on pytest-asyncio's event loop, but this test runs on "
    "another one{where}, so the client's reader task never runs and every wait would time out.\n"
    "Run the test on pytest-asyncio's loop: drop @pytest.mark.anyio (under asyncio_mode = "
    "\"auto\" a plain `async def` test is pytest-asyncio's) or use @pytest.mark.asyncio, and "
    "give the test the loop scope of its fixtures (asyncio_default_fixture_loop_scope, "
    "loop_scope=...). With anyio, take rt_server instead and connect a client in the test: "
    "client = RealtimeClient(url=rt_server.url); await client.connect()."
)


def guard_call(
    item: pytest.Item, session: RtSession, client_loop: asyncio.AbstractEventLoop | None
) -> Generator[None, Any, Any]:
    """The body of the plugin's `pytest_runtest_call` wrapper for a test with `rt_server`.

    Arms the fail-fast interrupter around the test function (async: the test runs in a task
    that is cancelled at a mismatch; sync: the main thread is interrupted), and reports a
    replay mismatch as the test's failure: as it is when the test was interrupted, from the
    test's own error otherwise (that error is usually the client's timeout). An intercepted
    connection refused before any server started (a missing cassette, no key to record) fails
    the test with that message alone, as a missing cassette fails `rt_server`'s set-up.
    """
    __tracebackhide__ = True
    fail_fast = session.options.fail_fast and session.cassette.plan.replay
    original: Callable[..., Any] = getattr(item, "obj", None)  # type: ignore[assignment]
    is_async = inspect.iscoroutinefunction(original)
    if fail_fast:
        early = session.mismatch()  # during set-up (rt_client's first events): no need to run
        if early is not None:
            session.reported(early)
            raise early
    if is_async:
        item.obj = _guarded(original, session, client_loop, fail_fast)  # type: ignore[attr-defined]
    elif fail_fast:
        session.interrupter.arm_main_thread()
    try:
        try:
            result = yield
        finally:
            session.interrupter.disarm()
            if is_async:
                item.obj = original  # type: ignore[attr-defined]
    except BaseException as exc:
        mismatch = session.mismatch()
        if mismatch is None:
            raise
        session.reported(mismatch)
        if mismatch is session.start_error:  # reported as at set-up: what to do, no trace
            pytest.fail(str(mismatch), pytrace=False)
        if mismatch is exc:
            raise
        where = interrupted_at(exc, original)
        if session.interrupter.fired or type(exc) is type(mismatch):
            # interrupted by us, or the client's own short copy of the server's full report
            raise mismatch.with_traceback(where) from None
        raise mismatch.with_traceback(where) from exc
    if session.start_error is not None:  # the app caught it: the test fails all the same
        pytest.fail(str(session.start_error), pytrace=False)
    session.check()
    return result


def _guarded(
    func: Callable[..., Coroutine[Any, Any, Any]],
    session: RtSession,
    client_loop: asyncio.AbstractEventLoop | None,
    fail_fast: bool,
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """`func`, checking the loop first and, with `fail_fast`, run as a task the interrupter
    can cancel (not the runner's own task: anyio shares one between tests)."""

    @functools.wraps(func)
    async def run_test(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # trio
            loop = None
        if client_loop is not None and loop is not client_loop:
            where = "" if loop is not None else " (not an asyncio loop: trio?)"
            pytest.fail(LOOP_MISMATCH.format(where=where), pytrace=False)
        if not fail_fast or loop is None:
            return await func(*args, **kwargs)
        task = loop.create_task(func(*args, **kwargs))
        session.interrupter.arm_task(loop, task)
        try:
            return await task
        except asyncio.CancelledError as exc:
            mismatch = session.interrupter.error
            if mismatch is None or not task.cancelled() or _cancelling():
                raise
            session.reported(mismatch)
            raise mismatch.with_traceback(interrupted_at(exc, func)) from None
        finally:
            session.interrupter.disarm()

    return run_test


def _cancelling() -> bool:
    """True when the current task itself is being cancelled (Python 3.11+ knows)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling and cancelling())
