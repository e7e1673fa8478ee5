"""pipecat's OpenAIRealtimeLLMService: the user's question in the context, answered through a tool.

    python pipecat_app.py ws://127.0.0.1:8765/v1/realtime ["question" ...]

The URL is what `rtkit record --listen`, `rtkit serve` or `rtkit fake` printed. A text-only
pipeline (no transport, no audio): the context aggregators, the service and a processor that
collects the answer and ends the pipeline.
"""

import asyncio
import json
import sys

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.frames.frames import (
    ErrorFrame,
    FunctionCallInProgressFrame,
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
    SessionProperties,
)
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat.workers.runner import WorkerRunner

WEATHER_TOOL = FunctionSchema(
    name="get_weather",
    description="Current weather for a city.",
    properties={"location": {"type": "string"}},
    required=["location"],
)


async def get_weather(params: FunctionCallParams) -> None:
    await params.result_callback(
        {"location": params.arguments["location"], "temp_c": 21, "sky": "sunny"}
    )


class Answers(FrameProcessor):
    """Collects what the model said (after the service in the pipeline) and ends the pipeline
    on the final answer."""

    def __init__(self, worker: PipelineWorker | None = None) -> None:
        super().__init__()
        self.worker = worker
        self.seen: list[str] = []
        self.said: list[str] = []
        self._text = ""

    async def process_frame(self, frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, FunctionCallInProgressFrame):  # the tool runs in a task of its own
            self.said.append(f"tool call: {frame.function_name} {json.dumps(frame.arguments)}")
        elif isinstance(frame, LLMTextFrame):
            self.seen.append(f"text {frame.text!r}")
            self._text += frame.text
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.seen.append("response end")
            if self._text:
                self.said.append(f"assistant: {self._text}")
                await self.worker.cancel()  # the answer came: done
        await self.push_frame(frame, direction)


async def converse(url: str, questions: list[str]) -> dict:
    """Put `questions` in the context as the user's messages (pipecat sends more than one as a
    single message), run the model (and the tool when it is called) until it answers; return
    the text frames and response ends the app saw, and what was said."""
    llm = OpenAIRealtimeLLMService(
        api_key="placeholder",  # rtkit holds the real key (or needs none)
        base_url=url,  # pipecat adds ?model=...
        settings=OpenAIRealtimeLLMService.Settings(
            model="gpt-realtime",
            session_properties=SessionProperties(
                output_modalities=["text"],
                audio=AudioConfiguration(input=AudioInput(turn_detection=False)),
                # here rather than in the context: the first session.update has the context's
                # tools only if the context reached the service before session.created did
                tools=[WEATHER_TOOL],
            ),
        ),
    )
    llm.register_function("get_weather", get_weather)
    context = LLMContext([{"role": "user", "content": question} for question in questions])
    user, assistant = LLMContextAggregatorPair(context)
    answers = Answers()
    worker = PipelineWorker(Pipeline([user, llm, answers, assistant]))
    answers.worker = worker
    errors = []

    @worker.event_handler("on_pipeline_error")
    async def on_pipeline_error(worker, frame: ErrorFrame) -> None:
        # pipecat turns the server's `error` event (rtkit serve's replay_mismatch among them)
        # into a non-fatal ErrorFrame and waits on: end the pipeline, raise below
        errors.append(frame.error)
        await worker.cancel()

    await worker.queue_frames([LLMRunFrame()])
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
    if errors:
        raise RuntimeError(errors[0])
    return {"seen": answers.seen, "said": answers.said}


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/v1/realtime"
    questions = sys.argv[2:] or ["What's the weather in Paris?"]
    try:
        result = asyncio.run(converse(url, questions))
    except RuntimeError as exc:  # the server's error event
        sys.exit(f"error: {exc}")
    print("\n".join(result["said"]))
