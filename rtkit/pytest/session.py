"""One marked test's cassette, server, HTTP recorder and interception (what `rt_server` and
`rtkit.use_cassette` run)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from rtkit.assertions import EventLog, attach, detach
from rtkit.errors import CassetteError
from rtkit.intercept import Interception
from rtkit.pytest.cassette import RtCassette
from rtkit.pytest.failfast import Interrupter
from rtkit.pytest.http import http_cassette
from rtkit.pytest.ioloop import io_loop
from rtkit.pytest.keys import find_api_key, missing_key_message
from rtkit.pytest.network import NetworkAllowance, is_loopback_url
from rtkit.pytest.redaction import apply_playback_filters, make_redactor
from rtkit.pytest.router import EpisodeRouter

__all__ = ["RtSession"]

MISMATCH_POLL = 0.02  # s between two looks at the replay server's errors (fail-fast latency)


class RtSession:
    """One test's cassette, server and HTTP recorder; a context manager around the test.

    Replay modes start a `ReplayServer`, record modes a `RecordingProxy` (both on 127.0.0.1 in
    rtkit's background loop); `vcr=True` adds a vcrpy cassette for the HTTP side. One
    `redactor` (the options' filters and hooks, the API key) serves both sides. `log` holds
    every frame the servers see, live: `rt_conversation` reads it from the server, the
    `rt_cassette` object and the cassette path while the test runs. `interrupter` stops the
    test function at the first replay mismatch (`fail_fast`).

    `intercept=True` redirects the process's Realtime API connections to the server while the
    session is entered (`interception`: an `rtkit.intercept.Interception`). `lazy=True` starts
    the servers only at the first intercepted connection (`start_url`), so that a test that
    never connects records nothing; `refusal` is then what such a connection raises instead
    (the missing cassette's error, decided before the test).
    """

    def __init__(self, cassette: RtCassette, search_dirs: Iterable[str | os.PathLike[str]], *,
                 intercept: bool = False, lazy: bool = False,
                 refusal: BaseException | None = None) -> None:
        self.cassette = cassette
        self.intercept = intercept
        self.lazy = lazy
        self.refusal = refusal  # a lazy session that cannot start: raised to its connections
        self.start_error: BaseException | None = None
        self.interception: Interception | None = None
        self.options = cassette.options
        self.search_dirs = list(search_dirs)
        self.api_key: str | None = None
        self.server: Any = None
        self.log = EventLog()
        self.redactor = make_redactor(self.options)
        self.interrupter = Interrupter()
        self._watch: Any = None
        self._running: list[Any] = []
        self._stack = contextlib.ExitStack()
        self._servers = contextlib.ExitStack()  # closed inside _stack, after interception ends
        self._start_lock = threading.Lock()

    def precheck(self, replay: str = "run with --rt-record-mode=none") -> str | None:
        """A failure message when the test cannot run, else None.

        Recording needs `OPENAI_API_KEY`, except from a loopback upstream (a local fake or
        test server): without a key, nothing is sent as one. `replay` says how to replay
        instead, in the message.
        """
        if self.cassette.plan.record:
            self.api_key = find_api_key(self.search_dirs)
            if not self.api_key and not is_loopback_url(self.options.upstream_url):
                return missing_key_message(
                    self.cassette.path, self.cassette.mode, self.options.upstream_url, replay
                )
        return None

    # ----------------------------------------------------------------------- lifecycle

    def __enter__(self) -> RtSession:
        try:
            if self.lazy and self.cassette.plan.record:
                self.api_key = find_api_key(self.search_dirs)  # a secret for the HTTP side
            self.redactor = make_redactor(self.options, self.api_key)
            if self.options.vcr:
                self._stack.enter_context(http_cassette(self.cassette, self.redactor))
            self._stack.callback(self._servers.close)
            if not self.lazy:
                self._start_servers()
            if self.intercept:
                target = self.start_url if self.lazy else self.server.url
                self.interception = Interception(
                    target, hosts=self.options.intercept_hosts,
                    exempt_threads=[io_loop.started_thread_id()])  # rtkit's own connections
                self._stack.enter_context(self.interception)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # the replay server applies the unplayed policy (warn, or fail with allow_unplayed=False)
        self._stack.close()

    def start_url(self) -> str:
        """Start the servers if they are not running yet (a lazy session's first intercepted
        connection, from any thread) and return their URL. Raises, to that connection, why
        they cannot start (a missing cassette, no key to record): the error is also kept in
        `start_error` and stops the test like a replay mismatch."""
        with self._start_lock:
            if self.start_error is not None:
                raise self.start_error
            if self.server is None:
                try:
                    if self.refusal is not None:
                        raise self.refusal
                    problem = self.precheck()
                    if problem:
                        raise CassetteError(problem)
                    self._start_servers()
                except BaseException as exc:
                    self.start_error = exc
                    self.interrupter.fire(exc)
                    raise
            return str(self.server.url)

    def _start_servers(self) -> None:
        plan_ = self.cassette.plan
        path = self.cassette.path
        stack = self._servers
        try:
            # rewrite (`plan_.delete_first`) deletes nothing: the recorder writes a new
            # cassette beside the old one and replaces it when the test ends, so a run killed
            # before that leaves the previous cassette (and the new one's temporary file)
            if plan_.record:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.redactor = make_redactor(self.options, self.api_key)
            stack.callback(self._stop)
            # from before the start: asking a loopback upstream which fake it is connects too
            allowance = stack.enter_context(NetworkAllowance((), io_loop.started_thread_id()))
            self.server = io_loop.run(self._start())
            allowance.ports.update(self._ports())
            self.cassette.server = self.server
            for source in (self.cassette, self.cassette.path):
                attach(source, self.log)
                stack.callback(detach, source)
            if self.options.fail_fast and plan_.replay:
                self._watch = asyncio.run_coroutine_threadsafe(self._watch_errors(),
                                                               io_loop.loop)
        except BaseException:
            stack.close()
            raise

    async def _start(self) -> Any:
        plan_ = self.cassette.plan
        if plan_.replay_only:
            return await self._enter(self._replay_server())
        if not plan_.hybrid:
            return await self._enter(await self._recording_proxy())
        episodes = len(self.cassette.load().episodes)
        if episodes == 0:
            return await self._enter(await self._recording_proxy())
        replay = await self._enter(self._replay_server())
        record = await self._enter(await self._recording_proxy())
        return await self._enter(EpisodeRouter(replay, record, episodes))

    async def _enter(self, server: Any) -> Any:
        await server.__aenter__()
        self._running.append(server)
        attach(server, self.log)
        return server

    def _replay_server(self) -> Any:
        from rtkit.server.replay_server import ReplayServer

        options = {"unplayed": "warn" if self.options.allow_unplayed else "fail"}
        options.update(self.options.replay_options)
        server = ReplayServer(
            str(self.cassette.path), pace=self.options.pace, on_frame=self.log.add, **options
        )
        apply_playback_filters(server, self.redactor)  # built-in filters too: a redacted
        # query, MCP credential or token still matches its recording
        return server

    async def _recording_proxy(self) -> Any:
        from rtkit.fake.info import fake_script
        from rtkit.server.proxy import RecordingProxy

        upstream = self.options.upstream_url
        # recording from rtkit's fake: the cassette names its script, for the day a cassette
        # beside it is missing (the error then says which script to start)
        script = await fake_script(upstream) if is_loopback_url(upstream) else None
        return RecordingProxy(
            str(self.cassette.path),
            upstream_url=upstream,
            api_key=self.api_key or "",  # "": keyless (a loopback upstream), nothing sent
            append=self.cassette.plan.keep_existing,
            on_frame=self.log.add,
            redactor=self.redactor,
            **({"meta": {"fake_script": script}} if script else {}),
        )

    async def _watch_errors(self) -> None:
        """Fire the interrupter at the first replay error (runs on the IO loop; an error seen
        while no test function runs is fired again once one does)."""
        while not self.interrupter.fired:
            error = self.mismatch()
            if error is not None:
                self.interrupter.fire(error)
            await asyncio.sleep(MISMATCH_POLL)

    async def _stop_all(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        while self._running:
            server = self._running.pop()
            await server.__aexit__(None, None, None)

    def _stop(self) -> None:
        if self._running:
            io_loop.run(self._stop_all())
        self.server = None

    def _ports(self) -> list[int]:
        port = urlsplit(str(getattr(self.server, "url", ""))).port
        return [port] if port else []

    # ----------------------------------------------------------------------- results

    def mismatch(self) -> BaseException | None:
        """The first replay mismatch the server saw (or why a lazy session could not start),
        if any."""
        if self.start_error is not None:
            return self.start_error
        server = self.server if self.server is not None else self.cassette.server
        errors = getattr(server, "errors", None) or []
        return errors[0] if errors else None

    def check(self) -> None:
        """Raise the first replay mismatch."""
        __tracebackhide__ = True
        error = self.mismatch()
        if error is not None:
            self.reported(error)
            raise error

    def reported(self, error: BaseException) -> None:
        """The test failed with `error`: teardown must not raise it a second time."""
        for server in self._running:
            player = getattr(server, "player", None)
            if player is not None:
                player.reported(error)

    @staticmethod
    def make_client(server: Any, cassette: RtCassette) -> Any:
        """A `RealtimeClient` pointed at `server` (not connected yet)."""
        from rtkit import RealtimeClient

        kwargs: dict[str, Any] = {"url": server.url, "api_key": "sk-rtkit-replay"}
        if cassette.options.model:
            kwargs["model"] = cassette.options.model
        dialect = cassette.options.dialect or cassette.dialect()
        if dialect:
            kwargs["dialect"] = dialect
        return RealtimeClient(**kwargs)
