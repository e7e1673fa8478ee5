"""Transports: how the client moves events (live WebSocket, recording, in-process replay)."""

from rtkit.transport.base import Close, ConnectRequest, Frame, Transport

__all__ = ["Close", "ConnectRequest", "Frame", "Transport"]
