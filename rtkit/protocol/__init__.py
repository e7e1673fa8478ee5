"""Realtime protocol facts shared by rtkit's layers: event names of both dialects, and the
mapping of the seed client's flat session fields onto each dialect's ``session.update``."""

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
from rtkit.protocol.session import (
    FORMAT_TO_GA,
    SESSION_FIELDS,
    build_session,
    is_manual_turn_detection,
    normalize_turn_detection,
)

__all__ = [
    "ALL_CLIENT_EVENTS",
    "ALL_SERVER_EVENTS",
    "BETA_CLIENT_EVENTS",
    "BETA_SERVER_EVENTS",
    "BETA_TO_GA_SERVER_EVENTS",
    "DIALECTS",
    "FORMAT_TO_GA",
    "GA_CLIENT_EVENTS",
    "GA_SERVER_EVENTS",
    "SESSION_FIELDS",
    "Dialect",
    "build_session",
    "canonical_server_type",
    "is_client_event",
    "is_manual_turn_detection",
    "is_server_event",
    "normalize_turn_detection",
    "server_event_dialect",
]
