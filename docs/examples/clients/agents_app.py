"""openai-agents' RealtimeAgent run by RealtimeRunner: a text turn, then a question answered
through a function tool.

    python agents_app.py ws://127.0.0.1:8765/v1/realtime ["question" ...]

The URL is what `rtkit record --listen`, `rtkit serve` or `rtkit fake` printed.
"""

import asyncio
import sys

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner


@function_tool
def get_weather(location: str) -> dict:
    """Current weather for a city."""
    return {"location": location, "temp_c": 21, "sky": "sunny"}


def answer(history: list, asked: int) -> str | None:
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


async def converse(url: str, questions: list[str]) -> dict:
    """Ask each question in turn; return the server event types seen and what was said."""
    seen, said = [], []
    agent = RealtimeAgent(name="Weather", instructions="Answer briefly.", tools=[get_weather])
    runner = RealtimeRunner(
        starting_agent=agent,
        config={"model_settings": {"model_name": "gpt-realtime", "modalities": ["text"]}},
    )
    # the full URL with ?model=; the key is a placeholder: rtkit holds the real one
    session = await runner.run(
        model_config={"url": url + "?model=gpt-realtime", "api_key": "placeholder"}
    )
    async with session:
        for asked, question in enumerate(questions, start=1):
            await session.send_message(question)
            async for event in session:
                if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                    seen.append(event.data.data["type"])  # the server's own events
                if event.type == "error":  # e.g. rtkit serve's replay_mismatch: stop at once
                    raise RuntimeError(str(event.error))
                if event.type == "tool_start":
                    said.append(f"tool call: {event.tool.name} {event.arguments}")
                if event.type == "history_updated" and (text := answer(event.history, asked)):
                    said.append(f"assistant: {text}")
                    break
    return {"seen": seen, "said": said}


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/v1/realtime"
    questions = sys.argv[2:] or ["Hello!", "What's the weather in Paris?"]
    try:
        result = asyncio.run(converse(url, questions))
    except RuntimeError as exc:  # the server's error event
        sys.exit(f"error: {exc}")
    print("\n".join(result["said"]))
