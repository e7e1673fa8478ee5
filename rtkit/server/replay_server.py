"""ReplayServer: a fake Realtime server on 127.0.0.1 that replays a cassette."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from rtkit.cassette import Cassette, Episode
from rtkit.errors import CassetteError, ReplayError
from rtkit.replay.player import DEFAULT_MAX_MESSAGE, CassettePlayer, LinkStalled, drive
from rtkit.server.wsserver import Stalled, WSConnection, WSServer
from rtkit.threads import preload
from rtkit.transport.base import Close

__all__ = ["ReplayServer"]


class _Link:
    """The driver's link over one connection of rtkit's WebSocket shell
    (`rtkit.server.wsserver`): recorded events go out in ~64 KB writes; a client that reads
    nothing for `timeout` seconds while events are due makes a send raise `LinkStalled`."""

    def __init__(self, connection: WSConnection, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        return await self.connection.recv(timeout)

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if isinstance(data, str):
            data, text = data.encode("utf-8"), True
        connection = self.connection
        try:
            if text:
                await connection.send_text(data, self.timeout)
            else:
                await connection.send_binary(data, self.timeout)
        except Stalled:
            raise LinkStalled from None

    async def send_run(self, payloads: Sequence[bytes | memoryview]) -> None:
        """Send these text payloads (UTF-8 bytes) in order."""
        try:
            await self.connection.send_texts(payloads, self.timeout)
        except Stalled:
            raise LinkStalled from None

    async def close(self, code: int | None, reason: str) -> None:
        await self.connection.close(code, reason, self.timeout)


FrameTap = Callable[[int, str, "str | bytes"], None]


class _TappedLink(_Link):
    """A link that also reports every frame, both directions, to `tap(conn, dir, frame)`
    (text frames as `str`, binary ones as `bytes`), before it is handled or sent; recorded
    events sent in runs are reported one by one."""

    def __init__(self, connection: WSConnection, timeout: float, conn: int,
                 tap: FrameTap) -> None:
        super().__init__(connection, timeout)
        self.conn, self.tap = conn, tap

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        frame = await super().recv(timeout)
        if isinstance(frame, (str, bytes)):
            self.tap(self.conn, "client", frame)
        return frame

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if not isinstance(data, str) and not text:  # a binary frame (text goes via send_run)
            self.tap(self.conn, "server", bytes(data))
        await super().send(data, text)

    async def send_run(self, payloads: Sequence[bytes | memoryview]) -> None:
        for data in payloads:
            self.tap(self.conn, "server", bytes(data).decode("utf-8", "replace"))
        await super().send_run(payloads)


class ReplayServer:
    """Serves a cassette over real WebSockets, one recorded episode per incoming connection.

    `async with ReplayServer("session.jsonl") as server:` then point any client at
    `server.url` (`ws://127.0.0.1:PORT/v1/realtime`), or give the openai SDK
    `websocket_base_url=server.ws_base_url`. Options are those of `CassettePlayer.open`:
    `pace`, `audio_match`, `ignore_paths`, `matchers`, `match_on`, `timeout`, `unplayed`,
    `record_mode`, `max_message`, `lazy`, `log`. `on_frame(conn, direction, frame)`, when
    given, sees every frame exchanged (text as `str`, binary as `bytes`) as it happens. After
    the block, mismatches are in `errors` and `check()` raises the first; on exit the unplayed
    policy is applied (when the block did not raise). When the block raised (typically the
    client's timeout) after a mismatch, the mismatch is raised from it, since it is the cause.

    An episode is chosen only once a request is a valid WebSocket upgrade: anything else (a
    health check, curl) gets websockets' 426 and uses up nothing. A lazily loaded cassette
    (`lazy=True`) serves at once and is indexed in a background thread; a problem found there
    is in `cassette_error` (and logged).
    """

    def __init__(
        self,
        cassette: Cassette | str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_frame: FrameTap | None = None,
        **options: Any,
    ) -> None:
        self.player = CassettePlayer.open(cassette, **options)
        self.on_frame = on_frame
        self.host = host
        self.port = port
        self._server: WSServer | None = None
        self._episodes: dict[int, tuple[Episode, str]] = {}
        self._indexer: asyncio.Future[None] | None = None
        self._stopping = False
        self.cassette_error: CassetteError | None = None

    # -- what tests read -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The full realtime URL (`ws://127.0.0.1:PORT/v1/realtime`)."""
        return f"ws://{self.host}:{self.port}/v1/realtime"

    @property
    def ws_base_url(self) -> str:
        """What `AsyncOpenAI(websocket_base_url=...)` takes (it appends `/realtime`)."""
        return f"ws://{self.host}:{self.port}/v1"

    @property
    def cassette(self) -> Cassette:
        """The cassette being replayed."""
        return self.player.cassette

    @property
    def errors(self) -> list[ReplayError]:
        """Mismatches, timeouts and unmatched connections so far."""
        return self.player.errors

    @property
    def played(self) -> list[int]:
        """Episodes (conn numbers) served so far."""
        return self.player.played

    @property
    def unplayed(self) -> list[int]:
        """Episodes not served yet."""
        return self.player.unplayed_episodes

    def check(self) -> None:
        """Raise the first replay error, if any."""
        self.player.check()

    raise_errors = check

    # -- serving ---------------------------------------------------------------------------

    def _select_subprotocol(self, connection: WSConnection,
                            subprotocols: Sequence[str]) -> str | None:
        if not subprotocols:
            return None
        request = connection.request
        episode = None
        if request is not None:
            parts = urlsplit(request.path)
            with contextlib.suppress(CassetteError):
                episode = self.player.peek(parts.path, parts.query)
        recorded = episode.connect.selected_subprotocol if episode is not None else None
        for choice in (recorded, "realtime"):
            if choice and choice in subprotocols:
                return choice
        return None

    def _on_request(self, connection: WSConnection, request: Request,
                    response: Response) -> Response | None:
        """Choose the episode once the request is a valid upgrade (status 101)."""
        peer = connection.peer
        if response.status_code != 101:
            self.player.emit(f"{peer}: GET {request.path}: answered HTTP {response.status_code} "
                             f"{response.reason_phrase} (not a WebSocket upgrade; no episode "
                             "used)")
            return None
        parts = urlsplit(request.path)
        reject = connection.reject
        try:
            episode = self.player.pick(parts.path, parts.query)
        except ReplayError as exc:
            self.player.emit(f"{peer}: GET {request.path}: answered HTTP 404: {exc}")
            return reject(HTTPStatus.NOT_FOUND, str(exc) + "\n")
        except CassetteError as exc:
            self.player.emit(f"{peer}: GET {request.path}: answered HTTP 500: {exc}")
            return reject(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc) + "\n")
        label = f"#{self.player.connections}"
        status = episode.connect.status
        if status != 101:
            refusal = _refusal(status)
            odd = f" (not an HTTP status: answered {refusal.status_code})" \
                if refusal.status_code != status else ""
            self.player.emit(f"{label} connected from {peer}: GET {request.path} -> episode "
                             f"{episode.conn}: refused with HTTP {status}, as recorded{odd}")
            return refusal
        self.player.emit(f"{label} connected from {peer}: GET {request.path} -> episode "
                         f"{episode.conn}")
        self._episodes[id(connection)] = (episode, label)
        return None

    async def _handle(self, connection: WSConnection) -> None:
        chosen = self._episodes.pop(id(connection), None)
        if chosen is None:
            return
        episode, label = chosen
        tap, timeout = self.on_frame, self.player.timeout
        link = _Link(connection, timeout) if tap is None else \
            _TappedLink(connection, timeout, episode.conn, tap)
        try:
            await drive(self.player, self.player.engine(episode), link, label)
        except Exception as exc:  # a fault of rtkit's: the shell answers 1011 and one line
            self.player.errors.append(ReplayError(
                f"Replay in {self.player.path}, episode (conn) {episode.conn}: rtkit failed "
                f"({type(exc).__name__}: {exc}); the connection was closed with 1011."))
            raise

    def _index_in_background(self) -> None:
        try:
            self.cassette.index_all(step=4 << 20, stop=lambda: self._stopping)
        except CassetteError as exc:
            self.cassette_error = exc
            self.player.emit(f"error: {exc}")

    async def start(self) -> ReplayServer:
        """Start listening (the context manager calls this)."""
        self._server = await WSServer(
            self._handle, on_request=self._on_request,
            select_subprotocol=self._select_subprotocol, report=self.player.emit,
            # oversize messages get the API's error event, not a close; far larger ones 1009
            max_size=4 * max(self.player.max_message, DEFAULT_MAX_MESSAGE),
        ).start(self.host, self.port)
        self.port = self._server.port
        if self.cassette.lazy:
            preload()  # the indexing thread imports nothing (rtkit.threads says why)
            self._indexer = asyncio.get_running_loop().run_in_executor(
                None, self._index_in_background)
        return self

    async def stop(self) -> None:
        """Stop serving; connections still open are closed (1001)."""
        self._stopping = True
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._indexer is not None:
            await self._indexer
            self._indexer = None

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.stop()
        if exc_type is None:
            self.player.end()
        elif isinstance(exc, Exception) and self.errors and self.errors[0] is not exc:
            # the client usually notices a mismatch as a timeout: report the cause
            first = self.errors[0]
            self.player.reported(first)
            raise first from exc


def _refusal(status: int) -> Response:
    """The recorded handshake refusal; a status clients cannot take (outside 100-599, or
    101) is answered 502."""
    body = b"refused, as recorded\n"
    if not 100 <= status <= 599 or status == 101:
        body = f"refused, as recorded, with {status}, which is not an HTTP status\n".encode()
        status = 502
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Refused"
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Length", str(len(body))), ("Connection", "close")])
    return Response(status, phrase, headers, body)

