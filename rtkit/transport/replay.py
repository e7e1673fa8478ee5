"""ReplayTransport: replay a cassette to rtkit's client in-process, without a socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any
from urllib.parse import urlsplit

from rtkit.cassette import Cassette
from rtkit.errors import ConnectionRefusedByServer, NotConnectedError, ReplayError
from rtkit.replay.player import CassettePlayer, Engine, drive
from rtkit.transport.base import Close, ConnectRequest, Frame

__all__ = ["ReplayTransport"]


OUTBOUND_FRAMES = 64  # replayed frames waiting for the client at most: memory stays bounded


class _QueueLink:
    def __init__(self) -> None:
        self.inbound: asyncio.Queue[str | bytes | Close] = asyncio.Queue()
        # bounded: a long response is handed over as the client reads it, not queued whole
        self.outbound: asyncio.Queue[Frame] = asyncio.Queue(OUTBOUND_FRAMES)
        self.closed = False  # a close is queued
        self.client_closed = False  # then nothing more is queued (nobody will read it)
        self._late_close: asyncio.Task[None] | None = None

    def discard_outbound(self) -> None:
        """The client closed: drop what it will never read (wakes a blocked send)."""
        self.client_closed = True
        while not self.outbound.empty():
            self.outbound.get_nowait()

    def queue_close(self, close: Close) -> None:
        """Queue `close` after the frames already queued, without waiting for room."""
        self.closed = True
        try:
            self.outbound.put_nowait(close)
        except asyncio.QueueFull:
            self._late_close = asyncio.get_running_loop().create_task(self.outbound.put(close))

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        if self.closed and self.inbound.empty():
            return Close(None, "", "client")  # in-process, a close needs no handshake
        try:
            return await asyncio.wait_for(self.inbound.get(), timeout)
        except TimeoutError:
            return None

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if self.client_closed:
            return
        if text:
            data = bytes(data).decode("utf-8")
        await self.outbound.put(bytes(data) if isinstance(data, memoryview) else data)

    async def close(self, code: int | None, reason: str) -> None:
        self.closed = True
        if not self.client_closed:
            await self.outbound.put(Close(code, reason, "server"))


class ReplayTransport:
    """A `Transport` that plays a cassette's episodes to the client, one per `connect`.

    Same engine and options as `ReplayServer` (`order`, `pace`, `audio_match`,
    `ignore_paths`, `matchers`, `timeout`, `unplayed`, `repeat`, `record_mode`). `errors`,
    `check()` and `end()` give the mismatches to the test; `failure` is the current
    connection's, which rtkit's client raises from its waits (with the full report) as soon
    as the mismatch's `error` event arrives.
    """

    def __init__(self, cassette: Cassette | str | os.PathLike[str], **options: Any) -> None:
        self.player = CassettePlayer.open(cassette, **options)
        self._link: _QueueLink | None = None
        self._task: asyncio.Task[None] | None = None
        self._engine: Engine | None = None
        self._errors_before = 0
        self._closed: Close | None = None
        self.subprotocol: str | None = None

    @property
    def errors(self) -> list[ReplayError]:
        """Mismatches, timeouts and unmatched connections so far."""
        return self.player.errors

    def check(self) -> None:
        """Raise the first replay error, if any."""
        self.player.check()

    def end(self) -> None:
        """Raise the first error, then apply the unplayed policy."""
        self.player.end()

    @property
    def failure(self) -> ReplayError | None:
        """The current (or last) connection's replay error: its mismatch, or a replay
        timeout; None while it follows the cassette."""
        if self._engine is not None and self._engine.failure is not None:
            return self._engine.failure
        later = self.player.errors[self._errors_before:]
        return later[0] if later else None

    @property
    def is_connected(self) -> bool:
        """True between connect and close."""
        return self._link is not None and self._closed is None

    async def connect(self, request: ConnectRequest) -> None:
        """Start replaying the next episode recorded for the request's path and query."""
        if self.is_connected:
            raise NotConnectedError("already connected; close() first")
        parts = urlsplit(request.url)
        episode = self.player.pick(parts.path or "/", parts.query)
        if episode.connect.status != 101:
            raise ConnectionRefusedByServer(
                f"{request.url}: the recorded server refused the handshake with HTTP "
                f"{episode.connect.status}", status=episode.connect.status)
        self.subprotocol = episode.connect.selected_subprotocol
        self._closed = None
        self._link = link = _QueueLink()
        self._engine = engine = self.player.engine(episode)
        self._errors_before = len(self.player.errors)
        self._task = asyncio.create_task(drive(self.player, engine, link))
        self._task.add_done_callback(lambda task: _ended(task, link))

    async def send(self, text: str) -> None:
        """Hand a client frame to the replay engine."""
        if not self.is_connected or self._link is None:
            raise NotConnectedError("cannot send: the replay transport is not connected")
        self._link.inbound.put_nowait(text)

    async def recv(self) -> Frame:
        """The next replayed server frame, or the `Close`."""
        if self._link is None:
            raise NotConnectedError("cannot receive: the replay transport is not connected")
        if self._closed is not None:
            raise NotConnectedError("cannot receive: the connection is closed")
        frame = await self._link.outbound.get()
        if isinstance(frame, Close):
            self._closed = frame
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client side and wait for the engine to finish."""
        if self._link is None or self._closed is not None:
            return
        self._closed = Close(code, reason, "client")
        self._link.inbound.put_nowait(self._closed)
        self._link.discard_outbound()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)


def _ended(task: asyncio.Task[None], link: _QueueLink) -> None:
    """The replay of an episode stopped: if it did not close the connection (it failed, or was
    cancelled), close it now, so the client's `recv` never waits for a frame that cannot come."""
    if link.closed:
        return
    if task.cancelled():
        reason = "replay cancelled"
    elif task.exception() is not None:
        reason = f"replay failed: {task.exception()!r}"[:120]
    else:
        return  # the client closed: it reads nothing more
    link.queue_close(Close(1011, reason, "server"))
