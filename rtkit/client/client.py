"""RealtimeClient: the reference client's high-level API, in Python (snake_case, asyncio)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import numpy as np

from rtkit.audio import PCM16, AudioFormat, audio_format, encode_base64, to_int16
from rtkit.client.api import RealtimeAPI, is_sideband_url
from rtkit.client.conversation import Item, RealtimeConversation
from rtkit.client.event_handler import RealtimeEventHandler
from rtkit.client.streams import EventStream
from rtkit.client.tools import ToolHandler, run_tool, tool_error, tool_output_json
from rtkit.errors import ConversationError, NotConnectedError, RtkitError
from rtkit.protocol.events import Dialect, canonical_server_type
from rtkit.protocol.response import build_response
from rtkit.protocol.session import (
    TRANSCRIPTION_SESSION_FIELDS,
    audio_format_of,
    build_session,
    is_transcription,
    normalize_session_fields,
    normalize_turn_detection,
    turn_detection_of,
)
from rtkit.transport.base import Transport

__all__ = [
    "DEFAULT_SERVER_VAD_CONFIG",
    "DEFAULT_SESSION_CONFIG",
    "TRANSCRIPTION_MODELS",
    "RealtimeClient",
    "ToolHandler",
]

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

DEFAULT_SERVER_VAD_CONFIG: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
}
"""The seed's `defaultServerVadConfig`: pass it as `update_session(turn_detection=...)`."""

TRANSCRIPTION_MODELS: list[dict[str, str]] = [
    {"model": "whisper-1"},
    {"model": "gpt-4o-transcribe"},
    {"model": "gpt-4o-mini-transcribe"},
    {"model": "gpt-4o-transcribe-diarize"},
]
"""Input transcription configs (the seed's `transcriptionModels`, which listed `whisper-1`,
plus the GA models): `update_session(input_audio_transcription=TRANSCRIPTION_MODELS[1])`.
A snapshot, not a limit: any model name the API accepts can be given."""

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
# beta transcription sessions answer `transcription_session.update` with `.updated`; the SDK
# lists no `transcription_session.created` (their first event is `session.created`), but one
# from a server counts as the session's creation all the same
_SESSION_EVENTS = frozenset({"session.created", "session.updated",
                             "transcription_session.created", "transcription_session.updated"})
_CREATED = frozenset({"session.created", "transcription_session.created"})
_MCP_FAILED = frozenset({"mcp_list_tools.failed", "response.mcp_call.failed"})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RealtimeClient(RealtimeEventHandler):
    """The Realtime reference client (`RealtimeClient` of the seed), over any transport.

    Events: `conversation.updated` `{item, delta}`, `conversation.item.appended` `{item}`,
    `conversation.item.completed` `{item}` (once per item), `conversation.interrupted` (the
    `speech_started` event), `response.done` `{response, items}`, `realtime.event`
    `{time, source, event}`, `error`, `close`. `events()` / `items()` iterate over them,
    buffered; `wait_for_next*` return the next one. `async with RealtimeClient(...) as
    client:` connects, and disconnects at the end of the block.
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
        self.default_session_config: dict[str, Any] = copy.deepcopy(DEFAULT_SESSION_CONFIG)
        """The seed's `defaultSessionConfig` (a copy of `DEFAULT_SESSION_CONFIG`)."""
        self.default_server_vad_config: dict[str, Any] = dict(DEFAULT_SERVER_VAD_CONFIG)
        """The seed's `defaultServerVadConfig`."""
        self.transcription_models: list[dict[str, str]] = copy.deepcopy(TRANSCRIPTION_MODELS)
        """The seed's `transcriptionModels`."""
        self._connections = 0  # a tool result is sent on the connection that asked for it
        self._reset_config()
        self._add_api_event_handlers()

    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.disconnect()

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
        (beta transcription sessions: `transcription_session.updated`; None before the first
        one, and after `disconnect()`)."""
        return self.conversation.session

    @property
    def rate_limits(self) -> list[dict[str, Any]] | None:
        """The `rate_limits` of the server's last `rate_limits.updated`, or None."""
        return self.conversation.rate_limits

    @property
    def input_format(self) -> AudioFormat:
        """The input audio's format: `rtkit.audio.PCM16` (24 kHz), or `G711_ULAW` /
        `G711_ALAW` (8 kHz), from the session config (on a sideband connection where the app
        did not set it, the call's session)."""
        return self._format("input")

    @property
    def output_format(self) -> AudioFormat:
        """The output audio's format (see `input_format`)."""
        return self._format("output")

    def _format(self, direction: str) -> AudioFormat:
        source = self._effective(f"{direction}_audio_format")
        try:
            return audio_format(audio_format_of(source, direction))
        except ValueError:  # a format the server names that rtkit does not know
            return PCM16

    def _effective(self, canonical: str) -> Mapping[str, Any]:
        """Where a session field's value comes from: the session config, or on a sideband
        connection where the app did not set it, the call's (effective) session."""
        if self.sideband and canonical not in self._explicit and self.session:
            return self.session
        return self.session_config

    @property
    def input_audio_buffer(self) -> np.ndarray:
        """The input samples appended since the last commit (the seed's `inputAudioBuffer`;
        in server-VAD mode what is still kept of them, see docs/conversation.md)."""
        return self.conversation.pending_input_audio()

    @property
    def response_active(self) -> bool:
        """Whether a response of the conversation is asked for or in progress: a
        `response.create` sent and not yet answered, or `response.created` without its
        `response.done` (out-of-band responses do not count)."""
        return any(not oob for _, oob in self._requests) or not all(self._active.values())

    # -- state -----------------------------------------------------------------------------

    def _reset_config(self) -> None:
        self.session_created = False
        self._session_waiters: list[asyncio.Future[Any]] = []
        self.tools: dict[str, dict[str, Any]] = {}
        self.session_config: dict[str, Any] = copy.deepcopy(DEFAULT_SESSION_CONFIG)
        self._explicit: set[str] = set()  # session fields the app set (sideband sends these)
        self._completed: set[str] = set()
        self._tool_calls: set[str] = set()
        self._reset_responses()
        self._apply_session()  # manual turns, PCM16 (after reset(): whatever was set before)

    def _reset_responses(self) -> None:
        self._requests: list[tuple[str, bool]] = []  # response.create sent: (event_id, oob)
        self._active: dict[str, bool] = {}  # response.created, no response.done: id -> oob
        self._tool_runs: set[str] = set()  # call_ids whose handler has not answered yet
        self._response_owed = False  # tool outputs sent: one response.create when all settle

    def _add_api_event_handlers(self) -> None:
        self.realtime.on("client.*", self._on_client_event)
        self.realtime.on("server.*", self._on_server_event)
        self.realtime.on("error", lambda payload: self.dispatch("error", payload))
        self.realtime.on("close", self._on_close)

    def _on_client_event(self, event: dict[str, Any]) -> None:
        etype = event.get("type")
        if etype == "input_audio_buffer.clear":
            self.conversation.clear_input_audio()  # also for realtime.send(...)
        elif etype == "response.create":  # also for realtime.send(...)
            options = event.get("response") if isinstance(event.get("response"), Mapping) else {}
            self._requests.append((str(event.get("event_id")),
                                   options.get("conversation") == "none"))
        self.dispatch("realtime.event", {"time": _now(), "source": "client", "event": event})

    def _on_close(self, payload: dict[str, Any]) -> None:
        self.session_created = False  # a reconnect waits for the new session (SEED fix 13)
        self._reset_responses()
        self.dispatch("close", payload)
        self._connection_ended(payload)

    def _track_response(self, etype: str, event: Mapping[str, Any]) -> None:
        """Which responses are asked for and in progress (`response_active`)."""
        response = event.get("response") if isinstance(event.get("response"), Mapping) else {}
        if etype == "response.created" and isinstance(response.get("id"), str):
            oob = "conversation_id" in response and response["conversation_id"] is None
            match = next((r for r in self._requests if r[1] == oob), None)
            if match is not None:
                self._requests.remove(match)
            self._active[response["id"]] = oob
        elif etype == "response.done":
            self._active.pop(str(response.get("id")), None)
        elif etype == "error":
            error = event.get("error") if isinstance(event.get("error"), Mapping) else {}
            self._requests = [r for r in self._requests if r[0] != error.get("event_id")]

    def _on_server_event(self, event: dict[str, Any]) -> None:
        etype = canonical_server_type(event["type"])
        if etype in ("response.created", "response.done", "error"):
            self._track_response(etype, event)
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
        elif etype == "response.done":
            if self._process_with_delta(event) is not None:
                self._response_done(event)
            self._maybe_request_response()
        elif etype in _SILENT:
            self._process(event)
        else:
            result = self._process_with_delta(event)
            item = result[0] if result is not None else None
            if item is not None and not self.conversation.is_out_of_band(item["id"]):
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

    def _response_done(self, event: Mapping[str, Any]) -> None:
        """The client's `response.done`: the stored response and its items."""
        response_id = (event.get("response") or {}).get("id")
        response = self.conversation.get_response(response_id) if isinstance(
            response_id, str) else None
        if response is not None:
            self.dispatch("response.done", {
                "response": response, "items": self.conversation.get_response_items(response_id)})

    def _on_session(self, etype: str) -> None:
        self._apply_session()
        if etype in _CREATED:
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
        self._tool_runs.add(tool["call_id"])
        handler = self.tools[tool["name"]]["handler"]
        self._track("tool", self._call_tool,
                    asyncio.ensure_future(self._call_tool(dict(tool), handler)))

    async def _call_tool(self, tool: dict[str, Any], handler: ToolHandler) -> None:
        """Run a handler and send its result; the `response.create` that answers the call
        waits for every call of the response and for its `response.done`."""
        connection = self._connections
        try:
            output = tool_output_json(await run_tool(handler, tool["arguments"]))
        except Exception as exc:  # the model gets the error; the app gets an `error` event
            output = tool_output_json({"error": str(exc) or type(exc).__name__})
            self.dispatch("error", tool_error(tool, exc))
        if connection != self._connections or not self.realtime.is_connected():
            self.dispatch("error", {
                "type": "tool_result_dropped",
                "message": f"tool {tool['name']!r} (call {tool['call_id']!r}) finished after "
                           "its connection closed: its result was not sent",
                "tool": tool["name"], "call_id": tool["call_id"], "output": output})
            return
        self._tool_runs.discard(tool["call_id"])
        self.realtime.send("conversation.item.create", {
            "item": {"type": "function_call_output", "call_id": tool["call_id"], "output": output},
        })
        self._response_owed = True
        self._maybe_request_response()

    def _maybe_request_response(self) -> None:
        """Ask for the response to the tool outputs once: when every handler has answered and
        no response of the conversation is active (after the calls' `response.done`), as
        parallel tool calls need."""
        if (self._response_owed and not self._tool_runs and not self.response_active
                and self.realtime.is_connected()):
            self._response_owed = False
            self.create_response()

    # -- connection ------------------------------------------------------------------------

    def is_connected(self) -> bool:
        """True while the connection is open."""
        return self.realtime.is_connected()

    async def connect(self) -> bool:
        """Connect and send the session configuration (`session.update`; a beta transcription
        session's `transcription_session.update`): all of it, or on a sideband URL
        (`?call_id=`) only the fields set explicitly (nothing if none)."""
        if self.is_connected():
            raise RtkitError("already connected, use disconnect() first")
        self.session_created = False
        intent = "transcription" if is_transcription(self.session_config) else None
        await self.realtime.connect(intent=intent)
        self._connections += 1
        self._reset_responses()
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
        td = normalize_turn_detection(turn_detection_of(self._effective("turn_detection")))
        return None if td is None else str(td.get("type"))

    def _apply_session(self) -> None:
        """Tell the conversation the session's turn mode and audio formats."""
        td = normalize_turn_detection(turn_detection_of(self._effective("turn_detection")))
        self.conversation.server_vad = td is not None
        idle = td.get("idle_timeout_ms") if isinstance(td, Mapping) else None
        # an idle timeout commits that much quiet audio: keep it for the item
        self.conversation.vad_retain_ms = max(10_000, int(idle or 0) + 2_000)
        self.conversation.input_format = self.input_format
        self.conversation.output_format = self.output_format

    def update_session(self, **fields: Any) -> bool:
        """Change session fields and send `session.update` if connected.

        Takes the seed's flat names (`voice`, `modalities`, `turn_detection`, ...), the beta
        session's other fields, and every field of the GA session under its GA name
        (`audio`, `output_modalities`, `max_output_tokens`, `noise_reduction`, `speed`,
        `tracing`, `truncation`, `prompt`, `include`, `reasoning`, `parallel_tool_calls`...);
        rtkit sends them in the dialect's shape. A GA-only field raises `ValueError` in the
        beta dialect. Fields persist across calls, tools given here included (followed by
        `add_tool` tools).

        `type="transcription"` (set before `connect()`, which then asks for
        `?intent=transcription`) makes a transcription session: only its fields are sent
        (input audio format, transcription, noise reduction, turn detection, `include`; beta
        sends them flat in `transcription_session.update`), and setting any other (`voice`,
        `instructions`, tools...) raises `ValueError`.
        """
        canon = normalize_session_fields(fields)
        for tool in canon.get("tools") or ():
            if tool.get("name") in self.tools:
                raise ValueError(f"tool {tool.get('name')!r} has already been added with add_tool")
        for name in ("input_audio_format", "output_audio_format"):
            if canon.get(name) is not None:
                audio_format(canon[name])  # an unknown format fails here, naming it
        merged = {**self.session_config, **canon}
        build_session(merged, self.dialect)  # a field this dialect lacks fails here, not later
        if is_transcription(merged):
            extra = sorted((self._explicit | set(canon)) - TRANSCRIPTION_SESSION_FIELDS)
            if self.tools:
                extra.append("tools (add_tool)")
            if extra:
                raise ValueError(
                    f"session field(s) {', '.join(map(repr, extra))} do not exist in a "
                    "transcription session (it takes input audio format, transcription, "
                    "noise reduction, turn detection and include)")
        self.session_config = merged
        self._explicit.update(canon)
        self._apply_session()
        self._send_session()
        return True

    def _send_session(self) -> None:
        if not self.realtime.is_connected():
            return
        if self.sideband and not self._explicit and not self.tools:
            return  # nothing set: the call's session stays as it is
        name = ("transcription_session.update" if self.dialect == "beta"
                and is_transcription(self.session_config) else "session.update")
        self.realtime.send(name, {"session": self._session_payload()})

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
        if is_transcription(self.session_config):
            raise ValueError(f'tool "{name}": a transcription session has no tools')
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

        `input_audio` parts may carry samples (int16, or float in [-1, 1]) or the session's
        wire bytes; they are encoded in the input format in a copy (the caller's objects are
        never changed).
        """
        if content:
            parts = []
            for part in content:
                part = dict(part)
                audio = part.get("audio")
                if part.get("type") == "input_audio" and not isinstance(audio, str | None):
                    part["audio"] = encode_base64(self._input_bytes(audio)[0])
                parts.append(part)
            self.realtime.send("conversation.item.create", {
                "item": {"type": "message", "role": "user", "content": parts},
            })
        self.create_response()
        return True

    def _input_bytes(self, audio: Any) -> tuple[bytes, np.ndarray]:
        """Wire bytes in the input format and their samples: bytes are taken as the format's
        wire bytes, arrays as samples (`rtkit.audio.to_int16`: int16, or float in [-1, 1])."""
        fmt = self.input_format
        if isinstance(audio, bytes | bytearray | memoryview):
            raw = bytes(audio)
            if len(raw) % fmt.sample_width:
                raise ValueError(f"{fmt.name} bytes must have a length that is a multiple of "
                                 f"{fmt.sample_width}, got {len(raw)}")
            return raw, fmt.decode(raw)
        samples = to_int16(audio)
        return fmt.encode(samples), samples

    def append_input_audio(self, audio: np.ndarray | bytes | bytearray | memoryview) -> bool:
        """Stream input audio, mono at the input format's rate (24 kHz PCM16, 8 kHz G.711).

        Takes int16 samples, float samples in [-1, 1] (what sounddevice, soundfile and librosa
        give; scaled like the seed's `floatTo16BitPCM`), or bytes in the session's input
        format (PCM16 little-endian; for G.711 the μ-law / A-law bytes, e.g. a Twilio media
        payload). Any other dtype raises `TypeError` naming it.
        """
        raw, samples = self._input_bytes(audio)
        if samples.size:
            self.realtime.send("input_audio_buffer.append", {"audio": encode_base64(raw)})
            self.conversation.append_input_audio(samples)
        return True

    def commit_input_audio(self) -> bool:
        """Commit the buffered input audio (`input_audio_buffer.commit`) without asking for
        a response: the server makes it a user item (transcribed when the session asks for
        it). Nothing is sent when nothing is buffered. `create_response()` does this first in
        manual turn mode; a transcription session with manual turns needs it alone."""
        if not self.conversation.pending_input_samples:
            return False
        self.realtime.send("input_audio_buffer.commit")
        self.conversation.commit_input_audio()
        return True

    def create_response(self, **options: Any) -> bool:
        """Ask for a response: commits buffered input audio in manual mode, then sends
        `response.create`.

        `options` are the response's parameters, under GA or the seed's names
        (`rtkit.protocol.build_response`): `instructions`, `modalities` / `output_modalities`,
        `voice`, `output_audio_format`, `tools`, `tool_choice`, `metadata`, `input` (items to
        answer instead of the conversation), `max_output_tokens`, `conversation`...
        `conversation="none"` asks for an out-of-band response: it does not commit the
        user's buffered audio, its items stay out of the conversation (see
        `wait_for_next_response`). Raises `ValueError` for an unknown option and in a
        transcription session (it has no responses).
        """
        if is_transcription(self.session_config):
            raise ValueError("a transcription session has no responses: use "
                             "commit_input_audio() (or server VAD) to get transcripts")
        response = build_response(options, self.dialect)
        if response.get("conversation") != "none" and self.get_turn_detection_type() is None:
            self.commit_input_audio()
        self.realtime.send("response.create", {"response": response} if response else None)
        return True

    def cancel_response(self, item_id: str | None = None, sample_count: int = 0) -> dict[str, Any]:
        """Barge-in: cancel the conversation's response if one is active and, with an item id,
        truncate that assistant item's audio after `sample_count` samples (what the user
        heard, at the output format's rate: `audio_end_ms = sample_count / rate * 1000`).

        Unlike the seed, `response.cancel` is only sent while a response is active
        (`response_active`): after its `response.done` the server would answer
        `response_cancel_not_active`. The truncation is sent either way.
        """
        item = None
        audio_index = None
        if item_id:
            item, audio_index = self._audio_item(item_id)
        if self.response_active:
            self.realtime.send("response.cancel")
        if item is not None:
            self.realtime.send("conversation.item.truncate", {
                "item_id": item_id,
                "content_index": audio_index,
                "audio_end_ms": self.output_format.samples_to_ms(sample_count),
            })
        return {"item": item}

    def _audio_item(self, item_id: str) -> tuple[Item, int]:
        """An assistant message with audio, and its audio part's index (or an error)."""
        item = self.conversation.get_item(item_id)
        if item is None:
            raise KeyError(f'could not find item "{item_id}"')
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise ValueError("can only cancel_response / truncate_item assistant messages")
        audio_index = next((i for i, part in enumerate(item.get("content") or [])
                            if part.get("type") in ("audio", "output_audio")), None)
        if audio_index is None:
            raise ValueError(f'could not find audio on item "{item_id}" to truncate')
        return item, audio_index

    def truncate_item(self, item_id: str, audio_end_ms: int,
                      content_index: int | None = None) -> bool:
        """Truncate an assistant item's audio at `audio_end_ms` (`conversation.item.truncate`),
        without cancelling anything. `content_index` defaults to the item's audio part (the
        item must then be known)."""
        if content_index is None:
            content_index = self._audio_item(item_id)[1]
        self.realtime.send("conversation.item.truncate", {
            "item_id": item_id, "content_index": content_index, "audio_end_ms": int(audio_end_ms)})
        return True

    def retrieve_item(self, item_id: str) -> bool:
        """Ask for the server's copy of an item (`conversation.item.retrieve`); its
        `conversation.item.retrieved` refreshes the item (`conversation.updated`)."""
        self.realtime.send("conversation.item.retrieve", {"item_id": item_id})
        return True

    def clear_output_audio(self) -> bool:
        """Stop the audio the server is playing (`output_audio_buffer.clear`): for WebRTC and
        SIP calls driven over a sideband connection, where the server plays the audio; over
        a plain WebSocket the app plays it and stops its own player."""
        self.realtime.send("output_audio_buffer.clear")
        return True

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

    async def wait_for_next_response(self, timeout: float | None = None) -> dict[str, Any]:
        """The next response that ends (`response.done`) after this call, as
        `{"response": response, "items": [item, ...]}`: the stored response (status, usage,
        metadata, `output` ids) and its items with `formatted`, out-of-band ones included.
        Raises like `wait_for_next_item`."""
        payload = await self._next_event("response.done", timeout)
        return {"response": payload["response"], "items": payload["items"]}

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
