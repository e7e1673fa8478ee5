"""What the client makes of the replay server's `error` events.

A replay server (`rtkit.ReplayServer`, `rtkit serve`, `ReplayTransport`) reports a mismatch as an
`error` event with `error.code == "replay_mismatch"` (and a replay timeout as
`"replay_timeout"`). The client turns it into the exception the test should fail with, at once,
instead of letting a wait run to its timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtkit.errors import CannotOverwriteExistingCassetteException, ReplayError, ReplayTimeout

__all__ = ["REPLAY_ERROR_CODES", "replay_failure"]

REPLAY_ERROR_CODES: dict[str, type[ReplayError]] = {
    "replay_mismatch": CannotOverwriteExistingCassetteException,
    "replay_timeout": ReplayTimeout,
}
"""`error.code`s a replay server sends, and the exception each one becomes."""

_SERVER_REPORT_HINT = (
    "(reported by the replay server's error event; the server's own report - "
    "ReplayServer.errors, or what `rtkit serve` prints - has the full diff)"
)

def replay_failure(event: Mapping[str, Any], transport: object | None) -> ReplayError | None:
    """The exception a replay server's `error` event stands for, or None for other errors.

    An in-process `ReplayTransport` hands over the engine's own exception (its message is the
    full report with the diff); over a socket the event's message is all the client has.
    """
    error = event.get("error")
    if not isinstance(error, Mapping):
        return None
    cls = REPLAY_ERROR_CODES.get(str(error.get("code")))
    if cls is None:
        return None
    local = getattr(transport, "failure", None)
    if isinstance(local, cls):
        return local
    message = str(error.get("message") or error.get("code"))
    if "\n" not in message:
        message = f"{message}\n{_SERVER_REPORT_HINT}"
    return cls(message)
