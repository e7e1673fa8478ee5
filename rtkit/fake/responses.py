"""One response of the fake model, as a sequence of server events with pauses between the
streamed deltas. Sans-I/O: `ResponseRun.steps()` yields events and `Pause`s; the connection
decides when to resume it, and a cancellation takes effect at the next resume."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rtkit.audio import AudioFormat, audio_format
from rtkit.fake.ids import IdSource
from rtkit.fake.items import Items
from rtkit.fake.script import FunctionCall, Reply
from rtkit.fake.session import SessionState
from rtkit.fake.speech import at_rate, pieces, words

__all__ = ["Pause", "ResponseHost", "ResponseRun", "Step"]

_USAGE = {
    "total_tokens": 312,
    "input_tokens": 201,
    "output_tokens": 111,
    "input_token_details": {
        "text_tokens": 185,
        "audio_tokens": 16,
        "image_tokens": 0,
        "cached_tokens": 0,
        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 27, "audio_tokens": 84},
}
_RATE_LIMITS = [
    {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
    {"name": "tokens", "limit": 40000, "remaining": 38820, "reset_seconds": 1.77},
]
_ARGUMENT_PIECE = 6  # characters per function_call_arguments.delta


@dataclass(frozen=True)
class Pause:
    """Wait this long before the next events (between streamed deltas)."""

    seconds: float


Step = dict[str, Any] | Pause


class ResponseHost(Protocol):
    """What a response needs from its connection."""

    ids: IdSource
    items: Items
    session: SessionState
    conversation_id: str
    delta_seconds: float

    @property
    def ga(self) -> bool: ...

    def name(self, ga_type: str) -> str: ...


class ResponseRun:
    """A response in progress: `reply` rendered as the live API streams it.

    `options` are `response.create`'s `response`: `output_modalities` (beta `modalities`),
    the output audio format (`audio.output.format`, beta `output_audio_format`), `metadata`
    (echoed), and `conversation: "none"` for an out-of-band response, whose items stay out of
    the conversation (no `conversation.item.*` events, `conversation_id` null).
    """

    def __init__(self, host: ResponseHost, resp_id: str, reply: Reply,
                 options: dict[str, Any]) -> None:
        self.host = host
        self.id = resp_id
        self.reply = reply
        self.metadata = options.get("metadata")
        self.audio = self._wants_audio(options)
        self.out_of_band = options.get("conversation") == "none"
        self.format = self._output_format(options)
        self.cancelled: str | None = None  # the reason, once cancelled
        self.due = 0.0  # when to resume (the connection's clock)
        self.finished = False
        self.previous: str | None = None
        self.stepper = self.steps()

    def _wants_audio(self, options: dict[str, Any]) -> bool:
        key = "output_modalities" if self.host.ga else "modalities"
        asked = options.get(key)
        return "audio" in asked if isinstance(asked, list) else self.host.session.audio_out

    def _output_format(self, options: dict[str, Any]) -> AudioFormat:
        if self.host.ga:
            asked = ((options.get("audio") or {}).get("output") or {}).get("format")
        else:
            asked = options.get("output_audio_format")
        return self.host.session.output_format if asked is None else audio_format(asked)

    def cancel(self, reason: str) -> None:
        """Stop at the next resume: `response.done` says cancelled, with `reason`."""
        if not self.finished and self.cancelled is None:
            self.cancelled = reason

    # -- the events ------------------------------------------------------------------------

    def response(self, status: str, output: list[Any]) -> dict[str, Any]:
        """The `response` object of `response.created` / `response.done`."""
        host = self.host
        details = {"type": "cancelled", "reason": self.cancelled} if status == "cancelled" else None
        base: dict[str, Any] = {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": output,
            "conversation_id": None if self.out_of_band else host.conversation_id,
            "usage": copy.deepcopy(_USAGE) if status != "in_progress" else None,
            "metadata": copy.deepcopy(self.metadata),
        }
        voice = host.session.voice
        if host.ga:
            base["output_modalities"] = ["audio"] if self.audio else ["text"]
            base["max_output_tokens"] = "inf"
            base["audio"] = {"output": {"format": self.format.ga, "voice": voice}}
        else:
            base["modalities"] = ["text", "audio"] if self.audio else ["text"]
            base["voice"] = voice
            base["output_audio_format"] = self.format.name
            base["temperature"] = 0.8
            base["max_output_tokens"] = "inf"
        return base

    def steps(self) -> Iterator[Step]:
        """The response's events, with a `Pause` wherever the live API would stream."""
        yield {"type": "response.created", "response": self.response("in_progress", [])}
        items = []
        if self.reply.kind == "function_call":
            for index, call in enumerate(self.reply.calls()):
                item = yield from self._function_call(self.host.ids.make("item_"), call, index)
                items.append(item)
        else:
            items.append((yield from self._message(self.host.ids.make("item_"))))
        status = "cancelled" if self.cancelled else "completed"
        yield {"type": "response.done", "response": self.response(status, items)}
        yield {"type": "rate_limits.updated", "rate_limits": copy.deepcopy(_RATE_LIMITS)}

    def _where(self, item_id: str, index: int = 0) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": item_id, "output_index": index,
                "content_index": 0}

    def _delta(self, ga_type: str, where: dict[str, Any], delta: str) -> dict[str, Any]:
        event = {"type": self.host.name(ga_type), **where, "delta": delta}
        if self.host.ga:
            event["obfuscation"] = self.host.ids.obfuscation()
        return event

    def _item_added(self, item: dict[str, Any], index: int = 0) -> Iterator[Step]:
        yield {"type": "response.output_item.added", "response_id": self.id,
               "output_index": index, "item": copy.deepcopy(item)}
        if self.out_of_band:
            return
        self.previous = self.host.items.add(copy.deepcopy(item))
        yield {"type": self.host.name("conversation.item.added"),
               "previous_item_id": self.previous, "item": copy.deepcopy(item)}

    def _item_done(self, item: dict[str, Any], index: int = 0) -> Iterator[Step]:
        yield {"type": "response.output_item.done", "response_id": self.id,
               "output_index": index, "item": copy.deepcopy(item)}
        if self.out_of_band:
            return
        self.host.items.by_id[item["id"]] = copy.deepcopy(item)
        if self.host.ga:
            yield {"type": "conversation.item.done", "previous_item_id": self.previous,
                   "item": copy.deepcopy(item)}

    def _pause(self) -> Pause:
        return Pause(self.host.delta_seconds)

    def _function_call(self, item_id: str, call: FunctionCall, index: int) -> Iterator[Step]:
        item = {"id": item_id, "type": "function_call", "object": "realtime.item",
                "status": "in_progress", "name": call.name, "call_id": self.host.ids.call_id(),
                "arguments": ""}
        yield from self._item_added(item, index)
        text = call.arguments_json()
        where = {"response_id": self.id, "item_id": item_id, "output_index": index,
                 "call_id": item["call_id"]}
        sent = ""
        for piece in pieces(text, _ARGUMENT_PIECE):
            yield self._pause()
            if self.cancelled:
                break
            sent += piece
            yield self._delta("response.function_call_arguments.delta", where, piece)
        done = {"type": "response.function_call_arguments.done", **where, "arguments": sent}
        if self.host.ga:
            done["name"] = call.name
        yield done
        item.update(status="incomplete" if self.cancelled else "completed", arguments=sent)
        yield from self._item_done(item, index)
        return item

    def _message(self, item_id: str) -> Iterator[Step]:
        item: dict[str, Any] = {"id": item_id, "type": "message", "object": "realtime.item",
                                "status": "in_progress", "role": "assistant", "content": []}
        where = self._where(item_id)
        audio = self.audio
        part_type = "audio" if audio else "text"
        empty = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        yield from self._item_added(item)
        yield {"type": "response.content_part.added", **where, "part": empty}
        said_words = words(self.reply.text or "")
        said = ""
        if audio:
            fmt = self.format
            samples = at_rate(self.reply.speech(), fmt.rate)
            chunks = (np.array_split(samples, max(1, len(samples) * 10 // fmt.rate))
                      if len(samples) else [])
            for i, chunk in enumerate(chunks):
                if self.cancelled:
                    break
                if i < len(said_words):
                    said += said_words[i]
                    yield self._delta("response.output_audio_transcript.delta", where,
                                      said_words[i])
                yield self._pause()
                if self.cancelled:  # cancelled while waiting: this chunk is never sent
                    break
                yield self._delta("response.output_audio.delta", where, fmt.encode_base64(chunk))
            if not self.cancelled:
                for word in said_words[len(chunks):]:
                    said += word
                    yield self._delta("response.output_audio_transcript.delta", where, word)
            part = {"type": "audio", "transcript": said}
            yield {"type": self.host.name("response.output_audio.done"), **where}
            yield {"type": self.host.name("response.output_audio_transcript.done"), **where,
                   "transcript": said}
        else:
            for word in said_words:
                yield self._pause()
                if self.cancelled:
                    break
                said += word
                yield self._delta("response.output_text.delta", where, word)
            part = {"type": "text", "text": said}
            yield {"type": self.host.name("response.output_text.done"), **where, "text": said}
        content_type = {"audio": "output_audio", "text": "output_text"}[part_type] \
            if self.host.ga else part_type
        item.update(status="incomplete" if self.cancelled else "completed",
                    content=[{**part, "type": content_type}])
        yield {"type": "response.content_part.done", **where, "part": part}
        yield from self._item_done(item)
        return item
