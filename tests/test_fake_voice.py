"""The fake Realtime API's voice-app features (issue 22), with plain data: several function calls
in one response, G.711 sessions at 8 kHz, GA transcription sessions (`?intent=transcription`),
out-of-band responses and `response.cancel` by id. Every event parses with the `openai`
package's models and has no field they do not know (the live-only ones aside)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from rtkit.audio import G711_ULAW
from rtkit.fake import tone
from tests.test_fake_core import _extras, audio_append, connect, say, send, text_session, types

CALLS = {"rules": [
    {"when": {"text": "weather"}, "reply": {"function_calls": [
        {"name": "get_weather", "arguments": {"location": "Paris"}},
        {"name": "get_time", "arguments": {"city": "Paris"}}]}},
    {"when": {"text": "classify"}, "reply": {"text": "positive"}},
], "default": {"text": "Hello there.", "audio_ms": 1000}}


def strictly_ga(events: list[dict[str, Any]]) -> None:
    """Each event parses with the GA models, with no field they lack but the live extras."""
    from openai.types.realtime import RealtimeServerEvent

    adapter: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
    for event in events:
        found: set[str] = set()
        _extras(adapter.validate_python(event), "", found)
        assert {f.rsplit(".", 1)[-1] for f in found} <= {"obfuscation", "object", "id",
                                                         "expires_at"}, (event["type"], found)


def test_one_response_can_call_two_functions_in_parallel() -> None:
    conn, out = connect(CALLS)
    out += send(conn, text_session(), say("weather and time?"), {"type": "response.create"})
    strictly_ga(out)
    done = next(e for e in out if e["type"] == "response.done")["response"]
    assert [(i["type"], i["name"], i["status"]) for i in done["output"]] == [
        ("function_call", "get_weather", "completed"), ("function_call", "get_time", "completed")]
    assert done["output"][0]["call_id"] != done["output"][1]["call_id"]
    added = [e["output_index"] for e in out if e["type"] == "response.output_item.added"]
    assert added == [0, 1]
    # both outputs, then one response.create: answered, no error
    out = send(conn, *({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": i["call_id"], "output": "{}"}}
        for i in done["output"]), {"type": "response.create"})
    assert "error" not in types(out) and types(out).count("response.done") == 1


def test_a_second_response_create_during_the_calls_is_refused_as_live() -> None:
    conn, _ = connect({**CALLS, "delta_ms": 10})
    send(conn, text_session(), say("weather?"))
    first = conn.receive('{"type": "response.create"}', 0.0)  # the calls start streaming
    second = conn.receive('{"type": "response.create"}', 0.0)
    assert types(first)[0] == "response.created"
    assert second[0]["error"]["code"] == "conversation_already_has_active_response"


def ulaw_session() -> dict[str, Any]:
    return {"type": "session.update", "session": {"type": "realtime", "audio": {
        "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
        "output": {"format": {"type": "audio/pcmu"}}}}}


def test_a_g711_session_speaks_and_hears_mulaw_at_8_khz() -> None:
    conn, out = connect(CALLS)
    out += send(conn, ulaw_session(), say("hello"), {"type": "response.create"})
    strictly_ga(out)
    audio = b"".join(base64.b64decode(e["delta"]) for e in out
                     if e["type"] == "response.output_audio.delta")
    assert len(audio) == 8000  # 1 s: one byte a sample at 8 kHz
    decoded = G711_ULAW.decode(audio)
    assert np.abs(decoded).max() > 3000  # the fake's voice, not silence
    created = next(e for e in out if e["type"] == "response.created")["response"]
    assert created["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    # input: 50 ms of μ-law is too little to commit, 200 ms is a turn
    speech = G711_ULAW.encode_base64(tone(200, 440.0, rate=8000))
    short = G711_ULAW.encode_base64(tone(50, 440.0, rate=8000))
    refused = send(conn, {"type": "input_audio_buffer.append", "audio": short},
                   {"type": "input_audio_buffer.commit"})
    assert refused[-1]["error"]["code"] == "input_audio_buffer_commit_empty"
    assert "50.00ms" in refused[-1]["error"]["message"]
    committed = send(conn, {"type": "input_audio_buffer.clear"},
                     {"type": "input_audio_buffer.append", "audio": speech},
                     {"type": "input_audio_buffer.commit"})
    assert "input_audio_buffer.committed" in types(committed)


def test_server_vad_hears_g711_speech_at_its_own_rate() -> None:
    conn, _ = connect()
    vad = {"type": "server_vad", "silence_duration_ms": 200, "create_response": False}
    send(conn, {"type": "session.update", "session": {"type": "realtime", "audio": {
        "input": {"format": {"type": "audio/pcma"}, "turn_detection": vad}}}})
    samples = np.concatenate([np.zeros(4000, "<i2"), tone(500, 440.0, rate=8000),
                              np.zeros(4000, "<i2")])
    from rtkit.audio import G711_ALAW

    out = send(conn, {"type": "input_audio_buffer.append",
                      "audio": G711_ALAW.encode_base64(samples)})
    started = next(e for e in out if e["type"] == "input_audio_buffer.speech_started")
    stopped = next(e for e in out if e["type"] == "input_audio_buffer.speech_stopped")
    assert started["audio_start_ms"] == 500 - 300  # speech at 500 ms, minus the padding
    assert stopped["audio_end_ms"] == 1000 + 200  # 500 ms of speech, then 200 ms of silence


def test_a_transcription_session_transcribes_and_has_no_responses() -> None:
    conn, out = connect({"transcripts": ["turn the lights on"]},
                        target="/v1/realtime?intent=transcription")
    assert out[0]["session"]["type"] == "transcription"
    update = {"type": "session.update", "session": {
        "type": "transcription", "include": ["item.input_audio_transcription.logprobs"],
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                            "transcription": {"model": "gpt-4o-transcribe"},
                            "turn_detection": None}}}}
    out += send(conn, update, audio_append(tone(300, 440.0)), {"type": "input_audio_buffer.commit"})
    strictly_ga(out)
    assert out[1]["type"] == "session.updated"
    completed = next(e for e in out
                     if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "turn the lights on"
    assert "response.created" not in types(out)
    refused = send(conn, {"type": "response.create"}, text_session())
    assert [e["error"]["param"] for e in refused] == ["type", "session.type"]
    assert "realtime session update event to a transcription session" in refused[1]["error"][
        "message"]
    realtime, _ = connect()
    wrong = send(realtime, update)[0]["error"]
    assert wrong["param"] == "session.type" and "intent=transcription" in wrong["message"]


def test_an_out_of_band_response_stays_out_of_the_conversation() -> None:
    conn, out = connect({**CALLS, "delta_ms": 10})
    out += send(conn, text_session(), say("hello"))
    oob = {"type": "response.create", "response": {
        "conversation": "none", "output_modalities": ["text"], "metadata": {"topic": "mood"},
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "classify: I love it"}]}]}}
    # the conversation's own response is running; an out-of-band one may run beside it
    first = conn.receive('{"type": "response.create"}', 0.0)
    beside = send(conn, oob)
    everything = out + first + beside
    strictly_ga(everything)
    created = [e["response"] for e in everything if e["type"] == "response.created"]
    assert [r["conversation_id"] is None for r in created] == [False, True]
    done = [e["response"] for e in beside if e["type"] == "response.done"]
    by_topic = {str(r["metadata"]): r for r in done}
    oob_done = by_topic[str({"topic": "mood"})]
    text = "".join(e["delta"] for e in beside if e["type"] == "response.output_text.delta"
                   and e["response_id"] == oob_done["id"])
    assert text == "positive"  # it answered its own input, not the conversation's "hello"
    oob_items = {i["id"] for i in oob_done["output"]}
    assert not [e for e in beside if e["type"].startswith("conversation.item")
                and e.get("item", {}).get("id") in oob_items]
    assert not oob_items & set(conn.items.order)


@pytest.mark.parametrize("which", ["its id", "another id"])
def test_response_cancel_names_the_response(which: str) -> None:
    conn, _ = connect({"delta_ms": 10})
    send(conn, text_session(), say("hi"))
    created = conn.receive('{"type": "response.create"}', 0.0)[0]["response"]["id"]
    wanted = created if which == "its id" else "resp_other"
    out = send(conn, {"type": "response.cancel", "response_id": wanted})
    if which == "its id":
        assert next(e for e in out if e["type"] == "response.done")["response"][
            "status"] == "cancelled"
    else:
        assert out[0]["error"]["code"] == "response_cancel_not_active"
