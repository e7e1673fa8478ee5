"""The official `openai` SDK, synchronous: a text turn, then a question answered through a tool.

    python openai_sync.py ws://127.0.0.1:8765/v1/realtime ["question" ...]

The URL is what `rtkit record --listen`, `rtkit serve` or `rtkit fake` printed.
"""

import json
import sys

from openai import OpenAI

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


def get_weather(location: str) -> dict:
    return {"location": location, "temp_c": 21, "sky": "sunny"}


def converse(url: str, questions: list[str]) -> dict:
    """Ask each question in turn (running the tool when the model calls it); return the server
    event types the app saw and what was said."""
    seen, said = [], []
    # websocket_base_url is the URL without its last part; the key is a placeholder: rtkit
    # holds the real one (or needs none)
    client = OpenAI(api_key="placeholder", websocket_base_url=url.removesuffix("/realtime"))
    with client.realtime.connect(model="gpt-realtime") as conn:
        conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}
        )
        for question in questions:
            conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": question}],
                }
            )
            conn.response.create()
            for event in conn:
                seen.append(event.type)
                if event.type == "error":  # e.g. rtkit serve's replay_mismatch: stop at once
                    raise RuntimeError(f"{event.error.code}: {event.error.message}")
                if event.type != "response.done":
                    continue
                item = event.response.output[0]
                if item.type == "function_call":  # run the tool, send its result, ask again
                    said.append(f"tool call: {item.name} {item.arguments}")
                    result = get_weather(**json.loads(item.arguments))
                    conn.conversation.item.create(
                        item={
                            "type": "function_call_output",
                            "call_id": item.call_id,
                            "output": json.dumps(result),
                        }
                    )
                    conn.response.create()
                else:
                    said.append(f"assistant: {item.content[0].text}")
                    break
    return {"seen": seen, "said": said}


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/v1/realtime"
    questions = sys.argv[2:] or ["Hello!", "What's the weather in Paris?"]
    try:
        result = converse(url, questions)
    except RuntimeError as exc:  # the server's error event
        sys.exit(f"error: {exc}")
    print("\n".join(result["said"]))
