"""Running the app's tool handlers: async ones on the loop, plain ones in a worker thread."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ToolHandler", "run_tool", "tool_error", "tool_output_json"]

ToolHandler = Callable[[dict[str, Any]], "Awaitable[Any] | Any"]


def _is_async(handler: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None))  # noqa: B004 - an object with an async __call__


async def run_tool(handler: ToolHandler, arguments_json: str) -> Any:
    """Parse the call's arguments and run `handler` with them; returns its result.

    A coroutine function runs on the event loop; a plain function runs in a worker thread
    (`asyncio.to_thread`), so a slow or blocking handler does not stall the loop (the receive
    loop, audio, other tasks). Raises what the handler raises, or `ValueError` when the
    arguments are not JSON.
    """
    try:
        arguments = json.loads(arguments_json or "{}")
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(
            f"the call's arguments are not JSON ({exc}): {arguments_json[:200]!r}") from exc
    if _is_async(handler):
        result = handler(arguments)
    else:
        result = await asyncio.to_thread(handler, arguments)
    if inspect.isawaitable(result):
        result = await result
    return result


def tool_output_json(value: Any) -> str:
    """A tool's result as the `output` string of its `function_call_output`, written as the
    reference client's `JSON.stringify` writes it: compact separators, non-ASCII characters
    as they are, so a cassette recorded by a JavaScript app replays against its Python port.

    Raises `TypeError` for a value JSON cannot hold and `ValueError` for NaN or infinity
    (JavaScript would write `null`; rtkit reports it as the handler's error instead).
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def tool_error(tool: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """The `error` event payload for a tool call whose handler raised (or whose arguments
    were not JSON): `{"type": "tool_error", "message", "tool", "call_id", "arguments",
    "error"}`."""
    return {
        "type": "tool_error",
        "message": f"tool {tool['name']!r} (call {tool['call_id']!r}) failed: {exc!r}",
        "tool": tool["name"],
        "call_id": tool["call_id"],
        "arguments": tool["arguments"],
        "error": exc,
    }
