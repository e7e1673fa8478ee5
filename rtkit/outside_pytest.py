"""`rtkit.use_cassette`: what `@pytest.mark.rtkit` does, for code outside pytest (unittest,
scripts, notebooks), with the same options, record modes and redaction (it runs the plugin's
`RtSession`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rtkit.errors import CassetteError
from rtkit.pytest.cassette import RtCassette, fake_script_beside, make_cassette
from rtkit.pytest.failfast import ReplayInterrupt, restore_signal
from rtkit.pytest.options import RtOptions, options_from_kwargs
from rtkit.pytest.session import RtSession
from rtkit.record_mode import MissingCassetteError, missing_cassette_message

__all__ = ["REPLAY_OPTIONS", "use_cassette"]

F = TypeVar("F", bound=Callable[..., Any])

# the replay server's matching options, taken as keywords too (the marker's `replay_options`)
REPLAY_OPTIONS = frozenset({"audio_match", "ignore_paths", "matchers", "match_on", "timeout",
                            "unplayed", "max_message", "lazy"})


class use_cassette:  # lower case: named like vcrpy's, which users know
    """Record or replay the Realtime API connections the code inside makes, unchanged.

    ```python
    with rtkit.use_cassette("cassettes/greeting.jsonl", record_mode="once"):
        app.main()                    # AsyncOpenAI().realtime.connect(...) is intercepted

    async with rtkit.use_cassette("cassettes/greeting.jsonl"):
        await app.talk()

    @rtkit.use_cassette("cassettes/greeting.jsonl")
    def test_greeting(self): ...      # also on async functions
    ```

    As the marker does: in replay (`record_mode="none"`, the default, or a cassette that
    exists in `once`) a replay server on 127.0.0.1 serves `path`; in record modes a recording
    proxy records from the live API (`OPENAI_API_KEY`) or from `upstream_url` /
    `RTKIT_UPSTREAM_URL` (a loopback one, e.g. `rtkit fake`, needs no key). While the block
    runs, the process's Realtime API connections go there (`intercept=False` turns that off;
    then point the app at `.server.url`). At the end the cassette is written (record) or the
    first replay mismatch is raised and the unplayed policy applied (replay); with `fail_fast`
    (default) a mismatch stops the block at once (an async block's task is cancelled, a sync
    block on the main thread interrupted) and is raised in its place.

    Options are the marker's (docs/pytest.md): `pace`, `upstream_url`, `dialect`, `model`,
    `vcr`, `vcr_config`, `filter_headers`, `filter_query_parameters`, `before_record_event`,
    `before_record_request`, `before_record_response`, `allow_unplayed`, `fail_fast`,
    `intercept`, `intercept_hosts`, `replay_options`; and the replay server's matching
    options as keywords (`audio_match`, `ignore_paths`, `matchers`, `match_on`, `timeout`,
    `unplayed`). An unknown option raises `ValueError`. The block's value is the cassette:
    `.path`, `.mode`, `.plan`, `.server` (its `.url`), `.played` / `.unplayed`, `.load()`;
    `rt_conversation(cassette)` reads what crossed the server so far.
    """

    def __init__(self, path: str | os.PathLike[str], record_mode: str | None = None,
                 **options: Any) -> None:
        kwargs = {k: v for k, v in options.items() if k not in REPLAY_OPTIONS}
        replay = {k: v for k, v in options.items() if k in REPLAY_OPTIONS}
        if replay:
            kwargs["replay_options"] = {**dict(kwargs.get("replay_options") or {}), **replay}
        if record_mode is not None:
            kwargs["record_mode"] = record_mode
        self.options: RtOptions = options_from_kwargs(kwargs)
        self.path = Path(path)
        self._kwargs = (record_mode, options)
        self._session: RtSession | None = None
        self._armed = False

    # -- the context manager -------------------------------------------------------------

    def __enter__(self) -> RtCassette:
        if self._session is not None:
            raise RuntimeError(f"use_cassette({str(self.path)!r}) is already in use; make "
                               "another one (as a decorator it makes one per call)")
        try:
            cassette = make_cassette(self.path, self.options)
        except MissingCassetteError:
            raise MissingCassetteError(missing_cassette_message(
                str(self.path), how="run it once with use_cassette(..., record_mode='once')",
                fake_script=fake_script_beside(self.path))) from None
        session = RtSession(cassette, search_dirs=[os.getcwd()],
                            intercept=self.options.intercept)
        problem = session.precheck(replay="use record_mode='none'")
        if problem:
            raise CassetteError(problem)
        session.__enter__()
        self._session = session
        if self.options.fail_fast and cassette.plan.replay and _on_main_thread():
            self._armed = session.interrupter.arm_main_thread()
        return cassette

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        __tracebackhide__ = True
        session, self._session = self._session, None
        if session is None:
            return
        if self._armed:
            session.interrupter.disarm()
            restore_signal()
            self._armed = False
        self._finish(session, exc)

    async def __aenter__(self) -> RtCassette:
        cassette = await asyncio.to_thread(self.__enter__)
        session = self._session
        task = asyncio.current_task()
        if session is not None and task is not None and self.options.fail_fast \
                and cassette.plan.replay:
            session.interrupter.arm_task(asyncio.get_running_loop(), task)
        return cassette

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        __tracebackhide__ = True
        session, self._session = self._session, None
        if session is None:
            return
        session.interrupter.disarm()
        if session.interrupter.fired:  # the task was (or is about to be) cancelled by us
            if not isinstance(exc, asyncio.CancelledError):
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0)  # a cancel already scheduled lands here
            uncancel = getattr(asyncio.current_task(), "uncancel", None)
            if uncancel is not None:  # Python 3.11+: that cancel was ours, not the caller's
                uncancel()
        # stopping waits for the app's connections to close: not on the app's own loop
        await asyncio.to_thread(self._finish, session, exc)

    def _finish(self, session: RtSession, exc: BaseException | None) -> None:
        """Stop the servers (the cassette is written, the unplayed policy applied) and raise
        the first replay mismatch, in place of the error it caused."""
        __tracebackhide__ = True
        mismatch = session.mismatch()
        try:
            if mismatch is not None:
                session.reported(mismatch)
            session.__exit__(None, None, None)
        finally:
            if mismatch is not None and mismatch is not exc:
                if exc is None or isinstance(exc, (ReplayInterrupt, asyncio.CancelledError)) \
                        or type(exc) is type(mismatch):
                    raise mismatch from None
                raise mismatch from exc

    # -- the decorator -------------------------------------------------------------------

    def __call__(self, func: F) -> F:
        record_mode, options = self._kwargs
        path = self.path

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with use_cassette(path, record_mode, **options):
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with use_cassette(path, record_mode, **options):
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
