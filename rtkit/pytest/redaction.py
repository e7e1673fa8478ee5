"""One redaction pipeline for a marked test, from its options: the WebSocket cassette's
`Redactor`, and the same filters applied to what the client sends during replay (as vcrpy
applies `before_record_request` to requests at playback, so a filtered value still matches)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rtkit.cassette.redact import Redactor
from rtkit.pytest.options import RtOptions

__all__ = ["apply_playback_filters", "make_redactor"]


def make_redactor(options: RtOptions, api_key: str | None = None) -> Redactor:
    """The redactor for `options` (`filter_headers`, `filter_query_parameters`,
    `before_record_event`), with `api_key` as a live secret."""
    return Redactor(
        before_record_event=options.before_record_event,
        secrets=[api_key] if api_key else [],
        filter_headers=options.filter_headers,
        filter_query_parameters=options.filter_query_parameters,
    )


def apply_playback_filters(server: Any, redactor: Redactor) -> None:
    """Make a started `ReplayServer` compare what the client sends after `redactor`'s filters:
    the connection's query when it picks an episode, and each client event before matching
    (an event the hook drops is ignored). Without this a filtered query parameter or field
    would never match its recording.

    It wraps the server's player (`pick`, `engine`), the replay API's own entry points.
    """
    player = server.player
    pick, engine = player.pick, player.engine

    def filtered_pick(path: str, query: str) -> Any:
        return pick(path, redactor.query(query))

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
