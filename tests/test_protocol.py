"""rtkit.protocol: event names of both dialects and session.update shapes."""

from __future__ import annotations

import copy
import typing
from typing import Any

import pydantic
import pytest

from rtkit.protocol import (
    ACCEPTED_SESSION_FIELDS,
    ALL_SERVER_EVENTS,
    BETA_CLIENT_EVENTS,
    BETA_SERVER_EVENTS,
    GA_CLIENT_EVENTS,
    GA_ONLY_SESSION_FIELDS,
    GA_SERVER_EVENTS,
    SESSION_FIELDS,
    build_session,
    canonical_server_type,
    is_client_event,
    is_manual_turn_detection,
    is_server_event,
    normalize_session_fields,
    server_event_dialect,
)

SEED_DEFAULTS: dict[str, Any] = {
    "modalities": ["text", "audio"],
    "instructions": "",
    "voice": "verse",
    "input_audio_format": "pcm16",
    "output_audio_format": "pcm16",
    "input_audio_transcription": None,
    "turn_detection": None,
    "tools": [],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": 4096,
}

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather at a place",
    "parameters": {"type": "object", "properties": {"lat": {"type": "number"}}},
}


def _type_names(union: Any) -> set[str]:
    out: set[str] = set()

    def walk(t: Any) -> None:
        origin = typing.get_origin(t)
        if origin is typing.Annotated:
            walk(typing.get_args(t)[0])
        elif origin is typing.Union:
            for a in typing.get_args(t):
                walk(a)
        elif isinstance(t, type) and issubclass(t, pydantic.BaseModel):
            field = t.model_fields.get("type")
            if field is not None:
                out.update(typing.get_args(field.annotation))

    walk(union)
    return out


def test_event_sets_match_openai_package() -> None:
    from openai.types.beta.realtime import RealtimeClientEvent as BetaClient
    from openai.types.beta.realtime import RealtimeServerEvent as BetaServer
    from openai.types.realtime import RealtimeClientEvent as GAClient
    from openai.types.realtime import RealtimeServerEvent as GAServer

    assert _type_names(GAServer) == GA_SERVER_EVENTS
    assert _type_names(BetaServer) == BETA_SERVER_EVENTS
    assert _type_names(GAClient) == GA_CLIENT_EVENTS
    assert _type_names(BetaClient) == BETA_CLIENT_EVENTS


@pytest.mark.parametrize(
    ("beta", "ga"),
    [
        ("conversation.item.created", "conversation.item.added"),
        ("response.audio.delta", "response.output_audio.delta"),
        ("response.audio.done", "response.output_audio.done"),
        ("response.audio_transcript.delta", "response.output_audio_transcript.delta"),
        ("response.text.delta", "response.output_text.delta"),
        ("response.text.done", "response.output_text.done"),
    ],
)
def test_canonical_server_type_maps_both_spellings(beta: str, ga: str) -> None:
    assert canonical_server_type(beta) == canonical_server_type(ga) == ga
    assert ga in GA_SERVER_EVENTS


def test_canonical_is_identity_elsewhere() -> None:
    for name in ALL_SERVER_EVENTS - {"conversation.item.created"}:
        if name in GA_SERVER_EVENTS:
            assert canonical_server_type(name) == name
    assert canonical_server_type("made.up") == "made.up"


def test_dialect_helpers() -> None:
    assert server_event_dialect("response.output_audio.delta") == "ga"
    assert server_event_dialect("response.audio.delta") == "beta"
    assert server_event_dialect("response.done") is None
    assert is_server_event("response.audio.delta")
    assert not is_server_event("response.audio.delta", "ga")
    assert is_server_event("response.output_text.delta", "ga")
    assert not is_server_event("response.create")
    assert is_client_event("response.create", "ga")
    assert is_client_event("transcription_session.update", "beta")
    assert not is_client_event("transcription_session.update", "ga")
    assert not is_client_event("response.created")


def _no_extras(model: pydantic.BaseModel, path: str = "session") -> None:
    """The openai models allow unknown fields; assert none were needed."""
    assert not model.model_extra, f"{path}: unexpected fields {sorted(model.model_extra or {})}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, pydantic.BaseModel):
                _no_extras(v, f"{path}.{name}")


def _validate_ga(session: dict[str, Any]) -> pydantic.BaseModel:
    from openai.types.realtime import RealtimeSessionCreateRequest
    from openai.types.realtime.session_update_event import SessionUpdateEvent

    event = SessionUpdateEvent.model_validate({"type": "session.update", "session": session})
    assert isinstance(event.session, RealtimeSessionCreateRequest)
    _no_extras(event.session)
    return event.session


def _validate_beta(session: dict[str, Any]) -> pydantic.BaseModel:
    from openai.types.beta.realtime.session_update_event import SessionUpdateEvent

    event = SessionUpdateEvent.model_validate({"type": "session.update", "session": session})
    _no_extras(event.session)
    return event.session


def test_ga_session_from_seed_defaults() -> None:
    fields = copy.deepcopy(SEED_DEFAULTS)
    session = build_session(fields, "ga")
    assert fields == SEED_DEFAULTS  # not mutated
    assert session == {
        "type": "realtime",
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": 4096,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "turn_detection": None,
            },
            "output": {"voice": "verse", "format": {"type": "audio/pcm", "rate": 24000}},
        },
    }
    assert "temperature" not in session  # GA sessions have no temperature
    _validate_ga(session)


def test_ga_session_full() -> None:
    fields = {
        "modalities": ["text"],
        "instructions": "Be brief.",
        "voice": "alloy",
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "g711_alaw",
        "input_audio_transcription": {"model": "whisper-1"},
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 200},
        "tools": [TOOL],
        "tool_choice": "required",
        "max_response_output_tokens": "inf",
    }
    session = build_session(fields, "ga")
    assert session["output_modalities"] == ["text"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcma"}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    assert session["max_output_tokens"] == "inf"
    model = _validate_ga(session)
    assert model.tools[0].name == "get_weather"  # type: ignore[attr-defined]
    # the result shares nothing mutable with the input
    session["tools"][0]["name"] = "changed"
    session["audio"]["input"]["turn_detection"]["threshold"] = 0.9
    assert fields["tools"][0]["name"] == "get_weather"
    assert fields["turn_detection"]["threshold"] == 0.5


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [(["text", "audio"], ["audio"]), (["audio"], ["audio"]), (["text"], ["text"])],
)
def test_ga_output_modalities(modalities: list[str], expected: list[str]) -> None:
    assert build_session({"modalities": modalities}, "ga")["output_modalities"] == expected


def test_ga_partial_update_only_has_given_fields() -> None:
    assert build_session({"instructions": "x"}, "ga") == {"type": "realtime", "instructions": "x"}
    assert build_session({"voice": "ash"}, "ga") == {
        "type": "realtime",
        "audio": {"output": {"voice": "ash"}},
    }
    assert build_session({"temperature": 0.7}, "ga") == {"type": "realtime"}


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_turn_detection_none_type_means_manual(dialect: str) -> None:
    """SEED fix 10: {"type": "none"} as the README writes it is sent as null."""
    session = build_session({"turn_detection": {"type": "none"}}, dialect)  # type: ignore[arg-type]
    if dialect == "ga":
        assert session["audio"]["input"]["turn_detection"] is None
        _validate_ga(session)
    else:
        assert session["turn_detection"] is None
        _validate_beta(session)


def test_beta_session_is_flat() -> None:
    fields = dict(SEED_DEFAULTS, tools=[TOOL], turn_detection={"type": "server_vad"})
    session = build_session(fields, "beta")
    assert session == fields
    assert session["tools"] is not fields["tools"]
    model = _validate_beta(session)
    assert model.temperature == 0.8  # type: ignore[attr-defined]


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_unknown_field_is_a_value_error(dialect: str) -> None:
    with pytest.raises(ValueError, match="unknown session field 'bogus'"):
        build_session({"bogus": 1}, dialect)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'audio\.output\.pitch'"):
        build_session({"audio": {"output": {"pitch": 2}}}, dialect)  # type: ignore[arg-type]


# Every field of the GA session model, under its GA name and shape (issue 13, point 1).
GA_FULL: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "Be brief.",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "noise_reduction": {"type": "near_field"},
            "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
        },
        "output": {"format": {"type": "audio/pcmu"}, "speed": 1.2, "voice": "marin"},
    },
    "include": ["item.input_audio_transcription.logprobs"],
    "max_output_tokens": 1000,
    "parallel_tool_calls": False,
    "prompt": {"id": "pmpt_123", "version": "2", "variables": {"city": "Paris"}},
    "reasoning": {"effort": "low"},
    "tool_choice": "auto",
    "tools": [TOOL, {"type": "mcp", "server_label": "docs",
                     "server_url": "https://example.com/mcp"}],
    "tracing": {"workflow_name": "tests"},
    "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
}


def test_every_ga_session_field_is_accepted_and_sent_as_given() -> None:
    from openai.types.realtime import RealtimeSessionCreateRequest
    from openai.types.realtime.realtime_audio_config_input import RealtimeAudioConfigInput
    from openai.types.realtime.realtime_audio_config_output import RealtimeAudioConfigOutput

    # the fixture covers the installed openai package's GA session model, nested audio included
    assert set(GA_FULL) == set(RealtimeSessionCreateRequest.model_fields)
    assert set(GA_FULL["audio"]["input"]) == set(RealtimeAudioConfigInput.model_fields)
    assert set(GA_FULL["audio"]["output"]) == set(RealtimeAudioConfigOutput.model_fields)
    assert set(RealtimeSessionCreateRequest.model_fields) <= ACCEPTED_SESSION_FIELDS
    fields = copy.deepcopy(GA_FULL)
    session = build_session(fields, "ga")
    assert fields == GA_FULL  # not mutated
    assert session == GA_FULL
    _validate_ga(session)


def test_flat_names_of_ga_fields_map_to_the_ga_shape() -> None:
    session = build_session({"noise_reduction": {"type": "far_field"}, "speed": 0.9,
                             "voice": "cedar", "truncation": "disabled",
                             "parallel_tool_calls": True, "reasoning": {"effort": "minimal"},
                             "tracing": None}, "ga")
    assert session == {
        "type": "realtime",
        "audio": {"input": {"noise_reduction": {"type": "far_field"}},
                  "output": {"speed": 0.9, "voice": "cedar"}},
        "truncation": "disabled",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "minimal"},
        "tracing": None,  # null turns tracing off: sent as such
    }
    _validate_ga(session)


def test_ga_names_map_to_the_beta_shape() -> None:
    fields = {"output_modalities": ["audio"], "max_output_tokens": 50,
              "audio": {"input": {"format": {"type": "audio/pcma"},
                                  "noise_reduction": {"type": "near_field"},
                                  "turn_detection": {"type": "server_vad"}},
                        "output": {"voice": "ash", "speed": 1.1,
                                   "format": {"type": "audio/pcm", "rate": 24000}}},
              "tracing": "auto"}
    session = build_session(fields, "beta")
    assert session == {
        "modalities": ["text", "audio"],
        "max_response_output_tokens": 50,
        "input_audio_format": "g711_alaw",
        "input_audio_noise_reduction": {"type": "near_field"},
        "turn_detection": {"type": "server_vad"},
        "voice": "ash",
        "speed": 1.1,
        "output_audio_format": "pcm16",
        "tracing": "auto",
    }
    _validate_beta(session)


def test_every_beta_session_field_is_accepted() -> None:
    from openai.types.beta.realtime.session_update_event import Session

    beta = dict(SEED_DEFAULTS, input_audio_noise_reduction={"type": "near_field"}, speed=1.0,
                tracing="auto", model="gpt-4o-realtime-preview")
    assert set(beta) == set(Session.model_fields) - {"client_secret"}
    assert build_session(beta, "beta") == beta
    _validate_beta(build_session(beta, "beta"))


@pytest.mark.parametrize("name", sorted(GA_ONLY_SESSION_FIELDS))
def test_ga_only_fields_are_a_clear_error_in_beta(name: str) -> None:
    with pytest.raises(ValueError, match=rf"'{name}' exists only in the GA dialect.*beta"):
        build_session({name: GA_FULL[name]}, "beta")


def test_a_field_given_twice_and_ga_formats_beta_cannot_name() -> None:
    with pytest.raises(ValueError, match=r"'audio\.output\.voice' sets 'voice'"):
        build_session({"voice": "ash", "audio": {"output": {"voice": "alloy"}}}, "ga")
    with pytest.raises(ValueError, match="beta dialect names formats"):
        build_session({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
                      "beta")
    assert normalize_session_fields({"max_output_tokens": "inf"}) == {
        "max_response_output_tokens": "inf"}


def test_unknown_dialect_and_format() -> None:
    with pytest.raises(ValueError, match="dialect"):
        build_session({}, "v2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'mp3'"):
        build_session({"input_audio_format": "mp3"}, "ga")


def test_is_manual_turn_detection() -> None:
    assert is_manual_turn_detection({})
    assert is_manual_turn_detection({"turn_detection": None})
    assert is_manual_turn_detection({"turn_detection": {"type": "none"}})
    assert not is_manual_turn_detection({"turn_detection": {"type": "server_vad"}})
    assert not is_manual_turn_detection({"turn_detection": {"type": "semantic_vad"}})
    ga = build_session({"turn_detection": {"type": "server_vad"}}, "ga")
    assert not is_manual_turn_detection(ga)
    assert is_manual_turn_detection(build_session({"turn_detection": None}, "ga"))


def test_session_fields_are_the_seeds() -> None:
    assert set(SEED_DEFAULTS) == SESSION_FIELDS
