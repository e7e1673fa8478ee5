"""One connection to the fake Realtime API, sans I/O: client messages in, server events out.

```python
conn = FakeConnection(script, handshake, seed="demo")
events = conn.start(now)                   # session.created (or the refusal's error event)
events += conn.receive(text, now)          # a client message (str, or bytes for a binary frame)
while conn.next_deadline() is not None:    # streamed deltas: resume when the deadline passes
    events += conn.advance(conn.next_deadline())
```

`now` is any monotonic clock in seconds; the shell passes its event loop's time, tests pass
numbers. Ids come from a generator seeded per connection, so the same traffic gives the same
events.
"""

from __future__ import annotations

import binascii
import copy
import json
from typing import Any

import numpy as np

from rtkit.audio import decode_base64
from rtkit.fake.handshake import Handshake
from rtkit.fake.ids import IdSource
from rtkit.fake.items import Items
from rtkit.fake.responses import Pause, ResponseRun
from rtkit.fake.script import FakeScript, Reply, Turn
from rtkit.fake.session import Problem, SessionState, check_transcription_update, check_update
from rtkit.fake.speech import words
from rtkit.fake.vad import EnergyVad
from rtkit.protocol.events import BETA_CLIENT_EVENTS, BETA_TO_GA_SERVER_EVENTS, GA_CLIENT_EVENTS

__all__ = ["FakeConnection"]

_TOO_DEEP = Problem("invalid_json", "Invalid JSON in the client event: nested too deeply.")
_GA_TO_BETA = {ga: beta for beta, ga in BETA_TO_GA_SERVER_EVENTS.items()}
_MIN_COMMIT_MS = 100  # the live API refuses to commit less than 100 ms
_TRANSCRIPTION_USAGE = {
    "type": "tokens",
    "total_tokens": 26,
    "input_tokens": 17,
    "input_token_details": {"text_tokens": 0, "audio_tokens": 17},
    "output_tokens": 9,
}


class FakeConnection:
    """The state of one connection: session, conversation, input audio, responses."""

    def __init__(self, script: FakeScript, handshake: Handshake, *, seed: str) -> None:
        self.script = script
        self.handshake = handshake
        self.dialect = handshake.dialect
        self.ids = IdSource(seed)
        kind = "transcription" if handshake.intent == "transcription" else "realtime"
        self.session = SessionState(self.dialect, self.ids, handshake.model, kind)
        self.conversation_id = self.ids.make("conv_")
        self.items = Items()
        self.delta_seconds = script.delta_ms / 1000
        self.close_request: tuple[int, str] | None = None  # set when the server must close
        # input audio
        self.buffer: list[np.ndarray] = []
        self.position = 0  # samples appended so far (the clock of audio_start_ms / _end_ms)
        self.vad = EnergyVad()
        self.speech_item: str | None = None
        self.heard = list(script.transcripts)
        # what the next response answers
        self.turn_text: list[str] = []
        self.turn_outputs: list[str] = []
        self.responses: list[ResponseRun] = []  # in progress, oldest first
        self.current: ResponseRun | None = None
        self.started = 0
        self._starting: list[ResponseRun] = []
        # counters, for logs
        self.client_events = 0
        self.server_events = 0
        self.errors = 0

    @property
    def ga(self) -> bool:
        """Whether this connection speaks GA."""
        return self.dialect == "ga"

    def name(self, ga_type: str) -> str:
        """The dialect's spelling of a server event type."""
        return ga_type if self.ga else _GA_TO_BETA.get(ga_type, ga_type)

    # -- the interface -----------------------------------------------------------------------

    def start(self, now: float) -> list[dict[str, Any]]:
        """The first events: `session.created`, or a refusal's `error` (then close)."""
        refusal = self.handshake.refusal
        if refusal is not None:
            self.close_request = (refusal.code, refusal.reason)
            return [self._error(refusal.problem, None)]
        return [self._stamp({"type": "session.created", "session": self.session.snapshot()})]

    def receive(self, message: str | bytes, now: float) -> list[dict[str, Any]]:
        """Handle one client message; return the server events it causes at once (a new
        response's first events included)."""
        self.client_events += 1
        if isinstance(message, (bytes, bytearray, memoryview)):
            return [self._error(Problem(
                "invalid_event",
                "Expected a text WebSocket message; binary frames are not supported."), None)]
        try:
            event = json.loads(message)
        except ValueError as exc:
            return [self._error(Problem("invalid_json",
                                        f"Invalid JSON in the client event: {exc}."), None)]
        except RecursionError:
            return [self._error(_TOO_DEEP, None)]
        if not isinstance(event, dict):
            return [self._error(Problem("invalid_json",
                                        "The client event must be a JSON object."), None)]
        try:
            out = self._dispatch(event)
        except RecursionError:  # nested deeper than copying or answering it can go
            return [self._error(_TOO_DEEP, event)]
        starting, self._starting = self._starting, []
        for run in starting:  # after the event's own answer, as a live response task would
            out += self._step(run, now)
        return out

    def next_deadline(self) -> float | None:
        """When `advance` has events to give next (None: nothing until a client message)."""
        return min((r.due for r in self.responses), default=None)

    def advance(self, now: float) -> list[dict[str, Any]]:
        """Resume every response whose deadline has passed, by one step each."""
        out: list[dict[str, Any]] = []
        for run in list(self.responses):
            if run.due <= now:
                out += self._step(run, now)
        return out

    # -- plumbing ----------------------------------------------------------------------------

    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        self.server_events += 1
        rest = {k: v for k, v in event.items() if k != "type"}
        return {"type": event["type"], "event_id": self.ids.make("event_"), **rest}

    def _error(self, problem: Problem, client_event: dict[str, Any] | None,
               kind: str = "invalid_request_error") -> dict[str, Any]:
        self.errors += 1
        error: dict[str, Any] = {"type": kind, "code": problem.code, "message": problem.message,
                                 "param": problem.param}
        event_id = (client_event or {}).get("event_id")
        if isinstance(event_id, str):
            error["event_id"] = event_id
        return self._stamp({"type": "error", "error": error})

    def _step(self, run: ResponseRun, now: float) -> list[dict[str, Any]]:
        """Run `run` up to its next pause."""
        out: list[dict[str, Any]] = []
        for step in run.stepper:
            if isinstance(step, Pause):
                run.due = now + step.seconds
                return out
            out.append(self._stamp(step))
        run.finished = True
        self.responses.remove(run)
        return out

    def _dispatch(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if not isinstance(kind, str):
            return [self._error(Problem("missing_required_parameter",
                                        "Missing required parameter: 'type'.", "type"), event)]
        known = GA_CLIENT_EVENTS if self.ga else BETA_CLIENT_EVENTS
        if kind not in known:
            supported = ", ".join(f"'{k}'" for k in sorted(known))
            return [self._error(Problem("invalid_value", f"Invalid value: '{kind}'. Supported "
                                        f"values are: {supported}.", "type"), event)]
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
        if handler is None:
            return [self._error(Problem(
                "unsupported_by_fake", f"rtkit's fake Realtime API does not emulate '{kind}' "
                "(see docs/fake.md).", "type"), event)]
        result: list[dict[str, Any]] = handler(event)
        return result

    # -- client events -----------------------------------------------------------------------

    def _on_session_update(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        session = event.get("session")
        problem = check_update(self.dialect, session, self.session.kind)
        if problem is not None:
            return [self._error(problem, event)]
        assert isinstance(session, dict)  # check_update refuses anything else
        self.session.update(session)
        return [self._stamp({"type": "session.updated", "session": self.session.snapshot()})]

    def _on_transcription_session_update(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        session = event.get("session")
        problem = check_transcription_update(session, self.session.kind)
        if problem is not None:
            return [self._error(problem, event)]
        assert isinstance(session, dict)  # check_transcription_update refuses anything else
        self.session.update(session)
        return [self._stamp({"type": "transcription_session.updated",
                             "session": self.session.snapshot()})]

    def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            raw = decode_base64(event.get("audio") or "")
        except (binascii.Error, TypeError, ValueError):
            return [self._error(Problem("invalid_value", "Invalid 'audio': expected base64 "
                                        "encoded audio bytes.", "audio"), event)]
        fmt = self.session.input_format  # PCM16 at 24 kHz, or G.711 at 8 kHz
        samples = fmt.decode(raw)
        self.buffer.append(samples)
        out: list[dict[str, Any]] = []
        vad = self.session.turn_detection
        if vad and vad.get("type") in ("server_vad", "semantic_vad"):
            for change, at_ms in self.vad.feed(samples, self.position, vad, fmt.rate):
                out += self._speech_started(at_ms, vad) if change == "started" else \
                    self._speech_stopped(at_ms, vad)
        self.position += len(samples)
        return out

    def _speech_started(self, at_ms: int, vad: dict[str, Any]) -> list[dict[str, Any]]:
        self.speech_item = self.ids.make("item_")
        padding = int(vad.get("prefix_padding_ms") or 300)
        out = [self._stamp({"type": "input_audio_buffer.speech_started",
                            "audio_start_ms": max(0, at_ms - padding),
                            "item_id": self.speech_item})]
        active = self._active()
        if active is not None and vad.get("interrupt_response", True):
            active.cancel("turn_detected")
        return out

    def _speech_stopped(self, at_ms: int, vad: dict[str, Any]) -> list[dict[str, Any]]:
        item_id = self.speech_item or self.ids.make("item_")
        self.speech_item = None
        out = [self._stamp({"type": "input_audio_buffer.speech_stopped",
                            "audio_end_ms": at_ms, "item_id": item_id})]
        out += self._commit(item_id)
        if vad.get("create_response", True) and self.session.kind == "realtime":
            out += self._start_response({}, None)
        return out

    def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        total = sum(len(b) for b in self.buffer)
        rate = self.session.input_format.rate
        if total * 1000 < _MIN_COMMIT_MS * rate:
            ms = total * 1000 / rate
            return [self._error(Problem(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio."), event)]
        return self._commit(self.ids.make("item_"))

    def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        self.buffer.clear()
        return [self._stamp({"type": "input_audio_buffer.cleared"})]

    def _commit(self, item_id: str) -> list[dict[str, Any]]:
        """The buffered audio becomes a user item (and is transcribed when asked)."""
        self.buffer.clear()
        heard = self.heard.pop(0) if self.heard else ""
        if heard:
            self.turn_text.append(heard)
        out = [self._stamp({"type": "input_audio_buffer.committed",
                            "previous_item_id": self.items.last, "item_id": item_id})]
        item = {"id": item_id, "type": "message", "object": "realtime.item",
                "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}
        out += self._item_added(item, None)
        if self.session.transcription:
            out += self._transcribe(item_id, heard)
        return out

    def _transcribe(self, item_id: str, transcript: str) -> list[dict[str, Any]]:
        out = []
        for word in words(transcript):
            delta: dict[str, Any] = {"type": "conversation.item.input_audio_transcription.delta",
                                     "item_id": item_id, "content_index": 0, "delta": word}
            if self.ga:
                delta["obfuscation"] = self.ids.obfuscation()
            out.append(self._stamp(delta))
        done: dict[str, Any] = {"type": "conversation.item.input_audio_transcription.completed",
                                "item_id": item_id, "content_index": 0,
                                "transcript": transcript}
        done["usage"] = dict(_TRANSCRIPTION_USAGE)  # both dialects' models require it
        self.items.by_id[item_id]["content"][0]["transcript"] = transcript
        out.append(self._stamp(done))
        return out

    def _item_added(self, item: dict[str, Any], after: str | None) -> list[dict[str, Any]]:
        previous = self.items.add(item, after)
        out = [self._stamp({"type": self.name("conversation.item.added"),
                            "previous_item_id": previous, "item": copy.deepcopy(item)})]
        if self.ga:
            out.append(self._stamp({"type": "conversation.item.done",
                                    "previous_item_id": previous, "item": copy.deepcopy(item)}))
        return out

    def _on_conversation_item_create(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        given = event.get("item")
        if not isinstance(given, dict) or not isinstance(given.get("type"), str):
            return [self._error(Problem("missing_required_parameter",
                                        "Missing required parameter: 'item.type'.",
                                        "item.type"), event)]
        item = copy.deepcopy(given)
        new_id = self.ids.make("item_")
        item.setdefault("id", new_id)
        item["object"] = "realtime.item"
        if item.get("role") == "user":
            text = " ".join(str(part.get("text") or "") for part in item.get("content") or []
                            if isinstance(part, dict) and part.get("text"))
            if text:
                self.turn_text.append(text)
        if item["type"] == "function_call_output":
            item.pop("role", None)
            self.turn_outputs.append(str(item.get("output") or ""))
        else:
            item.setdefault("status", "completed")
        after = event.get("previous_item_id")
        return self._item_added(item, after if isinstance(after, str) else None)

    def _on_conversation_item_truncate(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item_id = event.get("item_id")
        if item_id not in self.items.by_id:
            return [self._error(Problem(
                "item_truncate_invalid_item_id",
                f"Error truncating item: the item with id '{item_id}' does not exist.",
                "item_id"), event)]
        return [self._stamp({"type": "conversation.item.truncated", "item_id": item_id,
                             "content_index": event.get("content_index", 0),
                             "audio_end_ms": event.get("audio_end_ms")})]

    def _on_conversation_item_delete(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item_id = event.get("item_id")
        if not self.items.remove(str(item_id)):
            return [self._error(Problem(
                "item_delete_invalid_item_id",
                f"Error deleting item: the item with id '{item_id}' does not exist.",
                "item_id"), event)]
        return [self._stamp({"type": "conversation.item.deleted", "item_id": item_id})]

    def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item = self.items.by_id.get(str(event.get("item_id")))
        if item is None:
            return [self._error(Problem(
                "item_retrieve_invalid_item_id",
                f"Error retrieving item: the item with id '{event.get('item_id')}' does not "
                "exist.", "item_id"), event)]
        return [self._stamp({"type": "conversation.item.retrieved", "item": copy.deepcopy(item)})]

    def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return []  # WebRTC / SIP only: over a WebSocket there is no output buffer to clear

    def _active(self) -> ResponseRun | None:
        """The response in progress, if any."""
        return self.current if self.current is not None and not self.current.finished else None

    def _on_response_cancel(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        wanted = event.get("response_id")
        active = (self._active() if wanted is None else
                  next((r for r in self.responses if r.id == wanted), None))
        if active is not None:
            active.cancel("client_cancelled")
            return []
        return [self._error(Problem("response_cancel_not_active",
                                    "Cancellation failed: no active response found"), event)]

    def _on_response_create(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if self.session.kind == "transcription":
            return [self._error(Problem(
                "invalid_value", "A transcription session has no responses: 'response.create' "
                "is not supported.", "type"), event)]
        options = event.get("response")
        options = options if isinstance(options, dict) else {}
        active = self._active()
        if active is not None and options.get("conversation") != "none":
            return [self._error(Problem(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {active.id}. "
                "Wait until the response is finished before creating a new one."), event)]
        return self._start_response(options, event)

    def _start_response(self, options: dict[str, Any], trigger: dict[str, Any] | None
                        ) -> list[dict[str, Any]]:
        """Answer the input since the last response with the script's reply (or, when the
        response names its `input` items, those; an out-of-band response, `conversation:
        "none"`, leaves the conversation's input for the next response)."""
        self.started += 1
        given = options.get("input")
        if isinstance(given, list):
            texts, outputs = _input_of(given)
            turn = Turn(" ".join(texts), tuple(outputs), self.started)
        else:
            turn = Turn(" ".join(self.turn_text), tuple(self.turn_outputs), self.started)
        if options.get("conversation") != "none":
            self.turn_text, self.turn_outputs = [], []
        reply: Reply = self.script.choose(turn)
        if reply.error is not None:
            problem = Problem(reply.error.code, reply.error.message, reply.error.param)
            return [self._error(problem, trigger, kind=reply.error.type)]
        if reply.events is not None:
            return [copy.deepcopy(e) if "event_id" in e else self._stamp(copy.deepcopy(e))
                    for e in reply.events]
        run = ResponseRun(self, self.ids.make("resp_"), reply, options)
        self.responses.append(run)
        if not run.out_of_band:
            self.current = run
        self._starting.append(run)
        return []


def _input_of(items: list[Any]) -> tuple[list[str], list[str]]:
    """The user text and tool outputs of `response.input` items."""
    texts: list[str] = []
    outputs: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call_output":
            outputs.append(str(item.get("output") or ""))
        elif item.get("role") == "user":
            texts += [str(p.get("text")) for p in item.get("content") or []
                      if isinstance(p, dict) and p.get("text")]
    return texts, outputs
