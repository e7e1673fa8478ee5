"""RecordingProxy: a WebSocket proxy on 127.0.0.1 that records every connection it forwards.

Any client (the openai SDK, openai-agents, a JavaScript app, rtkit's client) connects to the
proxy with a placeholder key; the proxy opens the upstream connection with the real key,
forwards both directions, and records each connection as one episode. The upstream's answer
is passed through unchanged: a refused handshake gets the same HTTP status downstream, an
`error` event and close code (e.g. 3000 / 4000) reach the client as they were sent.

The two handshakes are made with `websockets`' sans-I/O protocols; once both are open the
proxy relays the bytes as they come (frames are valid on both links unchanged: client frames
stay masked, server frames unmasked, and no extension is negotiated) and reads the frames on
the side to record them. Recording never delays forwarding: each chunk is written onward
before it is parsed and recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import USER_AGENT, Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from rtkit.cassette import CassetteWriter, Redactor
from rtkit.cassette.redact import DROPPED_HEADERS, INSECURE_KEY_PROTOCOL
from rtkit.server.frames import CLOSE, TEXT, FrameReader

__all__ = ["DEFAULT_UPSTREAM_URL", "ProxyStatus", "RecordingProxy"]

log = logging.getLogger("rtkit")

DEFAULT_UPSTREAM_URL = "wss://api.openai.com/v1/realtime"
_AUTH_HEADERS = frozenset({"authorization", "api-key"})
_CHUNK = 1 << 16  # bytes read per relay step
_MAX_HEAD = 1 << 16  # largest HTTP handshake head accepted
_STOPPED = (1001, "rtkit record stopped")


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


class _Refused(Exception):
    """The upstream handshake failed; `status` and `body` are what the client gets."""

    def __init__(self, status: int, body: str, message: str) -> None:
        super().__init__(message)
        self.status, self.body = status, body


def _proxy_for(uri: WebSocketURI) -> str | None:
    """The proxy for `uri` from HTTPS_PROXY / HTTP_PROXY / NO_PROXY, read as websockets reads
    them (websockets < 15 has no proxy support, and neither has the proxy then)."""
    try:
        from websockets.uri import get_proxy
    except ImportError:
        return None
    return get_proxy(uri)


def _tunnel(proxy_url: str, uri: WebSocketURI, timeout: float = 15.0) -> socket.socket:
    """A socket to the upstream through an HTTP proxy (CONNECT), opened in a thread."""
    from websockets.asyncio.client import prepare_connect_request
    from websockets.uri import parse_proxy

    proxy = parse_proxy(proxy_url)
    if proxy.scheme != "http":
        raise _Refused(502, "", f"the {proxy.scheme} proxy {proxy_url} is not supported by the "
                                "recording proxy (http:// proxies are); unset it for rtkit")
    sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
    try:
        sock.sendall(prepare_connect_request(proxy, uri, USER_AGENT))
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
            data = sock.recv(4096)
            if not data:
                break
            head += data
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status.split(" ", 2)
        if len(parts) < 2 or not parts[1].startswith("2"):
            raise _Refused(502, "", f"the proxy {proxy.host}:{proxy.port} refused CONNECT to "
                                    f"{uri.host}:{uri.port}: {status or 'no answer'}")
        sock.settimeout(None)
        return sock
    except BaseException:
        sock.close()
        raise


@dataclass
class _Link:
    """One open connection's two streams."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class _Relay:
    """An open episode: both links, the side readers, and how it ended."""

    def __init__(self, conn: int, down: _Link, up: _Link) -> None:
        self.conn, self.down, self.up = conn, down, up
        self.t0 = time.monotonic()
        self.frames = {"client": FrameReader(), "server": FrameReader()}
        self.ended: tuple[str, float, int | None, str] | None = None  # by, t, code, reason

    def ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000

    def end(self, by: str, code: int | None, reason: str) -> None:
        if self.ended is None:
            self.ended = (by, self.ms(), code, reason)


class RecordingProxy:
    """Forward WebSocket connections to `upstream_url` and record them into `output_path`.

    `async with RecordingProxy("session.jsonl") as proxy:` then connect clients to `proxy.url`
    (or `AsyncOpenAI(websocket_base_url=proxy.ws_base_url)`). The key is `api_key` or the
    `OPENAI_API_KEY` environment variable; whatever key the client sent is replaced. The
    cassette is written atomically when the proxy stops. `max_connections` stops accepting
    after that many episodes (`wait_done()` returns once they have all ended).
    `on_frame(conn, direction, frame)`, when given, sees every frame relayed (text as `str`,
    binary as `bytes`) as it is forwarded, so a caller can look at a session before the
    cassette is written.
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
        self.on_frame = on_frame
        self.redactor = (redactor or Redactor()).with_secrets(self.api_key)
        self.status = ProxyStatus()
        self.failures: list[str] = []
        self._writer: CassetteWriter | None = None
        self._server: asyncio.Server | None = None
        self._next_conn = 0
        self._done = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._relays: set[_Relay] = set()
        self._next_notify = 0.0

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
            self._next_notify = time.monotonic() + 0.25  # a live line, not a flood
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
        # the client's placeholder key never goes upstream: ours replaces it, or (no key of our
        # own, e.g. a keyless loopback upstream) it is dropped like its Authorization header
        protos = [
            INSECURE_KEY_PROTOCOL + self.api_key if p.startswith(INSECURE_KEY_PROTOCOL) else p
            for p in subprotocols
            if self.api_key or not p.startswith(INSECURE_KEY_PROTOCOL)
        ]
        return url, fwd, protos

    async def _open_upstream(self, url: str, headers: dict[str, str], protocols: list[str]
                             ) -> tuple[_Link, str | None]:
        """Open the upstream WebSocket; return its link and the subprotocol it chose."""
        try:
            uri = parse_uri(url)
        except InvalidURI as exc:
            raise _Refused(502, "", f"bad upstream URL {url}: {exc}") from None
        client = ClientProtocol(uri, subprotocols=[Subprotocol(p) for p in protocols] or None,
                                max_size=None)
        request = client.connect()
        for name, value in headers.items():
            request.headers[name] = value
        request.headers["User-Agent"] = USER_AGENT
        context = ssl.create_default_context() if uri.secure else None
        via = _proxy_for(uri)
        sock = await asyncio.to_thread(_tunnel, via, uri) if via is not None else None
        reader, writer = await asyncio.open_connection(
            None if sock else uri.host, None if sock else uri.port, sock=sock, ssl=context,
            server_hostname=uri.host if context else None, limit=_MAX_HEAD)
        try:
            client.send_request(request)
            writer.write(b"".join(client.data_to_send()))
            client.receive_data(await reader.readuntil(b"\r\n\r\n"))
            events = client.events_received()
            while not events and client.handshake_exc is None:  # a refusal's body
                data = await reader.read(_CHUNK)
                if data:
                    client.receive_data(data)
                else:
                    client.receive_eof()
                events = client.events_received()
        except BaseException:
            writer.close()
            raise
        exc = client.handshake_exc
        if exc is not None:
            writer.close()
            if isinstance(exc, InvalidStatus):
                status = exc.response.status_code
                body = bytes(exc.response.body or b"").decode("utf-8", "replace")
                raise _Refused(status, body, f"upstream {url} refused the handshake with "
                                             f"HTTP {status}")
            raise _Refused(502, "", f"cannot reach upstream {url}: {exc}")
        return _Link(reader, writer), client.subprotocol

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve(_Link(reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ssl.SSLError) as exc:
            log.debug("rtkit proxy: connection ended: %r", exc)
        finally:
            if not writer.is_closing():
                writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def _serve(self, down: _Link) -> None:
        head = await asyncio.wait_for(down.reader.readuntil(b"\r\n\r\n"), self.open_timeout)
        chosen: list[str | None] = [None]
        server = ServerProtocol(max_size=None,
                                select_subprotocol=lambda _p, offered:  # type: ignore[arg-type,return-value]
                                chosen[0] if chosen[0] in offered else None)
        server.receive_data(head)
        events = server.events_received()
        if not events:
            return  # not an HTTP request
        request = events[0]
        assert isinstance(request, Request)

        def respond(response: Response) -> None:
            server.send_response(response)
            down.writer.write(b"".join(server.data_to_send()))

        check = server.accept(request)  # the client's own handshake, before going upstream
        if check.status_code != 101:
            respond(check)
            return
        if self.max_connections is not None and self._next_conn >= self.max_connections:
            respond(server.reject(HTTPStatus.SERVICE_UNAVAILABLE,
                                  "rtkit record: --max-connections reached\n"))
            return
        writer = self._writer
        if writer is None:
            respond(server.reject(HTTPStatus.SERVICE_UNAVAILABLE, "rtkit record: stopping\n"))
            return
        conn = self._next_conn
        self._next_conn += 1
        parts = urlsplit(request.path)
        headers = {k: v for k, v in request.headers.raw_items()}
        offered = [p.strip() for v in request.headers.get_all("Sec-WebSocket-Protocol")
                   for p in v.split(",") if p.strip()]
        url, fwd, protos = self._upstream_request(parts.path, parts.query, headers, offered)
        try:
            up, chosen[0] = await asyncio.wait_for(self._open_upstream(url, fwd, protos),
                                                   self.open_timeout)
        except (_Refused, OSError, asyncio.TimeoutError, InvalidHandshake) as exc:
            if isinstance(exc, _Refused):
                status, body, message = exc.status, exc.body, str(exc)
            else:
                status = 504 if isinstance(exc, asyncio.TimeoutError) else 502
                message = f"cannot reach upstream {url}: {exc or type(exc).__name__}"
                body = ""
            self.failures.append(message)
            log.warning("rtkit proxy: %s", message)
            try:
                http_status = HTTPStatus(status)
            except ValueError:  # a status http.HTTPStatus does not know
                http_status = HTTPStatus.BAD_GATEWAY
            respond(server.reject(http_status, body or message + "\n"))
            writer.connect(conn, path=parts.path, query=parts.query, headers=headers,
                           subprotocols=offered, status=status)
            writer.close(conn, 0.0, None, message, "server")
            self._episode_ended()
            return
        respond(server.accept(request))  # now with the subprotocol the upstream chose
        await self._relay(_Relay(conn, down, up), writer, parts.path, parts.query, headers,
                          offered, chosen[0])

    async def _relay(self, relay: _Relay, writer: CassetteWriter, path: str, query: str,
                     headers: dict[str, str], offered: list[str], chosen: str | None) -> None:
        conn = relay.conn
        writer.connect(conn, path=path, query=query, headers=headers, subprotocols=offered,
                       status=101, selected_subprotocol=chosen)
        self.status.open += 1
        self._relays.add(relay)
        self._notify()
        tasks = [asyncio.create_task(self._pump(relay, "client", writer)),
                 asyncio.create_task(self._pump(relay, "server", writer))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            # the close handshake, if any, has been forwarded: let the other side finish
            await asyncio.wait(tasks, timeout=5)
        finally:
            for t in tasks:
                t.cancel()
            for link in (relay.down, relay.up):
                link.writer.close()
            by, t, code, reason = relay.ended or ("client", relay.ms(), None, "")
            writer.close(conn, t, code, reason, by)
            self._relays.discard(relay)
            self.status.open -= 1
            self._episode_ended()

    async def _pump(self, relay: _Relay, direction: str, writer: CassetteWriter) -> None:
        """Forward one direction chunk by chunk; record the frames each chunk completes."""
        src, dst = (relay.down, relay.up) if direction == "client" else (relay.up, relay.down)
        frames = relay.frames[direction]
        conn, status, tap = relay.conn, self.status, self.on_frame
        try:
            while True:
                data = await src.reader.read(_CHUNK)
                if not data:
                    break
                dst.writer.write(data)  # forward first: recording adds no latency
                t = relay.ms()
                for message in frames.feed(data):
                    opcode = message.opcode
                    if opcode == CLOSE:
                        relay.end(direction, message.code, message.reason)
                        continue
                    if opcode == TEXT:
                        writer.text_event(conn, direction, t, message.buf, message.start,
                                          message.end)
                        if tap is not None:
                            tap(conn, direction, bytes(message.buf[message.start:message.end])
                                .decode("utf-8", "replace"))
                    else:
                        writer.event(conn, direction, t, message.data)
                        if tap is not None:
                            tap(conn, direction, bytes(message.data))
                    status.events += 1
                if direction == "server":
                    status.audio_bytes = writer.audio_out_chars * 3 // 4
                if self.on_status is not None and time.monotonic() >= self._next_notify:
                    self._notify()
                await dst.writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        # this side is gone: if it left without a close frame, the episode ends with a drop
        relay.end(direction, None, "")
        if not dst.writer.is_closing():
            dst.writer.close()

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
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _going_away(self, relay: _Relay) -> None:
        """Close an open episode as a server going away would: 1001 to both sides, where
        the stream is between frames (else the connection is just dropped)."""
        code, reason = _STOPPED
        relay.end("client", code, reason)
        payload = Close(code, reason).serialize()
        for link, direction, mask in ((relay.down, "server", False), (relay.up, "client", True)):
            if relay.frames[direction].at_boundary and not link.writer.is_closing():
                link.writer.write(Frame(Opcode.CLOSE, payload).serialize(mask=mask))

    async def stop(self) -> None:
        """Stop listening, end open connections (1001), and write the cassette."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for relay in list(self._relays):
            self._going_away(relay)
        if self._handlers:
            _, late = await asyncio.wait(list(self._handlers), timeout=5)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.commit()

    async def __aenter__(self) -> RecordingProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
