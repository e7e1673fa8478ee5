"""RealtimeClient: the reference client's high-level API, in Python (snake_case, asyncio)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from rtkit.audio import SAMPLE_RATE, int16_to_base64
from rtkit.client.api import RealtimeAPI, is_sideband_url
from rtkit.client.conversation import Item, RealtimeConversation
from rtkit.client.event_handler import RealtimeEventHandler
from rtkit.client.streams import EventStream
from rtkit.client.tools import ToolHandler, run_tool, tool_error
from rtkit.errors import ConversationError, NotConnectedError, RtkitError
from rtkit.protocol.events import Dialect, canonical_server_type
from rtkit.protocol.session import (
    build_session,
    is_manual_turn_detection,
    normalize_session_fields,
    normalize_turn_detection,
    turn_detection_of,
)
from rtkit.transport.base import Transport

__all__ = ["DEFAULT_SESSION_CONFIG", "RealtimeClient", "ToolHandler"]

DEFAULT_SESSION_CONFIG: dict[str, Any] = {
    "modalities": ["text", "audio"],
    "instructions": "",
    "voice": "verse",
    "input_audio_format": "pcm16",
    "output_audio_format": "pcm16",
    "input_audio_transcription": None,
    "turn_detection": None,
    "tools": [],
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": 4096,
}
"""The seed client's session defaults, sent in full by `connect()`."""

_ITEM_DONE = frozenset({"response.output_item.done", "conversation.item.done"})
# Server events applied to the conversation without a `conversation.updated` (as the seed).
_SILENT = frozenset({
    "response.created",
    "response.done",
    "response.output_item.added",
    "response.content_part.added",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
})
_SESSION_EVENTS = frozenset({"session.created", "session.updated"})
_MCP_FAILED = frozenset({"mcp_list_tools.failed", "response.mcp_call.failed"})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RealtimeClient(RealtimeEventHandler):
    """The Realtime reference client (`RealtimeClient` of the seed), over any transport.

    Events: `conversation.updated` `{item, delta}`, `conversation.item.appended` `{item}`,
    `conversation.item.completed` `{item}` (once per item), `conversation.interrupted` (the
    `speech_started` event), `realtime.event` `{time, source, event}`, `error`, `close`.
    `events()` / `items()` iterate over them, buffered; `wait_for_next*` return the next one.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        model: str = "gpt-realtime",
        dialect: Dialect = "ga",
        transport: Transport | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        debug: bool = False,
    ) -> None:
        super().__init__()
        self.realtime = RealtimeAPI(url=url, api_key=api_key, model=model, dialect=dialect,
                                    transport=transport, headers=headers, debug=debug)
        self._wake_target = self.realtime  # its receive loop lets resolved waits run first
        self.conversation = RealtimeConversation(server_vad=False)
        self._reset_config()
        self._add_api_event_handlers()

    @property
    def dialect(self) -> Dialect:
        """The protocol dialect this client speaks ("ga" or "beta")."""
        return self.realtime.dialect

    @property
    def sideband(self) -> bool:
        """True when the URL joins an existing call (`?call_id=`): `connect()` then sends only
        the session fields set explicitly, never the defaults."""
        return is_sideband_url(self.realtime.url)

    @property
    def session(self) -> dict[str, Any] | None:
        """The effective session: the server's last `session.created` / `session.updated`
        (None before the first one, and after `disconnect()`)."""
        return self.conversation.session

    @property
    def rate_limits(self) -> list[dict[str, Any]] | None:
        """The `rate_limits` of the server's last `rate_limits.updated`, or None."""
        return self.conversation.rate_limits

    # -- state -----------------------------------------------------------------------------

    def _reset_config(self) -> None:
        self.session_created = False
        self._session_waiters: list[asyncio.Future[Any]] = []
        self.tools: dict[str, dict[str, Any]] = {}
        self.session_config: dict[str, Any] = copy.deepcopy(DEFAULT_SESSION_CONFIG)
        self._explicit: set[str] = set()  # session fields the app set (sideband sends these)
        self._completed: set[str] = set()
        self._tool_calls: set[str] = set()
        self.conversation.server_vad = False

    def _add_api_event_handlers(self) -> None:
        self.realtime.on("client.*", self._on_client_event)
        self.realtime.on("server.*", self._on_server_event)
        self.realtime.on("error", lambda payload: self.dispatch("error", payload))
        self.realtime.on("close", self._on_close)

    def _on_client_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "input_audio_buffer.clear":
            self.conversation.clear_input_audio()  # also for realtime.send(...)
        self.dispatch("realtime.event", {"time": _now(), "source": "client", "event": event})

    def _on_close(self, payload: dict[str, Any]) -> None:
        self.session_created = False  # a reconnect waits for the new session (SEED fix 13)
        self.dispatch("close", payload)
        self._connection_ended(payload)

    def _on_server_event(self, event: dict[str, Any]) -> None:
        etype = canonical_server_type(event["type"])
        if etype == "error":
            self.dispatch("error", event)
        elif etype == "conversation.item.input_audio_transcription.failed":
            self.dispatch("error", _transcription_failed(event))
        elif etype == "input_audio_buffer.speech_started":
            self._process(event)
            self.dispatch("conversation.interrupted", event)
        elif etype == "conversation.item.added":
            item = self._process(event)
            if item is not None:
                self.dispatch("conversation.updated", {"item": item, "delta": None})
                self.dispatch("conversation.item.appended", {"item": item})
                self._maybe_completed(item)
        elif etype in _SILENT:
            self._process(event)
        else:
            result = self._process_with_delta(event)
            if result is not None and result[0] is not None:
                item = result[0]
                self.dispatch("conversation.updated", {"item": item, "delta": result[1]})
                self._maybe_completed(item)
                if etype in _ITEM_DONE:
                    self._maybe_call_tool(item)
            if etype in _SESSION_EVENTS:
                self._on_session(etype)
            elif etype in _MCP_FAILED:
                self.dispatch("error", _mcp_failed(event))
        self.dispatch("realtime.event", {"time": _now(), "source": "server", "event": event})
        if etype == "error" and self._failure is None and self.realtime.failure is not None:
            self._connection_failed(self.realtime.failure)  # a replay mismatch: fail waits now

    def _on_session(self, etype: str) -> None:
        self.conversation.server_vad = self.get_turn_detection_type() is not None
        if etype == "session.created":
            self.session_created = True
            for future in self._session_waiters:
                if not future.done():
                    future.set_result(True)
                    self._woke()

    def _process(self, event: dict[str, Any]) -> Item | None:
        result = self._process_with_delta(event)
        return None if result is None else result[0]

    def _process_with_delta(self, event: dict[str, Any]) -> tuple[Item | None, Any] | None:
        try:
            return self.conversation.process_event(event)
        except ConversationError as exc:  # report and keep going (SEED fix 3)
            self.dispatch("error", {"type": "conversation_error", "message": str(exc),
                                    "event": event, "error": exc})
            return None

    def _maybe_completed(self, item: Item) -> None:
        if item.get("status") == "completed" and item["id"] not in self._completed:
            self._completed.add(item["id"])
            self.dispatch("conversation.item.completed", {"item": item})

    def _maybe_call_tool(self, item: Item) -> None:
        tool = item["formatted"].get("tool")
        if not tool or item.get("status") != "completed":  # cancelled calls don't run (fix 7)
            return
        if tool["name"] not in self.tools or tool["call_id"] in self._tool_calls:
            return  # unregistered tools are the app's to answer (fix 6)
        self._tool_calls.add(tool["call_id"])
        handler = self.tools[tool["name"]]["handler"]
        self._track("tool", self._call_tool,
                    asyncio.ensure_future(self._call_tool(dict(tool), handler)))

    async def _call_tool(self, tool: dict[str, Any], handler: ToolHandler) -> None:
        try:
            output = json.dumps(await run_tool(handler, tool["arguments"]))
        except Exception as exc:  # the model gets the error; the app gets an `error` event
            output = json.dumps({"error": str(exc) or type(exc).__name__})
            self.dispatch("error", tool_error(tool, exc))
        if not self.realtime.is_connected():
            return
        self.realtime.send("conversation.item.create", {
            "item": {"type": "function_call_output", "call_id": tool["call_id"], "output": output},
        })
        self.create_response()

    # -- connection ------------------------------------------------------------------------

    def is_connected(self) -> bool:
        """True while the connection is open."""
        return self.realtime.is_connected()

    async def connect(self) -> bool:
        """Connect and send the session configuration (`session.update`): all of it, or on a
        sideband URL (`?call_id=`) only the fields set explicitly (nothing if none)."""
        if self.is_connected():
            raise RtkitError("already connected, use disconnect() first")
        self.session_created = False
        await self.realtime.connect()
        self._connection_started()
        self._send_session()
        return True

    async def wait_for_session_created(self, timeout: float | None = None) -> bool:
        """Wait until the server's `session.created` has arrived (`TimeoutError` after
        `timeout` s; the connection's end or a replay mismatch raise at once)."""
        if self.session_created:
            return True
        if not self.is_connected() and self._ended is None and self._failure is None:
            raise NotConnectedError("not connected, use connect() first")
        future = self._new_waiter("session.created")
        self._session_waiters.append(future)
        try:
            await self._wait(future, "session.created", timeout)
        finally:
            self._session_waiters.remove(future)
        return True

    async def disconnect(self) -> None:
        """Close the connection and clear the conversation."""
        self.session_created = False
        if self.realtime.is_connected():
            await self.realtime.disconnect()
        self.conversation.clear()
        self._completed.clear()
        self._tool_calls.clear()

    async def reset(self) -> bool:
        """Disconnect, drop every handler and tool, and restore the default session config."""
        await self.disconnect()
        self.clear_event_handlers()
        self.realtime.clear_event_handlers()
        self._reset_config()
        self._add_api_event_handlers()
        return True

    # -- session ---------------------------------------------------------------------------

    def get_turn_detection_type(self) -> str | None:
        """`"server_vad"`, `"semantic_vad"`, or None for manual turns.

        On a sideband connection where the app did not set `turn_detection`, the effective
        session's (the call's) turn detection counts.
        """
        source: Mapping[str, Any] = self.session_config
        if self.sideband and "turn_detection" not in self._explicit and self.session:
            source = self.session
        td = normalize_turn_detection(turn_detection_of(source))
        return None if td is None else str(td.get("type"))

    def update_session(self, **fields: Any) -> bool:
        """Change session fields and send `session.update` if connected.

        Takes the seed's flat names (`voice`, `modalities`, `turn_detection`, ...), the beta
        session's other fields, and every field of the GA session under its GA name
        (`audio`, `output_modalities`, `max_output_tokens`, `noise_reduction`, `speed`,
        `tracing`, `truncation`, `prompt`, `include`, `reasoning`, `parallel_tool_calls`...);
        rtkit sends them in the dialect's shape. A GA-only field raises `ValueError` in the
        beta dialect. Fields persist across calls, tools given here included (followed by
        `add_tool` tools).
        """
        canon = normalize_session_fields(fields)
        for tool in canon.get("tools") or ():
            if tool.get("name") in self.tools:
                raise ValueError(f"tool {tool.get('name')!r} has already been added with add_tool")
        merged = {**self.session_config, **canon}
        build_session(merged, self.dialect)  # a field this dialect lacks fails here, not later
        self.session_config = merged
        self._explicit.update(canon)
        self.conversation.server_vad = not is_manual_turn_detection(self.session_config)
        self._send_session()
        return True

    def _send_session(self) -> None:
        if not self.realtime.is_connected():
            return
        if self.sideband and not self._explicit and not self.tools:
            return  # nothing set: the call's session stays as it is
        self.realtime.send("session.update", {"session": self._session_payload()})

    def _session_payload(self) -> dict[str, Any]:
        config = dict(self.session_config)
        if self.sideband:
            config = {k: v for k, v in config.items() if k in self._explicit}
        if not self.sideband or "tools" in config or self.tools:
            config["tools"] = [
                {"type": "function", **tool} for tool in (config.get("tools") or [])
            ] + [{"type": "function", **t["definition"]} for t in self.tools.values()]
        return build_session(config, self.dialect)

    def add_tool(self, definition: Mapping[str, Any], handler: ToolHandler) -> dict[str, Any]:
        """Register a tool; `handler(arguments)` runs for each completed call: a coroutine
        function on the loop, a plain function in a worker thread (`asyncio.to_thread`; it
        must not call the client from there)."""
        name = definition.get("name") if isinstance(definition, Mapping) else None
        if not name:
            raise ValueError("missing tool name in definition")
        if name in self.tools:
            raise ValueError(f'tool "{name}" already added; remove_tool("{name}") first')
        if not callable(handler):
            raise TypeError(f'tool "{name}" handler must be callable')
        definition = {k: v for k, v in copy.deepcopy(dict(definition)).items() if k != "type"}
        self.tools[name] = {"definition": definition, "handler": handler}
        self._send_session()
        return self.tools[name]

    def remove_tool(self, name: str) -> bool:
        """Unregister a tool (and update the session when connected — SEED fix 8)."""
        if name not in self.tools:
            raise KeyError(f'tool "{name}" does not exist, cannot be removed')
        del self.tools[name]
        if self.sideband:
            self._explicit.add("tools")  # the call's session must forget it too
        self._send_session()
        return True

    # -- conversation ----------------------------------------------------------------------

    def delete_item(self, item_id: str) -> bool:
        """Ask the server to delete an item."""
        self.realtime.send("conversation.item.delete", {"item_id": item_id})
        return True

    def send_user_message_content(self, content: Sequence[Mapping[str, Any]] = ()) -> bool:
        """Send a user message (when `content` is non-empty), then `response.create`.

        `input_audio` parts may carry int16 numpy arrays or bytes; they are base64-encoded in a
        copy (the caller's objects are never changed).
        """
        if content:
            parts = []
            for part in content:
                part = dict(part)
                audio = part.get("audio")
                if part.get("type") == "input_audio" and not isinstance(audio, str | None):
                    part["audio"] = int16_to_base64(audio)
                parts.append(part)
            self.realtime.send("conversation.item.create", {
                "item": {"type": "message", "role": "user", "content": parts},
            })
        self.create_response()
        return True

    def append_input_audio(self, audio: np.ndarray | bytes | bytearray | memoryview) -> bool:
        """Stream input audio (PCM16, 24 kHz mono: int16 samples or little-endian bytes)."""
        samples = (np.frombuffer(bytes(audio), dtype="<i2")
                   if isinstance(audio, bytes | bytearray | memoryview)
                   else np.asarray(audio, dtype=np.int16))
        if samples.size:
            self.realtime.send("input_audio_buffer.append", {"audio": int16_to_base64(samples)})
            self.conversation.append_input_audio(samples)
        return True

    def create_response(self) -> bool:
        """Commit buffered input audio in manual mode, then send `response.create`."""
        if self.get_turn_detection_type() is None and self.conversation.pending_input_samples:
            self.realtime.send("input_audio_buffer.commit")
            self.conversation.commit_input_audio()
        self.realtime.send("response.create")
        return True

    def cancel_response(self, item_id: str | None = None, sample_count: int = 0) -> dict[str, Any]:
        """Cancel the response; with an item id, also truncate its audio after `sample_count`."""
        if not item_id:
            self.realtime.send("response.cancel")
            return {"item": None}
        item = self.conversation.get_item(item_id)
        if item is None:
            raise KeyError(f'could not find item "{item_id}"')
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise ValueError("can only cancel_response assistant messages")
        audio_index = next((i for i, part in enumerate(item.get("content") or [])
                            if part.get("type") in ("audio", "output_audio")), None)
        if audio_index is None:
            raise ValueError(f'could not find audio on item "{item_id}" to cancel')
        self.realtime.send("response.cancel")
        self.realtime.send("conversation.item.truncate", {
            "item_id": item_id,
            "content_index": audio_index,
            "audio_end_ms": int(sample_count * 1000 // SAMPLE_RATE),
        })
        return {"item": item}

    def clear_input_audio(self) -> bool:
        """Drop the input audio buffered so far: sends `input_audio_buffer.clear`, and the
        client forgets the samples it kept for the next user item."""
        self.realtime.send("input_audio_buffer.clear")
        return True

    # -- waiting ---------------------------------------------------------------------------

    async def wait_for_next_item(self, timeout: float | None = None) -> dict[str, Any]:
        """The next item appended to the conversation after this call, as `{"item": item}`.

        Like the reference client: items appended before the call are not returned (iterate
        over `items(completed=False)` to see every one). A loop that calls it again at once
        misses nothing even when items arrive in a burst. Raises `TimeoutError` after
        `timeout` s, `ConnectionClosedError` when the connection ends, and a replay mismatch
        (`CannotOverwriteExistingCassetteException`) as soon as the server reports it.
        """
        payload = await self._next_event("conversation.item.appended", timeout)
        return {"item": payload["item"]}

    async def wait_for_next_completed_item(self, timeout: float | None = None) -> dict[str, Any]:
        """The next item completed after this call, as `{"item": item}` (see
        `wait_for_next_item`; `items()` iterates over every completed item, buffered)."""
        payload = await self._next_event("conversation.item.completed", timeout)
        return {"item": payload["item"]}

    def items(self, *, completed: bool = True, timeout: float | None = None) -> EventStream:
        """An async iterator of items, buffered from this call on: every item completed
        (`completed=False`: appended) after it, in order, none missed.

        `timeout` bounds the wait for each next item (`TimeoutError`). The iteration ends
        after a normal close, raises `ConnectionClosedError` after an abnormal one and the
        replay mismatch as soon as the server reports it.
        """
        name = "conversation.item.completed" if completed else "conversation.item.appended"
        return self._stream((name,), timeout, _item_of)


def _item_of(_name: str, payload: dict[str, Any]) -> Item:
    return payload["item"]


def _transcription_failed(event: Mapping[str, Any]) -> dict[str, Any]:
    """The `error` payload for `conversation.item.input_audio_transcription.failed`."""
    error = event.get("error") if isinstance(event.get("error"), Mapping) else {}
    return {
        "type": "transcription_failed",
        "message": f"input audio transcription failed for item {event.get('item_id')!r}: "
                   f"{error.get('message') or error.get('code') or 'no reason given'}",
        "item_id": event.get("item_id"),
        "content_index": event.get("content_index"),
        "error": error,
        "event": event,
    }


def _mcp_failed(event: Mapping[str, Any]) -> dict[str, Any]:
    """The `error` payload for `mcp_list_tools.failed` / `response.mcp_call.failed`."""
    return {
        "type": "mcp_failed",
        "message": f"{event.get('type')} for item {event.get('item_id')!r}",
        "item_id": event.get("item_id"),
        "event": event,
    }
