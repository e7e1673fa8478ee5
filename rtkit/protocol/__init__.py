"""Realtime protocol facts shared by rtkit's layers: event names of both dialects, and the
mapping of flat session and response fields (the seed's names, or GA's) onto each dialect's
``session.update`` and ``response.create``."""

from __future__ import annotations

from rtkit.protocol.events import (
    ALL_CLIENT_EVENTS,
    ALL_SERVER_EVENTS,
    BETA_CLIENT_EVENTS,
    BETA_SERVER_EVENTS,
    BETA_TO_GA_SERVER_EVENTS,
    DIALECTS,
    GA_CLIENT_EVENTS,
    GA_SERVER_EVENTS,
    Dialect,
    canonical_server_type,
    is_client_event,
    is_server_event,
    server_event_dialect,
)
from rtkit.protocol.response import RESPONSE_FIELDS, build_response
from rtkit.protocol.session import (
    ACCEPTED_SESSION_FIELDS,
    BETA_ONLY_SESSION_FIELDS,
    BETA_TRANSCRIPTION_SESSION_FIELDS,
    CANONICAL_SESSION_FIELDS,
    FORMAT_TO_GA,
    GA_ONLY_SESSION_FIELDS,
    GA_SESSION_ALIASES,
    SESSION_FIELDS,
    TRANSCRIPTION_SESSION_FIELDS,
    audio_format_of,
    build_session,
    is_manual_turn_detection,
    is_transcription,
    normalize_session_fields,
    normalize_turn_detection,
    turn_detection_of,
)

__all__ = [
    "ACCEPTED_SESSION_FIELDS",
    "ALL_CLIENT_EVENTS",
    "ALL_SERVER_EVENTS",
    "BETA_CLIENT_EVENTS",
    "BETA_ONLY_SESSION_FIELDS",
    "BETA_SERVER_EVENTS",
    "BETA_TO_GA_SERVER_EVENTS",
    "BETA_TRANSCRIPTION_SESSION_FIELDS",
    "CANONICAL_SESSION_FIELDS",
    "DIALECTS",
    "FORMAT_TO_GA",
    "GA_CLIENT_EVENTS",
    "GA_ONLY_SESSION_FIELDS",
    "GA_SERVER_EVENTS",
    "GA_SESSION_ALIASES",
    "RESPONSE_FIELDS",
    "SESSION_FIELDS",
    "TRANSCRIPTION_SESSION_FIELDS",
    "Dialect",
    "audio_format_of",
    "build_response",
    "build_session",
    "canonical_server_type",
    "is_client_event",
    "is_manual_turn_detection",
    "is_server_event",
    "is_transcription",
    "normalize_session_fields",
    "normalize_turn_detection",
    "server_event_dialect",
    "turn_detection_of",
]
