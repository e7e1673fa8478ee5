"""The client a voice app can trust (issue 22), end to end against `rtkit fake` over 127.0.0.1:
float microphone audio, parallel tool calls, phone (G.711) sessions, transcription sessions,
`create_response(**options)` and out-of-band responses, and barge-in without errors. Every
client event checked here is validated with the `openai` package's GA models."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydantic
import pytest

from rtkit import RealtimeClient
from rtkit.audio import G711_ULAW, float32_to_int16
from rtkit.fake import FakeRealtimeAPI, tone

TIMEOUT = 10.0
WEATHER = {"name": "get_weather", "parameters": {"type": "object", "properties": {
    "location": {"type": "string"}}}}
CLOCK = {"name": "get_time", "parameters": {"type": "object", "properties": {
    "city": {"type": "string"}}}}
SCRIPT = {"delta_ms": 2, "transcripts": ["what time is it"], "rules": [
    {"when": {"text": "weather"}, "reply": {"function_calls": [
        {"name": "get_weather", "arguments": {"location": "Paris"}},
        {"name": "get_time", "arguments": {"city": "Paris"}}]}},
    {"when": {"tool_output": "sunny"}, "reply": {"text": "Sunny, and it is noon."}},
    {"when": {"text": "classify"}, "reply": {"text": "positive"}},
    {"when": {"text": "long"}, "reply": {"text": "A long answer.", "audio_ms": 3000}},
], "default": {"text": "Hello there.", "audio_ms": 1000}}


@dataclass
class Live:
    """A client connected to a running fake, and what crossed the socket."""

    client: RealtimeClient
    fake: FakeRealtimeAPI
    frames: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    queued: list[dict[str, Any]] = field(default_factory=list)  # every event the client sent

    def sent(self, event_type: str) -> list[dict[str, Any]]:
        """The client events of this type the fake received, in order."""
        return [e for d, e in self.frames if d == "client" and e["type"] == event_type]

    async def received(self, event_type: str, count: int = 1) -> list[dict[str, Any]]:
        """The client events of this type, once the fake has received `count` of them."""
        for _ in range(int(TIMEOUT / 0.005)):
            if len(found := self.sent(event_type)) >= count:
                return found
            await asyncio.sleep(0.005)
        raise AssertionError(f"the fake never received {count} {event_type}")

    def server(self, event_type: str) -> list[dict[str, Any]]:
        return [e for d, e in self.frames if d == "server" and e["type"] == event_type]

    def server_errors(self) -> list[dict[str, Any]]:
        return [e["error"] for e in self.server("error")]

    def index(self, direction: str, event_type: str) -> list[int]:
        return [i for i, (d, e) in enumerate(self.frames) if d == direction and e["type"] ==
                event_type]


@contextlib.asynccontextmanager
async def live(script: Any = SCRIPT, *, connect: bool = True, dialect: str = "ga",
               **session: Any) -> AsyncIterator[Live]:
    """A fake running `script`, a client with these session fields (connected unless not)."""
    frames: list[tuple[str, dict[str, Any]]] = []
    fake = FakeRealtimeAPI(script, on_frame=lambda _n, d, f: frames.append((d, json.loads(f))))
    async with fake:
        client = RealtimeClient(url=fake.url, dialect=dialect)  # type: ignore[arg-type]
        client.update_session(**session)
        run = Live(client, fake, frames)
        client.on("error", run.errors.append)
        client.realtime.on("client.*", run.queued.append)
        if connect:
            await client.connect()
            await client.wait_for_session_created(timeout=TIMEOUT)
        try:
            yield run
        finally:
            await client.disconnect()


async def assistant_item(client: RealtimeClient) -> dict[str, Any]:
    """The next completed assistant message."""
    async for item in client.items(timeout=TIMEOUT):
        if item.get("type") == "message" and item.get("role") == "assistant":
            return item
    raise AssertionError("the connection ended first")


def no_extras(model: pydantic.BaseModel, path: str = "") -> None:
    """The openai models allow unknown fields; assert none were needed."""
    assert not model.model_extra, f"{path}: unexpected fields {sorted(model.model_extra or {})}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, pydantic.BaseModel):
                no_extras(v, f"{path}.{name}")


def validate(event: dict[str, Any]) -> pydantic.BaseModel:
    """A client event as the GA models parse it, strictly."""
    from openai.types.realtime import RealtimeClientEvent

    model = pydantic.TypeAdapter(RealtimeClientEvent).validate_python(event)
    no_extras(model, event["type"])
    return model  # type: ignore[no-any-return]


def pcm_peak(event: dict[str, Any]) -> int:
    return int(np.abs(np.frombuffer(base64.b64decode(event["audio"]), "<i2")).max())


# ---------------------------------------------------------------- 1. float microphone audio


async def test_float32_microphone_audio_is_sent_as_speech_not_silence() -> None:
    t = np.arange(12_000) / 24_000
    mic = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # what sounddevice hands out
    async with live(modalities=["text"]) as run:
        client = run.client
        client.update_session(turn_detection={"type": "server_vad", "silence_duration_ms": 200,
                                              "create_response": False})
        heard = client.events("conversation.interrupted", timeout=TIMEOUT)
        client.append_input_audio(mic)
        client.append_input_audio(np.zeros((7200, 1), np.float32))  # a (frames, 1) block
        await heard.__anext__()  # the fake's voice detector heard speech
        heard.close()
        appends = run.sent("input_audio_buffer.append")
        assert pcm_peak(appends[0]) == 16384  # 0.5 full scale, not zeros
        assert base64.b64decode(appends[0]["audio"]) == float32_to_int16(mic).astype(
            "<i2").tobytes()  # exactly the seed's floatTo16BitPCM
        assert len(base64.b64decode(appends[1]["audio"])) == 2 * 7200
        validate(appends[0])
        client.send_user_message_content([{"type": "input_audio", "audio": mic[:2400]}])
        item = (await run.received("conversation.item.create"))[0]["item"]
        assert pcm_peak(item["content"][0]) == 16384
        with pytest.raises(TypeError, match="int32"):
            client.append_input_audio(np.ones(2400, np.int32))  # its scale is unknown
        assert [e["type"] for e in run.queued].count("input_audio_buffer.append") == 2
    assert run.errors == [] and run.server_errors() == []


# ---------------------------------------------------------------- 2. parallel tool calls


async def test_parallel_function_calls_get_one_response_create_after_response_done() -> None:
    started = asyncio.Event()

    async def slow_weather(args: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(0.05)
        return {"location": args["location"], "sky": "sunny"}

    async with live(modalities=["text"]) as run:
        client = run.client
        client.add_tool(WEATHER, slow_weather)
        client.add_tool(CLOCK, lambda args: {"city": args["city"], "time": "12:00"})
        client.send_user_message_content([{"type": "input_text", "text": "weather and time?"}])
        answer = await assistant_item(client)
    assert answer["formatted"]["text"] == "Sunny, and it is noon."
    assert run.server_errors() == [] and run.errors == []  # no active-response error
    outputs = [e["item"]["call_id"] for e in run.sent("conversation.item.create")
               if e["item"]["type"] == "function_call_output"]
    calls = [i["call_id"] for i in run.server("response.done")[0]["response"]["output"]]
    assert sorted(outputs) == sorted(calls) and len(calls) == 2
    creates = run.index("client", "response.create")
    assert len(creates) == 2  # the question's, then one for both outputs
    outputs_at = [i for i, (d, e) in enumerate(run.frames) if d == "client"
                  and e["type"] == "conversation.item.create"
                  and e["item"]["type"] == "function_call_output"]
    assert max(outputs_at) < creates[1]  # every output first
    assert run.index("server", "response.done")[0] < creates[1]  # after the calls' response


# ---------------------------------------------------------------- 3. G.711 phone sessions


@pytest.mark.parametrize("how", ["beta names", "GA objects", "beta dialect"])
async def test_a_mulaw_session_counts_samples_and_truncates_at_8_khz(how: str) -> None:
    fields: dict[str, Any] = (
        {"audio": {"input": {"format": {"type": "audio/pcmu"}},
                   "output": {"format": {"type": "audio/pcmu"}}}} if how == "GA objects" else
        {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"})
    dialect = "beta" if how == "beta dialect" else "ga"
    async with live(connect=False, dialect=dialect) as run:
        client = run.client
        client.update_session(modalities=["text", "audio"], turn_detection=None, **fields)
        await client.connect()
        assert client.output_format is G711_ULAW and client.input_format is G711_ULAW
        client.send_user_message_content([{"type": "input_text", "text": "hello"}])
        item = await assistant_item(client)
        assert len(item["formatted"]["audio"]) == 8000  # 1 s of μ-law: 8,000 samples
        assert np.abs(item["formatted"]["audio"]).max() > 3000  # decoded, not bytes as PCM16
        truncated = client.realtime.events("server.conversation.item.truncated",
                                           timeout=TIMEOUT)
        client.cancel_response(item["id"], 8000)  # the phone played all of it
        event = (await truncated.__anext__()).payload
        truncated.close()
        # the caller speaks: 200 ms at 8 kHz, as int16 and as floats
        client.append_input_audio(tone(200, 440.0, rate=8000))
        client.append_input_audio(np.zeros(800, np.float32))
        client.create_response()
        user = None
        async for done in client.items(timeout=TIMEOUT):
            if done.get("role") == "user" and len(done["formatted"]["audio"]):
                user = done
                break
    session = run.sent("session.update")[0]
    truncate = run.sent("conversation.item.truncate")[0]
    if dialect == "ga":
        validate(session)
        validate(truncate)
        assert session["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    else:
        assert session["session"]["output_audio_format"] == "g711_ulaw"
    assert truncate["audio_end_ms"] == 1000 and event["audio_end_ms"] == 1000
    assert run.sent("response.cancel") == []  # the response had ended (point 6)
    appended = [base64.b64decode(e["audio"]) for e in run.sent("input_audio_buffer.append")]
    assert [len(a) for a in appended] == [1600, 800]  # one byte a sample
    assert user is not None and len(user["formatted"]["audio"]) == 2400
    assert run.server_errors() == [] and run.errors == []


# ---------------------------------------------------------------- 4. transcription sessions


async def test_a_transcription_session_sends_what_that_session_type_takes() -> None:
    from openai.types.realtime import RealtimeTranscriptionSessionCreateRequest

    async with live(connect=False) as run:
        client = run.client
        client.update_session(type="transcription", turn_detection=None,
                              input_audio_transcription={"model": "gpt-4o-transcribe"},
                              noise_reduction={"type": "near_field"})
        with pytest.raises(ValueError, match=r"'voice'.*transcription"):
            client.update_session(voice="ash")  # a transcription session does not speak
        await client.connect()
        await client.wait_for_session_created(timeout=TIMEOUT)
        assert client.session is not None and client.session["type"] == "transcription"
        transcripts = client.events("conversation.updated", timeout=TIMEOUT)
        client.append_input_audio(tone(300, 440.0))
        client.commit_input_audio()
        async for _name, payload in transcripts:
            if payload["item"]["formatted"]["transcript"] == "what time is it":
                break
        transcripts.close()
        with pytest.raises(ValueError, match="transcription session has no responses"):
            client.create_response()
    assert "intent=transcription" in run.fake.records[0].target
    assert "model=" not in run.fake.records[0].target
    update = run.sent("session.update")[0]
    model = validate(update)
    assert isinstance(model.session, RealtimeTranscriptionSessionCreateRequest)  # type: ignore[attr-defined]
    assert update["session"] == {"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcm", "rate": 24000},
        "transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": None,
        "noise_reduction": {"type": "near_field"}}}}
    assert run.server_errors() == [] and run.errors == []


# ---------------------------------------------------------------- 5. response options


async def test_an_out_of_band_response_with_its_own_options() -> None:
    async with live(modalities=["text", "audio"]) as run:
        client = run.client
        client.send_user_message_content([{"type": "input_text", "text": "hello"}])
        await assistant_item(client)
        client.update_session(turn_detection=None)
        client.append_input_audio(tone(200, 440.0))  # the user's turn is not over
        client.create_response(
            conversation="none", modalities=["text"], instructions="Classify the sentiment.",
            metadata={"topic": "mood"}, tools=[WEATHER], tool_choice="none",
            input=[{"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "classify: I love it"}]}])
        done = await client.wait_for_next_response(timeout=TIMEOUT)
        in_conversation = [i["id"] for i in client.conversation.get_items()]
        client.create_response(instructions="Now answer the user.", voice="ash")
        second = await client.wait_for_next_response(timeout=TIMEOUT)
    response = done["response"]
    assert response["metadata"] == {"topic": "mood"} and response["conversation_id"] is None
    assert [i["formatted"]["text"] for i in done["items"]] == ["positive"]
    assert done["items"][0]["id"] not in in_conversation  # out of band: not in the conversation
    creates = run.sent("response.create")
    oob = creates[1]
    validate(oob)
    assert oob["response"]["output_modalities"] == ["text"]
    assert oob["response"]["conversation"] == "none"
    assert oob["response"]["tools"][0]["type"] == "function"
    assert run.index("client", "input_audio_buffer.commit") and min(
        run.index("client", "input_audio_buffer.commit")) > run.index(
        "client", "response.create")[1]  # out of band: no commit; the next one commits
    validate(creates[2])
    assert creates[2]["response"] == {"instructions": "Now answer the user.",
                                      "audio": {"output": {"voice": "ash"}}}
    assert second["response"]["conversation_id"] is not None
    assert run.server_errors() == [] and run.errors == []


# ---------------------------------------------------------------- 6. barge-in


async def test_barge_in_cancels_only_an_active_response() -> None:
    async with live(modalities=["text", "audio"]) as run:
        client = run.client
        first_audio: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def on_update(payload: dict[str, Any]) -> None:
            if payload["delta"] and "audio" in payload["delta"] and not first_audio.done():
                first_audio.set_result(payload["item"])

        client.on("conversation.updated", on_update)
        answers = client.realtime.events("server.conversation.item.truncated",
                                         "server.conversation.item.retrieved", timeout=TIMEOUT)
        client.send_user_message_content([{"type": "input_text", "text": "a long one"}])
        speaking = await asyncio.wait_for(first_audio, TIMEOUT)
        assert client.response_active
        client.cancel_response(speaking["id"], 2400)  # while it speaks: cancel and truncate
        cancelled = await client.wait_for_next_response(timeout=TIMEOUT)
        assert cancelled["response"]["status"] == "cancelled" and not client.response_active
        client.cancel_response()  # nothing is active: nothing to send
        client.send_user_message_content([{"type": "input_text", "text": "hello"}])
        item = await assistant_item(client)
        client.cancel_response(item["id"], 12_000)  # after response.done: truncate only
        client.truncate_item(item["id"], 200)
        client.retrieve_item(item["id"])
        client.clear_output_audio()
        seen = [(await answers.__anext__()).payload for _ in range(4)]
        answers.close()
    assert len(run.sent("response.cancel")) == 1  # only the one during the response
    ends = [e["audio_end_ms"] for e in run.sent("conversation.item.truncate")]
    assert ends == [100, 500, 200]
    assert [e["type"] for e in seen].count("conversation.item.truncated") == 3
    assert seen[-1]["item"]["id"] == item["id"]
    for event_type in ("conversation.item.truncate", "conversation.item.retrieve",
                       "output_audio_buffer.clear", "response.cancel"):
        validate(run.sent(event_type)[0])
    assert run.server_errors() == [] and run.errors == []


# ---------------------------------------------------------------- 7. tool output JSON


JS_STRINGIFIED = '{"city":"Zürich","temp_c":21,"feels":20.5,"ok":true,"none":null,"tags":["☀",""]}'


async def test_tool_output_is_serialised_as_javascripts_json_stringify() -> None:
    result = {"city": "Zürich", "temp_c": 21, "feels": 20.5, "ok": True, "none": None,
              "tags": ["☀", ""]}
    script = {"delta_ms": 2, "rules": [
        {"when": {"text": "weather"}, "reply": {"function_call": {"name": "get_weather"}}}]}
    async with live(script, modalities=["text"]) as run:
        client = run.client
        client.add_tool(WEATHER, lambda _args: result)
        client.send_user_message_content([{"type": "input_text", "text": "weather?"}])
        async for item in client.items(timeout=TIMEOUT):
            if item["type"] == "function_call_output":
                break
    assert item["output"] == JS_STRINGIFIED  # compact, not ASCII-escaped


def test_the_expected_output_is_what_node_prints() -> None:
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the literal above is JSON.stringify's output)")
    value = {"city": "Zürich", "temp_c": 21, "feels": 20.5, "ok": True, "none": None,
             "tags": ["☀", ""]}
    out = subprocess.run([node, "-e", "process.stdout.write(JSON.stringify("
                          "JSON.parse(process.argv[1])))", json.dumps(value)],
                         capture_output=True, check=True, timeout=30)
    assert out.stdout.decode("utf-8") == JS_STRINGIFIED
