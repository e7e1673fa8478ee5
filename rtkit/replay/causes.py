"""What each recorded event of a Realtime session waits for: the protocol's causal
dependencies, GA and beta (the table in docs/replay.md).

`CausalTable` is fed an episode's recorded events in order, as the causal engine reads them,
and says for each **server** event what it answers (`ServerGate`): one recorded client event
(`session.updated` answers a `session.update`, `response.created` a `response.create`, ...),
the client's input audio reaching a point (the VAD events), nothing of its own (the deltas of
a response, transcription, `rate_limits.updated`: they only follow the server events before
them), or, when the protocol does not say, every client event recorded before it (`strict`).
For each **client** event it says what must have been played first (`ClientNeeds`): the
server events that announced the ids it uses, the conversation changes a `response.create`
answers, or everything before it for an event it does not know.

Pure bookkeeping over recorded data: no matching, no sockets, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rtkit.replay.matching import is_id_key

__all__ = [
    "ANSWERS",
    "AUDIO_AT",
    "CONVERSATION_CHANGES",
    "FREE_CLIENT_EVENTS",
    "ON_THEIR_OWN",
    "CausalTable",
    "ClientNeeds",
    "Recorded",
    "ServerGate",
    "bytes_per_ms",
    "turn_detection",
]

ANSWERS: dict[str, str] = {
    "session.updated": "session.update",
    "transcription_session.updated": "transcription_session.update",
    "conversation.item.added": "conversation.item.create",
    "conversation.item.created": "conversation.item.create",
    "conversation.item.truncated": "conversation.item.truncate",
    "conversation.item.deleted": "conversation.item.delete",
    "conversation.item.retrieved": "conversation.item.retrieve",
    "input_audio_buffer.committed": "input_audio_buffer.commit",
    "input_audio_buffer.cleared": "input_audio_buffer.clear",
    "output_audio_buffer.cleared": "output_audio_buffer.clear",
    "response.created": "response.create",
}
"""Server events that answer one client event: the earliest recorded one of this type that
is not answered yet (for items, the one that created the same item id)."""

AUDIO_AT: dict[str, tuple[str, str | None]] = {
    "input_audio_buffer.speech_started": ("audio_start_ms", "prefix_padding_ms"),
    "input_audio_buffer.speech_stopped": ("audio_end_ms", "silence_duration_ms"),
    "input_audio_buffer.timeout_triggered": ("audio_end_ms", None),
}
"""Server VAD events: released when the client's input audio passes the point where the
server could tell: the recorded field plus the session's turn detection setting (the audio
the server adds before speech, or waits for after it), and never later than the recording's
audio was when the event was recorded."""
VAD_DEFAULTS = {"prefix_padding_ms": 300, "silence_duration_ms": 500}  # the API's defaults

ON_THEIR_OWN: frozenset[str] = frozenset({
    "session.created",
    "conversation.created",
    "rate_limits.updated",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "input_audio_buffer.dtmf_event_received",
    "mcp_list_tools.in_progress",
    "mcp_list_tools.completed",
    "mcp_list_tools.failed",
})
"""Server events the server sends on its own: they wait for nothing but the server events
recorded before them."""

CONVERSATION_CHANGES: frozenset[str] = frozenset({
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.truncate",
    "input_audio_buffer.commit",
})
"""Client events a later `response.create` answers (it responds to the conversation they
made)."""

FREE_CLIENT_EVENTS: frozenset[str] = frozenset({
    "session.update",
    "transcription_session.update",
})
"""Client events that depend on nothing (clients send them from tasks of their own)."""

_ACTIVE_RESPONSE = frozenset({"response.cancel", "output_audio_buffer.clear"})
_KNOWN_CLIENT = (FREE_CLIENT_EVENTS | CONVERSATION_CHANGES | _ACTIVE_RESPONSE
                 | {"response.create", "conversation.item.retrieve", "input_audio_buffer.append",
                    "input_audio_buffer.clear"})
_BYTES_PER_MS = {"pcm16": 48, "audio/pcm": 48, "g711_ulaw": 8, "g711_alaw": 8, "audio/pcmu": 8,
                 "audio/pcma": 8}


class Recorded(Protocol):
    """A recorded client event as the engine keeps it."""

    @property
    def kind(self) -> str:
        """Its `type` ("" for a frame that is not a JSON event)."""


@dataclass(frozen=True, slots=True)
class ServerGate:
    """What a recorded server event waits for, besides the server events before it.

    `answers`: a recorded client event; `audio_ms`: the client's input audio reaching this
    many ms of the session's audio; `strict`: every client event recorded before it.
    Nothing set: it waits for nothing of its own. `thread`: what it belongs to ("response":
    a response's events, "input": the input audio's VAD events, commit and transcription),
    whose start it is paced from when it waits for nothing of its own."""

    answers: Any = None
    audio_ms: float | None = None
    strict: bool = False
    thread: str = ""
    starts: bool = False  # it starts its thread (a response server VAD started)

    @property
    def own(self) -> bool:
        """Whether it waits for anything of its own."""
        return self.answers is not None or self.audio_ms is not None or self.strict


NOTHING = ServerGate()
STRICT = ServerGate(strict=True)
IN_RESPONSE = ServerGate(thread="response")
IN_INPUT = ServerGate(thread="input")


@dataclass(slots=True)
class ClientNeeds:
    """What must have been played before a recorded client event can match: `servers`
    recorded server events released (those that announced the ids it uses), `clients`
    recorded client events matched, or (`strict`) everything recorded before it."""

    servers: int = 0
    clients: list[Any] = field(default_factory=list)
    strict: bool = False


def bytes_per_ms(session: Any) -> int | None:
    """Input audio bytes per ms of a session object (GA or beta), if it says."""
    if not isinstance(session, dict):
        return None
    fmt = session.get("input_audio_format")
    audio = session.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("input"), dict):
        fmt = audio["input"].get("format", fmt)
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        rate = fmt.get("rate")
        if kind == "audio/pcm" and isinstance(rate, int) and rate > 0:
            return rate * 2 // 1000
        fmt = kind
    return _BYTES_PER_MS.get(fmt) if isinstance(fmt, str) else None


def turn_detection(session: Any) -> dict[str, Any]:
    """A session object's turn detection settings (GA or beta; {} when it has none)."""
    if not isinstance(session, dict):
        return {}
    found = session.get("turn_detection")
    audio = session.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("input"), dict):
        found = audio["input"].get("turn_detection", found)
    return found if isinstance(found, dict) else {}


def _ids(value: Any, out: list[str], key: str | None = None, depth: int = 0) -> None:
    """Strings under id keys in `value` (not the top-level event_id)."""
    if depth > 64:
        return
    if isinstance(value, str):
        if is_id_key(key) and value:
            out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not (depth == 0 and k == "event_id"):
                _ids(v, out, k, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _ids(v, out, key, depth + 1)


class CausalTable:
    """Reads an episode's recorded events in order (`client`, `server`) and says what each
    waits for. `announced` maps each id a server event announced to that server event's
    number (0-based, counting every recorded server event); `bytes_per_ms` is the session's
    input audio format (PCM16 at 24 kHz, 48, until a session event says otherwise)."""

    def __init__(self) -> None:
        self.announced: dict[str, int] = {}
        self.bytes_per_ms = 48
        self.vad: dict[str, float] = dict(VAD_DEFAULTS)  # the session's turn detection
        self._unanswered: dict[str, deque[Any]] = {}
        self._by_event_id: dict[str, Any] = {}  # recorded client event_id -> its event
        self._client_ids: dict[str, Any] = {}  # ids client events made -> the event
        self._items_by_id: dict[str, Any] = {}  # item ids of item.create / truncate / ...
        self._server_items: set[str] = set()  # items a response or a commit made
        self._committed: set[str] = set()  # items a commit made
        self._changes: list[Any] = []  # conversation changes since the last response.create
        self._last_create: Any = None
        self._last_response_created = -1  # number of the last response.created
        self._open_responses = 0
        self._responses_seen = False
        self._servers = 0

    # -- client events -----------------------------------------------------------------------

    def client(self, entry: Recorded, event: dict[str, Any] | None) -> ClientNeeds:
        """A recorded client event (`event` None: a frame that is not a JSON event)."""
        kind = entry.kind
        if event is None or kind not in _KNOWN_CLIENT:
            return ClientNeeds(strict=True)
        needs = ClientNeeds()
        ids: list[str] = []
        try:
            _ids(event, ids)
        except RecursionError:
            return ClientNeeds(strict=True)
        for value in ids:
            number = self.announced.get(value)
            if number is not None:
                needs.servers = max(needs.servers, number + 1)
            elif (maker := self._client_ids.get(value)) is not None and maker is not entry:
                needs.clients.append(maker)
        for value in ids:
            self._client_ids.setdefault(value, entry)
        event_id = event.get("event_id")
        if isinstance(event_id, str) and event_id:
            self._by_event_id[event_id] = entry
        if kind == "response.create":
            needs.clients += self._changes
            if self._last_create is not None:
                needs.clients.append(self._last_create)
            self._changes = []
            self._last_create = entry
        elif kind in CONVERSATION_CHANGES:
            self._changes.append(entry)
        if kind in _ACTIVE_RESPONSE:
            needs.servers = max(needs.servers, self._last_response_created + 1)
        if kind in ANSWERS.values():
            self._unanswered.setdefault(kind, deque()).append(entry)
            item_id = _item_id(kind, event)
            if item_id is not None:
                self._items_by_id.setdefault(f"{kind} {item_id}", entry)
        return needs

    # -- server events -----------------------------------------------------------------------

    def server(self, kind: str, event: dict[str, Any] | None) -> ServerGate:
        """A recorded server event of type `kind` (`event` None: not parsed, which the
        engine does only for `*.delta` events, or not a JSON object)."""
        number = self._servers
        self._servers += 1
        if event is not None:
            self._announce(event, number)
        if kind.endswith(".delta"):
            return self._follower(kind)
        if event is None:
            return STRICT
        if kind in ON_THEIR_OWN:
            if kind == "session.created":
                self._session(event)
            return IN_RESPONSE if kind == "rate_limits.updated" else NOTHING
        if kind == "error":
            return self._error(event)
        if kind in AUDIO_AT:
            name, setting = AUDIO_AT[kind]
            ms = event.get(name)
            if isinstance(ms, int | float) and not isinstance(ms, bool) and ms >= 0:
                extra = self.vad.get(setting, 0) if setting is not None else 0
                return ServerGate(audio_ms=float(ms) + extra, thread="input")
            return STRICT
        if kind == "response.created":
            self._open_responses += 1
            self._responses_seen = True
            self._last_response_created = number
            answered = self._answer("response.create")
            return ServerGate(answers=answered, thread="response") if answered is not None \
                else ServerGate(thread="response", starts=True)
        if kind == "response.done":
            self._open_responses = max(0, self._open_responses - 1)
            response = event.get("response")
            details = response.get("status_details") if isinstance(response, dict) else None
            if isinstance(details, dict) and details.get("reason") == "client_cancelled":
                answered = self._answer("response.cancel")
                if answered is not None:
                    return ServerGate(answers=answered, thread="response")
            return self._follower(kind)
        if kind == "response.output_item.added":
            item = event.get("item")
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                self._server_items.add(item["id"])
            return self._follower(kind)
        if kind in ("conversation.item.added", "conversation.item.created",
                    "conversation.item.done"):
            return self._item(kind, event)
        if kind in ANSWERS:
            if kind in ("session.updated", "transcription_session.updated"):
                self._session(event)  # the formats and VAD settings the audio is timed by
            if kind == "input_audio_buffer.committed" and isinstance(event.get("item_id"), str):
                self._server_items.add(event["item_id"])
                self._committed.add(event["item_id"])
            answered = self._answer(ANSWERS[kind], _item_id(kind, event))
            thread = "input" if kind.startswith("input_audio_buffer.") else ""
            if answered is not None:
                return ServerGate(answers=answered, thread=thread)
            if kind == "input_audio_buffer.committed":
                return IN_INPUT  # server VAD committed it: it follows speech_stopped
            return STRICT
        if kind.startswith(("response.", "conversation.item.input_audio_transcription.")):
            return self._follower(kind)
        return STRICT  # a type the protocol does not have: wait for everything before it

    def _follower(self, kind: str) -> ServerGate:
        """An event that belongs to something the server started: a response's parts, an
        item's transcription. Without that start recorded, it waits for everything."""
        if kind.startswith("response."):
            return IN_RESPONSE if self._responses_seen else STRICT
        if kind.startswith("conversation.item.input_audio_transcription."):
            return IN_INPUT if (self._server_items or self._items_by_id) else STRICT
        return STRICT

    def _item(self, kind: str, event: dict[str, Any]) -> ServerGate:
        item = event.get("item")
        item_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(item_id, str) and item_id in self._server_items:
            # a response's output, or a committed audio item
            return IN_INPUT if item_id in self._committed else IN_RESPONSE
        maker = self._items_by_id.pop(f"conversation.item.create {item_id}", None) \
            if isinstance(item_id, str) else None
        if maker is not None:
            queue = self._unanswered.get("conversation.item.create")
            if queue is not None and maker in queue:
                queue.remove(maker)
            if isinstance(item_id, str):
                self._server_items.add(item_id)
            return ServerGate(answers=maker)
        if kind == "conversation.item.done":
            return NOTHING  # follows the item's .added
        answered = self._answer("conversation.item.create")
        if isinstance(item_id, str):
            self._server_items.add(item_id)
        return ServerGate(answers=answered) if answered is not None else NOTHING

    def _answer(self, client_kind: str, item_id: str | None = None) -> Any:
        """The earliest unanswered recorded client event of this type (the one about
        `item_id` when there is one), now answered."""
        queue = self._unanswered.get(client_kind)
        if not queue:
            return None
        if item_id is not None:
            maker = self._items_by_id.pop(f"{client_kind} {item_id}", None)
            if maker is not None and maker in queue:
                queue.remove(maker)
                return maker
        return queue.popleft()

    def _error(self, event: dict[str, Any]) -> ServerGate:
        error = event.get("error")
        event_id = error.get("event_id") if isinstance(error, dict) else None
        cause = self._by_event_id.get(event_id) if isinstance(event_id, str) else None
        if cause is None:
            return STRICT
        for queue in self._unanswered.values():  # it answers that event: nothing else does
            if cause in queue:
                queue.remove(cause)
                break
        return ServerGate(answers=cause)

    def _session(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        rate = bytes_per_ms(session)
        if rate is not None:
            self.bytes_per_ms = rate
        vad = turn_detection(session)
        for name in VAD_DEFAULTS:
            value = vad.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                self.vad[name] = float(value)

    def _announce(self, event: dict[str, Any], number: int) -> None:
        ids: list[str] = []
        try:
            _ids(event, ids)
        except RecursionError:
            return
        announced = self.announced
        for value in ids:
            announced.setdefault(value, number)


_ITEM_IN_ITEM = frozenset({"conversation.item.create", "conversation.item.retrieved"})


def _item_id(kind: str, event: dict[str, Any]) -> str | None:
    """The item an event is about: `item.id` for an item it carries (a client's
    `conversation.item.create`, the server's `conversation.item.retrieved`), else `item_id`."""
    if kind in _ITEM_IN_ITEM:
        item = event.get("item")
        value = item.get("id") if isinstance(item, dict) else None
    else:
        value = event.get("item_id")
    return value if isinstance(value, str) and value else None


def documented_types() -> Iterable[str]:
    """Every server event type the table names (for the docs' table and its test)."""
    return (*ANSWERS, *AUDIO_AT, *ON_THEIR_OWN)
