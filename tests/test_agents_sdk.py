"""`openai-agents` (a RealtimeAgent with a function tool, run by RealtimeRunner) records through
the proxy and replays against the fake server with `model_config={"url": ...}`, unchanged:
the same agent events, the same tool call, the same answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rtkit.cassette import Cassette
from rtkit.fake import FakeRealtimeAPI
from rtkit.server.proxy import RecordingProxy
from rtkit.server.replay_server import ReplayServer

agents_realtime = pytest.importorskip("agents.realtime", reason="openai-agents is a dev extra")
agents = pytest.importorskip("agents")

FAKE_KEY = "sk-test-" + "agents-" + "a" * 30  # built at runtime: no key-shaped literal


async def agent_turn(url: str) -> tuple[list[str], list[dict[str, Any]], str]:
    """Ask the weather agent one question; return its event types, the tool calls it ran and
    the assistant's final text."""
    calls: list[dict[str, Any]] = []

    @agents.function_tool
    def get_weather(location: str) -> str:
        """The weather in a city."""
        calls.append({"location": location})
        return f"Sunny, 21 C in {location}"

    agent = agents_realtime.RealtimeAgent(name="Weather", instructions="Answer briefly.",
                                          tools=[get_weather])
    runner = agents_realtime.RealtimeRunner(
        starting_agent=agent,
        config={"model_settings": {"model_name": "gpt-realtime", "modalities": ["text"]}})
    session = await runner.run(model_config={"url": url, "api_key": "placeholder"})
    types: list[str] = []
    history: list[Any] = []

    async def until_answered() -> None:
        ends = 0
        async for event in session:
            types.append(event.type)
            if event.type == "error":
                raise AssertionError(f"agent error: {event}")
            if event.type == "history_updated":
                history[:] = event.history
            if event.type == "agent_end":
                ends += 1
                if calls and ends >= 2:  # the tool turn, then the answer
                    return

    async with session:
        await session.send_message("What's the weather in Paris?")
        await asyncio.wait_for(until_answered(), 10)
    text = "".join(getattr(part, "text", None) or getattr(part, "transcript", None) or ""
                   for item in history if getattr(item, "role", None) == "assistant"
                   for part in item.content)
    return types, calls, text


async def test_openai_agents_records_through_the_proxy_and_replays_unchanged(
        tmp_path: Path) -> None:
    path = tmp_path / "agents.jsonl"
    replies = {"rules": [
        {"when": {"text": "weather"}, "reply": {"function_call": {
            "name": "get_weather", "arguments": {"location": "Paris"}}}},
        {"when": {"tool_output": "sunny"}, "reply": {"text": "It is sunny in Paris."}},
    ]}
    async with (
        FakeRealtimeAPI(replies) as up,
        RecordingProxy(path, upstream_url=up.url, api_key=FAKE_KEY) as proxy,
    ):
        recorded = await agent_turn(proxy.url + "?model=gpt-realtime")
    types, calls, text = recorded
    assert calls == [{"location": "Paris"}]
    assert "sunny in Paris" in text
    assert "tool_start" in types and "tool_end" in types
    client = [e.type for e in Cassette.load(path).iter_events(0, "client")]
    assert "session.update" in client and "conversation.item.create" in client
    assert FAKE_KEY not in path.read_text()

    async with ReplayServer(path, unplayed="ignore") as server:
        replayed = await agent_turn(server.url + "?model=gpt-realtime")
    server.check()
    assert replayed == recorded
