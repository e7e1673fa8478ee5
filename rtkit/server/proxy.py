"""RecordingProxy: a WebSocket proxy on 127.0.0.1 that records every connection it forwards.

Any client (the openai SDK, openai-agents, a JavaScript app, rtkit's client) connects to the
proxy with a placeholder key; the proxy opens the upstream connection with the real key,
forwards both directions, and records each connection as one episode. The upstream's answer
is passed through unchanged: a refused handshake gets the same HTTP status downstream, an
`error` event and close code (e.g. 3000 / 4000) reach the client as they were sent.

The two handshakes are made with `websockets`' sans-I/O protocols; once both are open the
proxy relays the bytes as they come (`rtkit.server.relay`: frames are valid on both links
unchanged, client frames stay masked, server frames unmasked, no extension is negotiated) and
reads the frames on the side to record them. Recording never delays or stops forwarding: each
chunk is written onward before it is parsed and recorded, and a frame that cannot be recorded
(or a cassette that can no longer be written) is reported, never a reason to drop a frame.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import InvalidHandshake
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from rtkit.cassette import CassetteWriter, Redactor
from rtkit.cassette.redact import url_secrets
from rtkit.errors import CassetteError
from rtkit.server.frames import CLOSE, TEXT, FrameReader, close_frame
from rtkit.server.relay import Relay, Side
from rtkit.server.upstream import MAX_HEAD, Refused, open_upstream, upstream_request

__all__ = ["DEFAULT_UPSTREAM_URL", "ProxyStatus", "RecordingProxy"]

log = logging.getLogger("rtkit")

DEFAULT_UPSTREAM_URL = "wss://api.openai.com/v1/realtime"
_STOPPED = (1001, "rtkit record stopped")
_STATUS_EVERY = 0.25  # seconds between two status updates while streaming


@dataclass
class ProxyStatus:
    """Running totals, for a live status line."""

    episodes: int = 0
    open: int = 0
    events: int = 0
    audio_bytes: int = 0
    audio_seconds: float = 0.0
    """Seconds of output audio seen so far, at each session's output format (G.711: 8 kHz)."""

    def line(self) -> str:
        """A one-line summary."""
        return (f"episodes {self.episodes} (open {self.open}) · events {self.events} · "
                f"audio {self.audio_seconds:.1f} s")


class _Episode:
    """One relayed connection as it is recorded: its frame readers and how it ended."""

    def __init__(self, proxy: RecordingProxy, conn: int) -> None:
        self.proxy, self.conn = proxy, conn
        self.frames = {"client": FrameReader(), "server": FrameReader()}
        self.ended: tuple[str, int | None, str] | None = None  # by, code, reason
        self.relay: Relay | None = None

    def end(self, by: str, code: int | None, reason: str) -> None:
        if self.ended is None:
            self.ended = (by, code, reason)

    def tap(self, direction: str, data: bytes) -> None:
        """Record the frames `data` completes (it has already been forwarded)."""
        messages = self.frames[direction].feed(data)
        if not messages:
            return
        proxy = self.proxy
        assert self.relay is not None
        t = self.relay.ms()
        writer = proxy._writer if proxy.write_error is None else None
        conn, status, on_frame = self.conn, proxy.status, proxy.on_frame
        for message in messages:
            opcode = message.opcode
            if opcode == CLOSE:
                self.end(direction, message.code, message.reason)
                continue
            status.events += 1
            if on_frame is not None:
                try:
                    on_frame(conn, direction, bytes(message.data).decode("utf-8", "replace")
                             if opcode == TEXT else bytes(message.data))
                except Exception as exc:  # reported; relaying goes on
                    proxy._record_failed(conn, direction, exc, message.data[:80])
            if writer is None:
                continue
            try:
                if opcode == TEXT:
                    writer.text_event(conn, direction, t, message.buf, message.start,
                                      message.end)
                else:
                    writer.event(conn, direction, t, message.data)
            except Exception as exc:  # reported; relaying goes on
                proxy._record_failed(conn, direction, exc, message.data[:80])
                if proxy.write_error is not None:
                    writer = None
        if writer is not None and direction == "server":
            status.audio_bytes = writer.audio_out_chars * 3 // 4
            status.audio_seconds = writer.audio_out_seconds
        proxy._status_changed()


class RecordingProxy:
    """Forward WebSocket connections to `upstream_url` and record them into `output_path`.

    `async with RecordingProxy("session.jsonl") as proxy:` then connect clients to `proxy.url`
    (or `AsyncOpenAI(websocket_base_url=proxy.ws_base_url)`). The key is `api_key` or the
    `OPENAI_API_KEY` environment variable; whatever key the client sent is replaced. The
    cassette is written atomically when the proxy stops. `max_connections` stops accepting
    after that many episodes (`wait_done()` returns once they have all ended).
    `on_frame(conn, direction, frame)`, when given, sees every frame relayed (text as `str`,
    binary as `bytes`) before it is forwarded, so a caller can look at a session before the
    cassette is written, and a client that has received a frame finds it there.

    `upstream_auth` says how the key is sent upstream: `auto` (an `api-key` header for
    `*.openai.azure.com`, else `Authorization: Bearer`), `bearer` or `api-key`. Neither is
    recorded, nor the credentials the upstream URL carries (`?api-key=`, a password): they
    are live secrets, replaced wherever they appear and refused by the final scan.

    What went wrong is kept, not raised mid-session: `failures` lists refused or unreachable
    upstream handshakes (redacted: they are printed), `errors` frames that could not be
    recorded, and `write_error` is the error that stopped the cassette being written (open
    connections are still relayed, new ones are refused; `stop()` keeps what was written and
    raises `CassetteError`).
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
        on_frame: Callable[[int, str, str | bytes], None] | None = None,
        upstream_auth: str = "auto",
    ) -> None:
        from rtkit.server.upstream import auth_form

        self.path = os.fspath(output_path)
        self.upstream_url = upstream_url
        self.upstream_auth = auth_form(upstream_url, upstream_auth)
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.host = host
        self.port = port
        self.append = append
        self.max_connections = max_connections
        self.meta = meta
        self.open_timeout = open_timeout
        self.on_status = on_status
        self.on_frame = on_frame
        self.redactor = (redactor or Redactor()).with_secrets(self.api_key,
                                                              *url_secrets(upstream_url))
        self.status = ProxyStatus()
        self.failures: list[str] = []
        self.errors: list[str] = []
        self.write_error: OSError | None = None
        self._writer: CassetteWriter | None = None
        self._server: asyncio.Server | None = None
        self._next_conn = 0
        self._done = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._episodes: dict[int, _Episode] = {}
        self._status_timer: asyncio.TimerHandle | None = None
        self._status_failed = False

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

    # -- status and failures ---------------------------------------------------------------

    def _notify(self) -> None:
        """Call `on_status` now; a failing callback is logged once and never stops anything."""
        self._status_timer = None
        if self.on_status is None:
            return
        try:
            self.on_status(self.status)
        except Exception as exc:  # e.g. a terminal that cannot take the line
            if not self._status_failed:
                self._status_failed = True
                log.warning("rtkit proxy: the status callback failed (%r); relaying goes on",
                            exc)

    def _status_changed(self, now: bool = False) -> None:
        """Schedule a status update: at once, or at most every 0.25 s while streaming."""
        if self.on_status is None or (self._status_timer is not None and not now):
            return
        loop = asyncio.get_running_loop()
        if now:
            if self._status_timer is not None:
                self._status_timer.cancel()
            self._status_timer = loop.call_soon(self._notify)  # type: ignore[assignment]
        elif self._status_timer is None:
            self._status_timer = loop.call_later(_STATUS_EVERY, self._notify)

    def _record_failed(self, conn: int, direction: str, exc: BaseException,
                       sample: bytes = b"") -> None:
        """A frame could not be recorded: keep relaying, report it."""
        if isinstance(exc, OSError):
            if self.write_error is None:
                self.write_error = exc
                log.error("rtkit proxy: cannot write %s (%s): recording stopped; open "
                          "connections are still relayed, new ones are refused",
                          self.path, exc.strerror or exc)
            return
        what = self.redactor.message(sample.decode("utf-8", "replace"))
        message = (f"conn {conn}: a {direction} frame could not be recorded "
                   f"({type(exc).__name__}: {exc}): {what!r}")
        self.errors.append(message)
        log.error("rtkit proxy: %s", message)

    # -- handshake -------------------------------------------------------------------------

    def _accepted(self, side: Side) -> None:
        task = asyncio.ensure_future(self._handle(side))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _handle(self, down: Side) -> None:
        try:
            await self._serve(down)
        except Exception as exc:  # one connection's failure ends only it
            # one line, no traceback: this may run on a background thread (rtkit.threads)
            log.error("rtkit proxy: a connection failed: %s: %s", type(exc).__name__, exc)
            down.abort()

    async def _serve(self, down: Side) -> None:
        try:
            head = await asyncio.wait_for(down.read_until(b"\r\n\r\n", MAX_HEAD),
                                          self.open_timeout)
        except TimeoutError:
            head = None
        if head is None:  # no HTTP request: a port scan, a dropped or silent client
            down.abort()
            return
        chosen: list[str | None] = [None]
        server = ServerProtocol(max_size=None,
                                select_subprotocol=lambda _p, offered:  # type: ignore[arg-type,return-value]
                                chosen[0] if chosen[0] in offered else None)
        server.receive_data(head)
        events = server.events_received()
        if not events or not isinstance(events[0], Request):
            down.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close"
                       b"\r\n\r\n")
            down.close()
            return
        request = events[0]

        def respond(response: Response) -> None:
            server.send_response(response)
            down.write(b"".join(server.data_to_send()))

        check = server.accept(request)  # the client's own handshake, before going upstream
        if check.status_code != 101:
            respond(check)
            down.close()
            return
        refusal = self._refusal()
        if refusal is not None:
            respond(server.reject(HTTPStatus.SERVICE_UNAVAILABLE, refusal))
            down.close()
            return
        conn = self._next_conn
        self._next_conn += 1
        parts = urlsplit(request.path)
        headers = {k: v for k, v in request.headers.raw_items()}
        offered = [p.strip() for v in request.headers.get_all("Sec-WebSocket-Protocol")
                   for p in v.split(",") if p.strip()]
        url, fwd, protos = upstream_request(self.upstream_url, self.api_key, parts.path,
                                            parts.query, headers, offered, self.upstream_auth)
        record = {"path": parts.path, "query": parts.query, "headers": headers,
                  "subprotocols": offered}
        try:
            up, chosen[0] = await asyncio.wait_for(open_upstream(url, fwd, protos),
                                                   self.open_timeout)
        except (TimeoutError, Refused, OSError, InvalidHandshake) as exc:
            if isinstance(exc, Refused):
                status, body, message = exc.status, exc.body, str(exc)
            else:
                status = 504 if isinstance(exc, asyncio.TimeoutError) else 502
                message = f"cannot reach upstream {url}: {exc or type(exc).__name__}"
                body = ""
            # printed and recorded: never with the URL's key in it (the body is the
            # upstream's own answer, passed through as it is)
            message = self.redactor.message(message)
            self.failures.append(message)
            log.warning("rtkit proxy: %s", message)
            try:
                http_status = HTTPStatus(status)
            except ValueError:  # a status http.HTTPStatus does not know
                http_status = HTTPStatus.BAD_GATEWAY
            respond(server.reject(http_status, body or message + "\n"))
            down.close()

            def refused(writer: CassetteWriter) -> None:
                writer.connect(conn, **record, status=status)
                writer.close(conn, 0.0, None, message, "server")

            self._record(refused, conn)
            self._episode_ended()
            return
        respond(server.accept(request))  # now with the subprotocol the upstream chose
        await self._relay(conn, down, up, record, chosen[0])

    def _refusal(self) -> str | None:
        """Why a new connection cannot be recorded now, if it cannot."""
        if self.max_connections is not None and self._next_conn >= self.max_connections:
            return "rtkit record: --max-connections reached\n"
        if self._writer is None:
            return "rtkit record: stopping\n"
        if self.write_error is None and self._writer.write_error is not None:
            self._record_failed(self._next_conn, "client", self._writer.write_error)
        if self.write_error is not None:
            return (f"rtkit record: cannot record: writing {self.path} failed "
                    f"({self.write_error.strerror or self.write_error})\n")
        return None

    def _record(self, write: Callable[[CassetteWriter], Any], conn: int) -> None:
        """Run one recording step outside the relay's tap, with the same failure handling."""
        writer = self._writer
        if writer is None or self.write_error is not None:
            return
        try:
            write(writer)
        except Exception as exc:  # reported; relaying goes on
            self._record_failed(conn, "client", exc)

    # -- relaying --------------------------------------------------------------------------

    async def _relay(self, conn: int, down: Side, up: Side, record: dict[str, Any],
                     chosen: str | None) -> None:
        episode = _Episode(self, conn)
        self._record(lambda w: w.connect(conn, **record, status=101,
                                         selected_subprotocol=chosen), conn)
        relay = Relay(down, up, episode.tap,
                      lambda direction, exc: self._record_failed(conn, direction, exc),
                      tap_first=self.on_frame is not None)
        episode.relay = relay
        self._episodes[conn] = episode
        self.status.open += 1
        self._status_changed(now=True)
        try:
            relay.start()
            await relay.done
        finally:
            down.abort()
            up.abort()
            by, code, reason = episode.ended or (relay.first_to_end or "client", None, "")
            t = relay.ms()
            self._record(lambda w: w.close(conn, t, code, reason, by), conn)
            del self._episodes[conn]
            self.status.open -= 1
            self._episode_ended()

    def _episode_ended(self) -> None:
        self.status.episodes += 1
        self._status_changed(now=True)
        if self.max_connections is not None and self.status.episodes >= self.max_connections:
            self._done.set()

    # -- lifecycle -------------------------------------------------------------------------

    async def wait_done(self) -> None:
        """Wait until `max_connections` episodes have been recorded."""
        await self._done.wait()

    async def start(self) -> RecordingProxy:
        """Check that the cassette can be written, open it and start listening."""
        if os.path.isdir(self.path):
            raise CassetteError(f"{self.path}: is a directory, not a cassette file")
        try:
            self._writer = CassetteWriter(
                self.path, redactor=self.redactor, append=self.append,
                meta={"recorded_by": "rtkit.RecordingProxy", "upstream": self.upstream_url,
                      **(self.meta or {})})
        except OSError as exc:
            raise CassetteError(f"{self.path}: cannot write the cassette there: "
                                f"{exc.strerror or exc}") from None
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: Side("client", on_connect=self._accepted), self.host, self.port)
        except BaseException:
            self._writer.abort()
            self._writer = None
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _going_away(self, episode: _Episode) -> None:
        """Close an open episode as a server going away would: 1001 to both sides, where
        the stream is between frames (else the connection is just dropped)."""
        code, reason = _STOPPED
        episode.end("client", code, reason)
        relay = episode.relay
        if relay is None:
            return
        for side, direction, mask in ((relay.down, "server", False), (relay.up, "client", True)):
            if episode.frames[direction].at_boundary:
                side.write(close_frame(code, reason, mask=mask))
            else:
                side.abort()

    async def stop(self) -> None:
        """Stop listening, end open connections (1001), and write the cassette.

        Raises `CassetteError` when the cassette could not be written in full (what was
        written before the failure is kept) or would hold a live secret."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for episode in list(self._episodes.values()):
            self._going_away(episode)
        if self._handlers:
            _, late = await asyncio.wait(list(self._handlers), timeout=5)
            for episode in list(self._episodes.values()):  # they had 5 s to close
                if episode.relay is not None:
                    episode.relay.down.abort()
                    episode.relay.up.abort()
            if late:
                _, late = await asyncio.wait(late, timeout=5)
            for task in late:
                task.cancel()
        if self._status_timer is not None:
            self._status_timer.cancel()
        self._notify()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.commit()

    async def __aenter__(self) -> RecordingProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

