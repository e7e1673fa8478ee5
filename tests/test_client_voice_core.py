"""Issue 22's smaller points with plain data: server events injected with `RealtimeAPI.receive`
(no socket), the conversation fed by hand, and the protocol builders; plus the two that need a
connection (a tool result dropped on close, `async with`) against `rtkit fake`."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
import pytest

from rtkit import RealtimeClient
from rtkit.audio import G711_ULAW, PCM16
from rtkit.client.client import DEFAULT_SERVER_VAD_CONFIG, TRANSCRIPTION_MODELS
from rtkit.client.conversation import RealtimeConversation
from rtkit.client.tools import tool_output_json
from rtkit.errors import ConversationError
from rtkit.fake import FakeRealtimeAPI, tone
from rtkit.protocol import build_response, build_session

ASSISTANT = {"id": "item_a", "object": "realtime.item", "type": "message", "role": "assistant",
             "status": "in_progress", "content": []}


def record(client: RealtimeClient, *names: str) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    for name in names:
        client.on(name, lambda payload, name=name: seen.append((name, payload)))
    return seen


# ------------------------------------------------------------ invalid audio, receive()


def test_invalid_base64_audio_is_a_conversation_error_and_changes_nothing() -> None:
    client = RealtimeClient()
    seen = record(client, "error", "realtime.event", "conversation.updated")
    api = client.realtime
    api.receive("conversation.item.added", {"previous_item_id": None, "item": ASSISTANT})
    api.receive("response.output_audio.delta", {
        "response_id": "resp_1", "item_id": "item_a", "output_index": 0, "content_index": 0,
        "delta": "a"})  # one base64 character: not decodable
    errors = [p for n, p in seen if n == "error"]
    assert [e["type"] for e in errors] == ["conversation_error"]
    assert "not base64" in errors[0]["message"] and "item_a" in errors[0]["message"]
    item = client.conversation.get_item("item_a")
    assert item is not None and len(item["formatted"]["audio"]) == 0
    assert [p["event"]["type"] for n, p in seen if n == "realtime.event"][-1] == (
        "response.output_audio.delta")  # still dispatched
    # a final item whose audio is not base64: not added at all
    api.receive("conversation.item.done", {"previous_item_id": None, "item": {
        "id": "item_b", "type": "message", "role": "assistant", "status": "completed",
        "content": [{"type": "output_audio", "audio": "a", "transcript": "hi"}]}})
    assert client.conversation.get_item("item_b") is None
    assert [e["type"] for n, e in seen if n == "error"] == ["conversation_error"] * 2
    good = base64.b64encode(np.arange(4, dtype="<i2").tobytes()).decode()
    api.receive("response.output_audio.delta", {"item_id": "item_a", "delta": good})
    assert item["formatted"]["audio"].tolist() == [0, 1, 2, 3]


def test_receive_dispatches_like_a_received_frame_and_checks_the_type() -> None:
    client = RealtimeClient()
    got: list[dict[str, Any]] = []
    client.realtime.on("server.rate_limits.updated", got.append)
    assert client.realtime.receive("rate_limits.updated", {"rate_limits": [{"name": "tokens"}]})
    assert got[0]["type"] == "rate_limits.updated" and client.rate_limits == [{"name": "tokens"}]
    with pytest.raises(ValueError, match=r"'session\.created'"):
        client.realtime.receive("rate_limits.updated", {"type": "session.created"})


async def test_wait_for_next_response_returns_the_response_and_its_items() -> None:
    client = RealtimeClient()
    api = client.realtime
    done = asyncio.ensure_future(client.wait_for_next_response(timeout=5))
    await asyncio.sleep(0)
    response = {"id": "resp_1", "object": "realtime.response", "status": "in_progress",
                "output": [], "conversation_id": "conv_1"}
    api.receive("response.created", {"response": response})
    assert client.response_active
    api.receive("response.output_item.added", {"response_id": "resp_1", "output_index": 0,
                                               "item": ASSISTANT})
    api.receive("conversation.item.added", {"previous_item_id": None, "item": ASSISTANT})
    api.receive("response.done", {"response": {**response, "status": "completed",
                                               "output": [{**ASSISTANT,
                                                           "status": "completed"}]}})
    result = await done
    assert not client.response_active
    assert result["response"]["status"] == "completed"
    assert [i["id"] for i in result["items"]] == ["item_a"]


def test_out_of_band_items_stay_out_of_the_conversation_and_its_events() -> None:
    client = RealtimeClient()
    seen = record(client, "conversation.updated", "conversation.item.completed", "error",
                  "response.done")
    api = client.realtime
    response = {"id": "resp_o", "status": "in_progress", "output": [], "conversation_id": None}
    api.receive("response.created", {"response": response})
    assert not client.response_active  # out of band: the conversation is free
    item = {**ASSISTANT, "id": "item_o", "content": []}
    api.receive("response.output_item.added", {"response_id": "resp_o", "item": item})
    api.receive("response.content_part.added", {"item_id": "item_o", "part": {
        "type": "output_text", "text": ""}})
    api.receive("response.output_text.delta", {"item_id": "item_o", "content_index": 0,
                                               "delta": "positive"})
    api.receive("response.output_item.done", {"response_id": "resp_o", "item": {
        **item, "status": "completed"}})
    api.receive("response.done", {"response": {**response, "status": "completed"}})
    assert [n for n, _ in seen] == ["response.done"]  # no conversation.* event, no error
    assert client.conversation.get_items() == []
    assert client.conversation.is_out_of_band("item_o")
    assert seen[0][1]["items"][0]["formatted"]["text"] == "positive"


# ------------------------------------------------------------ G.711 in the conversation


def test_mulaw_output_decodes_and_truncates_at_8_khz() -> None:
    conv = RealtimeConversation(output_format=G711_ULAW)
    conv.process_event({"type": "conversation.item.added", "item": ASSISTANT})
    second = G711_ULAW.encode_base64(tone(1000, 300.0, rate=8000))
    _, delta = conv.process_event({"type": "response.output_audio.delta", "item_id": "item_a",
                                   "delta": second})
    assert delta is not None and len(delta["audio"]) == 8000
    item, _ = conv.process_event({"type": "conversation.item.truncated", "item_id": "item_a",
                                  "content_index": 0, "audio_end_ms": 500})
    assert item is not None and len(item["formatted"]["audio"]) == 4000
    done, _ = conv.process_event({"type": "conversation.item.done", "item": {
        "id": "item_u", "type": "message", "role": "user", "status": "completed",
        "content": [{"type": "input_audio", "audio": G711_ULAW.encode_base64(np.zeros(80))}]}})
    assert done is not None and len(done["formatted"]["audio"]) == 40  # input: PCM16 here


def test_an_idle_timeout_segment_gives_its_item_the_audio() -> None:
    conv = RealtimeConversation(server_vad=True)
    conv.append_input_audio(np.full(48_000, 7, np.int16))  # 2 s
    for event in (
        {"type": "input_audio_buffer.timeout_triggered", "item_id": "item_t",
         "audio_start_ms": 500, "audio_end_ms": 1500},
        {"type": "input_audio_buffer.committed", "item_id": "item_t", "previous_item_id": None},
        {"type": "conversation.item.added", "item": {
            "id": "item_t", "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}]}},
    ):
        conv.process_event(event)
    item = conv.get_item("item_t")
    assert item is not None and len(item["formatted"]["audio"]) == 24_000  # 1 s segment


def test_the_client_keeps_enough_input_audio_for_an_idle_timeout() -> None:
    client = RealtimeClient()
    client.update_session(turn_detection={"type": "server_vad", "idle_timeout_ms": 25_000})
    assert client.conversation.vad_retain_ms >= 25_000
    client.update_session(turn_detection=None)
    assert client.conversation.vad_retain_ms == 10_000


# ------------------------------------------------------------ protocol builders


def test_response_options_in_both_dialects() -> None:
    options = {"modalities": ["text"], "voice": "ash", "output_audio_format": "g711_ulaw",
               "max_output_tokens": 200, "conversation": "none", "metadata": {"k": "v"},
               "tools": [{"name": "f", "parameters": {}}]}
    assert build_response(options, "ga") == {
        "output_modalities": ["text"], "audio": {"output": {"voice": "ash", "format": {
            "type": "audio/pcmu"}}}, "max_output_tokens": 200, "conversation": "none",
        "metadata": {"k": "v"}, "tools": [{"type": "function", "name": "f", "parameters": {}}]}
    beta = build_response({**options, "output_audio_format": {"type": "audio/pcmu"}}, "beta")
    assert beta["output_audio_format"] == "g711_ulaw" and beta["modalities"] == ["text"]
    assert beta["max_response_output_tokens"] == 200
    with pytest.raises(ValueError, match="'reasoning' exists only in the GA"):
        build_response({"reasoning": {"effort": "low"}}, "beta")
    with pytest.raises(ValueError, match="'temperature' exists only in the beta"):
        build_response({"temperature": 0.7}, "ga")
    with pytest.raises(ValueError, match="unknown response option 'modality'"):
        build_response({"modality": ["text"]}, "ga")
    with pytest.raises(ValueError, match="give it once"):
        build_response({"voice": "ash", "audio": {"output": {"voice": "ash"}}}, "ga")
    assert build_response({}, "ga") == {}


def test_a_transcription_session_leaves_out_the_realtime_fields() -> None:
    from openai.types.realtime import RealtimeTranscriptionSessionCreateRequest

    from tests.test_client_voice import no_extras

    fields = {"type": "transcription", "modalities": ["text", "audio"], "voice": "verse",
              "instructions": "", "tools": [], "tool_choice": "auto", "temperature": 0.8,
              "max_response_output_tokens": 4096, "output_audio_format": "pcm16",
              "input_audio_format": "g711_alaw", "turn_detection": {"type": "server_vad"},
              "input_audio_transcription": {"model": "gpt-4o-transcribe"},
              "include": ["item.input_audio_transcription.logprobs"]}
    session = build_session(fields, "ga")
    no_extras(RealtimeTranscriptionSessionCreateRequest.model_validate(session))
    assert session == {"type": "transcription",
                       "include": ["item.input_audio_transcription.logprobs"],
                       "audio": {"input": {"format": {"type": "audio/pcma"},
                                           "turn_detection": {"type": "server_vad"},
                                           "transcription": {"model": "gpt-4o-transcribe"}}}}


def test_tool_output_json_is_compact_unescaped_and_valid() -> None:
    assert tool_output_json({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    with pytest.raises(ValueError):
        tool_output_json({"x": float("nan")})  # JSON has no NaN


# ------------------------------------------------------------ the seed's attributes


def test_the_seeds_remaining_public_attributes() -> None:
    from openai.types.realtime import AudioTranscription

    client = RealtimeClient()
    assert client.default_server_vad_config == DEFAULT_SERVER_VAD_CONFIG == {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
        "silence_duration_ms": 200}
    assert client.transcription_models[0] == {"model": "whisper-1"}  # the seed's only one
    for config in TRANSCRIPTION_MODELS:  # every one a model the SDK documents
        assert f"'{AudioTranscription.model_validate(config).model}'" in str(
            AudioTranscription.model_fields["model"].annotation)
    assert client.default_session_config["voice"] == "verse"
    client.update_session(turn_detection=client.default_server_vad_config)
    assert client.get_turn_detection_type() == "server_vad"
    assert client.input_audio_buffer.dtype == np.int16 and client.input_audio_buffer.size == 0
    assert client.input_format is PCM16


# ------------------------------------------------------------ needing a connection


async def test_a_tool_result_after_the_connection_closed_is_reported() -> None:
    script = {"delta_ms": 1, "rules": [{"when": {"text": "weather"},
                                        "reply": {"function_call": {"name": "get_weather"}}}]}
    release = asyncio.Event()
    running = asyncio.Event()

    async def weather(_args: dict[str, Any]) -> dict[str, Any]:
        running.set()
        await release.wait()
        return {"sky": "sunny"}

    async with FakeRealtimeAPI(script) as fake:
        client = RealtimeClient(url=fake.url)
        errors: list[dict[str, Any]] = []
        client.on("error", errors.append)
        client.add_tool({"name": "get_weather", "parameters": {"type": "object"}}, weather)
        async with client:  # connects; disconnects at the end of the block
            assert client.is_connected()
            client.update_session(modalities=["text"])
            client.send_user_message_content([{"type": "input_text", "text": "weather?"}])
            await asyncio.wait_for(running.wait(), 10)
        assert not client.is_connected()
        release.set()
        await client.drain()
    assert [e["type"] for e in errors] == ["tool_result_dropped"]
    assert errors[0]["tool"] == "get_weather" and errors[0]["output"] == '{"sky":"sunny"}'
    assert "connection closed" in errors[0]["message"]


def test_conversation_error_is_the_class_raised_for_bad_audio() -> None:
    conv = RealtimeConversation()
    conv.process_event({"type": "conversation.item.added", "item": ASSISTANT})
    with pytest.raises(ConversationError, match="not base64"):
        conv.process_event({"type": "response.output_audio.delta", "item_id": "item_a",
                            "delta": "a"})


async def test_the_formats_follow_the_session_and_reset() -> None:
    client = RealtimeClient()
    client.update_session(output_audio_format="g711_alaw")
    assert client.conversation.output_format.name == "g711_alaw"
    assert client.conversation.input_format is PCM16
    with pytest.raises(ValueError, match="'opus'"):
        client.update_session(input_audio_format="opus")
    await client.reset()
    assert client.conversation.output_format is PCM16
