"""One spoken turn with the Realtime API: the question's audio in, the answer's audio out,
the tools the model calls run on the way."""

import base64
import json
from dataclasses import dataclass, field

from openai import AsyncOpenAI

from voice_app.tools import TOOLS, WEATHER_TOOL

MODEL = "gpt-realtime"
INSTRUCTIONS = "You are a weather assistant. Answer in one short sentence."
CHUNK = 4800  # bytes of PCM16 at 24 kHz: 100 ms


@dataclass
class Reply:
    transcript: str = ""  # what the assistant said
    audio: bytes = b""  # how it said it: PCM16, 24 kHz, mono
    tool_calls: list = field(default_factory=list)  # (name, arguments) of each call


async def talk(client: AsyncOpenAI, question: bytes) -> Reply:
    """Ask `question` (PCM16, 24 kHz, mono) and return the spoken answer."""
    reply = Reply()
    async with client.realtime.connect(model=MODEL) as conn:
        await conn.session.update(session={
            "type": "realtime",
            "instructions": INSTRUCTIONS,
            "output_modalities": ["audio"],
            "audio": {"input": {"turn_detection": None}},  # the app says when the turn ends
            "tools": [WEATHER_TOOL],
        })
        for start in range(0, len(question), CHUNK):
            chunk = question[start:start + CHUNK]
            await conn.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        async for event in conn:
            if event.type == "response.output_audio.delta":
                reply.audio += base64.b64decode(event.delta)
            elif event.type == "response.output_audio_transcript.delta":
                reply.transcript += event.delta
            elif event.type == "error":
                raise RuntimeError(f"{event.error.code}: {event.error.message}")
            elif event.type == "response.done":
                calls = [item for item in event.response.output if item.type == "function_call"]
                if not calls:
                    return reply
                for call in calls:  # run each tool, send its result, ask for the answer
                    arguments = json.loads(call.arguments)
                    reply.tool_calls.append((call.name, arguments))
                    output = TOOLS[call.name](**arguments)
                    await conn.conversation.item.create(item={
                        "type": "function_call_output",
                        "call_id": call.call_id,
                        "output": json.dumps(output),
                    })
                await conn.response.create()
    raise RuntimeError("the connection closed before the answer")
