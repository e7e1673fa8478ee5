"""`rt_conversation` on `rt_server`, `rt_cassette` and the cassette path, for rtkit's client, the
official `openai` SDK and a raw websockets client, while recording through the proxy (`once`)
and while replaying (`none`): the assertions read what the server saw, live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtkit.assertions import EventLog, attach, detach, rt_conversation
from rtkit.fake import FakeRealtimeAPI

ROOT = Path(__file__).resolve().parent.parent

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

CLIENTS = """
import json
import pytest
from rtkit.assertions import rt_conversation

QUESTION = "What is the capital of France?"


def check(rt_server, rt_cassette):
    # every source gives the same conversation: what crossed the server, so far
    for source in (rt_server, rt_cassette, rt_cassette.path, str(rt_cassette.path)):
        conv = rt_conversation(source)
        (conv.expect.no_errors()
            .user_said("capital of France").assistant_said("Paris"))
        conv.expect.client_events.contains("conversation.item.create").contains("response.create")
        conv.expect.events.contains("response.done", response={"status": "completed"})
        conv.expect.items.next(role="user").next(role="assistant").no_more()
        assert {e.conn for e in conv.events} == {0}
    print(f"\\nCHECKED {rt_cassette.mode} {len(conv.events)}")


@pytest.mark.rtkit
async def test_rtkit_client(rt_client, rt_server, rt_cassette):
    rt_client.update_session(modalities=["text"])
    done = rt_client.realtime.wait_for_next("server.response.done", 10)
    rt_client.send_user_message_content([{"type": "input_text", "text": QUESTION}])
    await done
    check(rt_server, rt_cassette)


@pytest.mark.rtkit
async def test_openai_sdk(rt_server, rt_cassette):
    from openai import AsyncOpenAI
    client = AsyncOpenAI(api_key="sk-test-placeholder", websocket_base_url=rt_server.ws_base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": QUESTION}]})
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                break
        check(rt_server, rt_cassette)


@pytest.mark.rtkit
async def test_raw_websockets(rt_server, rt_cassette):
    from websockets.asyncio.client import connect
    async with connect(rt_server.url + "?model=gpt-realtime") as ws:
        for event in (
            {"type": "session.update",
             "session": {"type": "realtime", "output_modalities": ["text"]}},
            {"type": "conversation.item.create", "item": {
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": QUESTION}]}},
            {"type": "response.create"},
        ):
            await ws.send(json.dumps(event))
        while json.loads(await ws.recv())["type"] != "response.done":
            pass
        check(rt_server, rt_cassette)
"""


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtimeAPI]:
    script = {"default": {"text": "The capital of France is Paris."}, "delta_ms": 0}
    with FakeRealtimeAPI(script, seed="conversation") as fake:
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a loopback upstream needs none
        yield fake


def test_every_client_record_then_replay(
    pytester: pytest.Pytester, upstream: FakeRealtimeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_clients=CLIENTS)
    result = pytester.runpytest("--rt-record-mode=once", "-s")
    result.assert_outcomes(passed=3)
    assert len(result.stdout.lines) and result.stdout.str().count("CHECKED once") == 3
    assert upstream.connections == 3
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=3)
    assert result.stdout.str().count("CHECKED none") == 3


def test_a_path_reads_the_log_while_attached_then_the_file(tmp_path: Path) -> None:
    cassette = ROOT / "cassettes" / "ga" / "text_turn.jsonl"
    from_file = rt_conversation(cassette)
    log = EventLog()
    attach(cassette, log)
    try:
        assert rt_conversation(cassette).events == []
        log.add(0, "client", '{"type": "response.create"}')
        log.add(0, "server", b"\x00binary")  # neither binary nor bad JSON is an event
        log.add(0, "server", "not json")
        log.add(1, "server", '{"type": "error", "error": {"code": "x"}}')
        events = rt_conversation(str(cassette)).events
        assert [(e.source, e.type, e.conn) for e in events] == [
            ("client", "response.create", 0), ("server", "error", 1)]
        assert rt_conversation(log).events == events
    finally:
        detach(cassette)
    assert rt_conversation(cassette).events == from_file.events


def test_an_unattached_server_says_what_to_pass() -> None:
    class Server:
        episodes = 3
        url = "ws://127.0.0.1:1/v1/realtime"

    with pytest.raises(TypeError, match="cannot read a Server: pass a RealtimeClient"):
        rt_conversation(Server())
