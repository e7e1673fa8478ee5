"""RealtimeAPI over a real loopback WebSocket: URLs, headers, dispatch order, bad frames, close."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rtkit.client.api import RealtimeAPI, realtime_url
from rtkit.errors import ConnectionRefusedByServer, NotConnectedError, TransportError
from tests.scripted_server import ScriptConn, ScriptedServer, session_created


def test_realtime_url_adds_model_once_and_keeps_existing_query() -> None:
    assert realtime_url(None, "gpt-realtime") == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    # SEED fix 1: a relay URL with a query gets `&model=`, not a second `?`
    assert realtime_url("ws://relay/x?a=1", "m") == "ws://relay/x?a=1&model=m"
    assert realtime_url("ws://relay/x?model=keep", "m") == "ws://relay/x?model=keep"


def test_connect_request_headers_per_dialect() -> None:
    ga = RealtimeAPI(api_key="k-123", dialect="ga").connect_request()
    assert ga.headers == {"Authorization": "Bearer k-123"}
    beta = RealtimeAPI(api_key="k-123", dialect="beta").connect_request()
    assert beta.headers["OpenAI-Beta"] == "realtime=v1"
    with pytest.raises(ValueError, match="dialect"):
        RealtimeAPI(dialect="v2")  # type: ignore[arg-type]


def test_send_while_disconnected_is_a_clear_error() -> None:
    with pytest.raises(NotConnectedError, match="not connected"):
        RealtimeAPI().send("response.create")


async def test_events_dispatch_and_send_order() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send(session_created())
        for _ in range(3):
            await conn.recv()
        await conn.send({"type": "response.created", "response": {"id": "r1"}})
        await conn.drain()

    async with ScriptedServer(script) as server:
        api = RealtimeAPI(url=server.url, api_key="k-1")
        seen: list[str] = []
        api.on("server.*", lambda e: seen.append("server:" + e["type"]))
        api.on("server.session.created", lambda e: seen.append("specific:" + e["type"]))
        api.on("client.*", lambda e: seen.append("client:" + e["type"]))
        await api.connect()
        for name in ("a.one", "a.two", "a.three"):
            event = api.send(name, {"x": name})
            assert event["event_id"].startswith("evt_") and len(event["event_id"]) == 21
        got = await api.wait_for_next("server.response.created", timeout=5)
        assert got["response"]["id"] == "r1"
        await api.disconnect()
        conn = server.connections[0]
        assert [e["type"] for e in conn.received] == ["a.one", "a.two", "a.three"]
        assert conn.headers["authorization"] == "Bearer k-1"
        assert conn.path == "/v1/realtime?model=gpt-realtime"
        server_seen = [s for s in seen if not s.startswith("client:")]
        assert server_seen[:2] == ["specific:session.created", "server:session.created"]
        assert seen.count("client:a.one") == 1


async def test_malformed_frames_are_errors_and_the_loop_keeps_running() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send("this is not json")
        await conn.send("[1, 2]")
        await conn.send(b"\x00\x01")
        await conn.send(session_created())
        await conn.drain()

    async with ScriptedServer(script) as server:
        api = RealtimeAPI(url=server.url)
        errors: list[dict[str, Any]] = []
        api.on("error", errors.append)
        await api.connect()
        assert await api.wait_for_next("server.session.created", timeout=5) is not None
        assert [e["type"] for e in errors] == ["invalid_frame"] * 3
        assert "not JSON" in errors[0]["message"]
        assert api.is_connected()
        await api.disconnect()


async def test_server_close_dispatches_close() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.close(4000, "invalid_request_error.beta_api_shape_disabled")

    async with ScriptedServer(script) as server:
        api = RealtimeAPI(url=server.url)
        await api.connect()
        closed = await api.wait_for_next("close", timeout=5)
        assert closed == {"code": 4000, "reason": "invalid_request_error.beta_api_shape_disabled",
                          "by": "server", "error": True}
        assert not api.is_connected()
        with pytest.raises(NotConnectedError):
            api.send("response.create")


async def test_handshake_refused_with_401() -> None:
    async with ScriptedServer(refuse=401) as server:
        api = RealtimeAPI(url=server.url, api_key="bad")
        with pytest.raises(ConnectionRefusedByServer, match="HTTP 401") as info:
            await api.connect()
        assert info.value.status == 401
        assert not api.is_connected()


async def test_refused_connection_names_the_url() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/v1/realtime"
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
        await RealtimeAPI(url=url).connect()


async def test_handler_error_does_not_kill_receive_loop() -> None:
    async def script(conn: ScriptConn) -> None:
        await conn.send({"type": "x.first"})
        await conn.send({"type": "x.second"})
        await conn.drain()

    async with ScriptedServer(script) as server:
        api = RealtimeAPI(url=server.url)
        errors: list[Any] = []
        api.on("error", errors.append)

        def explode(event: dict[str, Any]) -> None:
            raise RuntimeError("handler bug")

        api.on("server.x.first", explode)
        await api.connect()
        assert await api.wait_for_next("server.x.second", timeout=5) is not None
        assert len(errors) == 1 and "handler bug" in errors[0]["message"]
        await api.disconnect()
        await asyncio.sleep(0)
