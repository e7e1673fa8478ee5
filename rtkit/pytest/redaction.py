"""One redaction pipeline for a marked test, from its options: the WebSocket cassette's
`Redactor`, and the same filters applied to what the client sends during replay (as vcrpy
applies `before_record_request` to requests at playback, so a filtered value still matches)."""

from __future__ import annotations

from rtkit.cassette.redact import Redactor
from rtkit.pytest.options import RtOptions
from rtkit.replay.filters import apply_playback_filters

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
