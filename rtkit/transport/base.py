"""The transport protocol: how the client (and recorder) move Realtime events.

A transport carries text frames (one JSON event each) over one connection. It knows nothing about
events; the live WebSocket, the recorder and the in-process replay transport all implement it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Close", "ConnectRequest", "Frame", "Transport"]


@dataclass(frozen=True)
class ConnectRequest:
    """What a client asks for when it opens a connection."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    subprotocols: Sequence[str] = ()


@dataclass(frozen=True)
class Close:
    """The end of a connection, as received from `Transport.recv`.

    `by` says who closed: the peer ("server" when seen from a client) or this side ("client").
    `code` is None when the connection dropped without a close frame.
    """

    code: int | None = 1000
    reason: str = ""
    by: Literal["client", "server"] = "server"


# A received frame: text (one JSON event), bytes (a binary frame) or the end of the connection.
Frame = str | bytes | Close


@runtime_checkable
class Transport(Protocol):
    """One connection carrying text frames. Implementations: WebSocket, recording, replay."""

    async def connect(self, request: ConnectRequest) -> None:
        """Open the connection; raises `rtkit.errors.TransportError` subclasses on failure."""

    async def send(self, text: str) -> None:
        """Send one text frame; raises `NotConnectedError` when not connected."""

    async def recv(self) -> Frame:
        """Wait for the next frame; returns a `Close` once (then raises `NotConnectedError`)."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection from this side; a no-op when already closed."""

    @property
    def is_connected(self) -> bool:
        """True between a successful `connect` and the close."""
