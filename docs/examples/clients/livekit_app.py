"""livekit-plugins-openai's RealtimeModel, its session driven directly (no LiveKit room or
server): a text turn, then a question answered through a tool.

    python livekit_app.py ws://127.0.0.1:8765/v1/realtime ["question" ...]

The URL is what `rtkit record --listen`, `rtkit serve` or `rtkit fake` printed.
"""

import asyncio
import json
import sys

import aiohttp
from livekit.agents import llm
from livekit.plugins.openai.realtime import RealtimeModel


@llm.function_tool
async def get_weather(location: str) -> dict:
    """Current weather for a city."""
    return {"location": location, "temp_c": 21, "sky": "sunny"}


async def reply(session, said: list) -> list:
    """Ask for a response; note what it said; return its function calls."""
    generation = await session.generate_reply()
    calls = []

    async def read_messages() -> None:
        async for message in generation.message_stream:
            text = "".join([delta async for delta in message.text_stream])
            said.append(f"assistant: {text}")

    async def read_calls() -> None:
        async for call in generation.function_stream:
            said.append(f"tool call: {call.name} {call.arguments}")
            calls.append(call)

    await asyncio.gather(read_messages(), read_calls())
    return calls


async def talk(session, questions: list, said: list) -> None:
    await session.update_tools([get_weather])
    for question in questions:
        chat = session.chat_ctx.copy()
        chat.add_message(role="user", content=question)
        await session.update_chat_ctx(chat)
        while calls := await reply(session, said):  # run the tools, send their output, ask again
            chat = session.chat_ctx.copy()
            for call in calls:
                output = await get_weather(**json.loads(call.arguments))
                chat.items.append(llm.FunctionCallOutput(
                    call_id=call.call_id, name=call.name, output=json.dumps(output),
                    is_error=False))
            await session.update_chat_ctx(chat)


async def converse(url: str, questions: list) -> dict:
    """Ask each question in turn; return the server event types seen and what was said."""
    seen, said, errors = [], [], []
    async with aiohttp.ClientSession() as http:
        model = RealtimeModel(
            base_url=url,  # a ws:// URL ending in /realtime is used as it is, plus ?model=
            api_key="placeholder",  # rtkit holds the real key (or needs none)
            model="gpt-realtime",
            modalities=["text"],
            turn_detection=None,
            http_session=http,  # outside a LiveKit job there is no shared HTTP session
        )
        session = model.session()
        task = asyncio.ensure_future(talk(session, questions, said))

        def on_server_event(event: dict) -> None:
            seen.append(event["type"])
            if event["type"] == "error":
                # LiveKit logs an error on an item it sent and carries on (a response then
                # times out after 10 s): stop at once, e.g. on rtkit serve's replay_mismatch
                errors.append(event["error"])
                task.cancel()

        session.on("openai_server_event_received", on_server_event)
        try:
            await task
        except asyncio.CancelledError:
            if not errors:
                raise
        finally:
            await session.aclose()
    if errors:
        raise RuntimeError(f"{errors[0]['code']}: {errors[0]['message']}")
    return {"seen": seen, "said": said}


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/v1/realtime"
    questions = sys.argv[2:] or ["Hello!", "What's the weather in Paris?"]
    try:
        result = asyncio.run(converse(url, questions))
    except RuntimeError as exc:  # the server's error event
        sys.exit(f"error: {exc}")
    print("\n".join(result["said"]))
