"""The recording's filters applied to what a client sends during replay, as vcrpy applies
`before_record_request` to requests at playback: a recorded episode holds `REDACTED` where the
client sent a secret (an `?api-key=` query, an MCP tool's `authorization`, a token in a text),
so the client's own traffic must be redacted the same way to match it, and a mismatch report
then shows no secret either."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rtkit.cassette.redact import Redactor

__all__ = ["apply_playback_filters"]


def apply_playback_filters(server: Any, redactor: Redactor) -> None:
    """Make a started replay server (anything with a `CassettePlayer` as `player`) compare
    what the client sends after `redactor`'s filters: the connection's path and query when it
    picks an episode, and each client event before matching (an event the hook drops is
    ignored).

    It wraps the server's player (`pick`, `engine`), the replay API's own entry points.
    """
    player = server.player
    pick, engine = player.pick, player.engine

    def filtered_pick(path: str, query: str) -> Any:
        return pick(redactor.path(path), redactor.query(query))

    def filtered_engine(episode: Any) -> Any:
        eng = engine(episode)
        receive = eng.receive_iter

        def receive_iter(data: str | bytes, now: float = 0.0,
                         parsed: dict[str, Any] | None = None) -> Iterator[Any]:
            if isinstance(data, str):
                try:
                    event = json.loads(data)
                except (ValueError, RecursionError):
                    event = None
                if isinstance(event, dict):
                    red = redactor.event(data, event, "client")
                    if red is None:
                        return iter(())
                    if red[0] != data:  # changed: the engine parses the filtered event
                        data, parsed = red[0], None
            return receive(data, now, parsed)

        eng.receive_iter = receive_iter
        return eng

    player.pick = filtered_pick
    player.engine = filtered_engine
