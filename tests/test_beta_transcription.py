"""Beta transcription sessions (`OpenAI-Beta: realtime=v1` with `?intent=transcription`): the
client sends `transcription_session.update` with only the beta transcription fields, the fake
answers `transcription_session.updated` and transcribes committed or VAD audio, and a recorded
session replays. Every event is checked against the `openai` package's beta models."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest

from rtkit import RealtimeClient
from rtkit.fake import tone
from rtkit.protocol.session import build_session
from rtkit.server.proxy import RecordingProxy
from rtkit.server.replay_server import ReplayServer
from tests.test_client_voice import TIMEOUT, live, no_extras
from tests.test_fake_core import audio_append, connect, send, types

HEARD = "turn the lights on"
SCRIPT = {"transcripts": [HEARD]}
BETA_FIELDS = {"input_audio_format", "input_audio_transcription", "turn_detection",
               "input_audio_noise_reduction", "include"}
BETA_TARGET = "/v1/realtime?intent=transcription"
BETA_HEADERS = {"OpenAI-Beta": "realtime=v1"}


def beta_client_event(event: dict[str, Any]) -> pydantic.BaseModel:
    """A client event as the beta models parse it, strictly."""
    from openai.types.beta.realtime import RealtimeClientEvent

    model = pydantic.TypeAdapter(RealtimeClientEvent).validate_python(event)
    no_extras(model, event["type"])
    return model  # type: ignore[no-any-return]


def beta_server_events(events: list[dict[str, Any]]) -> None:
    """Each server event parses with the beta models."""
    from openai.types.beta.realtime import RealtimeServerEvent

    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
    for event in events:
        assert adapter.validate_python(event).type == event["type"]


def test_build_session_gives_the_beta_transcription_fields_only() -> None:
    from openai.types.beta.realtime.transcription_session_update import TranscriptionSessionUpdate

    fields = {"type": "transcription", "modalities": ["text", "audio"], "voice": "verse",
              "instructions": "", "tools": [], "temperature": 0.8,
              "output_audio_format": "pcm16", "input_audio_format": "g711_alaw",
              "turn_detection": {"type": "server_vad"},
              "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en"},
              "noise_reduction": {"type": "far_field"},
              "include": ["item.input_audio_transcription.logprobs"]}
    session = build_session(fields, "beta")
    assert session == {"input_audio_format": "g711_alaw",
                       "turn_detection": {"type": "server_vad"},
                       "input_audio_transcription": {"model": "gpt-4o-transcribe",
                                                     "language": "en"},
                       "input_audio_noise_reduction": {"type": "far_field"},
                       "include": ["item.input_audio_transcription.logprobs"]}
    no_extras(TranscriptionSessionUpdate.model_validate(
        {"type": "transcription_session.update", "session": session}))
    with pytest.raises(ValueError, match="beta dialect names formats"):
        build_session({"type": "transcription", "audio": {"input": {"format": {
            "type": "audio/pcm", "rate": 16000}}}}, "beta")


async def test_manual_turns_commit_then_transcript() -> None:
    async with live(SCRIPT, connect=False, dialect="beta") as run:
        client = run.client
        client.update_session(type="transcription", turn_detection=None,
                              input_audio_transcription={"model": "gpt-4o-transcribe",
                                                         "prompt": "home", "language": "en"},
                              noise_reduction={"type": "near_field"})
        await client.connect()
        await client.wait_for_session_created(timeout=TIMEOUT)
        updated = client.realtime.wait_for_next("server.transcription_session.updated",
                                                timeout=TIMEOUT)
        await updated
        assert client.session is not None
        assert client.session["object"] == "realtime.transcription_session"
        assert client.session["input_audio_noise_reduction"] == {"type": "near_field"}
        done = client.realtime.events(
            "server.conversation.item.input_audio_transcription.completed", timeout=TIMEOUT)
        client.append_input_audio(np.zeros(7_200, np.float32))  # 300 ms
        client.commit_input_audio()
        async for _name, event in done:
            transcript = event["transcript"]
            break
        done.close()
        item = client.conversation.get_items()[-1]
        with pytest.raises(ValueError, match="transcription session has no responses"):
            client.create_response()
    assert transcript == HEARD and item["formatted"]["transcript"] == HEARD
    target = run.fake.records[0].target
    assert "intent=transcription" in target and "model=" not in target
    first = next(e for d, e in run.frames if d == "client")
    assert first["type"] == "transcription_session.update"
    assert set(first["session"]) <= BETA_FIELDS
    assert first["session"] == {"input_audio_format": "pcm16", "turn_detection": None,
                                "input_audio_transcription": {"model": "gpt-4o-transcribe",
                                                              "prompt": "home",
                                                              "language": "en"},
                                "input_audio_noise_reduction": {"type": "near_field"}}
    for _d, event in (f for f in run.frames if f[0] == "client"):
        beta_client_event(event)
    beta_server_events([e for d, e in run.frames if d == "server"])
    assert run.sent("session.update") == [] and run.sent("response.create") == []
    assert run.server_errors() == [] and run.errors == []


async def test_server_vad_transcribes_without_a_commit() -> None:
    speech = np.concatenate([np.zeros(4_800, "<i2"), tone(600, 440.0),
                             np.zeros(12_000, "<i2")])
    async with live(SCRIPT, connect=False, dialect="beta") as run:
        client = run.client
        client.update_session(type="transcription",
                              turn_detection=client.default_server_vad_config,
                              input_audio_transcription={"model": "whisper-1"})
        await client.connect()
        await client.wait_for_session_created(timeout=TIMEOUT)
        done = client.realtime.events(
            "server.conversation.item.input_audio_transcription.completed", timeout=TIMEOUT)
        client.append_input_audio(speech)
        async for _name, event in done:
            transcript = event["transcript"]
            break
        done.close()
    assert transcript == HEARD
    assert run.sent("input_audio_buffer.commit") == []
    server = [e for d, e in run.frames if d == "server"]
    assert "input_audio_buffer.speech_stopped" in types(server)
    assert "response.created" not in types(server)
    beta_server_events(server)
    assert run.sent("transcription_session.update")[0]["session"]["turn_detection"] == (
        client.default_server_vad_config)
    assert run.server_errors() == [] and run.errors == []


def test_realtime_only_fields_and_tools_are_refused_in_beta() -> None:
    client = RealtimeClient(dialect="beta")
    client.update_session(type="transcription", include=["item.input_audio_transcription.logprobs"])
    for name, value in [("voice", "ash"), ("instructions", "Be brief."), ("modalities", ["text"]),
                        ("tools", [])]:
        with pytest.raises(ValueError, match=rf"'{name}'.*transcription session"):
            client.update_session(**{name: value})
    with pytest.raises(ValueError, match="transcription session has no tools"):
        client.add_tool({"name": "x"}, lambda _args: None)
    with pytest.raises(ValueError, match="transcription session has no responses"):
        client.create_response()
    with pytest.raises(ValueError, match="'type' exists only in the GA dialect"):
        RealtimeClient(dialect="beta").update_session(type="realtime")


def test_the_fake_checks_transcription_session_update_fields() -> None:
    conn, out = connect(SCRIPT, target=BETA_TARGET, headers=BETA_HEADERS)
    assert types(out) == ["session.created"]
    assert out[0]["session"]["object"] == "realtime.transcription_session"
    cases = {
        "bogus": {"bogus": 1},
        "voice": {"voice": "ash"},
        "input_audio_transcription.speed": {"input_audio_transcription": {"speed": 2}},
        "input_audio_format": {"input_audio_format": "mp3"},
    }
    for param, session in cases.items():
        (error,) = send(conn, {"type": "transcription_session.update", "event_id": "e1",
                               "session": session})
        assert error["type"] == "error", error
        assert error["error"]["type"] == "invalid_request_error"
        assert error["error"]["param"] == f"session.{param}"
        assert error["error"]["event_id"] == "e1"
        out.append(error)
    out += send(conn, {"type": "transcription_session.update", "session": {
        "input_audio_format": "pcm16", "turn_detection": None, "include": [],
        "input_audio_transcription": {"model": "gpt-4o-transcribe"}}},
        audio_append(tone(300, 440.0)), {"type": "input_audio_buffer.commit"})
    assert types(out)[5] == "transcription_session.updated"
    assert out[5]["session"]["turn_detection"] is None
    completed = [e for e in out
                 if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert [e["transcript"] for e in completed] == [HEARD]
    refused = send(conn, {"type": "response.create"},
                   {"type": "session.update", "session": {"voice": "ash"}})
    assert [e["error"]["param"] for e in refused] == ["type", "type"]
    out += refused
    beta_server_events(out)
    realtime, _ = connect(SCRIPT, headers=BETA_HEADERS)  # no intent: a realtime session
    (wrong,) = send(realtime, {"type": "transcription_session.update", "session": {}})
    assert wrong["error"]["param"] == "type" and "intent=transcription" in wrong["error"][
        "message"]


async def _transcribe(url: str, speak: Callable[[RealtimeClient], Awaitable[None]],
                      **session: Any) -> tuple[str, list[str]]:
    """A beta transcription session (`session`: its fields), `speak` feeding its audio: the
    transcript and the server events."""
    client = RealtimeClient(url=url, dialect="beta")
    seen: list[str] = []
    client.on("realtime.event",
              lambda e: e["source"] == "server" and seen.append(e["event"]["type"]))
    client.update_session(type="transcription", **session)
    await client.connect()
    try:
        await client.wait_for_session_created(timeout=TIMEOUT)
        done = asyncio.ensure_future(client.realtime.wait_for_next(
            "server.conversation.item.input_audio_transcription.completed", timeout=TIMEOUT))
        await speak(client)
        return str((await done)["transcript"]), seen
    finally:
        await client.disconnect()


async def _one_manual_turn(client: RealtimeClient) -> None:
    client.append_input_audio(tone(400, 440.0))
    client.commit_input_audio()


MANUAL = functools.partial(_transcribe, speak=_one_manual_turn, turn_detection=None,
                           input_audio_transcription={"model": "gpt-4o-mini-transcribe"})


async def _record_then_replay(path: Path, transcribe: Callable[[str], Awaitable[
        tuple[str, list[str]]]]) -> list[str]:
    """Record `transcribe` from the fake through the recorder, replay it from the cassette:
    both hear the same, the replay sees the recorded server events; the recorded ones."""
    from rtkit.fake import FakeRealtimeAPI

    async with (FakeRealtimeAPI(SCRIPT) as upstream,
                RecordingProxy(str(path), upstream_url=upstream.url, api_key="") as proxy):
        recorded, seen = await transcribe(proxy.url)
    assert recorded == HEARD
    async with ReplayServer(path) as server:
        replayed, replay_seen = await transcribe(server.url)
    assert replayed == HEARD and server.errors == []
    assert replay_seen == seen[:len(replay_seen)]
    return seen


async def test_record_then_replay_a_beta_transcription_session(tmp_path: Path) -> None:
    from rtkit.cassette import Cassette

    path = tmp_path / "beta_transcription.jsonl"
    await _record_then_replay(path, MANUAL)
    cassette = Cassette.load(path)
    (episode,) = cassette.episodes
    assert "intent=transcription" in episode.connect.query
    assert next(e.type for e in cassette.iter_events(0, "client")) == (
        "transcription_session.update")
    assert "transcription_session.updated" in [e.type for e in cassette.iter_events(0, "server")]


async def _speak_in_g711(client: RealtimeClient) -> None:
    """Speech in 20 chunks of 8 kHz audio, and the quiet that ends the VAD's turn."""
    speech = np.concatenate([np.zeros(1_600, "<i2"), tone(600, 440.0, rate=8_000),
                             np.zeros(4_000, "<i2")])
    for chunk in np.array_split(speech, 20):
        client.append_input_audio(chunk)
        await asyncio.sleep(0)


VAD_IN_G711 = functools.partial(
    _transcribe, speak=_speak_in_g711, input_audio_format="g711_ulaw",
    turn_detection={"type": "server_vad", "silence_duration_ms": 300},
    input_audio_transcription={"model": "whisper-1"})


async def test_record_then_replay_beta_vad_in_g711(tmp_path: Path) -> None:
    """The replay reads the session's format and VAD from `transcription_session.updated`."""
    seen = await _record_then_replay(tmp_path / "beta_vad.jsonl", VAD_IN_G711)
    assert "input_audio_buffer.speech_stopped" in seen


def test_the_causal_table_follows_transcription_session_updated() -> None:
    """A beta transcription session's format and VAD come from `transcription_session.updated`
    (as a realtime session's from `session.updated`): the VAD events wait for that much audio."""
    from rtkit.replay.causes import CausalTable

    class Entry:
        kind = "transcription_session.update"

    update = Entry()
    session = {"input_audio_format": "g711_ulaw",
               "turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}
    table = CausalTable()
    table.server("session.created", {"type": "session.created", "session": {
        "input_audio_format": "pcm16", "turn_detection": {"silence_duration_ms": 200}}})
    table.client(update, {"type": "transcription_session.update", "session": session})
    gate = table.server("transcription_session.updated",
                        {"type": "transcription_session.updated", "session": session})
    assert gate.answers is update
    assert table.bytes_per_ms == 8
    stopped = table.server("input_audio_buffer.speech_stopped", {
        "type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1000, "item_id": "i"})
    assert stopped.audio_ms == 1300
