"""All exceptions rtkit raises, in one module (the `websockets` convention)."""

from __future__ import annotations

import os

__all__ = [
    "CannotOverwriteExistingCassetteException",
    "CassetteError",
    "CassetteLockedError",
    "ConnectionClosedError",
    "ConnectionRefusedByServer",
    "ConversationError",
    "NotConnectedError",
    "ReplayError",
    "ReplayTimeout",
    "RtkitError",
    "RtkitLeftoverWarning",
    "RtkitUnplayedWarning",
    "SecretLeakError",
    "TransportError",
]


class RtkitError(Exception):
    """Base class of every error rtkit raises."""


class TransportError(RtkitError):
    """A transport could not connect, send or receive."""


class NotConnectedError(TransportError):
    """Sending or receiving on a transport (or client) that is not connected."""


class ConnectionClosedError(NotConnectedError):
    """The connection ended while (or before) the client waited for an event.

    `code` and `reason` are the close frame's (`code` None: dropped without one); `by` says
    which side closed ("server" or "client").
    """

    def __init__(self, message: str, code: int | None = None, reason: str = "",
                 by: str = "server") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.by = by


class ConnectionRefusedByServer(TransportError):
    """The server refused the WebSocket handshake (e.g. HTTP 401)."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ConversationError(RtkitError):
    """A server event the conversation cannot apply (e.g. it names an unknown item or response).

    The message names the event type and the id. The client reports it as an ``error`` event
    and keeps processing.
    """


class CassetteError(RtkitError):
    """A cassette is missing, corrupt or cannot be written; the message names file and line.

    For a problem with one line, ``path``, ``lineno``, ``column`` (1-based, in characters of
    the line; None when the problem is the whole line) and ``reason`` (the message without
    the position) say where and what; they are None otherwise.
    """

    def __init__(self, message: str, *, path: str | None = None, lineno: int | None = None,
                 column: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.lineno = lineno
        self.column = column
        self.reason = reason


class CassetteLockedError(CassetteError):
    """Another writer is recording to the same cassette (``holder``: its pid, if known)."""

    def __init__(self, message: str, *, holder: int | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class SecretLeakError(CassetteError):
    """A cassette about to be written still contains a secret (``leftover``: where the
    recording was kept instead, mode 0600, when it was)."""

    def __init__(self, message: str, *, leftover: os.PathLike[str] | str | None = None) -> None:
        super().__init__(message)
        self.leftover = leftover


class ReplayError(RtkitError):
    """Replay could not follow the cassette."""


class CannotOverwriteExistingCassetteException(ReplayError):
    """A client event does not match the cassette and the record mode forbids recording it.

    Named after vcrpy's exception so users recognise it.
    """


class ReplayTimeout(ReplayError):
    """Replay waited longer than allowed for an event the cassette expects."""


class RtkitUnplayedWarning(UserWarning):
    """A replay ended with recorded events never played (the test ended early or the app changed).

    Turn it into an error with ``-W error::rtkit.errors.RtkitUnplayedWarning``.
    """


class RtkitLeftoverWarning(UserWarning):
    """A temporary file beside a cassette is left over from a recording that was killed.

    ``rtkit recover CASSETTE`` lists such files and turns one into a cassette.
    """
