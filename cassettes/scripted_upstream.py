"""A scripted, Realtime-like upstream on 127.0.0.1, for producing rtkit's reference cassettes.

It is *not* the OpenAI API. It reacts to client events the way the live API does (shapes per
the `openai` package's models, `openai.types.realtime` for GA and `openai.types.beta.realtime`
for beta, including fields no schema lists, like `obfuscation` on GA deltas): session updates,
manual and server-VAD input audio (an energy detector), input transcription, responses with
text, audio + transcript or a function call, cancellation on barge-in, truncation and
`error` events. What the "model" says comes from a list of `Reply` objects; ids are drawn from
a seeded generator, so regenerating a cassette gives the same ids.

The dialect follows the client: the `OpenAI-Beta: realtime=v1` header or the
`openai-beta.realtime-v1` subprotocol select beta, anything else GA.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import random
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection, serve

__all__ = ["FakeRealtime", "Reply", "tone"]

RATE = 24_000
EXPIRES_AT = 1_795_000_000


def tone(ms: int, freq: float = 220.0, amplitude: int = 6000) -> np.ndarray:
    """A deterministic PCM16 tone (what the fake model "speaks", and test speech)."""
    n = RATE * ms // 1000
    t = np.arange(n) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2")


def _b64(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode()


@dataclass
class Reply:
    """What the fake model answers to the next response.

    `text`: the assistant's text (or transcript, with audio). `audio_ms`: spoken length when
    the session outputs audio. `function_call`: (name, arguments) instead of a message.
    `when`: only answer with this reply (once) when the user's last message contains this text
    (case-insensitive); replies without `when` are used in order.
    """

    text: str = ""
    audio_ms: int = 0
    function_call: tuple[str, dict[str, Any]] | None = None
    when: str | None = None


@dataclass
class _Session:
    dialect: str
    fields: dict[str, Any] = field(default_factory=dict)

    # --- views over the two session shapes
    @property
    def audio_out(self) -> bool:
        key = "output_modalities" if self.dialect == "ga" else "modalities"
        return "audio" in (self.fields.get(key) or [])

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        if self.dialect == "ga":
            return ((self.fields.get("audio") or {}).get("input") or {}).get("turn_detection")
        return self.fields.get("turn_detection")

    @property
    def transcription(self) -> dict[str, Any] | None:
        if self.dialect == "ga":
            return ((self.fields.get("audio") or {}).get("input") or {}).get("transcription")
        return self.fields.get("input_audio_transcription")


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


class FakeRealtime:
    """The scripted upstream: `async with FakeRealtime(replies) as up: up.url`."""

    def __init__(
        self,
        replies: list[Reply],
        *,
        seed: str,
        transcripts: list[str] | None = None,
        model: str = "gpt-realtime",
        delta_delay: float = 0.015,
        default_reply: Reply | None = None,
    ) -> None:
        self.replies = list(replies)
        self.default_reply = default_reply or Reply(text="OK.", audio_ms=400)
        self.transcripts = list(transcripts or [])
        self.model = model
        self.delta_delay = delta_delay
        self._rng = random.Random(seed)
        self._server: Any = None
        self.url = ""
        self.connections = 0

    def next_reply(self, user_text: str) -> Reply:
        """The reply to the next response, given the user's last message."""
        lowered = user_text.lower()
        for i, reply in enumerate(self.replies):
            if reply.when is not None and reply.when.lower() in lowered:
                return self.replies.pop(i)
        for i, reply in enumerate(self.replies):
            if reply.when is None:
                return self.replies.pop(i)
        return self.default_reply

    async def __aenter__(self) -> FakeRealtime:
        self._server = await serve(self._handle, "127.0.0.1", 0, subprotocols=None)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    # ----------------------------------------------------------------------- ids

    def _id(self, prefix: str, n: int = 21) -> str:
        alphabet = string.ascii_letters + string.digits
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(n))

    def _obfuscation(self) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self._rng.choice(alphabet) for _ in range(self._rng.randint(4, 14)))

    # ----------------------------------------------------------------------- connection

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        headers = ws.request.headers if ws.request else {}
        offered = headers.get("sec-websocket-protocol", "") or ""
        beta = headers.get("openai-beta") == "realtime=v1" or "openai-beta.realtime-v1" in offered
        conn = _Conn(self, ws, "beta" if beta else "ga")
        await conn.run()


class _Conn:
    """One client connection's state."""

    def __init__(self, up: FakeRealtime, ws: ServerConnection, dialect: str) -> None:
        self.up = up
        self.ws = ws
        self.dialect = dialect
        self.session = _Session(dialect, self._default_session())
        self.conversation_id = up._id("conv_")
        self.items: list[str] = []
        self.buffer: list[np.ndarray] = []
        self.buffer_start_ms = 0  # audio position where the uncommitted buffer starts
        self.pos_samples = 0
        self.speech_item: str | None = None
        self.silence_samples = 0
        self.response_task: asyncio.Task[None] | None = None
        self.cancelled: dict[str, str] = {}  # response id -> reason
        self.lock = asyncio.Lock()
        self.last_user_text = ""

    @property
    def ga(self) -> bool:
        return self.dialect == "ga"

    def name(self, ga_name: str) -> str:
        """The dialect's spelling of a server event."""
        if self.ga:
            return ga_name
        return {
            "conversation.item.added": "conversation.item.created",
            "response.output_text.delta": "response.text.delta",
            "response.output_text.done": "response.text.done",
            "response.output_audio.delta": "response.audio.delta",
            "response.output_audio.done": "response.audio.done",
            "response.output_audio_transcript.delta": "response.audio_transcript.delta",
            "response.output_audio_transcript.done": "response.audio_transcript.done",
        }.get(ga_name, ga_name)

    def _default_session(self) -> dict[str, Any]:
        up = self.up
        vad = {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        }
        if self.dialect == "ga":
            return {
                "type": "realtime",
                "object": "realtime.session",
                "id": up._id("sess_"),
                "model": up.model,
                "output_modalities": ["audio"],
                "instructions": "You are a helpful assistant.",
                "tools": [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
                "tracing": None,
                "truncation": "auto",
                "prompt": None,
                "expires_at": EXPIRES_AT,
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": RATE},
                        "transcription": None,
                        "noise_reduction": None,
                        "turn_detection": {**vad, "idle_timeout_ms": None},
                    },
                    "output": {
                        "format": {"type": "audio/pcm", "rate": RATE},
                        "voice": "alloy",
                        "speed": 1.0,
                    },
                },
                "include": None,
            }
        return {
            "id": up._id("sess_"),
            "object": "realtime.session",
            "model": up.model,
            "expires_at": EXPIRES_AT,
            "modalities": ["text", "audio"],
            "instructions": "You are a helpful assistant.",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "turn_detection": vad,
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "speed": 1.0,
            "tracing": None,
            "input_audio_noise_reduction": None,
            "client_secret": None,
        }

    async def send(self, event: dict[str, Any]) -> None:
        event = {"type": event.pop("type"), "event_id": self.up._id("event_"), **event}
        with contextlib.suppress(Exception):
            await self.ws.send(json.dumps(event))

    async def error(self, code: str, message: str, param: str | None, client_event: Any) -> None:
        event_id = client_event.get("event_id") if isinstance(client_event, dict) else None
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    # ----------------------------------------------------------------------- loop

    async def run(self) -> None:
        await self.send({"type": "session.created", "session": copy.deepcopy(self.session.fields)})
        async for message in self.ws:
            if isinstance(message, bytes):
                await self.error(
                    "invalid_event",
                    "Expected a text WebSocket message; binary frames are not supported.",
                    None,
                    None,
                )
                continue
            try:
                event = json.loads(message)
            except ValueError:
                await self.error("invalid_json", "Invalid JSON in the client event.", None, None)
                continue
            async with self.lock:
                await self.dispatch(event)
        if self.response_task:
            self.response_task.cancel()

    async def dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        handler = {
            "session.update": self.on_session_update,
            "input_audio_buffer.append": self.on_append,
            "input_audio_buffer.commit": self.on_commit,
            "input_audio_buffer.clear": self.on_clear,
            "conversation.item.create": self.on_item_create,
            "conversation.item.truncate": self.on_truncate,
            "conversation.item.delete": self.on_delete,
            "response.create": self.on_response_create,
            "response.cancel": self.on_response_cancel,
        }.get(str(kind))
        if handler is None:
            await self.error(
                "invalid_value",
                f"Invalid value: '{kind}'. Supported values are: 'session.update', "
                "'input_audio_buffer.append', 'input_audio_buffer.commit', ...",
                "type",
                event,
            )
            return
        await handler(event)

    # ----------------------------------------------------------------------- handlers

    async def on_session_update(self, event: dict[str, Any]) -> None:
        update = dict(event.get("session") or {})
        if self.ga and update.get("type") not in (None, "realtime"):
            await self.error("invalid_value", "Unsupported session type.", "session.type", event)
            return
        _deep_merge(self.session.fields, update)
        await self.send({"type": "session.updated", "session": copy.deepcopy(self.session.fields)})

    async def on_append(self, event: dict[str, Any]) -> None:
        raw = base64.b64decode(event.get("audio") or "")
        samples = np.frombuffer(raw, dtype="<i2")
        self.buffer.append(samples)
        vad = self.session.turn_detection
        if vad and vad.get("type") in ("server_vad", "semantic_vad"):
            await self.vad(samples, vad)
        self.pos_samples += len(samples)

    async def vad(self, samples: np.ndarray, vad: dict[str, Any]) -> None:
        """An energy detector over 20 ms frames, with the session's silence duration."""
        frame = RATE // 50
        silence_needed = RATE * int(vad.get("silence_duration_ms") or 200) // 1000
        for start in range(0, len(samples), frame):
            chunk = samples[start : start + frame].astype(np.float64)
            loud = bool(len(chunk)) and float(np.sqrt(np.mean(chunk**2))) > 500.0
            at_ms = (self.pos_samples + start) * 1000 // RATE
            if loud and self.speech_item is None:
                self.speech_item = self.up._id("item_")
                self.silence_samples = 0
                padding = int(vad.get("prefix_padding_ms") or 300)
                await self.send(
                    {
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": max(0, at_ms - padding),
                        "item_id": self.speech_item,
                    }
                )
                active = self.response_task is not None and not self.response_task.done()
                if active and vad.get("interrupt_response", True):
                    self.cancelled[self.active_response] = "turn_detected"
            elif self.speech_item is not None:
                self.silence_samples = 0 if loud else self.silence_samples + len(chunk)
                if self.silence_samples >= silence_needed:
                    item_id, self.speech_item = self.speech_item, None
                    await self.send(
                        {
                            "type": "input_audio_buffer.speech_stopped",
                            "audio_end_ms": at_ms,
                            "item_id": item_id,
                        }
                    )
                    await self.commit(item_id)
                    if vad.get("create_response", True):
                        self.start_response({})

    async def on_commit(self, event: dict[str, Any]) -> None:
        total = sum(len(b) for b in self.buffer)
        if total < RATE // 10:
            ms = total * 1000 / RATE
            await self.error(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
                None,
                event,
            )
            return
        await self.commit(self.up._id("item_"))

    async def on_clear(self, event: dict[str, Any]) -> None:
        self.buffer.clear()
        await self.send({"type": "input_audio_buffer.cleared"})

    async def commit(self, item_id: str) -> None:
        self.buffer.clear()
        previous = self.items[-1] if self.items else None
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        item = {
            "id": item_id,
            "type": "message",
            "object": "realtime.item",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self.add_item(item, previous)
        if self.session.transcription:
            transcript = self.up.transcripts.pop(0) if self.up.transcripts else "Hello."
            for word in _words(transcript):
                delta: dict[str, Any] = {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": word,
                }
                if self.ga:
                    delta["obfuscation"] = self.up._obfuscation()
                await self.send(delta)
            done: dict[str, Any] = {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript,
            }
            if self.ga:
                done["usage"] = {
                    "type": "tokens",
                    "total_tokens": 26,
                    "input_tokens": 17,
                    "input_token_details": {"text_tokens": 0, "audio_tokens": 17},
                    "output_tokens": 9,
                }
            await self.send(done)

    async def add_item(self, item: dict[str, Any], previous: str | None) -> None:
        self.items.append(item["id"])
        await self.send(
            {
                "type": self.name("conversation.item.added"),
                "previous_item_id": previous,
                "item": item,
            }
        )
        if self.ga:
            await self.send(
                {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
            )

    async def on_item_create(self, event: dict[str, Any]) -> None:
        item = copy.deepcopy(event.get("item") or {})
        item.setdefault("id", self.up._id("item_"))
        item["object"] = "realtime.item"
        if item.get("role") == "user":
            self.last_user_text = " ".join(
                str(part.get("text") or "") for part in item.get("content") or []
                if isinstance(part, dict)
            )
        if item.get("type") == "function_call_output":
            item.pop("role", None)
        else:
            item.setdefault("status", "completed")
        previous = event.get("previous_item_id") or (self.items[-1] if self.items else None)
        await self.add_item(item, previous)

    async def on_truncate(self, event: dict[str, Any]) -> None:
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": event.get("item_id"),
                "content_index": event.get("content_index", 0),
                "audio_end_ms": event.get("audio_end_ms"),
            }
        )

    async def on_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id in self.items:
            self.items.remove(item_id)
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        if self.response_task and not self.response_task.done():
            self.cancelled[self.active_response] = "client_cancelled"
            return
        await self.error(
            "response_cancel_not_active",
            "Cancellation failed: no active response found",
            None,
            event,
        )

    async def on_response_create(self, event: dict[str, Any]) -> None:
        if self.response_task and not self.response_task.done():
            await self.error(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress: "
                f"{self.active_response}. Wait until the response is finished before "
                "creating a new one.",
                None,
                event,
            )
            return
        self.start_response(event.get("response") or {})

    # ----------------------------------------------------------------------- responses

    def start_response(self, options: dict[str, Any]) -> None:
        self.active_response = self.up._id("resp_")
        reply = self.up.next_reply(self.last_user_text)
        self.last_user_text = ""  # a `when` reply answers one user message only
        self.response_task = asyncio.ensure_future(
            self.respond(self.active_response, reply, options)
        )

    def _response(self, resp_id: str, status: str, output: list[Any], audio: bool) -> dict:
        usage = None
        if status != "in_progress":
            usage = {
                "total_tokens": 312,
                "input_tokens": 201,
                "output_tokens": 111,
                "input_token_details": {
                    "text_tokens": 185,
                    "audio_tokens": 16,
                    "image_tokens": 0,
                    "cached_tokens": 0,
                    "cached_tokens_details": {
                        "text_tokens": 0,
                        "audio_tokens": 0,
                        "image_tokens": 0,
                    },
                },
                "output_token_details": {"text_tokens": 27, "audio_tokens": 84},
            }
        details = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": self.cancelled.get(resp_id)}
        base: dict[str, Any] = {
            "object": "realtime.response",
            "id": resp_id,
            "status": status,
            "status_details": details,
            "output": output,
            "conversation_id": self.conversation_id,
            "usage": usage,
            "metadata": None,
        }
        if self.ga:
            base["output_modalities"] = ["audio"] if audio else ["text"]
            base["max_output_tokens"] = "inf"
            base["audio"] = {
                "output": {"format": {"type": "audio/pcm", "rate": RATE}, "voice": "alloy"}
            }
        else:
            base["modalities"] = ["text", "audio"] if audio else ["text"]
            base["voice"] = "alloy"
            base["output_audio_format"] = "pcm16"
            base["temperature"] = 0.8
            base["max_output_tokens"] = "inf"
        return base

    async def pause(self) -> None:
        await asyncio.sleep(self.up.delta_delay)

    async def respond(self, resp_id: str, reply: Reply, options: dict[str, Any]) -> None:
        audio = self.session.audio_out and reply.function_call is None
        await self.send(
            {
                "type": "response.created",
                "response": self._response(resp_id, "in_progress", [], audio),
            }
        )
        item_id = self.up._id("item_")
        if reply.function_call is not None:
            item = await self.function_call(resp_id, item_id, *reply.function_call)
        else:
            item = await self.message(resp_id, item_id, reply, audio)
        status = "cancelled" if resp_id in self.cancelled else "completed"
        async with self.lock:
            await self.send(
                {
                    "type": "response.done",
                    "response": self._response(resp_id, status, [item], audio),
                }
            )
            await self.send(
                {
                    "type": "rate_limits.updated",
                    "rate_limits": [
                        {
                            "name": "requests",
                            "limit": 5000,
                            "remaining": 4999,
                            "reset_seconds": 0.012,
                        },
                        {
                            "name": "tokens",
                            "limit": 40000,
                            "remaining": 38820,
                            "reset_seconds": 1.77,
                        },
                    ],
                }
            )

    async def _output_item_added(self, resp_id: str, item: dict[str, Any]) -> None:
        previous = self.items[-1] if self.items else None
        self.items.append(item["id"])
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": resp_id,
                "output_index": 0,
                "item": item,
            }
        )
        await self.send(
            {
                "type": self.name("conversation.item.added"),
                "previous_item_id": previous,
                "item": item,
            }
        )
        self._previous = previous

    async def _output_item_done(self, resp_id: str, item: dict[str, Any]) -> None:
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": resp_id,
                "output_index": 0,
                "item": item,
            }
        )
        if self.ga:
            await self.send(
                {"type": "conversation.item.done", "previous_item_id": self._previous, "item": item}
            )

    async def function_call(
        self, resp_id: str, item_id: str, name: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        call_id = self.up._id("call_", 16)
        item = {
            "id": item_id,
            "type": "function_call",
            "object": "realtime.item",
            "status": "in_progress",
            "name": name,
            "call_id": call_id,
            "arguments": "",
        }
        async with self.lock:
            await self._output_item_added(resp_id, dict(item))
        text = json.dumps(arguments)
        for piece in _pieces(text, 6):
            await self.pause()
            delta = {
                "type": "response.function_call_arguments.delta",
                "response_id": resp_id,
                "item_id": item_id,
                "output_index": 0,
                "call_id": call_id,
                "delta": piece,
            }
            if self.ga:
                delta["obfuscation"] = self.up._obfuscation()
            await self.send(delta)
        done = {
            "type": "response.function_call_arguments.done",
            "response_id": resp_id,
            "item_id": item_id,
            "output_index": 0,
            "call_id": call_id,
            "arguments": text,
        }
        if self.ga:
            done["name"] = name
        item.update(status="completed", arguments=text)
        async with self.lock:
            await self.send(done)
            await self._output_item_done(resp_id, item)
        return item

    async def message(
        self, resp_id: str, item_id: str, reply: Reply, audio: bool
    ) -> dict[str, Any]:
        item = {
            "id": item_id,
            "type": "message",
            "object": "realtime.item",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        part_type = "audio" if audio else "text"
        empty_part = (
            {"type": part_type, "transcript": ""} if audio else {"type": "text", "text": ""}
        )
        where = {"response_id": resp_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        async with self.lock:
            await self._output_item_added(resp_id, copy.deepcopy(item))
            await self.send({"type": "response.content_part.added", **where, "part": empty_part})
        words = _words(reply.text)
        said = ""
        if audio:
            samples = tone(reply.audio_ms, freq=180.0)
            chunks = np.array_split(samples, max(1, reply.audio_ms // 100))
            for i, chunk in enumerate(chunks):
                if resp_id in self.cancelled:
                    break
                if i < len(words):
                    said += words[i]
                    await self.send(
                        self._delta("response.output_audio_transcript.delta", where, words[i])
                    )
                await self.pause()
                await self.send(self._delta("response.output_audio.delta", where, _b64(chunk)))
            if resp_id not in self.cancelled:
                for word in words[len(chunks) :]:
                    said += word
                    await self.send(
                        self._delta("response.output_audio_transcript.delta", where, word)
                    )
            part = {"type": part_type, "transcript": said}
            async with self.lock:
                await self.send({"type": self.name("response.output_audio.done"), **where})
                await self.send(
                    {
                        "type": self.name("response.output_audio_transcript.done"),
                        **where,
                        "transcript": said,
                    }
                )
        else:
            for word in words:
                if resp_id in self.cancelled:
                    break
                said += word
                await self.pause()
                await self.send(self._delta("response.output_text.delta", where, word))
            part = {"type": "text", "text": said}
            async with self.lock:
                await self.send(
                    {"type": self.name("response.output_text.done"), **where, "text": said}
                )
        content_type = (
            {"audio": "output_audio", "text": "output_text"}[part_type] if self.ga else part_type
        )
        status = "incomplete" if resp_id in self.cancelled else "completed"
        item.update(status=status, content=[{**part, "type": content_type}])
        async with self.lock:
            await self.send({"type": "response.content_part.done", **where, "part": part})
            await self._output_item_done(resp_id, item)
        return item

    def _delta(self, ga_type: str, where: dict[str, Any], delta: str) -> dict[str, Any]:
        event = {"type": self.name(ga_type), **where, "delta": delta}
        if self.ga:
            event["obfuscation"] = self.up._obfuscation()
        return event


def _words(text: str) -> list[str]:
    """Split like the API streams: each word with its leading space."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        out.append(word if i == 0 else " " + word)
    return [w for w in out if w]


def _pieces(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(0, len(text), n)] or [""]


@contextlib.asynccontextmanager
async def running(replies: list[Reply], **kwargs: Any) -> AsyncIterator[FakeRealtime]:
    """`async with running([...], seed=...) as upstream:` shorthand."""
    async with FakeRealtime(replies, **kwargs) as upstream:
        yield upstream
