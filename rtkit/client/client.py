"""RealtimeClient: the reference client's high-level API, in Python (snake_case, asyncio)."""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from rtkit.audio import SAMPLE_RATE, int16_to_base64
from rtkit.client.api import RealtimeAPI
from rtkit.client.conversation import Item, RealtimeConversation
from rtkit.client.event_handler import RealtimeEventHandler
from rtkit.errors import ConversationError, NotConnectedError, RtkitError
from rtkit.protocol.events import Dialect, canonical_server_type
from rtkit.protocol.session import SESSION_FIELDS, build_session, is_manual_turn_detection
from rtkit.transport.base import Transport

__all__ = ["DEFAULT_SESSION_CONFIG", "RealtimeClient", "ToolHandler"]

ToolHandler = Callable[[dict[str, Any]], "Awaitable[Any] | Any"]

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

# Server events (canonical GA names) that update the conversation and are announced with
# `conversation.updated` when they touch an item.
_UPDATING = frozenset({
    "conversation.item.truncated",
    "conversation.item.deleted",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
})
_ITEM_DONE = frozenset({"response.output_item.done", "conversation.item.done"})
_SILENT = frozenset({
    "response.created",
    "response.done",
    "response.output_item.added",
    "response.content_part.added",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RealtimeClient(RealtimeEventHandler):
    """The Realtime reference client (`RealtimeClient` of the seed), over any transport.

    Events: `conversation.updated` `{item, delta}`, `conversation.item.appended` `{item}`,
    `conversation.item.completed` `{item}` (once per item), `conversation.interrupted` (the
    `speech_started` event), `realtime.event` `{time, source, event}`, `error`, `close`.
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
        self.conversation = RealtimeConversation(server_vad=False)
        self._reset_config()
        self._add_api_event_handlers()

    @property
    def dialect(self) -> Dialect:
        """The protocol dialect this client speaks ("ga" or "beta")."""
        return self.realtime.dialect

    # -- state -----------------------------------------------------------------------------

    def _reset_config(self) -> None:
        self.session_created = False
        self._session_created = asyncio.Event()
        self.tools: dict[str, dict[str, Any]] = {}
        self.session_config: dict[str, Any] = copy.deepcopy(DEFAULT_SESSION_CONFIG)
        self._completed: set[str] = set()
        self._tool_calls: set[str] = set()
        self._item_queues: dict[str, asyncio.Queue[Any]] = {}
        self.conversation.server_vad = False

    def _add_api_event_handlers(self) -> None:
        self.realtime.on("client.*", self._on_client_event)
        self.realtime.on("server.*", self._on_server_event)
        self.realtime.on("error", lambda payload: self.dispatch("error", payload))
        self.realtime.on("close", self._on_close)

    def _on_client_event(self, event: dict[str, Any]) -> None:
        self.dispatch("realtime.event", {"time": _now(), "source": "client", "event": event})

    def _on_close(self, payload: dict[str, Any]) -> None:
        self.session_created = False  # a reconnect waits for the new session (SEED fix 13)
        self._session_created.clear()
        self.dispatch("close", payload)

    def _on_server_event(self, event: dict[str, Any]) -> None:
        etype = canonical_server_type(event["type"])
        if etype == "session.created":
            self.session_created = True
            self._session_created.set()
        elif etype == "error":
            self.dispatch("error", event)
        elif etype == "input_audio_buffer.speech_started":
            self._process(event)
            self.dispatch("conversation.interrupted", event)
        elif etype == "conversation.item.added":
            item = self._process(event)
            if item is not None:
                self.dispatch("conversation.updated", {"item": item, "delta": None})
                self.dispatch("conversation.item.appended", {"item": item})
                self._maybe_completed(item)
        elif etype in _ITEM_DONE:
            item = self._process(event)
            if item is not None:
                self.dispatch("conversation.updated", {"item": item, "delta": None})
                self._maybe_completed(item)
                self._maybe_call_tool(item)
        elif etype in _UPDATING:
            result = self._process_with_delta(event)
            if result is not None and result[0] is not None:
                self.dispatch("conversation.updated", {"item": result[0], "delta": result[1]})
        elif etype in _SILENT:
            self._process(event)
        self.dispatch("realtime.event", {"time": _now(), "source": "server", "event": event})

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
        self._track("tool", self._call_tool, asyncio.ensure_future(self._call_tool(tool)))

    async def _call_tool(self, tool: dict[str, Any]) -> None:
        try:
            arguments = json.loads(tool["arguments"] or "{}")
            result = self.tools[tool["name"]]["handler"](arguments)
            if inspect.isawaitable(result):
                result = await result
            output = json.dumps(result)
        except Exception as exc:
            output = json.dumps({"error": str(exc) or type(exc).__name__})
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
        """Connect and send the full session configuration (`session.update`)."""
        if self.is_connected():
            raise RtkitError("already connected, use disconnect() first")
        self.session_created = False
        self._session_created.clear()
        await self.realtime.connect()
        self.update_session()
        return True

    async def wait_for_session_created(self, timeout: float | None = None) -> bool:
        """Wait until the server's `session.created` has arrived."""
        if not self.is_connected() and not self.session_created:
            raise NotConnectedError("not connected, use connect() first")
        await asyncio.wait_for(self._session_created.wait(), timeout)
        return True

    async def disconnect(self) -> None:
        """Close the connection and clear the conversation."""
        self.session_created = False
        self._session_created.clear()
        if self.realtime.is_connected():
            await self.realtime.disconnect()
        self.conversation.clear()
        self._completed.clear()
        self._tool_calls.clear()
        self._item_queues.clear()

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
        """`"server_vad"`, `"semantic_vad"`, or None for manual turns."""
        if is_manual_turn_detection(self.session_config):
            return None
        return str(self.session_config["turn_detection"].get("type"))

    def update_session(self, **fields: Any) -> bool:
        """Change session fields (the seed's flat names) and send `session.update` if connected.

        Fields persist across calls, tools given here included (followed by `add_tool` tools).
        """
        unknown = sorted(set(fields) - SESSION_FIELDS)
        if unknown:
            raise ValueError(f"unknown session field(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(SESSION_FIELDS))}")
        for tool in fields.get("tools") or ():
            if tool.get("name") in self.tools:
                raise ValueError(f"tool {tool.get('name')!r} has already been added with add_tool")
        self.session_config.update(copy.deepcopy(fields))
        self.conversation.server_vad = not is_manual_turn_detection(self.session_config)
        if self.realtime.is_connected():
            self.realtime.send("session.update", {"session": self._session_payload()})
        return True

    def _session_payload(self) -> dict[str, Any]:
        config = dict(self.session_config)
        config["tools"] = [
            {"type": "function", **tool} for tool in (config.get("tools") or [])
        ] + [{"type": "function", **t["definition"]} for t in self.tools.values()]
        return build_session(config, self.dialect)

    def add_tool(self, definition: Mapping[str, Any], handler: ToolHandler) -> dict[str, Any]:
        """Register a tool; `handler(arguments)` (sync or async) runs for each completed call."""
        name = definition.get("name") if isinstance(definition, Mapping) else None
        if not name:
            raise ValueError("missing tool name in definition")
        if name in self.tools:
            raise ValueError(f'tool "{name}" already added; remove_tool("{name}") first')
        if not callable(handler):
            raise TypeError(f'tool "{name}" handler must be callable')
        definition = {k: v for k, v in copy.deepcopy(dict(definition)).items() if k != "type"}
        self.tools[name] = {"definition": definition, "handler": handler}
        self.update_session()
        return self.tools[name]

    def remove_tool(self, name: str) -> bool:
        """Unregister a tool (and update the session when connected — SEED fix 8)."""
        if name not in self.tools:
            raise KeyError(f'tool "{name}" does not exist, cannot be removed')
        del self.tools[name]
        self.update_session()
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

    async def wait_for_next_item(self, timeout: float | None = None) -> dict[str, Any]:
        """The next item appended to the conversation, as `{"item": item}`.

        From the first call on, items are queued, so consecutive calls return every item in
        order even when several arrive at once. Raises `TimeoutError` after `timeout` s.
        """
        return await self._wait_item("conversation.item.appended", timeout)

    async def wait_for_next_completed_item(self, timeout: float | None = None) -> dict[str, Any]:
        """The next item completed in the conversation, as `{"item": item}` (queued like
        `wait_for_next_item`)."""
        return await self._wait_item("conversation.item.completed", timeout)

    async def _wait_item(self, event_name: str, timeout: float | None) -> dict[str, Any]:
        # The first call starts a backlog: items appended/completed between two calls are
        # returned by the next call instead of being missed (the seed's waits lose them when
        # events arrive in a burst, as they do in instant replay).
        queue = self._item_queues.setdefault(event_name, asyncio.Queue())
        try:
            payload = await asyncio.wait_for(queue.get(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no {event_name} event within {timeout} s") from None
        return {"item": payload["item"]}

    def dispatch(self, event_name: str, payload: Any = None) -> None:
        """Dispatch to handlers (and to the backlog of `wait_for_next_*item`)."""
        queue = self._item_queues.get(event_name)
        if queue is not None:
            queue.put_nowait(payload)
        super().dispatch(event_name, payload)
