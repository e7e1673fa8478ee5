"""A voice app on the official `openai` SDK: push-to-talk first (its audio, a commit, a
response.create), then hands-free with server VAD (its audio streamed, the server commits and
answers). The audio goes out in `chunk_ms` chunks, as a microphone's driver cuts it: the same
audio in other chunks must replay against the same cassette.

`converse(url, questions, chunk_ms=100)` returns what was said (the input transcriptions and
the answers) and the server event types seen; it raises on the server's `error` event.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from openai import AsyncOpenAI

from rtkit.audio import int16_to_base64

RATE = 24_000
SCRIPT: dict[str, Any] = {
    "transcripts": ["Hello!", "What's the weather in Paris?"],
    "rules": [
        {"when": {"text": "hello"}, "reply": {"text": "Hi! How can I help?"}},
        {"when": {"text": "weather"}, "reply": {"text": "It is sunny in Paris, 21 degrees."}},
    ],
}
SAID = ["user: Hello!", "assistant: Hi! How can I help?", "user: What's the weather in Paris?",
        "assistant: It is sunny in Paris, 21 degrees."]


def tone(ms: int, freq: float) -> np.ndarray:
    t = np.arange(RATE * ms // 1000) / RATE
    return (np.sin(2 * np.pi * freq * t) * 9000).astype(np.int16)


PUSH_TO_TALK = tone(1000, 440.0)
HANDS_FREE = np.concatenate([np.zeros(RATE // 5, np.int16), tone(900, 330.0),
                             np.zeros(RATE * 6 // 10, np.int16)])


def chunks(samples: np.ndarray, ms: int) -> list[str]:
    step = RATE * ms // 1000
    return [int16_to_base64(samples[i:i + step]) for i in range(0, len(samples), step)]


async def converse(url: str, questions: list[str], chunk_ms: int = 100) -> dict[str, Any]:
    """Two spoken turns (`questions` is unused: the audio is the question)."""
    seen: list[str] = []
    said: list[str] = []
    client = AsyncOpenAI(api_key="placeholder", websocket_base_url=url.removesuffix("/realtime"))
    audio_in: dict[str, Any] = {"format": {"type": "audio/pcm", "rate": RATE},
                                "transcription": {"model": "gpt-4o-transcribe"}}

    async def answer(conn: Any) -> None:
        async for event in conn:
            seen.append(event.type)
            if event.type == "error":
                raise RuntimeError(f"{event.error.code}: {event.error.message}")
            if event.type == "conversation.item.input_audio_transcription.completed":
                said.append(f"user: {event.transcript}")
            if event.type == "response.done":
                said.append(f"assistant: {event.response.output[0].content[0].text}")
                return

    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                           "audio": {"input": {**audio_in,
                                                               "turn_detection": None}}})
        for chunk in chunks(PUSH_TO_TALK, chunk_ms):
            await conn.input_audio_buffer.append(audio=chunk)
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        await answer(conn)
        vad = {"type": "server_vad", "silence_duration_ms": 300, "prefix_padding_ms": 200}
        await conn.session.update(session={"type": "realtime", "audio": {"input": {
            **audio_in, "turn_detection": vad}}})
        for chunk in chunks(HANDS_FREE, chunk_ms):
            await conn.input_audio_buffer.append(audio=chunk)
        await answer(conn)
    return {"seen": seen, "said": said}
