"""Record over real loopback sockets, then replay: rtkit's client and the official openai SDK
see the same server events in the same order; secrets never reach disk; failures pass through."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from rtkit import RealtimeClient
from rtkit.cassette import Cassette, CassetteWriter, CloseLine, Connect, Event, Header, read_lines
from rtkit.errors import (
    CannotOverwriteExistingCassetteException,
    ConnectionRefusedByServer,
    SecretLeakError,
)
from rtkit.fake import FakeRealtimeAPI
from rtkit.server.proxy import RecordingProxy
from rtkit.server.replay_server import ReplayServer
from rtkit.transport.recording import RecordingTransport
from rtkit.transport.replay import ReplayTransport
from rtkit.transport.websocket import WebSocketTransport
from tests.scripted_server import ScriptConn, ScriptedServer, session_created

FAKE_KEY = "sk-test-" + "k" * 40  # built at runtime: no key-shaped literal in the repo
WEATHER = {"name": "get_weather", "parameters": {"type": "object"}}
REPLIES = {"rules": [{"when": {"text": "weather"}, "reply": {"function_call": {
              "name": "get_weather", "arguments": {"location": "Paris"}}}}],
           "default": {"text": "It is sunny in Paris.", "audio_ms": 300}}


async def client_session(client: RealtimeClient) -> list[str]:
    """The app under test: a tool call turn; returns the server event types it saw."""
    seen: list[str] = []
    client.on("realtime.event",
              lambda e: e["source"] == "server" and seen.append(e["event"]["type"]))
    client.add_tool(WEATHER, lambda args: {"temp_c": 21, **args})
    await client.connect()
    client.send_user_message_content([{"type": "input_text", "text": "Weather in Paris?"}])
    while True:
        item = (await client.wait_for_next_completed_item(timeout=5))["item"]
        if item["type"] == "message" and item["role"] == "assistant":
            break
    assert "sunny" in item["formatted"]["transcript"]
    await client.disconnect()
    return seen


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_record_with_transport_then_replay_three_ways(tmp_path: Path, dialect: str) -> None:
    path = tmp_path / "tool.jsonl"
    async with FakeRealtimeAPI(REPLIES) as up:
        recorder = RecordingTransport(WebSocketTransport(), path)
        recorded = await client_session(RealtimeClient(url=up.url, api_key=FAKE_KEY,
                                                       dialect=dialect, transport=recorder))  # type: ignore[arg-type]
    # the cassette, line by line
    lines = list(read_lines(path))
    assert isinstance(lines[0], Header) and lines[0].dialect == dialect
    assert lines[0].model == "gpt-realtime"
    assert isinstance(lines[1], Connect) and lines[1].query == "model=gpt-realtime"
    assert lines[1].headers["authorization"] == "REDACTED"
    assert (lines[1].headers.get("openai-beta") == "realtime=v1") == (dialect == "beta")
    events = [line for line in lines if isinstance(line, Event)]
    first_client = next(e for e in events if e.dir == "client")
    assert first_client.type == "session.update"
    assert [e.type for e in events if e.dir == "server"] == recorded
    assert all(a.t <= b.t for a, b in itertools.pairwise(events))
    assert isinstance(lines[-1], CloseLine) and lines[-1].by == "client"
    assert lines[-1].code == 1000
    assert FAKE_KEY not in path.read_text()

    async with ReplayServer(path) as server:
        over_socket = await client_session(RealtimeClient(url=server.url, dialect=dialect))  # type: ignore[arg-type]
    assert over_socket == recorded and server.errors == []
    replay = ReplayTransport(path)
    in_process = await client_session(RealtimeClient(transport=replay, dialect=dialect))  # type: ignore[arg-type]
    replay.end()
    assert in_process == recorded


async def sdk_text_turn(base_url: str) -> list[str]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="placeholder", websocket_base_url=base_url)
    types: list[str] = []
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                           "instructions": "Be brief."})
        await conn.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "Say hello"}]})
        await conn.response.create()
        async for event in conn:
            types.append(event.type)
            if event.type == "response.done":
                break
    return types


async def test_openai_sdk_through_the_proxy_then_against_the_replay_server(
        tmp_path: Path) -> None:
    path = tmp_path / "sdk.jsonl"
    async with (
        FakeRealtimeAPI({"default": {"text": "Hello!"}}) as up,
        RecordingProxy(path, upstream_url=up.url, api_key=FAKE_KEY) as proxy,
    ):
        recorded = await sdk_text_turn(proxy.ws_base_url)
    assert recorded[0] == "session.created" and recorded[-1] == "response.done"
    cassette = Cassette.load(path)
    (episode,) = cassette.episodes
    client_types = [e.type for e in cassette.iter_events(0, "client")]
    assert client_types == ["session.update", "conversation.item.create", "response.create"]
    server_types = [e.type for e in cassette.iter_events(0, "server")]
    assert server_types[: len(recorded)] == recorded  # the SDK stopped reading at response.done
    assert episode.connect.headers["authorization"] == "REDACTED"
    async with ReplayServer(path) as server:
        assert await sdk_text_turn(server.ws_base_url) == recorded


async def test_a_changed_client_event_is_a_mismatch_for_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "sdk.jsonl"
    async with (
        FakeRealtimeAPI({"default": {"text": "Hello!"}}) as up,
        RecordingProxy(path, upstream_url=up.url, api_key=FAKE_KEY) as proxy,
    ):
        await sdk_text_turn(proxy.ws_base_url)
    server = ReplayServer(path, unplayed="ignore")
    async with server:
        async with connect(server.url + "?model=gpt-realtime") as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.send(json.dumps({"type": "session.update",
                                      "session": {"type": "realtime", "instructions": "CHANGED"}}))
            error = json.loads(await ws.recv())
        assert error["type"] == "error" and error["error"]["code"] == "replay_mismatch"
        with pytest.raises(CannotOverwriteExistingCassetteException,
                           match=r"session\.instructions"):
            server.check()
    assert str(path) in str(server.errors[0])


async def test_secrets_never_reach_disk(tmp_path: Path) -> None:
    path = tmp_path / "secrets.jsonl"
    async with (
        FakeRealtimeAPI({"default": {"text": "ok"}}) as up,
        RecordingProxy(path, upstream_url=up.url, api_key=FAKE_KEY) as proxy,
    ):
        url = proxy.url + f"?model=gpt-realtime&api_key={FAKE_KEY}"
        protocols = ["realtime", "openai-insecure-api-key." + FAKE_KEY]
        async with connect(url, subprotocols=protocols,  # type: ignore[arg-type]
                           additional_headers={"Authorization": f"Bearer {FAKE_KEY}",
                                               "api-key": FAKE_KEY}) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "session.update", "session": {
                "type": "realtime", "instructions": f"my key is {FAKE_KEY}; "
                "also sk-proj-" + "p" * 30 + " and ek_" + "e" * 30}}))
            await ws.recv()
    data = path.read_bytes()
    for secret in (FAKE_KEY.encode(), b"sk-proj-" + b"p" * 30, b"ek_" + b"e" * 30,
                   b"Bearer " + FAKE_KEY.encode()):
        assert secret not in data
    connect_line = Cassette.load(path).episodes[0].connect
    assert "openai-insecure-api-key.REDACTED" in connect_line.subprotocols
    assert "api_key=REDACTED" in connect_line.query
    assert connect_line.headers["api-key"] == "REDACTED"
    assert b"sk-REDACTED" in data and b"ek_REDACTED" in data


def test_the_refuse_to_write_scan_fires_and_keeps_the_previous_cassette(tmp_path: Path) -> None:
    path = tmp_path / "keep.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0)
    before = path.read_bytes()
    from rtkit.cassette import Redactor

    # a key no token rule knows: the header's free-form meta is redacted (issue 21), but
    # inside base64 audio, where no filter looks, only the final scan finds it
    live = "azure" + "q" * 32
    audio = json.dumps({"type": "response.output_audio.delta",
                        "delta": "AAAA" * 40 + live + "AAA" + "AAAA" * 40})
    with pytest.raises(SecretLeakError, match="line 3") as refused, \
            CassetteWriter(path, meta={"note": live}, redactor=Redactor(secrets=[live])) as w:
        w.connect(0)
        w.event(0, "server", 1.0, audio)
    assert path.read_bytes() == before
    leftover = Path(str(refused.value.leftover))  # kept for `rtkit scrub`, owner-only
    assert leftover.parent == tmp_path and leftover.stat().st_mode & 0o777 == 0o600
    header, first = leftover.read_text().splitlines()[:2]
    assert live not in header and live not in first and live in leftover.read_text()


async def test_upstream_drop_mid_response_still_writes_the_episode(tmp_path: Path) -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        await conn.recv_until("response.create")
        await conn.send({"type": "response.created", "response": {"id": "resp_1"}})
        await asyncio.sleep(0.05)
        conn.ws.transport.abort()  # the upstream dies without a close frame

    path = tmp_path / "drop.jsonl"
    async with (
        ScriptedServer(script) as upstream,
        RecordingProxy(path, upstream_url=upstream.url, api_key=FAKE_KEY) as proxy,
    ):
        client = RealtimeClient(url=proxy.url)
        await client.connect()
        client.create_response()
        closed = await client.wait_for_next("close", timeout=5)
        assert closed["by"] == "server" and closed["error"]
        # the upstream's half-close is passed on (issue 21): the episode ends once the client
        # has closed its side too, a moment after it saw the drop
        for _ in range(100):
            if proxy.status.episodes:
                break
            await asyncio.sleep(0.02)
    (episode,) = Cassette.load(path).episodes
    assert episode.close is not None and episode.close.code is None
    assert episode.close.by == "server"
    assert episode.n_server == 2


async def test_upstream_refusals_reach_the_client_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "refused.jsonl"
    async with (
        ScriptedServer(refuse=401) as upstream,
        RecordingProxy(path, upstream_url=upstream.url, api_key=FAKE_KEY) as proxy,
    ):
        with pytest.raises(ConnectionRefusedByServer) as info:
            await RealtimeClient(url=proxy.url).connect()
        assert info.value.status == 401
        assert "401" in proxy.failures[0]
    assert Cassette.load(path).episodes[0].connect.status == 401

    async def bad_key(conn: ScriptConn) -> None:
        await conn.send({"type": "error", "error": {"type": "invalid_request_error",
                                                    "code": "invalid_api_key", "message": "no"}})
        await conn.close(3000, "invalid_request_error.invalid_api_key")

    async with (
        ScriptedServer(bad_key) as upstream,
        RecordingProxy(path, upstream_url=upstream.url, api_key=FAKE_KEY) as proxy,
    ):
        client = RealtimeClient(url=proxy.url)
        errors: list[Any] = []
        client.on("error", errors.append)
        await client.connect()
        closed = await client.wait_for_next("close", timeout=5)
    assert closed["code"] == 3000 and closed["reason"] == "invalid_request_error.invalid_api_key"
    assert errors[0]["error"]["code"] == "invalid_api_key"
    # and the replay server plays the same refusal back
    async with ReplayServer(path) as server:
        client = RealtimeClient(url=server.url)
        await client.connect()
        closed = await client.wait_for_next("close", timeout=5)
        assert closed["code"] == 3000
