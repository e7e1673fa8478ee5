"""Waits never outlive the connection (issue 10 point 3, issue 14 point 3): a replay mismatch
fails a pending `wait_for_*` (and `events()` iteration) at once with the mismatch, and the
connection's end wakes every wait, over a socket (`ReplayServer`, a scripted server) and
in-process (`ReplayTransport`), with or without a timeout."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from rtkit import RealtimeClient, ReplayServer, ReplayTransport
from rtkit.errors import CannotOverwriteExistingCassetteException, ConnectionClosedError
from tests.scripted_server import ScriptConn, ScriptedServer, session_created

ROOT = Path(__file__).resolve().parent.parent
TEXT_TURN = ROOT / "cassettes" / "ga" / "text_turn.jsonl"
SAFETY = 10.0  # a regression fails the test after this long instead of hanging it


def ask_the_wrong_question(client: RealtimeClient) -> None:
    """text_turn.jsonl recorded a question about France; this one differs."""
    client.update_session(modalities=["text"], instructions="Answer in one short sentence.")
    client.send_user_message_content(
        [{"type": "input_text", "text": "What is the capital of Italy?"}])


async def _fails_with_mismatch(wait: Any) -> tuple[CannotOverwriteExistingCassetteException, float]:
    t0 = time.monotonic()
    with pytest.raises(CannotOverwriteExistingCassetteException) as info:
        await asyncio.wait_for(wait, SAFETY)
    return info.value, time.monotonic() - t0


# ------------------------------------------------------------------------- over a socket


async def test_a_mismatch_fails_a_30s_wait_in_under_a_second_over_a_socket() -> None:
    async with ReplayServer(TEXT_TURN, timeout=30) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        ask_the_wrong_question(client)
        error, elapsed = await _fails_with_mismatch(
            client.wait_for_next_completed_item(timeout=30))
        assert elapsed < 1.0, elapsed
        assert "does not match" in str(error) and "text_turn.jsonl" in str(error)
        # later waits raise it at once too, timeout or not
        error2, elapsed = await _fails_with_mismatch(client.wait_for_next_item())
        assert error2 is error and elapsed < 1.0
        await client.disconnect()
        server.player.reported(server.errors[0])  # the test saw it: the block must not re-raise


async def test_a_mismatch_wakes_a_wait_without_timeout_and_an_events_loop() -> None:
    async with ReplayServer(TEXT_TURN, timeout=30) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        events = client.events()
        waiting = asyncio.ensure_future(client.wait_for_next_completed_item())  # no timeout
        realtime_wait = asyncio.ensure_future(client.realtime.wait_for_next("server.response.done"))
        await asyncio.sleep(0)
        ask_the_wrong_question(client)
        _, elapsed = await _fails_with_mismatch(waiting)
        assert elapsed < 1.0
        with pytest.raises(CannotOverwriteExistingCassetteException):
            await asyncio.wait_for(realtime_wait, SAFETY)

        async def drain() -> list[str]:
            names = []
            async for event in events:
                names.append(event.name)
            return names

        with pytest.raises(CannotOverwriteExistingCassetteException):
            await asyncio.wait_for(drain(), SAFETY)
        await client.disconnect()
        server.player.reported(server.errors[0])


async def test_a_server_close_wakes_waits_without_timeout() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.recv_until("response.create")
        await conn.close(1011, "upstream died")

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        await client.wait_for_session_created(timeout=SAFETY)
        items = client.items()
        waiting = asyncio.ensure_future(client.wait_for_next_completed_item())  # no timeout
        await asyncio.sleep(0)
        client.create_response()
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(waiting, SAFETY)
        assert (info.value.code, info.value.reason, info.value.by) == (
            1011, "upstream died", "server")
        assert "code 1011" in str(info.value) and "upstream died" in str(info.value)
        assert "conversation.item.completed" in str(info.value)
        with pytest.raises(ConnectionClosedError):  # an abnormal close ends the iteration so
            await asyncio.wait_for(anext(items), SAFETY)
        t0 = time.monotonic()
        with pytest.raises(ConnectionClosedError):  # a wait after the end fails at once
            await asyncio.wait_for(client.wait_for_next_item(), SAFETY)
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(client.wait_for_session_created(), SAFETY)
        assert time.monotonic() - t0 < 1.0
        # a reconnect waits again
        await client.connect()
        await client.wait_for_session_created(timeout=SAFETY)
        await client.disconnect()


async def test_disconnect_wakes_waits_and_ends_iterations() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.drain()

    async with ScriptedServer(script) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        items = client.items()
        waiting = asyncio.ensure_future(client.wait_for_next_completed_item())
        await asyncio.sleep(0)
        await client.disconnect()
        with pytest.raises(ConnectionClosedError, match="closed by the client"):
            await asyncio.wait_for(waiting, SAFETY)
        assert [item async for item in items] == []  # a normal close ends the iteration


# ---------------------------------------------------------------------- ReplayTransport


async def test_a_mismatch_fails_a_30s_wait_at_once_with_replay_transport() -> None:
    transport = ReplayTransport(TEXT_TURN, timeout=30)
    client = RealtimeClient(transport=transport)
    await client.connect()
    waiting = asyncio.ensure_future(client.wait_for_next_completed_item())  # no timeout
    await asyncio.sleep(0)
    ask_the_wrong_question(client)
    error, elapsed = await _fails_with_mismatch(waiting)
    assert elapsed < 1.0, elapsed
    # in-process, the client raises the engine's own exception: the full report with the diff
    assert error is transport.failure is transport.errors[0]
    assert "differences:" in str(error)
    assert "item.content[0].text: expected 'What is the capital of France?'" in str(error)
    error2, _ = await _fails_with_mismatch(client.wait_for_next_completed_item(timeout=30))
    assert error2 is error
    await client.disconnect()


def _cassette_closed_by_server(tmp_path: Path) -> Path:
    """text_turn.jsonl cut after the client's response.create, where the server then closes."""
    out, client_events, last_t = [], 0, 0.0
    for line in TEXT_TURN.read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "event" and record["dir"] == "client":
            if record["event"]["type"] == "session.update" and client_events == 1:
                continue  # the scenario's second update: this test does not send it
            client_events += 1
        if record["kind"] in ("header", "connect") or (
                record["kind"] == "event" and record["event"]["type"] in (
                    "session.created", "session.update", "conversation.item.create",
                    "response.create")):
            out.append(line)
            last_t = max(last_t, record.get("t", 0.0))
    out.append(json.dumps({"kind": "close", "conn": 0, "t": last_t + 1, "code": 1011,
                           "reason": "upstream died", "by": "server"}))
    path = tmp_path / "closed.jsonl"
    path.write_text("\n".join(out) + "\n")
    return path


async def test_a_recorded_server_close_wakes_waits_with_replay_transport(tmp_path: Path) -> None:
    client = RealtimeClient(transport=ReplayTransport(_cassette_closed_by_server(tmp_path)))
    await client.connect()
    waiting = asyncio.ensure_future(client.wait_for_next_completed_item())  # no timeout
    await asyncio.sleep(0)
    client.send_user_message_content(
        [{"type": "input_text", "text": "What is the capital of France?"}])
    with pytest.raises(ConnectionClosedError) as info:
        await asyncio.wait_for(waiting, SAFETY)
    assert (info.value.code, info.value.reason) == (1011, "upstream died")
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(client.wait_for_next_item(), 1.0)


async def test_replay_transport_closes_when_the_replay_fails_without_a_close() -> None:
    transport = ReplayTransport(TEXT_TURN)
    client = RealtimeClient(transport=transport)
    await client.connect()
    await client.wait_for_session_created(timeout=SAFETY)
    waiting = asyncio.ensure_future(client.wait_for_next_completed_item())  # no timeout
    await asyncio.sleep(0)

    def broken(*args: Any) -> Any:
        raise RuntimeError("engine bug")

    assert transport._engine is not None
    transport._engine.receive_iter = broken  # type: ignore[method-assign]
    client.create_response()  # the engine dies on this frame: never a silent hang
    with pytest.raises(ConnectionClosedError, match="replay failed: RuntimeError"):
        await asyncio.wait_for(waiting, SAFETY)
