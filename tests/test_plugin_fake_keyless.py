"""Issue 10's first hour, through the plugin: with no OPENAI_API_KEY, the official `openai` SDK
records a text turn, a tool round trip and an audio turn from `rtkit fake` (the docs' replies)
with `--rt-record-mode=once`, and the same tests replay with `none` once the fake is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import rtkit.client.client
import rtkit.server.proxy
import rtkit.server.replay_server
from rtkit.fake import FakeRealtimeAPI

assert rtkit.client.client and rtkit.server.proxy and rtkit.server.replay_server  # kept loaded

ROOT = Path(__file__).resolve().parent.parent
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

SDK_TESTS = """
import json
import pytest
from openai import AsyncOpenAI
from rtkit.assertions import rt_conversation

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather.",
           "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}


async def say(conn, text):
    await conn.conversation.item.create(item={
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    await conn.response.create()
    return await done(conn)


async def done(conn):
    async for event in conn:
        if event.type == "response.done":
            return event.response


def sdk(rt_server):
    return AsyncOpenAI(api_key="placeholder", websocket_base_url=rt_server.ws_base_url)


@pytest.mark.rtkit
async def test_text_turn(rt_server):
    async with sdk(rt_server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await say(conn, "Hello!")
    rt_conversation(rt_server).expect.no_errors().user_said("Hello").assistant_said("help")


@pytest.mark.rtkit
async def test_tool_round_trip(rt_server):
    async with sdk(rt_server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                           "tools": [WEATHER]})
        response = await say(conn, "What's the weather in Paris?")
        call = next(item for item in response.output if item.type == "function_call")
        await conn.conversation.item.create(item={
            "type": "function_call_output", "call_id": call.call_id,
            "output": json.dumps({"temp_c": 21, "sky": "sunny"})})
        await conn.response.create()
        await done(conn)
    (rt_conversation(rt_server).expect.no_errors()
        .function_call("get_weather", arguments={"location": "Paris"})
        .function_call_output("get_weather", output={"sky": "sunny"})
        .assistant_said("sunny"))


@pytest.mark.rtkit
async def test_audio_turn(rt_server):
    async with sdk(rt_server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
        await say(conn, "Hello!")
    (rt_conversation(rt_server).expect.no_errors()
        .assistant_said("How can I help", source="transcript")
        .audio_duration(1200, tolerance_ms=50))
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtimeAPI]:
    with FakeRealtimeAPI(ROOT / "docs" / "examples" / "replies.yaml") as api:
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", api.url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield api


def test_the_sdk_records_from_the_fake_without_a_key_then_replays(
    pytester: pytest.Pytester, fake: FakeRealtimeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai  # kept loaded across the in-process runs

    assert openai
    pytester.makeini(INI)
    pytester.makepyfile(test_sdk=SDK_TESTS)
    (pytester.path / ".env").write_text("# no OPENAI_API_KEY here either\n")
    result = pytester.runpytest("--rt-record-mode=once")
    result.assert_outcomes(passed=3)
    assert fake.connections == 3
    cassettes = sorted((pytester.path / "cassettes" / "test_sdk").iterdir())
    assert [p.name for p in cassettes] == [
        "test_audio_turn.jsonl", "test_text_turn.jsonl", "test_tool_round_trip.jsonl"]
    assert [r.key_presented for r in fake.records] == [False] * 3  # no key reached the fake
    assert all(r.errors == 0 for r in fake.records)
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    result = pytester.runpytest()  # none: the fake is not asked again
    result.assert_outcomes(passed=3)
    assert fake.connections == 3
