"""One marked test's cassette, server and HTTP recorder (what `rt_server` runs)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from rtkit.assertions import EventLog, attach, detach
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
    """

    def __init__(self, cassette: RtCassette, search_dirs: Iterable[str | os.PathLike[str]]) -> None:
        self.cassette = cassette
        self.options = cassette.options
        self.search_dirs = list(search_dirs)
        self.api_key: str | None = None
        self.server: Any = None
        self.log = EventLog()
        self.redactor = make_redactor(self.options)
        self.interrupter = Interrupter()
        self._watch: Any = None
        self._servers: list[Any] = []
        self._stack = contextlib.ExitStack()

    def precheck(self) -> str | None:
        """A failure message when the test cannot run, else None.

        Recording needs `OPENAI_API_KEY`, except from a loopback upstream (a local fake or
        test server): without a key, nothing is sent as one.
        """
        if self.cassette.plan.record:
            self.api_key = find_api_key(self.search_dirs)
            if not self.api_key and not is_loopback_url(self.options.upstream_url):
                return missing_key_message(
                    self.cassette.path, self.cassette.mode, self.options.upstream_url
                )
        return None

    # ----------------------------------------------------------------------- lifecycle

    def __enter__(self) -> RtSession:
        plan_ = self.cassette.plan
        path = self.cassette.path
        try:
            # rewrite (`plan_.delete_first`) deletes nothing: the recorder writes a new
            # cassette beside the old one and replaces it when the test ends, so a run killed
            # before that leaves the previous cassette (and the new one's temporary file)
            if plan_.record:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.redactor = make_redactor(self.options, self.api_key)
            if self.options.vcr:
                self._stack.enter_context(http_cassette(self.cassette, self.redactor))
            self._stack.callback(self._stop)
            self.server = io_loop.run(self._start())
            self.cassette.server = self.server
            for source in (self.cassette, self.cassette.path):
                attach(source, self.log)
                self._stack.callback(detach, source)
            if self.options.fail_fast and plan_.replay:
                self._watch = asyncio.run_coroutine_threadsafe(self._watch_errors(),
                                                               io_loop.loop)
            self._stack.enter_context(NetworkAllowance(self._ports(), io_loop.thread_id))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # the replay server applies the unplayed policy (warn, or fail with allow_unplayed=False)
        self._stack.close()

    async def _start(self) -> Any:
        plan_ = self.cassette.plan
        if plan_.replay_only:
            return await self._enter(self._replay_server())
        if not plan_.hybrid:
            return await self._enter(self._recording_proxy())
        episodes = len(self.cassette.load().episodes)
        if episodes == 0:
            return await self._enter(self._recording_proxy())
        replay = await self._enter(self._replay_server())
        record = await self._enter(self._recording_proxy())
        return await self._enter(EpisodeRouter(replay, record, episodes))

    async def _enter(self, server: Any) -> Any:
        await server.__aenter__()
        self._servers.append(server)
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

    def _recording_proxy(self) -> Any:
        from rtkit.server.proxy import RecordingProxy

        return RecordingProxy(
            str(self.cassette.path),
            upstream_url=self.options.upstream_url,
            api_key=self.api_key or "",  # "": keyless (a loopback upstream), nothing sent
            append=self.cassette.plan.keep_existing,
            on_frame=self.log.add,
            redactor=self.redactor,
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
        while self._servers:
            server = self._servers.pop()
            await server.__aexit__(None, None, None)

    def _stop(self) -> None:
        if self._servers:
            io_loop.run(self._stop_all())
        self.server = None

    def _ports(self) -> list[int]:
        port = urlsplit(str(getattr(self.server, "url", ""))).port
        return [port] if port else []

    # ----------------------------------------------------------------------- results

    def mismatch(self) -> BaseException | None:
        """The first replay mismatch the server saw, if any."""
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
        for server in self._servers:
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
