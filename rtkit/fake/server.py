"""`FakeRealtimeAPI`: the fake Realtime API on a loopback socket, a thin shell over
`FakeConnection` (which holds all the behaviour)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from websockets.http11 import Request, Response

from rtkit.fake.connection import FakeConnection
from rtkit.fake.handshake import read_handshake, select_subprotocol
from rtkit.fake.info import INFO_PATH
from rtkit.fake.script import FakeScript, ScriptSource, load_script
from rtkit.server.wsserver import WSConnection, WSServer
from rtkit.threads import report_loop_errors, start_thread
from rtkit.transport.base import Close

__all__ = ["ConnectionRecord", "FakeRealtimeAPI"]

_log = logging.getLogger("rtkit.fake")
MAX_MESSAGE = 64 << 20  # a larger client message fails the connection (1009)
_TLS_HINT = ("; a TLS (wss://) client on the fake's plain ws:// port? Use a ws:// URL (see "
             "docs/fake.md for clients that force wss)")


@dataclass
class ConnectionRecord:
    """What happened on one connection (for logs and tests)."""

    number: int
    target: str  # path and query
    dialect: str
    model: str
    subprotocol: str | None
    key_presented: bool
    client_events: int = 0
    server_events: int = 0
    errors: int = 0
    refused: str | None = None  # the error code of a refused handshake
    close_code: int | None = None
    close_reason: str = ""

    def line(self) -> str:
        """One log line: `#1 GA /v1/realtime?model=...: 4 client / 40 server events, ...`."""
        head = f"#{self.number} {self.dialect.upper()} {self.target}" + (
            "" if self.key_presented else " (no key)")
        closed = f"closed {self.close_code}" + (f" {self.close_reason}" if self.close_reason
                                                 else "")
        if self.refused:
            return f"{head}: refused ({self.refused}), {closed}"
        return (f"{head}: {self.client_events} client / {self.server_events} server events, "
                f"{self.errors} error event(s), {closed}")


class FakeRealtimeAPI:
    """A scripted stand-in for the Realtime API on 127.0.0.1, for recording cassettes and
    testing clients without a key.

    ```python
    async with FakeRealtimeAPI("replies.yaml") as fake:
        client = AsyncOpenAI(api_key="anything", websocket_base_url=fake.ws_base_url)
    ```

    `script` is a YAML file's path, a mapping or a `FakeScript` (see docs/fake.md). With
    `api_key`, a client presenting another key gets an `invalid_api_key` error and close 3000;
    without, any key (or none) is accepted. `dialect` overrides the script's (`auto` follows
    the client). `with FakeRealtimeAPI(...)` runs it on a background thread instead, for
    synchronous code. `on_connection` gets a `ConnectionRecord` as each connection ends;
    `on_frame(number, direction, frame)` sees every frame as it crossed the socket (the
    connection's number as in its record, "client" or "server", text as `str`); `on_problem`
    a line for a connection that failed before it started (default: the
    `rtkit.fake` logger, one warning without a traceback).
    """

    def __init__(
        self,
        script: ScriptSource | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        dialect: Literal["auto", "ga", "beta"] | None = None,
        seed: str | None = None,
        on_connection: Callable[[ConnectionRecord], None] | None = None,
        on_frame: Callable[[int, str, str | bytes], None] | None = None,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.script: FakeScript = load_script(script)
        # the path as given, told to whoever asks (rtkit.fake.info): a recording names it
        self.script_path = str(script) if isinstance(script, (str, os.PathLike)) else None
        self.host = host
        self.port = port
        self.api_key = api_key
        self.dialect = dialect or self.script.dialect
        self.seed = seed if seed is not None else self.script.seed
        self.on_connection = on_connection
        self.on_frame = on_frame
        self.on_problem = on_problem or _log.warning
        self.connections = 0
        self.records: list[ConnectionRecord] = []
        self._server: WSServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        """The realtime URL: `ws://127.0.0.1:PORT/v1/realtime`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/v1/realtime"

    @property
    def ws_base_url(self) -> str:
        """What `AsyncOpenAI(websocket_base_url=...)` takes (it appends `/realtime`)."""
        return self.url.removesuffix("/realtime")

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (port 0 picks a free port; `.port` is the real one after this)."""
        self._server = await WSServer(
            self._handle, select_subprotocol=lambda _conn, offered: select_subprotocol(offered),
            on_request=self._info, report=self._problem,
            max_size=MAX_MESSAGE).start(self.host, self.port)
        self.port = self._server.port

    async def stop(self) -> None:
        """Close every connection (1001) and stop listening."""
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def __aenter__(self) -> FakeRealtimeAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> FakeRealtimeAPI:
        loop = asyncio.new_event_loop()
        report_loop_errors(loop, self.on_problem)
        self._loop = loop
        self._thread = start_thread(loop.run_forever, "rtkit-fake")
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(30)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        self._loop = self._thread = None

    def _info(self, ws: WSConnection, request: Request, response: Response) -> Response | None:
        """`GET /rtkit/fake`, not an upgrade: which script this is (rtkit.fake.info)."""
        if request.path != INFO_PATH or response.status_code == 101:
            return None
        return ws.reject(200, json.dumps({"script": self.script_path}) + "\n")

    def _problem(self, line: str) -> None:
        """A connection that failed before it started: one line, no traceback."""
        self.on_problem(line + (_TLS_HINT if "HTTP request" in line else ""))

    # -- connections -----------------------------------------------------------------------

    def _seed(self, number: int) -> str:
        return self.seed if number == 1 else f"{self.seed}#{number}"

    async def _handle(self, ws: WSConnection) -> None:
        self.connections += 1
        request = ws.request
        assert request is not None
        offered = _offered(request.headers.get_all("Sec-WebSocket-Protocol"))
        handshake = read_handshake(request.path, dict(request.headers.raw_items()), offered,
                                   dialect=self.dialect, default_model=self.script.model,
                                   api_key=self.api_key)
        conn = FakeConnection(self.script, handshake, seed=self._seed(self.connections))
        record = ConnectionRecord(self.connections, request.path, handshake.dialect,
                                  handshake.model, ws.subprotocol, handshake.key_presented)
        failed = True
        try:
            await self._serve(ws, conn, self.connections)
            failed = False
        finally:
            record.client_events, record.server_events = conn.client_events, conn.server_events
            record.errors = conn.errors
            if handshake.refusal is not None:
                record.refused = handshake.refusal.problem.code
            if not failed:
                await ws.closed  # the close handshake, whoever started it, has ended
            close = ws.received_close
            record.close_code = close.code if close is not None else 1006
            record.close_reason = close.reason if close is not None else ""
            self.records.append(record)
            if self.on_connection is not None:
                self.on_connection(record)

    async def _serve(self, ws: WSConnection, conn: FakeConnection, number: int) -> None:
        loop = asyncio.get_running_loop()
        tap = self.on_frame

        async def send(events: list[dict[str, Any]]) -> None:
            for event in events:
                text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
                if tap is not None:
                    tap(number, "server", text)
                await ws.send_text(text.encode("utf-8"))

        await send(conn.start(loop.time()))
        if conn.close_request is not None:
            await ws.close(*conn.close_request)
            return
        while ws.open:
            deadline = conn.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            message = await ws.recv(timeout)
            if isinstance(message, Close):
                return
            if message is not None:
                if tap is not None:
                    tap(number, "client", message)
                await send(conn.receive(message, loop.time()))
            await send(conn.advance(loop.time()))


def _offered(headers: Iterable[str]) -> list[str]:
    return [p.strip() for header in headers for p in header.split(",") if p.strip()]

