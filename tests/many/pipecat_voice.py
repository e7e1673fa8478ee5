"""pipecat (1.14, OpenAIRealtimeLLMService) with audio in and server VAD, as pipecat's voice
bots run: the pipeline runs the model once at the start (`LLMRunFrame`: the bot greets), then
the user's audio goes to the service as `InputAudioRawFrame`s, the server detects the turn,
transcribes it and answers through a function tool.

(Without the `LLMRunFrame`, pipecat sets its conversation up only at the first response it
asks for itself, after the tool call, and sends its context as one "previously saved
conversation" message whose content depends on a race inside pipecat: whether the
transcription reached its user aggregator before the response's end did. That flips from run
to run live too, so no replay can be held to one side of it: docs/clients.md.)

`converse(url, questions, chunk_ms=100, realtime=False)` feeds the audio once the greeting is
done (as fast as the pipeline takes it, or in real time) and returns what was said; it raises
on the server's `error` event.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.frames.frames import (
    FunctionCallInProgressFrame,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    LLMRunFrame,
    LLMTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams
from pipecat.services.openai.realtime.events import (
    AudioConfiguration,
    AudioInput,
    InputAudioTranscription,
    SessionProperties,
    TurnDetection,
)
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat.workers.runner import WorkerRunner

RATE = 24_000
SCRIPT: dict[str, Any] = {
    "transcripts": ["What's the weather in Paris?"],
    "rules": [
        {"when": {"response": 1}, "reply": {"text": "Hello! Ask me about the weather."}},
        {"when": {"text": "weather"},
         "reply": {"function_call": {"name": "get_weather", "arguments": {"location": "Paris"}}}},
        {"when": {"tool_output": "sunny"}, "reply": {"text": "It is sunny in Paris, 21 degrees."}},
    ],
}
WEATHER_TOOL = FunctionSchema(name="get_weather", description="Current weather for a city.",
                              properties={"location": {"type": "string"}},
                              required=["location"])


def _tone(ms: int, freq: float) -> np.ndarray:
    t = np.arange(RATE * ms // 1000) / RATE
    return (np.sin(2 * np.pi * freq * t) * 9000).astype(np.int16)


# 1.2 s: a pause, speech, and 500 ms of quiet, 200 ms more than the server's VAD needs to end
# the turn: the microphone is still sending when the answer comes and ends the app, so how
# many of those last chunks went out is a race of milliseconds, live and in replay. Replay
# does not hold a client to input audio it never sent at the end of its stream (with
# --unplayed fail, one replay in about 60 failed on it before)
AUDIO = np.concatenate([np.zeros(RATE // 10, np.int16), _tone(600, 330.0),
                        np.zeros(RATE // 2, np.int16)])


async def get_weather(params: FunctionCallParams) -> None:
    await params.result_callback(
        {"location": params.arguments["location"], "temp_c": 21, "sky": "sunny"})


class Answers(FrameProcessor):
    """Collects what the model said; `greeted` is set when the greeting is done; ends the
    pipeline on the answer to the question."""

    def __init__(self) -> None:
        super().__init__()
        self.worker: PipelineWorker | None = None
        self.said: list[str] = []
        self.seen: list[str] = []
        self.greeted = asyncio.Event()
        self._text = ""

    async def process_frame(self, frame: Any, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, FunctionCallInProgressFrame):
            self.said.append(f"tool call: {frame.function_name} {json.dumps(frame.arguments)}")
        elif isinstance(frame, LLMTextFrame):
            self._text += frame.text
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.seen.append("response end")
            if self._text:
                self.said.append(f"assistant: {self._text}")
                self._text = ""
                if self.greeted.is_set() and self.worker is not None:
                    await self.worker.cancel()  # the answer came: done
                self.greeted.set()
        await self.push_frame(frame, direction)


async def converse(url: str, questions: list[str], chunk_ms: int = 100,
                   realtime: bool = False) -> dict[str, Any]:
    """The greeting, then one spoken question (`questions` is unused: the audio is the
    question)."""
    vad = TurnDetection(type="server_vad", silence_duration_ms=300)
    llm = OpenAIRealtimeLLMService(
        api_key="placeholder", base_url=url,
        settings=OpenAIRealtimeLLMService.Settings(
            model="gpt-realtime",
            session_properties=SessionProperties(
                output_modalities=["text"], tools=[WEATHER_TOOL],
                audio=AudioConfiguration(input=AudioInput(
                    transcription=InputAudioTranscription(model="gpt-4o-transcribe"),
                    turn_detection=vad)))))
    llm.register_function("get_weather", get_weather)
    user, assistant = LLMContextAggregatorPair(LLMContext([]))
    answers = Answers()
    worker = PipelineWorker(Pipeline([user, llm, answers, assistant]))
    answers.worker = worker
    errors: list[str] = []

    @worker.event_handler("on_pipeline_error")
    async def on_pipeline_error(worker: PipelineWorker, frame: Any) -> None:
        errors.append(frame.error)  # e.g. rtkit serve's replay_mismatch
        await worker.cancel()

    async def speak() -> None:
        await answers.greeted.wait()
        step = RATE * chunk_ms // 1000
        for i in range(0, len(AUDIO), step):
            await worker.queue_frame(InputAudioRawFrame(
                audio=AUDIO[i:i + step].tobytes(), sample_rate=RATE, num_channels=1))
            await asyncio.sleep(chunk_ms / 1000 if realtime else 0)

    await worker.queue_frames([LLMRunFrame()])  # the bot greets first
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    speaking = asyncio.ensure_future(speak())
    try:
        await runner.run()
    finally:
        speaking.cancel()
    if errors:
        raise RuntimeError(errors[0])
    return {"seen": answers.seen, "said": answers.said}
