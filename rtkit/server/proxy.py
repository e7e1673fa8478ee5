"""RecordingProxy: a WebSocket proxy on 127.0.0.1 that records every connection it forwards.

Any client (the openai SDK, openai-agents, a JavaScript app, rtkit's client) connects to the
proxy with a placeholder key; the proxy opens the upstream connection with the real key,
forwards both directions, and records each connection as one episode. The upstream's answer
is passed through unchanged: a refused handshake gets the same HTTP status downstream, an
`error` event and close code (e.g. 3000 / 4000) reach the client as they were sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from rtkit.cassette import CassetteWriter, Redactor
from rtkit.cassette.redact import DROPPED_HEADERS, INSECURE_KEY_PROTOCOL
from rtkit.transport.websocket import close_like

__all__ = ["DEFAULT_UPSTREAM_URL", "ProxyStatus", "RecordingProxy"]

log = logging.getLogger("rtkit")

DEFAULT_UPSTREAM_URL = "wss://api.openai.com/v1/realtime"
_AUTH_HEADERS = frozenset({"authorization", "api-key"})


@dataclass
class ProxyStatus:
    """Running totals, for a live status line."""

    episodes: int = 0
    open: int = 0
    events: int = 0
    audio_bytes: int = 0

    @property
    def audio_seconds(self) -> float:
        """Seconds of PCM16 24 kHz output audio seen so far."""
        return self.audio_bytes / 48000

    def line(self) -> str:
        """A one-line summary."""
        return (f"episodes {self.episodes} (open {self.open}) · events {self.events} · "
                f"audio {self.audio_seconds:.1f} s")


def _audio_delta_bytes(text: str) -> int:
    start = text.find('"delta":"')
    if start < 0:
        return 0
    end = text.find('"', start + 9)
    return max(end - start - 9, 0) * 3 // 4


class _Pending:
    """An upstream connection opened during a downstream handshake."""

    def __init__(self, conn: int, upstream: ClientConnection | None, status: int,
                 path: str, query: str, headers: dict[str, str], subprotocols: list[str]) -> None:
        self.conn, self.upstream, self.status = conn, upstream, status
        self.path, self.query, self.headers, self.subprotocols = path, query, headers, subprotocols


class RecordingProxy:
    """Forward WebSocket connections to `upstream_url` and record them into `output_path`.

    `async with RecordingProxy("session.jsonl") as proxy:` then connect clients to `proxy.url`
    (or `AsyncOpenAI(websocket_base_url=proxy.ws_base_url)`). The key is `api_key` or the
    `OPENAI_API_KEY` environment variable; whatever key the client sent is replaced. The
    cassette is written atomically when the proxy stops. `max_connections` stops accepting
    after that many episodes (`wait_done()` returns once they have all ended).
    """

    def __init__(
        self,
        output_path: str | os.PathLike[str],
        *,
        upstream_url: str = DEFAULT_UPSTREAM_URL,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        append: bool = False,
        redactor: Redactor | None = None,
        max_connections: int | None = None,
        meta: dict[str, Any] | None = None,
        open_timeout: float = 15.0,
        on_status: Callable[[ProxyStatus], None] | None = None,
    ) -> None:
        self.path = os.fspath(output_path)
        self.upstream_url = upstream_url
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.host = host
        self.port = port
        self.append = append
        self.max_connections = max_connections
        self.meta = meta
        self.open_timeout = open_timeout
        self.on_status = on_status
        base = redactor or Redactor()
        self.redactor = Redactor(
            extra_headers=base.secret_headers, patterns=base.patterns,
            before_record_event=base.before_record_event,
            secrets=[*base.secrets, *([self.api_key] if self.api_key else [])],
        )
        self.status = ProxyStatus()
        self.failures: list[str] = []
        self._writer: CassetteWriter | None = None
        self._server: Server | None = None
        self._pending: dict[int, _Pending] = {}
        self._next_conn = 0
        self._done = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        """The realtime URL clients should use."""
        return f"ws://{self.host}:{self.port}{urlsplit(self.upstream_url).path or '/v1/realtime'}"

    @property
    def ws_base_url(self) -> str:
        """What `AsyncOpenAI(websocket_base_url=...)` takes (it appends `/realtime`)."""
        return self.url.removesuffix("/realtime")

    @property
    def episodes(self) -> int:
        """Connections recorded so far."""
        return self.status.episodes

    def _notify(self) -> None:
        if self.on_status is not None:
            self.on_status(self.status)

    # -- handshake -------------------------------------------------------------------------

    def _upstream_request(self, path: str, query: str, headers: dict[str, str],
                          subprotocols: list[str]) -> tuple[str, dict[str, str], list[str]]:
        up = urlsplit(self.upstream_url)
        params = parse_qsl(up.query, keep_blank_values=True)
        names = {k for k, _ in params}
        params += [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in names]
        url = urlunsplit(up._replace(query=urlencode(params, safe="/:-_.")))
        fwd = {k: v for k, v in headers.items()
               if k.lower() not in DROPPED_HEADERS and k.lower() not in _AUTH_HEADERS
               and k.lower() not in ("origin", "user-agent")}
        if self.api_key:
            fwd["Authorization"] = f"Bearer {self.api_key}"
        protos = [
            INSECURE_KEY_PROTOCOL + self.api_key
            if p.startswith(INSECURE_KEY_PROTOCOL) and self.api_key else p
            for p in subprotocols
        ]
        return url, fwd, protos

    async def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.max_connections is not None and self._next_conn >= self.max_connections:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                                      "rtkit record: --max-connections reached\n")
        conn = self._next_conn
        self._next_conn += 1
        parts = urlsplit(request.path)
        headers = {k: v for k, v in request.headers.raw_items()}
        offered = [p.strip() for v in request.headers.get_all("Sec-WebSocket-Protocol")
                   for p in v.split(",") if p.strip()]
        url, fwd, protos = self._upstream_request(parts.path, parts.query, headers, offered)
        pending = _Pending(conn, None, 101, parts.path, parts.query, headers, offered)
        self._pending[id(connection)] = pending
        try:
            pending.upstream = await connect(
                url, additional_headers=fwd, subprotocols=protos or None,  # type: ignore[arg-type]
                open_timeout=self.open_timeout, max_size=None, compression=None,
            )
            return None
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = bytes(exc.response.body or b"")
            message = f"upstream {url} refused the handshake with HTTP {status}"
            response = connection.respond(HTTPStatus(status), body.decode("utf-8", "replace")
                                          or message + "\n")
        except (OSError, asyncio.TimeoutError, InvalidHandshake) as exc:
            status = 504 if isinstance(exc, asyncio.TimeoutError) else 502
            message = f"cannot reach upstream {url}: {exc or type(exc).__name__}"
            response = connection.respond(HTTPStatus(status), message + "\n")
        pending.status = status
        self.failures.append(message)
        log.warning("rtkit proxy: %s", message)
        self._record_refusal(pending, message)
        return response

    def _record_refusal(self, pending: _Pending, message: str) -> None:
        writer = self._writer
        if writer is None:
            return
        writer.connect(pending.conn, path=pending.path, query=pending.query,
                       headers=pending.headers, subprotocols=pending.subprotocols,
                       status=pending.status)
        writer.close(pending.conn, 0.0, None, message, "server")
        self._pending = {k: v for k, v in self._pending.items() if v is not pending}
        self._episode_ended()

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> str | None:
        pending = self._pending.get(id(connection))
        chosen = pending.upstream.subprotocol if pending and pending.upstream else None
        return chosen if chosen in (offered or ()) else None

    # -- forwarding ------------------------------------------------------------------------

    async def _handle(self, downstream: ServerConnection) -> None:
        pending = self._pending.pop(id(downstream), None)
        if pending is None or pending.upstream is None or self._writer is None:
            return
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        writer, upstream, conn = self._writer, pending.upstream, pending.conn
        t0 = time.monotonic()
        writer.connect(conn, path=pending.path, query=pending.query, headers=pending.headers,
                       subprotocols=pending.subprotocols, status=101,
                       selected_subprotocol=upstream.subprotocol)
        self.status.open += 1
        self._notify()
        ended: dict[str, Any] = {}

        async def pump(src: Any, dst: Any, direction: str) -> None:
            try:
                async for message in src:
                    t = (time.monotonic() - t0) * 1000
                    try:  # forward first: recording adds no latency
                        await dst.send(message)
                        delivered = True
                    except ConnectionClosed:
                        delivered = False
                    writer.event(conn, direction, t, message)  # sent by src either way
                    self.status.events += 1
                    if direction == "server" and isinstance(message, str) \
                            and 'audio.delta"' in message[:200]:
                        self.status.audio_bytes += _audio_delta_bytes(message)
                    if not delivered:
                        break
            except ConnectionClosed:
                pass
            if "by" not in ended:
                ended["by"] = direction
                ended["close"] = src.close_code, src.close_reason
                ended["t"] = (time.monotonic() - t0) * 1000

        tasks = [asyncio.create_task(pump(downstream, upstream, "client")),
                 asyncio.create_task(pump(upstream, downstream, "server"))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            by = ended.get("by", "client")
            code, reason = ended.get("close", (1000, ""))
            other = upstream if by == "client" else downstream
            if code == 1006:  # dropped without a close frame: mirror the drop
                code = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(close_like(other, code, reason or ""), 5)
            await asyncio.wait(tasks, timeout=5)
            writer.close(conn, ended.get("t", (time.monotonic() - t0) * 1000), code,
                         reason or "", by)
        finally:
            for t in tasks:
                t.cancel()
            self.status.open -= 1
            self._episode_ended()
            if task is not None:
                self._handlers.discard(task)

    def _episode_ended(self) -> None:
        self.status.episodes += 1
        self._notify()
        if self.max_connections is not None and self.status.episodes >= self.max_connections:
            self._done.set()

    # -- lifecycle -------------------------------------------------------------------------

    async def wait_done(self) -> None:
        """Wait until `max_connections` episodes have been recorded."""
        await self._done.wait()

    async def start(self) -> RecordingProxy:
        """Open the cassette and start listening."""
        self._writer = CassetteWriter(self.path, redactor=self.redactor, append=self.append,
                                      meta={"recorded_by": "rtkit.RecordingProxy",
                                            "upstream": self.upstream_url, **(self.meta or {})})
        self._server = await serve(self._handle, self.host, self.port,
                                   process_request=self._process_request,
                                   select_subprotocol=self._select_subprotocol,
                                   max_size=None, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening, end open connections, and write the cassette."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 10)
            self._server = None
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        for pending in self._pending.values():
            if pending.upstream is not None:
                await pending.upstream.close()
        self._pending.clear()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.commit()

    async def __aenter__(self) -> RecordingProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
