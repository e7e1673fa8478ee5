"""Event type names of the Realtime protocol's two dialects, GA and beta.

The sets match the event unions of the ``openai`` package (``openai.types.realtime`` for GA,
``openai.types.beta.realtime`` for beta); ``tests/test_protocol.py`` checks they stay in step.

Inside rtkit, server events are handled under one *canonical* name per meaning: the GA
spelling (the live API's). :func:`canonical_server_type` maps a beta name such as
``response.audio.delta`` onto its GA twin ``response.output_audio.delta``; every other name is
returned unchanged.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ALL_CLIENT_EVENTS",
    "ALL_SERVER_EVENTS",
    "BETA_CLIENT_EVENTS",
    "BETA_SERVER_EVENTS",
    "BETA_TO_GA_SERVER_EVENTS",
    "DIALECTS",
    "GA_CLIENT_EVENTS",
    "GA_SERVER_EVENTS",
    "Dialect",
    "canonical_server_type",
    "is_client_event",
    "is_server_event",
    "server_event_dialect",
]

Dialect = Literal["ga", "beta"]
"""``"ga"``: the live API today; ``"beta"``: ``OpenAI-Beta: realtime=v1``, the seed client's."""

DIALECTS: tuple[Dialect, ...] = ("ga", "beta")

_COMMON_SERVER_EVENTS = frozenset(
    {
        "conversation.created",
        "conversation.item.created",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "error",
        "input_audio_buffer.cleared",
        "input_audio_buffer.committed",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "output_audio_buffer.cleared",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "rate_limits.updated",
        "response.content_part.added",
        "response.content_part.done",
        "response.created",
        "response.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.added",
        "response.output_item.done",
        "session.created",
        "session.updated",
    }
)

GA_SERVER_EVENTS: frozenset[str] = _COMMON_SERVER_EVENTS | {
    "conversation.item.added",
    "conversation.item.done",
    "conversation.item.input_audio_transcription.segment",
    "input_audio_buffer.dtmf_event_received",
    "input_audio_buffer.timeout_triggered",
    "mcp_list_tools.completed",
    "mcp_list_tools.failed",
    "mcp_list_tools.in_progress",
    "response.mcp_call.completed",
    "response.mcp_call.failed",
    "response.mcp_call.in_progress",
    "response.mcp_call_arguments.delta",
    "response.mcp_call_arguments.done",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done",
    "response.output_text.delta",
    "response.output_text.done",
}
"""Server event types of the GA protocol."""

BETA_SERVER_EVENTS: frozenset[str] = _COMMON_SERVER_EVENTS | {
    "response.audio.delta",
    "response.audio.done",
    "response.audio_transcript.delta",
    "response.audio_transcript.done",
    "response.text.delta",
    "response.text.done",
    "transcription_session.updated",
}
"""Server event types of the beta protocol."""

_COMMON_CLIENT_EVENTS = frozenset(
    {
        "conversation.item.create",
        "conversation.item.delete",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "input_audio_buffer.append",
        "input_audio_buffer.clear",
        "input_audio_buffer.commit",
        "output_audio_buffer.clear",
        "response.cancel",
        "response.create",
        "session.update",
    }
)

GA_CLIENT_EVENTS: frozenset[str] = _COMMON_CLIENT_EVENTS
"""Client event types of the GA protocol."""

BETA_CLIENT_EVENTS: frozenset[str] = _COMMON_CLIENT_EVENTS | {"transcription_session.update"}
"""Client event types of the beta protocol."""

ALL_SERVER_EVENTS: frozenset[str] = GA_SERVER_EVENTS | BETA_SERVER_EVENTS
"""Server event types of either dialect."""

ALL_CLIENT_EVENTS: frozenset[str] = GA_CLIENT_EVENTS | BETA_CLIENT_EVENTS
"""Client event types of either dialect."""

BETA_TO_GA_SERVER_EVENTS: dict[str, str] = {
    "conversation.item.created": "conversation.item.added",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
}
"""Beta server event names and the GA names that mean the same thing.

``conversation.item.created`` (beta; also still listed by GA) announces a new item, which GA
calls ``conversation.item.added``.
"""


def canonical_server_type(event_type: str) -> str:
    """The canonical (GA) name of a server event type of either dialect.

    >>> canonical_server_type("response.audio.delta")
    'response.output_audio.delta'
    >>> canonical_server_type("response.done")
    'response.done'
    """
    return BETA_TO_GA_SERVER_EVENTS.get(event_type, event_type)


def is_server_event(event_type: str, dialect: Dialect | None = None) -> bool:
    """Whether ``event_type`` is a server event of ``dialect`` (of either when ``None``)."""
    if dialect is None:
        return event_type in ALL_SERVER_EVENTS
    return event_type in (GA_SERVER_EVENTS if dialect == "ga" else BETA_SERVER_EVENTS)


def is_client_event(event_type: str, dialect: Dialect | None = None) -> bool:
    """Whether ``event_type`` is a client event of ``dialect`` (of either when ``None``)."""
    if dialect is None:
        return event_type in ALL_CLIENT_EVENTS
    return event_type in (GA_CLIENT_EVENTS if dialect == "ga" else BETA_CLIENT_EVENTS)


def server_event_dialect(event_type: str) -> Dialect | None:
    """The dialect a server event type betrays, or ``None`` if both (or neither) use it."""
    ga, beta = event_type in GA_SERVER_EVENTS, event_type in BETA_SERVER_EVENTS
    if ga and not beta:
        return "ga"
    if beta and not ga:
        return "beta"
    return None
