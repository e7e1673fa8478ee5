"""Bad input to `rtkit serve` (one subprocess for the module, as a user runs it): each probe
gets an `error` event shaped like the live API's, or a clean refusal, and the server goes on
serving, the same connection where the API would keep it open and other clients always.

Episode k of the cassette is recorded for `?model=gpt-realtime&n=k`, so every probe has its
own episode and a client can check it got exactly its own session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from rtkit.transport.websocket import loopback_kwargs
from tests.serve_helpers import QUERY, RawClient, Serve, good_session, server_events, user_text

EPISODES = 30


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    from tests.serve_helpers import write_sessions

    path = write_sessions(tmp_path_factory.mktemp("bad") / "sessions.jsonl", EPISODES,
                          per_episode_query=True)
    server = Serve(path, "--timeout", "10", "--unplayed", "ignore")
    yield server
    server.stop()


def url(server: Serve, k: int) -> str:
    return f"{server.url}?{QUERY}&n={k}"


async def error_after(ws: ClientConnection, frame: Any) -> dict[str, Any]:
    await ws.send(frame)
    event = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert event["type"] == "error", event
    assert set(event["error"]) == {"type", "code", "message", "param", "event_id"}
    assert event["error"]["type"] == "invalid_request_error"
    return event


async def finish(ws: ClientConnection, k: int) -> None:
    """The rest of episode k's session on this connection, checked frame by frame."""
    await ws.send(user_text(k))
    await ws.send('{"type":"response.create"}')
    for expected in server_events(k):
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == json.loads(expected)


async def probe(server: Serve, k: int, frame: Any) -> dict[str, Any]:
    """Send `frame` first on episode k's connection; return the error; then finish it, and
    check another client is served too."""
    async with connect(url(server, k), max_size=None, **loopback_kwargs(server.url)) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        error = await error_after(ws, frame)
        await finish(ws, k)
    await good_session(url(server, EPISODES - 1 - k), EPISODES - 1 - k)
    assert server.proc.poll() is None
    return error


async def test_non_json(served: Serve) -> None:
    error = await probe(served, 0, "not json {")
    assert error["error"]["code"] == "invalid_json"


async def test_json_that_is_not_an_object(served: Serve) -> None:
    error = await probe(served, 1, "[1, 2, 3]")
    assert error["error"]["code"] == "invalid_event"


async def test_missing_type(served: Serve) -> None:
    error = await probe(served, 2, '{"event_id":"evt_1","item":{}}')
    assert error["error"]["code"] == "missing_required_parameter"
    assert (error["error"]["param"], error["error"]["event_id"]) == ("type", "evt_1")


async def test_binary_frame(served: Serve) -> None:
    error = await probe(served, 3, b"\x00\x01\x02")
    assert error["error"]["code"] == "invalid_event"
    assert "binary frames are not supported" in error["error"]["message"]


async def test_deeply_nested_json(served: Serve) -> None:
    error = await probe(served, 4, "[" * 100_000 + "]" * 100_000)
    assert error["error"]["code"] == "invalid_json"
    assert "nested too deeply" in error["error"]["message"]
    error = await probe(served, 5, '{"type":"x","a":' + "[" * 5000 + "]" * 5000 + "}")
    assert error["error"]["code"] == "invalid_json"


async def test_a_20_mb_frame(served: Serve) -> None:
    big = '{"type":"conversation.item.create","pad":"' + "a" * (20 * 1024 * 1024) + '"}'
    error = await probe(served, 6, big)
    assert error["error"]["code"] == "message_too_large"


async def test_fragmented_frames_are_one_message(served: Serve) -> None:
    k = 7
    text = user_text(k)
    async with connect(url(served, k), **loopback_kwargs(served.url)) as ws:
        await ws.recv()
        await ws.send([text[:10], text[10:30], text[30:]])  # three frames, one message
        await ws.send('{"type":"response.create"}')
        for expected in server_events(k):
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == json.loads(expected)


async def test_ping_flood(served: Serve) -> None:
    k = 8
    async with connect(url(served, k), **loopback_kwargs(served.url)) as ws:
        await ws.recv()
        pongs = [await ws.ping() for _ in range(2000)]
        await asyncio.wait_for(asyncio.gather(*pongs), 20)
        await finish(ws, k)
    assert served.proc.poll() is None


async def test_invalid_utf8_is_refused_with_1007(served: Serve) -> None:
    client = await RawClient.upgrade(served.port, f"/v1/realtime?{QUERY}&n=9")
    opcode, _ = await client.read_frame()  # session.created
    client.send_frame(b'{"type":"conversation.item.create","x":"\xff\xfe"}')
    opcode, payload = await asyncio.wait_for(client.read_frame(), 10)
    assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1007  # close: invalid data
    client.close()
    await good_session(url(served, 10), 10)


async def test_http_request_without_upgrade_uses_no_episode(served: Serve) -> None:
    k = 11
    for request in (f"GET /v1/realtime?{QUERY}&n={k} HTTP/1.1\r\nHost: x\r\n\r\n",
                    f"GET /v1/realtime?{QUERY}&n={k} HTTP/1.1\r\nHost: x\r\nConnection: "
                    "keep-alive\r\nUpgrade: h2c\r\n\r\n"):
        client, head = await RawClient.request(served.port, request)
        assert head.startswith(b"HTTP/1.1 426 "), head
        assert b"Upgrade: websocket" in head
        client.close()
    await good_session(url(served, k), k)  # its episode is still there


async def test_wrong_path_is_404_and_uses_no_episode(served: Serve) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(served.url.replace("/v1/realtime", "/v1/nope") + f"?{QUERY}&n=12",
                           **loopback_kwargs(served.url)):
            pass
    assert refused.value.response.status_code == 404
    assert b"no unplayed episode" in (refused.value.response.body or b"")
    await good_session(url(served, 12), 12)


async def test_the_server_survived_every_probe(served: Serve) -> None:
    await good_session(url(served, 14), 14)
    with pytest.raises(InvalidStatus):  # its episode is used up: a second try is refused
        async with connect(url(served, 14), **loopback_kwargs(served.url)):
            pass
    assert served.proc.poll() is None


async def test_fifty_concurrent_clients_each_get_their_own_session(tmp_path: Path) -> None:
    from tests.serve_helpers import write_sessions

    n = 50
    path = write_sessions(tmp_path / "fifty.jsonl", n, per_episode_query=True, deltas=20)
    server = Serve(path, "--max-connections", str(n), "--unplayed", "fail", "--quiet")
    try:
        frames = await asyncio.wait_for(asyncio.gather(
            *(good_session(url(server, k), k, deltas=20) for k in range(n))), 60)
        # no cross-talk: every client saw only its own episode, in order
        for k, got in enumerate(frames):
            assert all(f'"ev_{k}_' in frame for frame in got), (k, got)
        code, err = await server.wait()
    finally:
        server.stop()
    assert (code, err) == (0, "")
