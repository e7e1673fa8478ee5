"""`voice-app QUESTION.wav ANSWER.wav`: ask a recorded question, save the spoken answer."""

import argparse
import asyncio
import wave

from openai import AsyncOpenAI

from voice_app.assistant import talk

RATE = 24000


def read_wav(path: str) -> bytes:
    with wave.open(path, "rb") as wav:
        if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, RATE):
            raise SystemExit(f"{path}: expected 16-bit mono audio at {RATE} Hz")
        return wav.readframes(wav.getnframes())


def write_wav(path: str, pcm: bytes) -> None:
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="voice-app", description=__doc__)
    parser.add_argument("question", help="a WAV file: 16-bit mono, 24 kHz")
    parser.add_argument("answer", help="where to write the answer (WAV)")
    args = parser.parse_args(argv)
    reply = asyncio.run(talk(AsyncOpenAI(), read_wav(args.question)))  # OPENAI_API_KEY
    write_wav(args.answer, reply.audio)
    for name, arguments in reply.tool_calls:
        print(f"(called {name} with {arguments})")
    print(f"assistant: {reply.transcript} ({len(reply.audio) / 2 / RATE:.1f} s)")
