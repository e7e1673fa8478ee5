"""RealtimeClient on today's GA API, end to end over 127.0.0.1 (issue 13): GA session fields,
the reference's wait semantics and the buffered iterators, errors that used to be silent,
the GA events the client now tracks, sideband sessions and tool handlers off the loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import numpy as np
import pytest

from rtkit import RealtimeClient
from tests.scripted_server import ScriptConn, ScriptedServer, session_created

TIMEOUT = 10.0


def user_item(n: int) -> dict[str, Any]:
    """A GA `conversation.item.added` for a user text message (complete when added)."""
    return {"type": "conversation.item.added", "event_id": f"event_{n}", "previous_item_id": None,
            "item": {"id": f"item_{n}", "object": "realtime.item", "type": "message",
                     "role": "user", "status": "completed",
                     "content": [{"type": "input_text", "text": f"message {n}"}]}}


def function_call_done(name: str, arguments: str, call_id: str = "call_1") -> list[dict]:
    item = {"id": "item_fc", "object": "realtime.item", "type": "function_call",
            "status": "in_progress", "name": name, "call_id": call_id, "arguments": ""}
    return [{"type": "conversation.item.added", "previous_item_id": None, "item": item},
            {"type": "conversation.item.done", "previous_item_id": None,
             "item": {**item, "status": "completed", "arguments": arguments}}]


def sent_of(server: ScriptedServer) -> list[dict[str, Any]]:
    return server.connections[0].received


async def tool_output(server: ScriptedServer) -> str:
    """The `output` of the first function_call_output the client sent."""
    for _ in range(int(TIMEOUT / 0.01)):
        for event in sent_of(server):
            item = event.get("item") or {}
            if event["type"] == "conversation.item.create" and (
                    item.get("type") == "function_call_output"):
                return str(item["output"])
        await asyncio.sleep(0.01)
    raise AssertionError("no function_call_output was sent")


# ------------------------------------------------------------------ 1. GA session fields


async def test_ga_session_fields_are_sent_in_the_ga_shape() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        client.update_session(noise_reduction={"type": "near_field"}, speed=1.25,
                              reasoning={"effort": "low"}, parallel_tool_calls=False,
                              truncation="disabled", include=[
                                  "item.input_audio_transcription.logprobs"],
                              audio={"output": {"voice": "marin"}}, output_modalities=["text"])
        await client.connect()
        update = await server_event(server, "session.update")
        session = update["session"]
        assert session["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
        assert session["audio"]["output"]["speed"] == 1.25
        assert session["audio"]["output"]["voice"] == "marin"
        assert session["output_modalities"] == ["text"]
        assert (session["reasoning"], session["parallel_tool_calls"], session["truncation"]) == (
            {"effort": "low"}, False, "disabled")
        from openai.types.realtime import SessionUpdateEvent

        SessionUpdateEvent.model_validate(update)
        await client.disconnect()


def test_beta_rejects_ga_only_fields_naming_field_and_dialect() -> None:
    client = RealtimeClient(dialect="beta")
    with pytest.raises(ValueError, match=r"'reasoning' exists only in the GA dialect.*beta"):
        client.update_session(reasoning={"effort": "low"})
    assert "reasoning" not in client.session_config  # nothing half-applied
    client.update_session(speed=1.1, noise_reduction={"type": "far_field"})  # beta has these
    assert client.session_config["input_audio_noise_reduction"] == {"type": "far_field"}


async def server_event(server: ScriptedServer, event_type: str) -> dict[str, Any]:
    """The first client event of `event_type` the scripted server received."""
    for _ in range(int(TIMEOUT / 0.01)):
        if server.connections:
            for event in server.connections[0].received:
                if event["type"] == event_type:
                    return event
        await asyncio.sleep(0.01)
    raise AssertionError(f"the server never received {event_type}")


# ---------------------------------------------------------------- 2. waits and iterators


def trigger_script(batches: list[list[dict[str, Any]]]):  # type: ignore[no-untyped-def]
    """Send batch k when the client's k-th `response.create` arrives (events in a burst)."""
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        for batch in batches:
            await conn.recv_until("response.create", timeout=TIMEOUT)
            for event in batch:
                await conn.send(event)
        await conn.drain()
    return script


async def test_wait_for_next_completed_item_returns_the_next_item_not_a_stale_one() -> None:
    batches = [[user_item(1)], [user_item(2), user_item(3)], [user_item(4)]]
    async with ScriptedServer(trigger_script(batches)) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        client.realtime.send("response.create")
        first = await client.wait_for_next_completed_item(timeout=TIMEOUT)
        assert first["item"]["id"] == "item_1"
        seen = client.items()  # only to know when 2 and 3 have arrived
        client.realtime.send("response.create")
        assert [(await anext(seen))["id"] for _ in range(2)] == ["item_2", "item_3"]
        # items 2 and 3 completed while nobody waited: the next wait returns item 4
        waiting = asyncio.ensure_future(client.wait_for_next_completed_item(timeout=TIMEOUT))
        await asyncio.sleep(0)
        client.realtime.send("response.create")
        assert (await waiting)["item"]["id"] == "item_4"
        appended = asyncio.ensure_future(client.wait_for_next_item(timeout=0.2))
        with pytest.raises(TimeoutError, match=r"conversation\.item\.appended"):
            await appended
        await client.disconnect()


async def test_a_loop_of_waits_misses_nothing_in_a_burst() -> None:
    burst = [user_item(n) for n in range(60)]
    async with ScriptedServer(trigger_script([burst])) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        client.realtime.send("response.create")
        ids = [(await client.wait_for_next_completed_item(timeout=TIMEOUT))["item"]["id"]
               for _ in range(60)]
        assert ids == [f"item_{n}" for n in range(60)]
        await client.disconnect()


async def test_events_and_items_buffer_from_their_creation() -> None:
    burst = [user_item(n) for n in range(20)]
    async with ScriptedServer(trigger_script([burst])) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        items = client.items(timeout=TIMEOUT)
        appended = client.items(completed=False, timeout=TIMEOUT)
        events = client.events("conversation.item.completed", "realtime.event", timeout=TIMEOUT)
        client.realtime.send("response.create")
        got = []
        async for item in items:
            await asyncio.sleep(0.005)  # a slow loop body loses nothing
            got.append(item["id"])
            if len(got) == 20:
                break
        assert got == [f"item_{n}" for n in range(20)]
        assert [(await anext(appended))["id"] for _ in range(20)] == got
        seen = []
        async for event in events:
            seen.append(event)
            if [e.name for e in seen].count("conversation.item.completed") == 20:
                break
        seen = [e for e in seen if e.name != "realtime.event"  # it may arrive before or after
                or e.payload["event"]["type"] != "session.created"]
        assert seen[0].name == "realtime.event"  # our response.create, then the server's
        assert seen[0].payload["event"]["type"] == "response.create"
        # for each server event: the item's completion, then the event itself
        assert (seen[1].name, seen[1].payload["item"]["id"]) == (
            "conversation.item.completed", "item_0")
        assert (seen[2].name, seen[2].payload["event"]["type"]) == (
            "realtime.event", "conversation.item.added")
        events.close()
        assert events.pending == 0
        await client.disconnect()
        async for _ in items:  # ends after a normal close
            raise AssertionError("no more items")


# ------------------------------------------------------------------- 3. silent failures


async def test_a_raising_tool_handler_is_an_error_event() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.recv_until("response.create", timeout=TIMEOUT)
        for event in function_call_done("get_weather", '{"location": "Paris"}'):
            await conn.send(event)
        await conn.drain()

    def broken(args: dict[str, Any]) -> None:
        raise RuntimeError("weather service down")

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        client.add_tool({"name": "get_weather", "parameters": {"type": "object"}}, broken)
        await client.connect()
        error = asyncio.ensure_future(client.wait_for_next("error", timeout=TIMEOUT))
        await asyncio.sleep(0)
        client.send_user_message_content([{"type": "input_text", "text": "Weather?"}])
        payload = await error
        assert payload["type"] == "tool_error"
        assert (payload["tool"], payload["call_id"]) == ("get_weather", "call_1")
        assert payload["arguments"] == '{"location": "Paris"}'
        assert isinstance(payload["error"], RuntimeError)
        assert "weather service down" in payload["message"]
        output = await tool_output(server)
        assert output == '{"error":"weather service down"}'  # the model hears of it too
        await client.disconnect()


async def test_failed_input_transcription_is_an_error_event() -> None:
    failed = {"type": "conversation.item.input_audio_transcription.failed", "event_id": "e9",
              "item_id": "item_u1", "content_index": 0,
              "error": {"type": "transcription_error", "code": "audio_unintelligible",
                        "message": "Audio could not be transcribed.", "param": None}}

    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.send(failed)
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        error = asyncio.ensure_future(client.wait_for_next("error", timeout=TIMEOUT))
        await client.connect()
        payload = await error
        assert payload["type"] == "transcription_failed"
        assert (payload["item_id"], payload["content_index"]) == ("item_u1", 0)
        assert payload["error"]["code"] == "audio_unintelligible"
        assert "Audio could not be transcribed." in payload["message"]
        await client.disconnect()


async def _debug_session() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url, debug=True)
        await client.connect()
        await client.wait_for_session_created(timeout=TIMEOUT)
        await client.disconnect()


async def test_debug_prints_to_stderr_without_logging_configured(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("", "rtkit", "rtkit.debug"):  # pytest's own capture handlers included
        monkeypatch.setattr(logging.getLogger(name or None), "handlers", [])
    await _debug_session()
    err = capsys.readouterr().err
    assert "sent: {" in err and '"type":"session.update"' in err
    assert "received: {" in err and '"session.created"' in err


async def test_debug_goes_through_logging_when_configured(
        caplog: pytest.LogCaptureFixture) -> None:
    await _debug_session()
    lines = [r.getMessage() for r in caplog.records if r.name == "rtkit.debug"]
    assert any("sent:" in line and "session.update" in line for line in lines)
    assert any("received:" in line and "session.created" in line for line in lines)


# ---------------------------------------------------------------------- 4. GA events


async def test_session_rate_limits_and_clear_input_audio() -> None:
    limits = [{"name": "requests", "limit": 100, "remaining": 99, "reset_seconds": 1.0}]

    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        update = await conn.recv_until("session.update", timeout=TIMEOUT)
        await conn.send({"type": "session.updated",
                         "session": {**session_created()["session"], **update["session"]}})
        await conn.send({"type": "rate_limits.updated", "rate_limits": limits})
        await conn.recv_until("input_audio_buffer.clear", timeout=TIMEOUT)
        await conn.send({"type": "input_audio_buffer.cleared"})
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        client.update_session(instructions="Be brief.")
        assert client.session is None
        await client.connect()
        await client.realtime.wait_for_next("server.rate_limits.updated", timeout=TIMEOUT)
        assert client.session is not None and client.session["instructions"] == "Be brief."
        assert client.session["id"] == "sess_1"
        assert client.rate_limits == limits
        client.append_input_audio(np.ones(4800, dtype=np.int16))
        cleared = asyncio.ensure_future(
            client.realtime.wait_for_next("server.input_audio_buffer.cleared", timeout=TIMEOUT))
        await asyncio.sleep(0)
        client.clear_input_audio()
        assert client.conversation.pending_input_samples == 0
        await cleared
        client.create_response()  # manual mode: nothing left to commit
        await server_event(server, "response.create")
        types = [e["type"] for e in sent_of(server)]
        assert "input_audio_buffer.commit" not in types
        assert types.index("input_audio_buffer.clear") < types.index("response.create")
        await client.disconnect()
        assert client.session is None


async def test_an_mcp_call_completes_and_its_failure_is_an_error_event() -> None:
    item = {"id": "mcp_1", "type": "mcp_call", "server_label": "docs", "name": "search",
            "arguments": ""}
    events = [
        {"type": "conversation.item.added", "previous_item_id": None, "item": item},
        {"type": "response.mcp_call_arguments.delta", "item_id": "mcp_1", "output_index": 0,
         "response_id": "resp_1", "delta": "{}"},
        {"type": "response.mcp_call.completed", "item_id": "mcp_1", "output_index": 0},
        {"type": "conversation.item.added", "previous_item_id": None,
         "item": {**item, "id": "mcp_2"}},
        {"type": "response.mcp_call.failed", "item_id": "mcp_2", "output_index": 0},
    ]
    async with ScriptedServer(trigger_script([events])) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        completed = client.items(timeout=TIMEOUT)
        error = asyncio.ensure_future(client.wait_for_next("error", timeout=TIMEOUT))
        await asyncio.sleep(0)
        client.realtime.send("response.create")
        done = await anext(completed)
        assert (done["id"], done["type"], done["arguments"]) == ("mcp_1", "mcp_call", "{}")
        failure = await error
        assert (failure["type"], failure["item_id"]) == ("mcp_failed", "mcp_2")
        assert client.conversation.get_item("mcp_2")["status"] == "incomplete"
        await client.disconnect()


# ----------------------------------------------------------------- 5. sideband sessions


async def test_sideband_connect_keeps_the_calls_session() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.drain()

    async with ScriptedServer(script) as server:
        url = server.url + "?call_id=rtc_abc123"
        client = RealtimeClient(url=url)
        assert client.sideband
        await client.connect()
        await client.wait_for_session_created(timeout=TIMEOUT)
        client.realtime.send("response.create")
        first = await server_event(server, "response.create")
        assert sent_of(server)[0] is first  # no session.update with defaults went first
        assert server.connections[0].path == "/v1/realtime?call_id=rtc_abc123"  # no model=
        client.add_tool({"name": "lookup", "parameters": {"type": "object"}}, lambda a: a)
        client.update_session(instructions="Only this.")
        updates = [e["session"] for e in sent_of(server) if e["type"] == "session.update"]
        for _ in range(int(TIMEOUT / 0.01)):
            updates = [e["session"] for e in sent_of(server) if e["type"] == "session.update"]
            if len(updates) == 2:
                break
            await asyncio.sleep(0.01)
        assert updates[0] == {"type": "realtime", "tools": [
            {"type": "function", "name": "lookup", "parameters": {"type": "object"}}]}
        assert set(updates[1]) == {"type", "instructions", "tools"}  # never the defaults
        await client.disconnect()


async def test_sideband_sends_what_was_set_before_connect() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url + "?call_id=rtc_1")
        client.update_session(instructions="Hello from the sideband.")
        await client.connect()
        update = await server_event(server, "session.update")
        assert update["session"] == {"type": "realtime",
                                     "instructions": "Hello from the sideband."}
        await client.disconnect()


# ---------------------------------------------------------- 6. sync handlers off the loop


async def test_a_blocking_sync_tool_handler_does_not_stall_the_loop() -> None:
    started, release = threading.Event(), threading.Event()
    loop_thread = threading.get_ident()
    ran_on: list[int] = []

    def blocking(args: dict[str, Any]) -> dict[str, Any]:
        ran_on.append(threading.get_ident())
        started.set()
        # if this ran on the event loop, the loop could not set `release`: it would time out
        return {"released": release.wait(TIMEOUT)}

    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.recv_until("response.create", timeout=TIMEOUT)
        for event in function_call_done("slow", "{}"):
            await conn.send(event)
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        client.add_tool({"name": "slow", "parameters": {"type": "object"}}, blocking)
        await client.connect()
        client.realtime.send("response.create")
        t0 = time.monotonic()
        assert await asyncio.to_thread(started.wait, TIMEOUT)
        release.set()  # the loop runs while the handler blocks
        assert await tool_output(server) == '{"released":true}'
        assert time.monotonic() - t0 < TIMEOUT
        assert ran_on and ran_on[0] != loop_thread
        await client.disconnect()
