"""The plugin end to end: record against a scripted upstream on loopback, then replay without it.

The upstream (`rtkit.fake.FakeRealtimeAPI`) runs in this process on a background loop; the
tests under test run in pytester, pointed at it with `RTKIT_UPSTREAM_URL`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtkit.fake import FakeRealtimeAPI

pytest.importorskip("rtkit.server.replay_server")
pytest.importorskip("rtkit.server.proxy")
pytest.importorskip("rtkit.client.client")

FAKE_KEY = "sk-test-" + "plugin-fake-key-000"  # built at runtime: no key-shaped literal
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

TEXT_TESTS = """
import asyncio, json, os
import pytest
from rtkit.assertions import rt_conversation

QUESTION = os.environ.get("RT_QUESTION", "What is the capital of France?")


async def assistant_done(client):
    while True:
        payload = await client.wait_for_next_completed_item(timeout=5)
        if payload["item"].get("role") == "assistant":
            return payload["item"]


@pytest.mark.rtkit
async def test_text(rt_client, rt_cassette):
    rt_client.update_session(modalities=["text"])
    done = asyncio.ensure_future(rt_client.realtime.wait_for_next("server.response.done", 5))
    rt_client.send_user_message_content([{"type": "input_text", "text": QUESTION}])
    await done
    expect = rt_conversation(rt_client).expect
    expect.no_errors().assistant_said("Paris").user_said("capital of France")
    expect.events.contains("response.done", response={"status": "completed"})
    print(f"\\nMODE {rt_cassette.mode} recording={rt_cassette.recording}")


WEATHER = {"type": "function", "name": "get_weather", "description": "weather",
           "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}


@pytest.mark.rtkit
async def test_tool(rt_client):
    rt_client.update_session(modalities=["text"])
    rt_client.add_tool(WEATHER, lambda args: {"temp_c": 21, "sky": "sunny"})
    rt_client.send_user_message_content([{"type": "input_text", "text": "Weather in Paris?"}])
    await assistant_done(rt_client)  # the function call and its output come first
    (rt_conversation(rt_client).expect
        .function_call("get_weather", arguments={"location": "Paris"})
        .function_call_output("get_weather", output={"sky": "sunny"})
        .assistant_said("sunny"))


@pytest.mark.rtkit
def test_sync_client(rt_server):
    from websockets.sync.client import connect
    with connect(rt_server.url + "?model=gpt-realtime") as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        ws.send(json.dumps({"type": "session.update",
                            "session": {"type": "realtime", "instructions": "Be brief."}}))
        assert json.loads(ws.recv())["type"] == "session.updated"


@pytest.mark.rtkit
async def test_openai_sdk(rt_server):
    from openai import AsyncOpenAI
    client = AsyncOpenAI(api_key="sk-test-placeholder", websocket_base_url=rt_server.ws_base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "Say something about Paris"}]})
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                break
"""


class LoopThread:
    """A background asyncio loop for servers used by the outer test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


class Upstream:
    """Start / stop a FakeRealtimeAPI whose every answer mentions Paris."""

    def __init__(self, loop_thread: LoopThread, text: str) -> None:
        self.lt = loop_thread
        self.text = text
        self.fake: FakeRealtimeAPI | None = None

    def start(self, text: str | None = None) -> FakeRealtimeAPI:
        fake = FakeRealtimeAPI({
            "rules": [{"when": {"text": "weather"}, "reply": {"function_call": {
                "name": "get_weather", "arguments": {"location": "Paris"}}}}],
            "default": {"text": text or self.text, "audio_ms": 300},
            "delta_ms": 0,
        }, seed="plugin-tests")
        self.lt.run(fake.__aenter__())
        self.fake = fake
        return fake

    def stop(self) -> None:
        if self.fake is not None:
            self.lt.run(self.fake.__aexit__(None, None, None))
            self.fake = None


@pytest.fixture
def upstream(
    loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester
) -> Iterator[Upstream]:
    pytester.makeini(INI)
    up = Upstream(loop_thread, "The capital of France is Paris; it is sunny in Paris.")
    fake = up.start()
    monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    yield up
    up.stop()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _episodes(path: Path) -> int:
    return sum(1 for line in _lines(path) if line["kind"] == "connect")


def test_record_then_replay(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_app=TEXT_TESTS)
    result = pytester.runpytest(
        "--rt-record-mode=once", "-s", "-W", "error::pytest.PytestUnraisableExceptionWarning"
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*MODE once recording=True*"])
    cassettes = pytester.path / "cassettes" / "test_app"
    names = sorted(p.name for p in cassettes.iterdir())
    assert names == [
        "test_openai_sdk.jsonl",
        "test_sync_client.jsonl",
        "test_text.jsonl",
        "test_tool.jsonl",
    ]
    text = (cassettes / "test_text.jsonl").read_text()
    assert FAKE_KEY not in text
    connections = upstream.fake.connections  # type: ignore[union-attr]
    assert connections == 4

    # the upstream is gone, no key: replay only
    upstream.stop()
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*MODE none recording=False*"])
    # once with an existing cassette replays too
    result = pytester.runpytest("-s", "--rt-record-mode=once", "-k", "test_text")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*MODE once recording=False*"])


def test_mismatch_fails_the_test(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_app=TEXT_TESTS)
    pytester.runpytest("--rt-record-mode=once", "-k", "test_text").assert_outcomes(passed=1)
    monkeypatch.setenv("RT_QUESTION", "What is the capital of Italy?")
    result = pytester.runpytest("-k", "test_text")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CannotOverwriteExistingCassetteException*"])
    result.stdout.fnmatch_lines(["*test_text.jsonl*"])


def test_rewrite_rerecords(pytester: pytest.Pytester, upstream: Upstream) -> None:
    pytester.makepyfile(test_app=TEXT_TESTS)
    pytester.runpytest("--rt-record-mode=once", "-k", "test_text").assert_outcomes(passed=1)
    path = pytester.path / "cassettes" / "test_app" / "test_text.jsonl"
    assert "Lyon" not in path.read_text()
    upstream.stop()
    upstream.start("Paris, not Lyon, is the capital of France.")
    import os

    os.environ["RTKIT_UPSTREAM_URL"] = upstream.fake.url  # type: ignore[union-attr]
    result = pytester.runpytest("--rt-record-mode=rewrite", "-k", "test_text")
    result.assert_outcomes(passed=1)
    assert "Lyon" in path.read_text()
    assert _episodes(path) == 1


def test_new_episodes_and_all_append(pytester: pytest.Pytester, upstream: Upstream) -> None:
    pytester.makepyfile(
        test_eps="""
        import json, os
        import pytest
        from websockets.sync.client import connect

        @pytest.mark.rtkit
        def test_conns(rt_server):
            for _ in range(int(os.environ.get("RT_CONNS", "1"))):
                with connect(rt_server.url + "?model=gpt-realtime") as ws:
                    assert json.loads(ws.recv())["type"] == "session.created"
        """
    )
    path = pytester.path / "cassettes" / "test_eps" / "test_conns.jsonl"
    pytester.runpytest("--rt-record-mode=once").assert_outcomes(passed=1)
    assert _episodes(path) == 1
    seen = upstream.fake.connections  # type: ignore[union-attr]
    import os

    os.environ["RT_CONNS"] = "2"
    try:
        # the first connection replays, the second is recorded and appended
        pytester.runpytest("--rt-record-mode=new_episodes").assert_outcomes(passed=1)
        assert _episodes(path) == 2
        assert upstream.fake.connections == seen + 1  # type: ignore[union-attr]
        # all: record both again, keep the old episodes
        pytester.runpytest("--rt-record-mode=all").assert_outcomes(passed=1)
        assert _episodes(path) == 4
        assert upstream.fake.connections == seen + 3  # type: ignore[union-attr]
        # and two connections replay from the file
        pytester.runpytest().assert_outcomes(passed=1)
    finally:
        del os.environ["RT_CONNS"]


def test_block_network_coexistence(pytester: pytest.Pytester, upstream: Upstream) -> None:
    pytester.makepyfile(test_app=TEXT_TESTS)
    pytester.makepyfile(
        test_blocked="""
        import socket
        import pytest

        def test_remote_is_blocked():
            with pytest.raises(RuntimeError, match="Network is disabled"):
                socket.create_connection(("10.255.255.1", 80), timeout=0.2)

        @pytest.mark.rtkit
        def test_rt_and_blocked(rt_server):
            with pytest.raises(RuntimeError, match="Network is disabled"):
                socket.create_connection(("10.255.255.1", 80), timeout=0.2)
        """
    )
    # recording is allowed through the blocker (as pytest-recording allows VCR recording)
    result = pytester.runpytest_subprocess(
        "-p", "recording", "--block-network", "--rt-record-mode=once", "-k", "test_text or blocked"
    )
    result.assert_outcomes(passed=3)
    upstream.stop()
    result = pytester.runpytest_subprocess("-p", "recording", "--block-network")
    # test_rt_and_blocked recorded an empty cassette (it never connected) and replays it;
    # the three never-recorded rtkit tests error
    result.assert_outcomes(passed=3, errors=3)
    result.stdout.fnmatch_lines(["*no cassette at*"])


def test_xdist(pytester: pytest.Pytester, upstream: Upstream) -> None:
    pytester.makepyfile(
        test_many="""
        import json
        import pytest
        from websockets.sync.client import connect

        @pytest.mark.rtkit
        @pytest.mark.parametrize("n", range(8))
        def test_conn(rt_server, n):
            with connect(rt_server.url + "?model=gpt-realtime") as ws:
                assert json.loads(ws.recv())["type"] == "session.created"
                ws.send(json.dumps({"type": "session.update",
                                    "session": {"type": "realtime", "instructions": str(n)}}))
                assert json.loads(ws.recv())["session"]["instructions"] == str(n)
        """
    )
    result = pytester.runpytest_subprocess("-n", "4", "--rt-record-mode=once")
    result.assert_outcomes(passed=8)
    upstream.stop()
    result = pytester.runpytest_subprocess("-n", "4")
    result.assert_outcomes(passed=8)
    assert len(list((pytester.path / "cassettes" / "test_many").iterdir())) == 8


def test_unplayed_events_are_reported(pytester: pytest.Pytester, upstream: Upstream) -> None:
    pytester.makepyfile(test_app=TEXT_TESTS)
    pytester.runpytest("--rt-record-mode=once", "-k", "test_text").assert_outcomes(passed=1)
    pytester.makepyfile(
        test_app="""
        import pytest

        @pytest.mark.rtkit
        async def test_text(rt_client):
            pass  # connects, then leaves before the conversation
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*RtkitUnplayedWarning*not played*"])


KEYLESS = """
import json
import pytest
from websockets.sync.client import connect


@pytest.mark.rtkit
def test_keyless(rt_server):
    headers = {"Authorization": "Bearer " + "sk-client-placeholder"}  # no token-shaped literal
    with connect(rt_server.url + "?model=gpt-realtime", additional_headers=headers) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
"""


def test_keyless_recording_from_a_loopback_upstream(
    pytester: pytest.Pytester, loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from websockets.asyncio.server import serve

    seen: list[dict[str, str]] = []

    async def handler(ws: Any) -> None:
        seen.append({k.lower(): v for k, v in ws.request.headers.raw_items()})
        await ws.send(json.dumps({"type": "session.created", "event_id": "e1", "session": {}}))
        async for _ in ws:
            pass

    async def start() -> Any:
        return await serve(handler, "127.0.0.1", 0)

    server = loop_thread.run(start())
    try:
        port = server.sockets[0].getsockname()[1]
        pytester.makeini(INI)
        pytester.makepyfile(test_keyless=KEYLESS)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        for host in ("127.0.0.1", "localhost"):
            monkeypatch.setenv("RTKIT_UPSTREAM_URL", f"ws://{host}:{port}/v1/realtime")
            result = pytester.runpytest("--rt-record-mode=rewrite")
            result.assert_outcomes(passed=1)
        assert len(seen) == 2
        assert all("authorization" not in h for h in seen), seen  # no key sent, not even the app's
        path = pytester.path / "cassettes" / "test_keyless" / "test_keyless.jsonl"
        assert _episodes(path) == 1
        # a remote upstream still needs a key
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", "wss://realtime.example.com/v1/realtime")
        result = pytester.runpytest("--rt-record-mode=rewrite")
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*record mode 'rewrite' needs OPENAI_API_KEY*"])
        assert path.exists()  # refused before anything was deleted
    finally:
        server.close()
        loop_thread.run(server.wait_closed())
