"""Plugin internals that need no cassette: network allowance, the background loop, the router."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from pytest_recording import network
from websockets.asyncio.client import connect

from rtkit.fake import FakeRealtimeAPI
from rtkit.pytest.ioloop import IOLoop
from rtkit.pytest.network import NetworkAllowance, is_loopback_url
from rtkit.pytest.router import EpisodeRouter


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def _connect(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_allowance_lets_rtkit_ports_through_a_blocker(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with network.blocking_context(allowed_hosts=None):
        with pytest.raises(RuntimeError, match="Network is disabled"):
            _connect(port)
        blocker = socket.socket.connect
        with NetworkAllowance([port], None):
            _connect(port)
            with pytest.raises(RuntimeError, match="Network is disabled"):
                socket.create_connection(("10.255.255.1", 80), timeout=0.2)
        assert socket.socket.connect is blocker
    _connect(port)


def test_allowance_is_a_noop_without_blocker() -> None:
    real = socket.socket.connect
    with NetworkAllowance([1], None):
        assert socket.socket.connect is real


def test_io_thread_connections_are_allowed(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    loop = IOLoop()

    async def dial() -> None:
        _connect(port)

    try:
        loop.run(dial())  # starts the thread
        with network.blocking_context(allowed_hosts=None), NetworkAllowance([], loop.thread_id):
            loop.run(dial())
            with pytest.raises(RuntimeError):
                _connect(port)  # this thread is not rtkit's
    finally:
        loop.close()
    assert not any(t.name == "rtkit-io" and t.is_alive() for t in threading.enumerate())


async def test_episode_router_replays_then_records() -> None:
    async with (
        FakeRealtimeAPI({"default": {"text": "from A"}}) as replay,
        FakeRealtimeAPI({"default": {"text": "from B"}}) as record,
        EpisodeRouter(replay, record, recorded=1) as router,
    ):
        assert router.url.endswith("/v1/realtime") and router.ws_base_url.endswith("/v1")
        for expected in ("from A", "from B"):
            async with connect(
                router.url + "?model=gpt-4o-realtime-preview",
                additional_headers={"OpenAI-Beta": "realtime=v1"},
            ) as ws:
                created = json.loads(await ws.recv())
                assert created["type"] == "session.created"
                assert "modalities" in created["session"]  # beta shape: the header got through
                await ws.send(
                    json.dumps({"type": "session.update", "session": {"modalities": ["text"]}})
                )
                await ws.send(json.dumps({"type": "response.create"}))
                text = ""
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == "response.text.delta":
                        text += event["delta"]
                    if event["type"] == "response.done":
                        break
                assert text == expected
        assert (replay.connections, record.connections, router.connections) == (1, 1, 2)
        assert router.errors == [] and router.played == [] and router.unplayed == []


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("ws://127.0.0.1:8765/v1/realtime", True),
        ("ws://127.5.0.1/v1/realtime", True),
        ("ws://localhost:1/v1/realtime", True),
        ("ws://LOCALHOST:1/v1/realtime", True),
        ("ws://[::1]:8765/v1/realtime", True),
        ("wss://api.openai.com/v1/realtime", False),
        ("ws://10.0.0.1/v1/realtime", False),
        ("ws://localhost.example.com/v1/realtime", False),
        ("not a url", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback
