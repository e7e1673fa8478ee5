"""openai-agents (0.25) with tracing on (its default), a handoff and a function tool: a
triage agent hands a weather question to a weather expert, which calls `get_weather`.

`converse(url, questions)` asks each question in turn and returns what was said (the
assistant's answers, the handoff, the tool call) and the server event types it saw; it raises
on the server's `error` event (rtkit serve's replay_mismatch among them).
"""

from __future__ import annotations

from typing import Any

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner

SCRIPT: dict[str, Any] = {"rules": [
    {"when": {"text": "weather"},
     "reply": {"function_call": {"name": "transfer_to_weather_expert", "arguments": {}}}},
    {"when": {"tool_output": "Weather Expert"},
     "reply": {"function_call": {"name": "get_weather", "arguments": {"location": "Paris"}}}},
    {"when": {"tool_output": "sunny"}, "reply": {"text": "It is sunny in Paris, 21 degrees."}},
    {"when": {"text": "hello"}, "reply": {"text": "Hi! How can I help?"}},
]}
QUESTIONS = ["Hello!", "What's the weather in Paris?"]
SAID = ["assistant: Hi! How can I help?", "handoff: Triage -> Weather Expert",
        'tool call: get_weather {"location": "Paris"}',
        "assistant: It is sunny in Paris, 21 degrees."]


@function_tool
def get_weather(location: str) -> dict[str, Any]:
    """Current weather for a city."""
    return {"location": location, "temp_c": 21, "sky": "sunny"}


def _answer(history: list[Any], asked: int) -> str | None:
    """The assistant's completed text after the `asked`-th user message, if it is there."""
    users = [i for i, item in enumerate(history) if getattr(item, "role", None) == "user"]
    if len(users) < asked:
        return None
    for item in history[users[asked - 1]:]:
        if getattr(item, "role", None) == "assistant" and item.status == "completed":
            text = "".join(part.text or "" for part in item.content if part.type == "text")
            if text:
                return text
    return None


async def converse(url: str, questions: list[str]) -> dict[str, Any]:
    """Ask each question in turn; return what was said and the server event types seen."""
    expert = RealtimeAgent(name="Weather Expert", instructions="You know the weather.",
                           tools=[get_weather])
    triage = RealtimeAgent(name="Triage", instructions="Hand weather questions over.",
                           handoffs=[expert])
    runner = RealtimeRunner(starting_agent=triage, config={
        "model_settings": {"model_name": "gpt-realtime", "modalities": ["text"]}})
    session = await runner.run(model_config={"url": url + "?model=gpt-realtime",
                                             "api_key": "placeholder"})
    seen: list[str] = []
    said: list[str] = []
    async with session:
        for asked, question in enumerate(questions, start=1):
            await session.send_message(question)
            async for event in session:
                if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                    seen.append(event.data.data["type"])
                if event.type == "error":
                    raise RuntimeError(str(event.error))
                if event.type == "handoff":
                    said.append(f"handoff: {event.from_agent.name} -> {event.to_agent.name}")
                if event.type == "tool_start" and event.tool.name == "get_weather":
                    said.append(f"tool call: {event.tool.name} {event.arguments}")
                if event.type == "history_updated" and (text := _answer(event.history, asked)):
                    said.append(f"assistant: {text}")
                    break
    return {"seen": seen, "said": said}
