"""ReplayServer: a fake Realtime server on 127.0.0.1 that replays a cassette."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from rtkit.cassette import Cassette, Episode
from rtkit.errors import ReplayError
from rtkit.replay.player import CassettePlayer, drive
from rtkit.transport.base import Close
from rtkit.transport.websocket import close_like

__all__ = ["ReplayServer"]


class _WebSocketLink:
    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        try:
            return await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            return None
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            return Close(rcvd.code if rcvd else None, rcvd.reason if rcvd else "", "client")

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if text and not _SEND_TAKES_TEXT:
            data = bytes(data).decode("utf-8")
            text = None
        try:  # not contextlib.suppress: this runs once per replayed event
            if text:
                await self.ws.send(data, text=True)  # the recorded bytes, not decoded
            else:
                await self.ws.send(data)
        except ConnectionClosed:
            pass

    async def close(self, code: int | None, reason: str) -> None:
        await close_like(self.ws, code, reason)


FrameTap = Callable[[int, str, "str | bytes"], None]


class _TappedLink(_WebSocketLink):
    """A link that also reports every frame, both directions, to `tap(conn, dir, frame)`
    (text frames as `str`, binary ones as `bytes`), before it is handled or sent."""

    def __init__(self, ws: ServerConnection, conn: int, tap: FrameTap) -> None:
        super().__init__(ws)
        self.conn, self.tap = conn, tap

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        frame = await super().recv(timeout)
        if isinstance(frame, (str, bytes)):
            self.tap(self.conn, "client", frame)
        return frame

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if isinstance(data, str):
            self.tap(self.conn, "server", data)
        else:
            raw = bytes(data)
            self.tap(self.conn, "server", raw.decode("utf-8", "replace") if text else raw)
        await super().send(data, text)


# websockets >= 14 sends UTF-8 bytes as a text frame (send(..., text=True)); 13 needs a str
_SEND_TAKES_TEXT = "text" in inspect.signature(ServerConnection.send).parameters


class ReplayServer:
    """Serves a cassette over real WebSockets, one recorded episode per incoming connection.

    `async with ReplayServer("session.jsonl") as server:` then point any client at
    `server.url` (`ws://127.0.0.1:PORT/v1/realtime`), or give the openai SDK
    `websocket_base_url=server.ws_base_url`. Options are those of `CassettePlayer.open`:
    `pace`, `audio_match`, `ignore_paths`, `matchers`, `match_on`, `timeout`, `unplayed`,
    `record_mode`, `max_message`. `on_frame(conn, direction, frame)`, when given, sees every
    frame exchanged (text as `str`, binary as `bytes`) as it happens. After the block,
    mismatches are in `errors` and `check()` raises the first; on exit the unplayed policy is
    applied (when the block did not raise). When the block raised (typically the client's
    timeout) after a mismatch, the mismatch is raised from it, since it is the cause.
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
        self._server: Server | None = None
        self._episodes: dict[int, Episode] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

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

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        parts = urlsplit(request.path)
        try:
            episode = self.player.pick(parts.path, parts.query)
        except ReplayError as exc:
            return connection.respond(HTTPStatus.NOT_FOUND, str(exc) + "\n")
        if episode.connect.status != 101:
            status = episode.connect.status or 502
            return connection.respond(HTTPStatus(status), "refused, as recorded\n")
        self._episodes[id(connection)] = episode
        return None

    def _select_subprotocol(self, connection: ServerConnection,
                            subprotocols: Any) -> str | None:
        if not subprotocols:
            return None
        recorded = None
        for ep in self.player.cassette.episodes:
            if ep.connect.selected_subprotocol:
                recorded = ep.connect.selected_subprotocol
        for choice in (recorded, "realtime"):
            if choice and choice in subprotocols:
                return choice
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        episode = self._episodes.pop(id(ws), None)
        if episode is None:
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            tap = self.on_frame
            link = _WebSocketLink(ws) if tap is None else _TappedLink(ws, episode.conn, tap)
            await drive(self.player, self.player.engine(episode), link)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def start(self) -> ReplayServer:
        """Start listening (the context manager calls this)."""
        self._server = await serve(
            self._handle, self.host, self.port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            max_size=None,  # oversize messages get the API's error event, not a close
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop serving; connections still open are closed."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

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
