"""RecordingTransport: wraps any transport and records everything that crosses it."""

from __future__ import annotations

import os
import time
import weakref
from typing import Any
from urllib.parse import urlsplit

from rtkit.cassette import CassetteWriter, Redactor
from rtkit.errors import ConnectionRefusedByServer
from rtkit.transport.base import Close, ConnectRequest, Frame, Transport

__all__ = ["RecordingTransport", "secrets_in_request"]

INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."


def secrets_in_request(request: ConnectRequest) -> list[str]:
    """Live credentials a request carries (bearer token, api-key header, subprotocol key)."""
    found = []
    for name, value in request.headers.items():
        lname = name.lower()
        if lname == "authorization" and value.lower().startswith("bearer "):
            found.append(value[7:].strip())
        elif lname == "api-key":
            found.append(value.strip())
    found += [p[len(INSECURE_KEY_PROTOCOL):] for p in request.subprotocols
              if p.startswith(INSECURE_KEY_PROTOCOL)]
    return [s for s in found if s]


def _finish(writer: CassetteWriter, conn: int, t0: float) -> None:
    """Last-resort commit when a recording transport is dropped without being closed."""
    if not writer.committed:
        writer.close(conn, (time.monotonic() - t0) * 1000, None, "recording ended without a close",
                     "client")
        writer.commit()


class RecordingTransport:
    """A `Transport` that records the handshake, every frame (both directions, with time
    offsets) and the close of each connection of `inner` into a JSONL cassette.

    The cassette is written atomically when the connection ends (either side closes), when
    `aclose()` is called or the `async with` block exits — also after an exception, so what was
    recorded is kept. Reconnecting records another episode into the same cassette. The key
    sent in the handshake is passed to the redactor as a live secret: it is never written, and
    the final scan refuses a cassette that still holds it.
    """

    def __init__(
        self,
        inner: Transport,
        cassette_path: str | os.PathLike[str],
        *,
        redactor: Redactor | None = None,
        dialect: str | None = None,
        model: str | None = None,
        meta: dict[str, Any] | None = None,
        append: bool = False,
    ) -> None:
        self.inner = inner
        self.path = os.fspath(cassette_path)
        self.redactor = redactor
        self.dialect = dialect
        self.model = model
        self.meta = meta
        self.append = append
        self.episodes = 0
        self._writer: CassetteWriter | None = None
        self._finalizer: weakref.finalize | None = None
        self._t0 = 0.0
        self._conn = 0

    @property
    def is_connected(self) -> bool:
        """True while the inner transport is connected."""
        return self.inner.is_connected

    def _t(self) -> float:
        return (time.monotonic() - self._t0) * 1000

    def _open_writer(self, request: ConnectRequest) -> CassetteWriter:
        redactor = (self.redactor or Redactor()).with_secrets(*secrets_in_request(request))
        dialect = self.dialect
        if dialect is None:
            beta = any(k.lower() == "openai-beta" for k in request.headers) or (
                "openai-beta.realtime-v1" in request.subprotocols)
            dialect = "beta" if beta else "ga"
        query = urlsplit(request.url).query
        model = self.model or dict(p.split("=", 1) for p in query.split("&") if "=" in p).get(
            "model")
        return CassetteWriter(self.path, dialect=dialect, model=model, meta=self.meta,
                              redactor=redactor, append=self.append or self.episodes > 0)

    async def connect(self, request: ConnectRequest) -> None:
        """Connect `inner` and start a new episode."""
        self._finish_episode(None)
        writer = self._writer = self._open_writer(request)
        self._conn = 0
        self._t0 = time.monotonic()
        parts = urlsplit(request.url)
        try:
            await self.inner.connect(request)
        except ConnectionRefusedByServer as exc:  # record the refusal as an episode
            writer.connect(0, path=parts.path, query=parts.query, headers=request.headers,
                           subprotocols=request.subprotocols, status=exc.status or 0)
            self._finish_episode(Close(None, str(exc), "server"))
            raise
        except BaseException:
            writer.abort()
            self._writer = None
            raise
        writer.connect(0, path=parts.path, query=parts.query, headers=request.headers,
                       subprotocols=request.subprotocols, status=101,
                       selected_subprotocol=getattr(self.inner, "subprotocol", None))
        self._finalizer = weakref.finalize(self, _finish, writer, 0, self._t0)

    async def send(self, text: str) -> None:
        """Send through `inner`, then record it."""
        await self.inner.send(text)
        if self._writer is not None:
            self._writer.event(self._conn, "client", self._t(), text)

    async def recv(self) -> Frame:
        """Receive from `inner` and record it; a close ends the episode and writes the file."""
        frame = await self.inner.recv()
        if self._writer is not None:
            if isinstance(frame, Close):
                self._finish_episode(frame)
            else:
                self._writer.event(self._conn, "server", self._t(), frame)
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close `inner` and write the cassette."""
        try:
            await self.inner.close(code, reason)
        finally:
            self._finish_episode(Close(code, reason, "client"))

    async def aclose(self) -> None:
        """Write what was recorded (closing the connection if still open)."""
        if self.inner.is_connected:
            await self.close()
        self._finish_episode(None)

    def _finish_episode(self, close: Close | None) -> None:
        writer = self._writer
        if writer is None:
            return
        self._writer = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if close is None:
            close = Close(None, "recording ended without a close", "client")
        writer.close(self._conn, self._t(), close.code, close.reason, close.by)
        writer.commit()
        self.episodes += 1

    async def __aenter__(self) -> RecordingTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
