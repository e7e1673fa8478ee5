"""RealtimeClient end to end over loopback, in both dialects: the seed's client.js scenarios
plus the behaviour SEED-CLIENT.md keeps and the bugs it fixes."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import numpy as np
import pytest

from rtkit import RealtimeClient
from rtkit.errors import ConnectionRefusedByServer, NotConnectedError
from rtkit.fake import FakeRealtimeAPI
from tests.scripted_server import ScriptConn, ScriptedServer, session_created

DIALECTS = ["ga", "beta"]
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
}


def events_of(client: RealtimeClient) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    client.on("realtime.event", log.append)
    return log


async def next_assistant_message(client: RealtimeClient) -> dict[str, Any]:
    while True:
        item = (await client.wait_for_next_completed_item(timeout=5))["item"]
        if item["type"] == "message" and item["role"] == "assistant":
            return item


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_seed_text_turn_scenario(dialect: str) -> None:
    async with FakeRealtimeAPI({"default": {"text": "I am great, thanks!", "audio_ms": 200}}) as up:
        client = RealtimeClient(url=up.url, dialect=dialect)  # type: ignore[arg-type]
        log = events_of(client)
        client.update_session(instructions="You are a great, upbeat friend.")
        client.update_session(voice="alloy")
        client.update_session(turn_detection={"type": "none"},
                              input_audio_transcription={"model": "whisper-1"})
        await client.connect()
        assert client.is_connected()
        await client.wait_for_session_created(timeout=5)
        # the first two realtime.events: our session.update, then the server's session.created
        assert [(e["source"], e["event"]["type"]) for e in log[:2]] == [
            ("client", "session.update"), ("server", "session.created")]
        session = log[0]["event"]["session"]
        if dialect == "ga":
            assert session["type"] == "realtime"
            assert session["audio"]["output"]["voice"] == "alloy"
            assert session["audio"]["input"]["turn_detection"] is None
            assert session["audio"]["input"]["transcription"] == {"model": "whisper-1"}
            assert "modalities" not in session and "voice" not in session
        else:
            assert session["voice"] == "alloy" and session["turn_detection"] is None
            assert session["modalities"] == ["text", "audio"]

        n = len(log)
        appended: list[tuple[str, str]] = []
        client.on("conversation.item.appended",
                  lambda e: appended.append((e["item"]["role"], e["item"]["status"])))
        next_item = asyncio.ensure_future(client.wait_for_next_item(timeout=5))
        await asyncio.sleep(0)
        client.send_user_message_content([{"type": "input_text", "text": "How are you?"}])
        assert [e["event"]["type"] for e in log[n:n + 2]] == [
            "conversation.item.create", "response.create"]

        user = (await next_item)["item"]
        assert (user["type"], user["role"], user["status"]) == ("message", "user", "completed")
        assert user["formatted"]["text"] == "How are you?"
        done = await next_assistant_message(client)
        # the assistant item was appended in progress, then completed
        assert appended == [("user", "completed"), ("assistant", "in_progress")]
        assert done["status"] == "completed"
        assert "great" in done["formatted"]["transcript"]
        assert len(done["formatted"]["audio"]) == 24000 * 200 // 1000
        await client.disconnect()
        assert not client.is_connected()
        assert client.conversation.get_items() == []


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", ["sync", "async", "raises"])
async def test_tool_call_round_trip(dialect: str, kind: str) -> None:
    replies = {"rules": [{"when": {"text": "weather"}, "reply": {"function_call": {
        "name": "get_weather", "arguments": {"location": "Paris"}}}}],
        "default": {"text": "Sunny."}}
    calls: list[dict[str, Any]] = []

    def sync_handler(args: dict[str, Any]) -> dict[str, Any]:
        calls.append(args)
        return {"temp_c": 21}

    async def async_handler(args: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return sync_handler(args)

    def raising(args: dict[str, Any]) -> None:
        calls.append(args)
        raise RuntimeError("weather service down")

    handler = {"sync": sync_handler, "async": async_handler, "raises": raising}[kind]
    async with FakeRealtimeAPI(replies) as up:
        client = RealtimeClient(url=up.url, dialect=dialect)  # type: ignore[arg-type]
        log = events_of(client)
        client.add_tool(WEATHER, handler)
        await client.connect()
        client.send_user_message_content([{"type": "input_text", "text": "Weather in Paris?"}])
        final = await next_assistant_message(client)
        assert final["formatted"]["transcript"] == "Sunny."
        assert calls == [{"location": "Paris"}]
        sent = [e["event"] for e in log if e["source"] == "client"]
        outputs = [e for e in sent if e["type"] == "conversation.item.create"
                   and e["item"]["type"] == "function_call_output"]
        assert len(outputs) == 1
        expected = '{"error":"weather service down"}' if kind == "raises" else '{"temp_c":21}'
        assert outputs[0]["item"]["output"] == expected
        # function_call_output is followed by response.create
        i = sent.index(outputs[0])
        assert sent[i + 1]["type"] == "response.create"
        # the tool was declared in the session
        tools = sent[0]["session"]["tools"]
        assert tools == [{"type": "function", **WEATHER}]
        await client.disconnect()


async def test_unregistered_tool_is_left_to_the_app() -> None:
    replies = {"default": {"function_call": {"name": "lookup", "arguments": {"q": "x"}}}}
    async with FakeRealtimeAPI(replies) as up:
        client = RealtimeClient(url=up.url)
        log = events_of(client)
        client.update_session(tools=[{"name": "lookup", "parameters": {"type": "object"}}])
        await client.connect()
        client.send_user_message_content([{"type": "input_text", "text": "go"}])
        while True:
            item = (await client.wait_for_next_completed_item(timeout=5))["item"]
            if item["type"] == "function_call":
                break
        await asyncio.sleep(0.05)
        types = [e["event"]["type"] for e in log if e["source"] == "client"]
        assert types.count("response.create") == 1  # no automatic reply (SEED fix 6)
        await client.disconnect()


async def test_session_tools_persist_and_remove_tool_updates_session() -> None:
    async with ScriptedServer() as server:
        client = RealtimeClient(url=server.url)
        log = events_of(client)
        client.update_session(tools=[{"name": "manual", "parameters": {}}])
        client.add_tool(WEATHER, lambda a: a)
        await client.connect()
        client.update_session(instructions="later")  # tools stay (SEED fix 6)
        client.remove_tool("get_weather")  # updates the server (SEED fix 8)
        updates = [e["event"]["session"] for e in log if e["event"]["type"] == "session.update"]
        assert [t["name"] for t in updates[0]["tools"]] == ["manual", "get_weather"]
        assert [t["name"] for t in updates[1]["tools"]] == ["manual", "get_weather"]
        assert [t["name"] for t in updates[2]["tools"]] == ["manual"]
        with pytest.raises(ValueError, match="already added"):
            client.add_tool({"name": "second"}, print)
            client.add_tool({"name": "second"}, print)
        with pytest.raises(KeyError, match="does not exist"):
            client.remove_tool("nope")
        with pytest.raises(ValueError, match="unknown session field"):
            client.update_session(bogus=1)
        await client.disconnect()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_cancel_response_truncates_audio(dialect: str) -> None:
    async with FakeRealtimeAPI({"default": {"text": "A long answer.", "audio_ms": 600},
                                "delta_ms": 0}) as up:
        client = RealtimeClient(url=up.url, dialect=dialect)  # type: ignore[arg-type]
        log = events_of(client)
        await client.connect()
        client.send_user_message_content([{"type": "input_text", "text": "talk"}])
        item = await next_assistant_message(client)
        client.cancel_response(item["id"], 12000)
        sent = [e["event"] for e in log if e["source"] == "client"]
        assert [e["type"] for e in sent[-2:]] == ["response.cancel", "conversation.item.truncate"]
        truncate = sent[-1]
        assert truncate["item_id"] == item["id"]
        assert truncate["audio_end_ms"] == 500
        assert item["content"][truncate["content_index"]]["type"] in ("audio", "output_audio")
        await client.wait_for_next("conversation.updated", timeout=5)
        await asyncio.sleep(0.05)
        assert len(item["formatted"]["audio"]) == 12000  # cut at audio_end_ms
        assert client.cancel_response() == {"item": None}
        await client.disconnect()


async def test_manual_audio_is_committed_on_create_response() -> None:
    async with FakeRealtimeAPI({"default": {"text": "Heard you."}}) as up:
        client = RealtimeClient(url=up.url)
        log = events_of(client)
        await client.connect()
        audio = (np.arange(4800) % 200).astype(np.int16)
        client.append_input_audio(audio[:2400])
        client.append_input_audio(audio[2400:].tobytes())
        client.create_response()
        types = [e["event"]["type"] for e in log if e["source"] == "client"]
        assert types[-4:] == ["input_audio_buffer.append", "input_audio_buffer.append",
                              "input_audio_buffer.commit", "response.create"]
        user = None
        while user is None:
            item = (await client.wait_for_next_completed_item(timeout=5))["item"]
            if item.get("role") == "user":
                user = item
        assert np.array_equal(user["formatted"]["audio"], audio)
        await client.disconnect()


async def test_send_user_message_content_never_mutates_and_encodes_audio() -> None:
    async with ScriptedServer() as server:
        client = RealtimeClient(url=server.url)
        log = events_of(client)
        await client.connect()
        samples = np.array([1, -2, 3], dtype=np.int16)
        content = [{"type": "input_audio", "audio": samples}]
        before = copy.deepcopy(content)
        client.send_user_message_content(content)
        assert content[0]["audio"] is samples
        assert np.array_equal(content[0]["audio"], before[0]["audio"])
        sent = log[-2]["event"]
        assert sent["item"]["content"][0]["audio"] == "AQD+/wMA"
        client.send_user_message_content([])  # empty: only response.create
        assert log[-1]["event"]["type"] == "response.create"
        assert log[-2]["event"]["type"] == "response.create"
        await client.disconnect()


async def test_server_disconnect_mid_response_then_reconnect() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.recv_until("response.create")
        await conn.send({"type": "response.created",
                         "response": {"id": "resp_1", "object": "realtime.response",
                                      "status": "in_progress", "output": []}})
        await conn.close(1011, "upstream died")

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        await client.wait_for_session_created(timeout=5)
        assert client.session_created
        client.create_response()
        closed = await client.wait_for_next("close", timeout=5)
        assert closed["code"] == 1011 and closed["by"] == "server" and closed["error"]
        assert not client.is_connected() and not client.session_created  # SEED fix 13
        with pytest.raises(NotConnectedError):
            client.create_response()
        await client.connect()  # reconnect works
        await client.wait_for_session_created(timeout=5)
        await client.disconnect()


async def test_malformed_server_frame_and_unknown_item_are_errors_not_crashes() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.send("{not json")
        await conn.send({"type": "response.output_text.delta", "item_id": "nope",
                         "content_index": 0, "delta": "x"})
        await conn.send({"type": "error", "event_id": "e1",
                         "error": {"type": "invalid_request_error", "code": "invalid_value",
                                   "message": "bad", "param": "type", "event_id": None}})
        await conn.send({"type": "session.updated", "session": {}})
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        errors: list[dict[str, Any]] = []
        client.on("error", errors.append)
        await client.connect()
        await client.wait_for_next("realtime.event", timeout=5)
        for _ in range(10):
            if len(errors) >= 3:
                break
            await asyncio.sleep(0.02)
        kinds = [e["type"] for e in errors]
        assert kinds == ["invalid_frame", "conversation_error", "error"]
        assert "nope" in errors[1]["message"]
        assert client.is_connected()
        await client.disconnect()


async def test_401_and_already_connected() -> None:
    async with ScriptedServer(refuse=401) as server:
        client = RealtimeClient(url=server.url, api_key="sk-bad")
        with pytest.raises(ConnectionRefusedByServer):
            await client.connect()
        assert not client.is_connected()
    async with ScriptedServer() as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        with pytest.raises(Exception, match="already connected"):
            await client.connect()
        await client.reset()
        assert not client.is_connected() and client.tools == {}


async def test_server_vad_interruption_event() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0,
                         "item_id": "item_u1"})
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        client.update_session(turn_detection={"type": "server_vad"})
        await client.connect()
        interrupted = await client.wait_for_next("conversation.interrupted", timeout=5)
        assert interrupted["type"] == "input_audio_buffer.speech_started"  # SEED fix 5
        assert client.get_turn_detection_type() == "server_vad"
        await client.disconnect()


async def test_a_proxy_in_the_environment_is_not_used_for_loopback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # corporate CI sets HTTPS_PROXY without NO_PROXY; websockets >= 15 would send even a
    # ws://127.0.0.1 connection to the proxy (here a closed port) and fail
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    async with FakeRealtimeAPI({"default": {"text": "hi"}}) as up:
        client = RealtimeClient(url=up.url)
        await client.connect()
        client.send_user_message_content([{"type": "input_text", "text": "hello"}])
        while True:
            item = (await client.wait_for_next_completed_item(timeout=5))["item"]
            if item.get("role") == "assistant":
                break
        formatted = item["formatted"]
        assert "hi" in (formatted.get("text") or "") + (formatted.get("transcript") or "")
        await client.disconnect()
