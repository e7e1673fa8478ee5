"""ReplayTransport: replay a cassette to rtkit's client in-process, without a socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any
from urllib.parse import urlsplit

from rtkit.cassette import Cassette
from rtkit.errors import ConnectionRefusedByServer, NotConnectedError, ReplayError
from rtkit.replay.player import CassettePlayer, drive
from rtkit.transport.base import Close, ConnectRequest, Frame

__all__ = ["ReplayTransport"]


OUTBOUND_FRAMES = 64  # replayed frames waiting for the client at most: memory stays bounded


class _QueueLink:
    def __init__(self) -> None:
        self.inbound: asyncio.Queue[str | bytes | Close] = asyncio.Queue()
        # bounded: a long response is handed over as the client reads it, not queued whole
        self.outbound: asyncio.Queue[Frame] = asyncio.Queue(OUTBOUND_FRAMES)
        self.client_closed = False  # then nothing more is queued (nobody will read it)

    def discard_outbound(self) -> None:
        """The client closed: drop what it will never read (wakes a blocked send)."""
        self.client_closed = True
        while not self.outbound.empty():
            self.outbound.get_nowait()

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        try:
            return await asyncio.wait_for(self.inbound.get(), timeout)
        except asyncio.TimeoutError:
            return None

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if self.client_closed:
            return
        if text:
            data = bytes(data).decode("utf-8")
        await self.outbound.put(bytes(data) if isinstance(data, memoryview) else data)

    async def close(self, code: int | None, reason: str) -> None:
        if not self.client_closed:
            await self.outbound.put(Close(code, reason, "server"))


class ReplayTransport:
    """A `Transport` that plays a cassette's episodes to the client, one per `connect`.

    Same engine and options as `ReplayServer` (`pace`, `audio_match`, `ignore_paths`,
    `matchers`, `timeout`, `unplayed`, `record_mode`). `errors`, `check()` and `end()` give the
    mismatches to the test.
    """

    def __init__(self, cassette: Cassette | str | os.PathLike[str], **options: Any) -> None:
        self.player = CassettePlayer.open(cassette, **options)
        self._link: _QueueLink | None = None
        self._task: asyncio.Task[None] | None = None
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
        self._task = asyncio.create_task(drive(self.player, self.player.engine(episode), link))

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
