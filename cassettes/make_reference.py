"""Regenerate rtkit's reference cassettes (see cassettes/README.md).

    .venv/bin/python cassettes/make_reference.py            # all of them
    .venv/bin/python cassettes/make_reference.py tool_call  # some of them

Each cassette is a real recording: rtkit's `RealtimeClient` talks through rtkit's
`RecordingProxy` to `rtkit.fake.FakeRealtimeAPI`, the scripted fake Realtime API on 127.0.0.1
(the same one `rtkit fake` runs). No API key and no internet are involved, and nothing is
edited after recording.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from rtkit.fake import FakeRealtimeAPI, tone

HERE = Path(__file__).resolve().parent

__all__ = ["SCENARIOS", "WEATHER_TOOL", "main", "record"]

MODELS = {"ga": "gpt-realtime", "beta": "gpt-4o-realtime-preview-2024-12-17"}
SILENCE = np.zeros(0, dtype="<i2")
TIMEOUT = 10.0

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location"],
    },
}


def get_weather(args: dict[str, Any]) -> dict[str, Any]:
    """The reference tool: a fixed forecast."""
    return {"location": args.get("location"), "temp_c": 21, "sky": "sunny"}


def silence(ms: int) -> np.ndarray:
    """PCM16 silence."""
    return np.zeros(24_000 * ms // 1000, dtype="<i2")


async def completed(client: Any, **match: Any) -> dict[str, Any]:
    """Wait for the next completed item with these fields (e.g. role="assistant")."""
    while True:
        payload = await client.wait_for_next_completed_item(timeout=TIMEOUT)
        item = payload["item"] if isinstance(payload, dict) and "item" in payload else payload
        if all(item.get(k) == v for k, v in match.items()):
            return item


async def stream(client: Any, samples: np.ndarray, chunk_ms: int = 100) -> None:
    """Append audio in chunks, a little faster than real time."""
    step = 24_000 * chunk_ms // 1000
    for start in range(0, len(samples), step):
        client.append_input_audio(samples[start : start + step])
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- scenarios


async def text_turn(client: Any) -> None:
    client.update_session(modalities=["text"], instructions="Answer in one short sentence.")
    client.send_user_message_content(
        [{"type": "input_text", "text": "What is the capital of France?"}]
    )
    await completed(client, role="assistant")


async def audio_turn(client: Any) -> None:
    client.update_session(modalities=["text", "audio"], turn_detection=None)
    client.append_input_audio(tone(800, freq=440.0))
    client.create_response()
    await completed(client, role="assistant")


async def tool_call(client: Any) -> None:
    client.update_session(modalities=["text"])
    client.add_tool(WEATHER_TOOL, get_weather)
    client.send_user_message_content(
        [{"type": "input_text", "text": "What's the weather in Paris?"}]
    )
    await completed(client, type="function_call")
    await completed(client, role="assistant")


async def vad_barge_in(client: Any) -> None:
    client.update_session(
        modalities=["text", "audio"],
        turn_detection={"type": "server_vad", "silence_duration_ms": 200},
    )
    # every wait starts before the action it waits for: an instant replay delivers at once
    speaking: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_update(payload: dict[str, Any]) -> None:
        item, delta = payload["item"], payload.get("delta") or {}
        speaks = item.get("role") == "assistant" and delta.get("audio") is not None
        if speaks and not speaking.done():
            speaking.set_result(item)

    client.on("conversation.updated", on_update)
    await stream(client, np.concatenate([tone(600, freq=440.0), silence(400)]))
    item = await asyncio.wait_for(speaking, TIMEOUT)  # the assistant is speaking: talk over it
    client.off("conversation.updated", on_update)
    interrupted = asyncio.ensure_future(client.wait_for_next("conversation.interrupted", TIMEOUT))
    await stream(client, tone(500, freq=330.0))
    await interrupted
    played = min(len(item["formatted"]["audio"]), 24_000 * 300 // 1000)  # 300 ms were heard
    answer = asyncio.ensure_future(completed(client, role="assistant", status="completed"))
    client.cancel_response(item["id"], played)
    await stream(client, silence(400))
    await answer


async def input_transcription(client: Any) -> None:
    client.update_session(
        modalities=["text", "audio"],
        turn_detection=None,
        input_audio_transcription={"model": "gpt-4o-transcribe"},
    )
    client.append_input_audio(tone(700, freq=440.0))
    answer = asyncio.ensure_future(completed(client, role="assistant"))
    client.create_response()
    await client.realtime.wait_for_next(
        "server.conversation.item.input_audio_transcription.completed", timeout=TIMEOUT
    )
    await answer


async def error_event(client: Any) -> None:
    client.realtime.send("input_audio_buffer.commit")  # nothing appended: commit_empty
    await client.wait_for_next("error", timeout=TIMEOUT)
    client.send_user_message_content([{"type": "input_text", "text": "Still there?"}])
    await completed(client, role="assistant")


Scenario = tuple[Callable[[Any], Awaitable[None]], dict[str, Any]]

# each scenario: the client code, and the fake API's script (docs/fake.md)
SCENARIOS: dict[str, Scenario] = {
    "text_turn": (text_turn, {
        "rules": [{"when": {"text": "capital of France"},
                   "reply": {"text": "The capital of France is Paris."}}],
    }),
    "audio_turn": (audio_turn, {
        "default": {"text": "Hi! How can I help you today?", "audio_ms": 1200},
    }),
    "tool_call": (tool_call, {
        "rules": [
            {"when": {"text": "weather"},
             "reply": {"function_call": {"name": "get_weather",
                                         "arguments": {"location": "Paris", "unit": "c"}}}},
            {"when": {"tool_output": "sunny"},
             "reply": {"text": "It is sunny in Paris, 21 degrees."}},
        ],
    }),
    "vad_barge_in": (vad_barge_in, {
        "delta_ms": 40,
        "rules": [{"when": {"response": 1},
                   "reply": {"text": "Let me tell you a long story about the sea and the sky.",
                             "audio_ms": 3000}}],
        "default": {"text": "Sure, go ahead.", "audio_ms": 800},
    }),
    "input_transcription": (input_transcription, {
        "transcripts": ["What time is it?"],
        "rules": [{"when": {"text": "what time"},
                   "reply": {"text": "It is ten past three.", "audio_ms": 900}}],
    }),
    "error_event": (error_event, {
        "rules": [{"when": {"text": "still there"},
                   "reply": {"text": "Yes, I am here.", "audio_ms": 600}}],
    }),
}


async def record(name: str, dialect: str, out_dir: Path = HERE) -> Path:
    """Record one scenario in one dialect to `<out_dir>/<dialect>/<name>.jsonl`."""
    from rtkit import RealtimeClient
    from rtkit.server.proxy import RecordingProxy

    drive, script = SCENARIOS[name]
    path = out_dir / dialect / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    async with (
        FakeRealtimeAPI(script, seed=f"{dialect}/{name}") as upstream,
        RecordingProxy(str(path), upstream_url=upstream.url, api_key="") as proxy,
    ):
        client = RealtimeClient(url=proxy.url, model=MODELS[dialect], dialect=dialect)
        await client.connect()
        try:
            await asyncio.wait_for(drive(client), 30)
        finally:
            await client.disconnect()
    return path


async def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        for dialect in ("ga", "beta"):
            path = await record(name, dialect)
            print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
