"""The fake Realtime API's state machine (`rtkit.fake.FakeConnection`) with plain data: client
events in, server events out, a clock passed by hand. No sockets."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, TypeAdapter

from rtkit.audio import write_wav
from rtkit.fake import FakeConnection, load_script, read_handshake, tone
from rtkit.fake.handshake import mask_key, select_subprotocol

WEATHER_RULES = [
    {"when": {"text": "weather"},
     "reply": {"function_call": {"name": "get_weather", "arguments": {"location": "Paris"}}}},
    {"when": {"tool_output": "sunny"}, "reply": {"text": "It is sunny in Paris."}},
]
KEY = "sk-test-" + "fake-core-key-0000"  # built at runtime: no key-shaped literal


def connect(script: Any = None, *, dialect: str = "auto", api_key: str | None = None,
            headers: dict[str, str] | None = None, offered: tuple[str, ...] = (),
            target: str = "/v1/realtime?model=gpt-realtime", seed: str = "core",
            ) -> tuple[FakeConnection, list[dict[str, Any]]]:
    """A connection and its first events."""
    handshake = read_handshake(target, headers or {}, list(offered), dialect=dialect,  # type: ignore[arg-type]
                               default_model="gpt-realtime", api_key=api_key)
    conn = FakeConnection(load_script(script), handshake, seed=seed)
    return conn, conn.start(0.0)


def send(conn: FakeConnection, *events: dict[str, Any] | str | bytes,
         now: float = 0.0) -> list[dict[str, Any]]:
    """Send client events, then let every streamed response run to its end."""
    out: list[dict[str, Any]] = []
    for event in events:
        out += conn.receive(json.dumps(event) if isinstance(event, dict) else event, now)
    return out + drain(conn)


def drain(conn: FakeConnection) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while (deadline := conn.next_deadline()) is not None:
        out += conn.advance(deadline)
    return out


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def say(text: str) -> dict[str, Any]:
    return {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


def text_session(dialect: str = "ga") -> dict[str, Any]:
    if dialect == "ga":
        return {"type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["text"]}}
    return {"type": "session.update", "session": {"modalities": ["text"]}}


def answer(events: list[dict[str, Any]]) -> str:
    """The text or transcript the assistant streamed."""
    return "".join(e["delta"] for e in events if e["type"] in (
        "response.output_text.delta", "response.text.delta",
        "response.output_audio_transcript.delta", "response.audio_transcript.delta"))


def audio_append(samples: np.ndarray) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append",
            "audio": base64.b64encode(samples.astype("<i2").tobytes()).decode()}


# -- session --------------------------------------------------------------------------------


def test_session_created_comes_first_with_live_shaped_ids() -> None:
    conn, first = connect({"rules": WEATHER_RULES})
    assert types(first) == ["session.created"]
    created = first[0]
    assert list(created)[:2] == ["type", "event_id"]
    assert re.fullmatch(r"event_[A-Za-z0-9]{21}", created["event_id"])
    session = created["session"]
    assert re.fullmatch(r"sess_[A-Za-z0-9]{21}", session["id"])
    assert session["type"] == "realtime" and session["model"] == "gpt-realtime"
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert re.fullmatch(r"conv_[A-Za-z0-9]{21}", conn.conversation_id)
    out = send(conn, say("What's the weather?"), {"type": "response.create"})
    done = next(e for e in out if e["type"] == "response.done")["response"]
    assert re.fullmatch(r"resp_[A-Za-z0-9]{21}", done["id"])
    call = done["output"][0]
    assert re.fullmatch(r"item_[A-Za-z0-9]{21}", call["id"])
    assert re.fullmatch(r"call_[A-Za-z0-9]{16}", call["call_id"])
    assert done["conversation_id"] == conn.conversation_id


def test_the_model_comes_from_the_url_and_the_dialect_from_the_client() -> None:
    _, first = connect(target="/v1/realtime?model=gpt-4o-realtime-preview",
                       headers={"OpenAI-Beta": "realtime=v1"})
    session = first[0]["session"]
    assert session["model"] == "gpt-4o-realtime-preview"
    assert session["modalities"] == ["text", "audio"] and "type" not in session  # beta shape
    _, first = connect(offered=("realtime", "openai-beta.realtime-v1"))
    assert "modalities" in first[0]["session"]
    _, first = connect(target="/v1/realtime")
    assert first[0]["session"]["model"] == "gpt-realtime"  # the script's model


def test_session_update_merges_and_answers_session_updated() -> None:
    conn, _ = connect()
    out = send(conn, {"type": "session.update", "session": {
        "type": "realtime", "instructions": "Be brief.",
        "audio": {"output": {"voice": "verse"}, "input": {"turn_detection": None}}}})
    assert types(out) == ["session.updated"]
    session = out[0]["session"]
    assert session["instructions"] == "Be brief."
    assert session["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000},
                                          "voice": "verse", "speed": 1.0}
    assert session["audio"]["input"]["turn_detection"] is None
    assert conn.session.voice == "verse" and conn.session.turn_detection is None


@pytest.mark.parametrize(("session", "code", "param"), [
    ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities"),
    ({"type": "realtime", "voice": "alloy"}, "unknown_parameter", "session.voice"),
    ({"type": "realtime", "audio": {"input": {"vad": {}}}}, "unknown_parameter",
     "session.audio.input.vad"),
    ({"instructions": "hi"}, "missing_required_parameter", "session.type"),
    ({"modalities": ["text"]}, "missing_required_parameter", "session.type"),  # as live: first
    ({"type": "transcription"}, "invalid_value", "session.type"),
])
def test_a_bad_ga_session_update_is_an_error_like_the_live_apis(
        session: dict[str, Any], code: str, param: str) -> None:
    conn, _ = connect()
    out = send(conn, {"type": "session.update", "event_id": "evt_1", "session": session})
    assert types(out) == ["error"]
    error = out[0]["error"]
    assert (error["type"], error["code"], error["param"], error["event_id"]) == (
        "invalid_request_error", code, param, "evt_1")
    assert conn.session.fields["output_modalities"] == ["audio"]  # nothing was applied


def test_beta_takes_the_flat_session_fields() -> None:
    conn, _ = connect(headers={"OpenAI-Beta": "realtime=v1"})
    out = send(conn, {"type": "session.update", "session": {"modalities": ["text"],
                                                            "voice": "echo"}})
    assert types(out) == ["session.updated"]
    assert out[0]["session"]["modalities"] == ["text"] and conn.session.voice == "echo"


# -- conversation items ----------------------------------------------------------------------


def test_items_are_added_then_done_in_ga_and_created_in_beta() -> None:
    conn, _ = connect()
    out = send(conn, say("one"), say("two"))
    assert types(out) == ["conversation.item.added", "conversation.item.done"] * 2
    first, second = out[0], out[2]
    assert first["previous_item_id"] is None  # JSON null, never "root"
    assert "previous_item_id" in first
    assert second["previous_item_id"] == first["item"]["id"]
    assert first["item"]["object"] == "realtime.item" and first["item"]["status"] == "completed"
    beta, _ = connect(headers={"OpenAI-Beta": "realtime=v1"})
    out = send(beta, say("one"))
    assert types(out) == ["conversation.item.created"]
    assert out[0]["previous_item_id"] is None


def test_an_item_inserted_at_root_has_a_null_previous_item_id() -> None:
    conn, _ = connect()
    send(conn, say("first"))
    out = send(conn, {**say("before everything"), "previous_item_id": "root"})
    assert out[0]["previous_item_id"] is None
    assert conn.items.order[0] == out[0]["item"]["id"]


def test_truncate_delete_and_retrieve_know_which_items_exist() -> None:
    conn, _ = connect()
    item_id = send(conn, say("hi"))[0]["item"]["id"]
    out = send(conn, {"type": "conversation.item.truncate", "item_id": item_id,
                      "content_index": 0, "audio_end_ms": 300})
    assert out[0]["type"] == "conversation.item.truncated"
    assert (out[0]["item_id"], out[0]["audio_end_ms"]) == (item_id, 300)
    out = send(conn, {"type": "conversation.item.retrieve", "item_id": item_id})
    assert out[0]["type"] == "conversation.item.retrieved" and out[0]["item"]["id"] == item_id
    out = send(conn, {"type": "conversation.item.delete", "item_id": item_id})
    assert out[0] == {**out[0], "type": "conversation.item.deleted", "item_id": item_id}
    for kind, code in (("truncate", "item_truncate_invalid_item_id"),
                       ("delete", "item_delete_invalid_item_id"),
                       ("retrieve", "item_retrieve_invalid_item_id")):
        out = send(conn, {"type": f"conversation.item.{kind}", "item_id": item_id,
                          "content_index": 0, "audio_end_ms": 1})
        assert out[0]["error"]["code"] == code and item_id in out[0]["error"]["message"]


# -- responses -------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_a_text_answer_streams_word_by_word(dialect: str) -> None:
    headers = {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}
    conn, _ = connect({"default": {"text": "The capital of France is Paris."}},
                      headers=headers)
    send(conn, text_session(dialect))
    out = send(conn, say("Capital of France?"), {"type": "response.create"})
    delta = "response.output_text.delta" if dialect == "ga" else "response.text.delta"
    added = "conversation.item.added" if dialect == "ga" else "conversation.item.created"
    expected = [added, *(["conversation.item.done"] if dialect == "ga" else []),
                "response.created", "response.output_item.added", added,
                "response.content_part.added", *[delta] * 6, delta.replace("delta", "done"),
                "response.content_part.done", "response.output_item.done",
                *(["conversation.item.done"] if dialect == "ga" else []),
                "response.done", "rate_limits.updated"]
    assert types(out) == expected
    assert answer(out) == "The capital of France is Paris."
    done = out[-2]["response"]
    assert done["status"] == "completed" and done["usage"]["total_tokens"] > 0
    message = done["output"][0]
    part_type = "output_text" if dialect == "ga" else "text"
    assert message["content"] == [{"type": part_type, "text": "The capital of France is Paris."}]


def test_deltas_wait_for_the_clock() -> None:
    conn, _ = connect({"default": {"text": "one two three"}, "delta_ms": 100})
    send(conn, text_session())
    out = conn.receive(json.dumps({"type": "response.create"}), 10.0)
    assert "response.output_text.delta" not in types(out)
    assert conn.next_deadline() == pytest.approx(10.1)
    assert conn.advance(10.05) == []
    assert types(conn.advance(10.1)) == ["response.output_text.delta"]
    assert conn.next_deadline() == pytest.approx(10.2)


def test_response_metadata_is_echoed_in_created_and_done() -> None:
    conn, _ = connect()
    send(conn, text_session())
    metadata = {"client_event_id": "response_create_1866", "topic": "x"}
    out = send(conn, {"type": "response.create", "response": {"metadata": metadata}})
    created = next(e for e in out if e["type"] == "response.created")
    done = next(e for e in out if e["type"] == "response.done")
    assert created["response"]["metadata"] == metadata == done["response"]["metadata"]
    out = send(conn, {"type": "response.create"})
    assert next(e for e in out if e["type"] == "response.done")["response"]["metadata"] is None


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_an_audio_answer_has_its_transcript(dialect: str) -> None:
    headers = {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}
    conn, _ = connect({"default": {"text": "Hi! How can I help you today?", "audio_ms": 1200}},
                      headers=headers)
    out = send(conn, {"type": "response.create"})
    prefix = "response.output_audio" if dialect == "ga" else "response.audio"
    chunks = [e["delta"] for e in out if e["type"] == f"{prefix}.delta"]
    samples = np.concatenate([np.frombuffer(base64.b64decode(c), "<i2") for c in chunks])
    assert len(chunks) == 12 and len(samples) == 24000 * 1200 // 1000
    assert answer(out) == "Hi! How can I help you today?"
    done = next(e for e in out if e["type"] == f"{prefix}_transcript.done")
    assert done["transcript"] == "Hi! How can I help you today?"
    part = {"ga": "output_audio", "beta": "audio"}[dialect]
    message = next(e for e in out if e["type"] == "response.done")["response"]["output"][0]
    assert message["content"] == [{"type": part, "transcript": "Hi! How can I help you today?"}]


def test_a_text_reply_is_spoken_300_ms_a_word_and_a_wav_reply_is_the_file(
        tmp_path: Path) -> None:
    conn, _ = connect({"default": {"text": "three short words"}})
    out = send(conn, {"type": "response.create"})
    said = b"".join(base64.b64decode(e["delta"]) for e in out
                    if e["type"] == "response.output_audio.delta")
    assert len(said) // 2 == 24000 * 900 // 1000
    voice = (np.arange(24000 * 350 // 1000) % 300).astype(np.int16)
    write_wav(tmp_path / "voice.wav", voice)
    (tmp_path / "s.yaml").write_text("default: {text: From a file., audio_wav: voice.wav}\n")
    conn, _ = connect(tmp_path / "s.yaml")
    out = send(conn, {"type": "response.create"})
    said = b"".join(base64.b64decode(e["delta"]) for e in out
                    if e["type"] == "response.output_audio.delta")
    assert np.array_equal(np.frombuffer(said, "<i2"), voice)
    assert answer(out) == "From a file."


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_a_tool_round_trip_streams_the_arguments(dialect: str) -> None:
    headers = {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}
    conn, _ = connect({"rules": WEATHER_RULES}, headers=headers)
    send(conn, text_session(dialect))
    out = send(conn, say("What's the weather in Paris?"), {"type": "response.create"})
    deltas = [e for e in out if e["type"] == "response.function_call_arguments.delta"]
    assert len(deltas) > 1 and "".join(d["delta"] for d in deltas) == '{"location": "Paris"}'
    done = next(e for e in out if e["type"] == "response.function_call_arguments.done")
    assert done["arguments"] == '{"location": "Paris"}'
    assert ("name" in done) == (dialect == "ga")
    call = next(e for e in out if e["type"] == "response.done")["response"]["output"][0]
    assert (call["type"], call["name"], call["status"]) == ("function_call", "get_weather",
                                                            "completed")
    assert all(d["call_id"] == call["call_id"] for d in deltas)
    out = send(conn, {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call["call_id"],
        "output": '{"sky": "sunny"}'}}, {"type": "response.create"})
    assert "role" not in out[0]["item"]
    assert answer(out) == "It is sunny in Paris."


# -- rules -----------------------------------------------------------------------------------


def test_rules_first_match_wins_then_the_default() -> None:
    script = {"rules": [
        {"when": {"text": "paris"}, "reply": {"text": "first"}},
        {"when": {"text": "Paris"}, "reply": {"text": "second"}},
        {"when": {"regex": r"^\d+ \+ \d+$"}, "reply": {"text": "arithmetic"}},
        {"when": {"regex": "(?i)^HELLO"}, "reply": {"text": "greeting"}},
    ], "default": {"text": "fallback"}}
    conn, _ = connect(script)
    send(conn, text_session())
    said = {}
    for question in ("Tell me about PARIS", "2 + 2", "hello there", "say 2 + 2", "nothing"):
        said[question] = answer(send(conn, say(question), {"type": "response.create"}))
    assert said == {"Tell me about PARIS": "first", "2 + 2": "arithmetic",
                    "hello there": "greeting", "say 2 + 2": "fallback", "nothing": "fallback"}


def test_a_rule_answers_only_the_input_since_the_previous_response() -> None:
    conn, _ = connect({"rules": WEATHER_RULES, "default": {"text": "fallback"}})
    send(conn, text_session())
    first = send(conn, say("weather?"), {"type": "response.create"})
    assert "response.function_call_arguments.done" in types(first)
    again = send(conn, {"type": "response.create"})  # no new input: not the weather again
    assert answer(again) == "fallback"


def test_a_rule_on_the_response_number_and_conditions_combine() -> None:
    script = {"rules": [
        {"when": {"response": 1}, "reply": {"text": "first answer"}},
        {"when": {"text": "again", "response": 3}, "reply": {"text": "third, asked again"}},
    ], "default": {"text": "later"}}
    conn, _ = connect(script)
    send(conn, text_session())
    said = [answer(send(conn, say(t), {"type": "response.create"}))
            for t in ("again", "again", "again", "again")]
    assert said == ["first answer", "later", "third, asked again", "later"]


def test_a_reply_can_be_an_error_event_or_raw_events() -> None:
    script = {"rules": [
        {"when": {"text": "fail"}, "reply": {"error": {
            "type": "server_error", "code": "server_error",
            "message": "The server had an error."}}},
        {"when": {"text": "raw"}, "reply": {"events": [
            {"type": "response.done", "response": {"id": "resp_custom", "status": "failed"}},
            {"type": "rate_limits.updated", "event_id": "event_fixed", "rate_limits": []}]}},
    ]}
    conn, _ = connect(script)
    out = send(conn, say("fail"), {"type": "response.create", "event_id": "evt_9"})
    error = out[-1]
    assert types(out)[-1] == "error" and "response.created" not in types(out)
    assert error["error"] == {"type": "server_error", "code": "server_error",
                              "message": "The server had an error.", "param": None,
                              "event_id": "evt_9"}
    out = send(conn, say("raw"), {"type": "response.create"})
    assert types(out)[-2:] == ["response.done", "rate_limits.updated"]
    assert out[-2]["response"] == {"id": "resp_custom", "status": "failed"}
    assert re.fullmatch(r"event_\w{21}", out[-2]["event_id"])
    assert out[-1]["event_id"] == "event_fixed"
    # an error reply is not a response in progress: a new one may start at once
    assert "response.created" in types(send(conn, say("x"), {"type": "response.create"}))


# -- cancellation ----------------------------------------------------------------------------


def test_response_cancel_and_the_errors_around_it() -> None:
    conn, _ = connect({"default": {"text": "one two three four five six"}, "delta_ms": 50})
    send(conn, text_session())
    out = conn.receive(json.dumps({"type": "response.create"}), 0.0)
    out += conn.advance(0.05)  # one word said
    busy = conn.receive(json.dumps({"type": "response.create", "event_id": "evt_2"}), 0.06)
    assert busy[0]["error"]["code"] == "conversation_already_has_active_response"
    assert conn.receive(json.dumps({"type": "response.cancel"}), 0.07) == []
    out += drain(conn)
    done = next(e for e in out if e["type"] == "response.done")["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done["output"][0]["status"] == "incomplete"
    assert answer(out) == "one"
    late = send(conn, {"type": "response.cancel", "event_id": "evt_3"})
    assert late[0]["error"]["code"] == "response_cancel_not_active"
    assert late[0]["error"]["event_id"] == "evt_3"


# -- input audio -----------------------------------------------------------------------------


def test_server_vad_turns_on_appended_audio_and_barge_in_cancels() -> None:
    conn, _ = connect({"rules": [{"when": {"response": 1}, "reply": {
        "text": "A long story about the sea.", "audio_ms": 3000}}],
        "default": {"text": "Sure.", "audio_ms": 300}, "delta_ms": 40})
    speech = np.concatenate([tone(600, freq=440.0), np.zeros(24000 * 400 // 1000, "<i2")])
    out: list[dict[str, Any]] = []
    for start in range(0, len(speech), 2400):
        out += conn.receive(json.dumps(audio_append(speech[start:start + 2400])), 0.0)
    assert types(out)[:5] == ["input_audio_buffer.speech_started",
                              "input_audio_buffer.speech_stopped",
                              "input_audio_buffer.committed", "conversation.item.added",
                              "conversation.item.done"]
    started, stopped, committed = out[0], out[1], out[2]
    assert started["audio_start_ms"] == 0 and stopped["audio_end_ms"] == 800  # 600 + 200 ms
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert committed["previous_item_id"] is None
    assert "response.created" in types(out)  # create_response: the answer starts
    out += conn.advance(conn.next_deadline() or 0.0)  # some of it is said
    barge = conn.receive(json.dumps(audio_append(tone(200, freq=330.0))), 1.0)
    assert types(barge) == ["input_audio_buffer.speech_started"]
    assert barge[0]["audio_start_ms"] == 1000 - 300  # prefix padding
    rest = drain(conn)
    done = next(e for e in rest if e["type"] == "response.done")["response"]
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}


def test_manual_commit_too_small_is_an_error_then_a_turn_with_transcription() -> None:
    script = {"transcripts": ["What time is it?"],
              "rules": [{"when": {"text": "what time"}, "reply": {"text": "Three o'clock."}}]}
    conn, _ = connect(script)
    send(conn, {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "gpt-4o-transcribe"}}}}})
    out = send(conn, audio_append(tone(50)), {"type": "input_audio_buffer.commit",
                                              "event_id": "evt_c"})
    error = out[-1]["error"]
    assert (error["code"], error["event_id"]) == ("input_audio_buffer_commit_empty", "evt_c")
    assert "only has 50.00ms of audio" in error["message"]
    out = send(conn, audio_append(tone(600)), {"type": "input_audio_buffer.commit"},
               {"type": "response.create"})
    kinds = types(out)
    assert kinds[:3] == ["input_audio_buffer.committed", "conversation.item.added",
                         "conversation.item.done"]
    deltas = [e["delta"] for e in out
              if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert "".join(deltas) == "What time is it?"
    completed = next(e for e in out
                     if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "What time is it?"
    assert answer(out) == "Three o'clock."  # the rule matched what the audio "said"
    assert send(conn, {"type": "input_audio_buffer.clear"})[0]["type"] == \
        "input_audio_buffer.cleared"


# -- bad input -------------------------------------------------------------------------------


def test_bad_client_messages_get_the_live_apis_errors_and_the_connection_goes_on() -> None:
    conn, _ = connect()
    out = send(conn, "{not json", b"\x00\x01", {"type": "response.nope", "event_id": "e1"},
               {"no": "type"}, "[1, 2]")
    codes = [(e["error"]["code"], e["error"]["param"]) for e in out]
    assert codes == [("invalid_json", None), ("invalid_event", None), ("invalid_value", "type"),
                     ("missing_required_parameter", "type"), ("invalid_json", None)]
    assert out[1]["error"]["message"] == (
        "Expected a text WebSocket message; binary frames are not supported.")
    assert "Invalid value: 'response.nope'" in out[2]["error"]["message"]
    assert "'session.update'" in out[2]["error"]["message"]
    assert out[2]["error"]["event_id"] == "e1" and "event_id" not in out[0]["error"]
    assert types(send(conn, say("still there"))) == ["conversation.item.added",
                                                    "conversation.item.done"]
    assert conn.errors == 5


# -- handshake -------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "offered"), [
    ({"Authorization": "Bearer sk-wrong-key-123456"}, ()),
    ({}, ("realtime", "openai-insecure-api-key.sk-wrong-key-123456")),
    ({}, ()),
])
def test_a_wrong_or_missing_key_is_an_error_then_close_3000(
        headers: dict[str, str], offered: tuple[str, ...]) -> None:
    conn, first = connect(api_key=KEY, headers=headers, offered=offered)
    assert types(first) == ["error"]
    error = first[0]["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert "wrong-key-123456" not in error["message"]  # masked, like the live API
    assert conn.close_request == (3000, "invalid_request_error.invalid_api_key")


@pytest.mark.parametrize(("headers", "offered"), [
    ({"Authorization": f"Bearer {KEY}"}, ()),
    ({}, ("realtime", f"openai-insecure-api-key.{KEY}")),
])
def test_the_right_key_is_accepted_and_no_key_configured_accepts_any(
        headers: dict[str, str], offered: tuple[str, ...]) -> None:
    conn, first = connect(api_key=KEY, headers=headers, offered=offered)
    assert types(first) == ["session.created"] and conn.close_request is None
    conn, first = connect(headers={"Authorization": "Bearer anything"})
    assert types(first) == ["session.created"]


def test_a_ga_only_fake_refuses_beta_like_the_live_api_today() -> None:
    conn, first = connect(dialect="ga", headers={"OpenAI-Beta": "realtime=v1"})
    assert first[0]["error"]["code"] == "beta_api_shape_disabled"
    assert conn.close_request == (4000, "invalid_request_error.beta_api_shape_disabled")
    conn, first = connect(dialect="beta")
    assert "modalities" in first[0]["session"]


def test_subprotocol_selection_and_key_masking() -> None:
    assert select_subprotocol(["realtime", "openai-insecure-api-key.x"]) == "realtime"
    assert select_subprotocol(["openai-beta.realtime-v1", "realtime"]) == "realtime"
    assert select_subprotocol([]) is None and select_subprotocol(["other"]) is None
    assert mask_key("sk-abcdefghijklmnop") == "sk-***mnop" and mask_key("short") == "***"


# -- determinism -----------------------------------------------------------------------------


def run_session(seed: str) -> list[dict[str, Any]]:
    conn, out = connect({"rules": WEATHER_RULES}, seed=seed)
    return out + send(conn, say("weather"), {"type": "response.create"})


def test_the_same_seed_and_traffic_give_the_same_events() -> None:
    assert run_session("a") == run_session("a")
    assert run_session("a")[0]["event_id"] != run_session("b")[0]["event_id"]


# -- every GA event parses with the openai package's models ----------------------------------

# fields the live API sends that the models do not list
_UNLISTED = {"obfuscation", "session.object", "session.id", "session.expires_at"}


def _extras(model: Any, path: str, found: set[str]) -> None:
    if isinstance(model, BaseModel):
        for key in model.model_extra or {}:
            found.add(f"{path}.{key}".lstrip("."))
        for name in type(model).model_fields:
            _extras(getattr(model, name), f"{path}.{name}" if path else name, found)
    elif isinstance(model, list):
        for value in model:
            _extras(value, path, found)


def everything(dialect: str) -> list[dict[str, Any]]:
    """A session that makes the fake send every kind of event it can."""
    headers = {"OpenAI-Beta": "realtime=v1"} if dialect == "beta" else {}
    script = {"rules": WEATHER_RULES, "transcripts": ["hello"], "delta_ms": 10,
              "default": {"text": "Fine, thanks.", "audio_ms": 400}}
    conn, out = connect(script, headers=headers)
    transcription = ({"type": "session.update", "session": {"type": "realtime", "audio": {
        "input": {"transcription": {"model": "whisper-1"}}}}} if dialect == "ga" else
        {"type": "session.update", "session": {"input_audio_transcription": {
            "model": "whisper-1"}}})
    out += send(conn, transcription, say("weather?"), {"type": "response.create",
                                                       "response": {"metadata": {"a": "b"}}})
    call = next(e for e in out if e["type"] == "response.done")["response"]["output"][0]
    out += send(conn, {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}},
        {"type": "response.create"})
    speech = np.concatenate([tone(500, 440.0), np.zeros(7200, "<i2")])
    out += send(conn, audio_append(speech))
    item = next(e for e in reversed(out) if e["type"] == "response.done")["response"]["output"][0]
    out += send(conn, {"type": "conversation.item.truncate", "item_id": item["id"],
                       "content_index": 0, "audio_end_ms": 100},
                {"type": "conversation.item.retrieve", "item_id": item["id"]},
                {"type": "conversation.item.delete", "item_id": item["id"]},
                {"type": "input_audio_buffer.clear"}, {"type": "input_audio_buffer.commit"},
                {"type": "response.cancel"}, "{bad")
    cancelled = conn.receive(json.dumps({"type": "response.create"}), 100.0)
    conn.receive(json.dumps({"type": "response.cancel"}), 100.0)
    return out + cancelled + drain(conn)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_every_event_the_fake_sends_parses_with_the_openai_models(dialect: str) -> None:
    if dialect == "ga":
        from openai.types.realtime import RealtimeServerEvent
    else:
        from openai.types.beta.realtime import RealtimeServerEvent
    adapter: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
    events = everything(dialect)
    seen = set(types(events))
    assert len(seen) >= 25, seen
    extras: set[str] = set()
    for event in events:
        model = adapter.validate_python(event)  # raises on a wrong shape
        assert model.type == event["type"]
        _extras(model, "", extras)
    if dialect == "ga":  # the strong check: no field the models do not know, but the live ones
        assert {e.split(".", 1)[-1] if e.startswith("session") else e.rsplit(".", 1)[-1]
                for e in extras} <= {"obfuscation", "object", "id", "expires_at"}, extras
        assert {e for e in extras if not e.endswith("obfuscation")} <= _UNLISTED, extras
