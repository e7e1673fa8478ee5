"""Fluent assertions on a Realtime conversation: events, items, tool calls, transcripts, audio.

```python
from rtkit.assertions import rt_conversation

conv = rt_conversation(rt_client)          # a RealtimeClient, server, cassette or list of events
conv.expect.no_errors().function_call("get_weather", arguments={"location": "Paris"})
conv.expect.assistant_said("sunny").audio_duration(1200, tolerance_ms=300)
conv.expect.events.ignoring("*.delta").next("response.created").contains("response.done")
conv.expect.items.next(role="user").next(type="function_call").no_more(type="message")
```

Every failure raises `ConversationAssertionError` (an `AssertionError`) whose message says what
was expected, what came closest, and prints the conversation so far in a compact form.

Matching rules (for `fields` and `arguments`): a dict matches when each expected key matches
(a subset match, recursively); a `re.Pattern` is searched in the string; a callable is a
predicate; anything else must be equal. A string expectation on text is a substring match.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Conversation",
    "ConversationAssertionError",
    "EventCursor",
    "EventLog",
    "Expect",
    "ItemCursor",
    "RecordedEvent",
    "attach",
    "detach",
    "rt_conversation",
    "watch",
]

DEFAULT_SAMPLE_RATE = 24_000
_TEXT_WIDTH = 72
_MAX_EVENT_GROUPS = 40


class ConversationAssertionError(AssertionError):
    """An expectation about the conversation did not hold; the message shows the conversation.

    `event` is the event the failed check stopped at (None for checks on items, or past the
    last event), `source` its direction ("server" or "client").
    """

    event: RecordedEvent | None = None
    source: str | None = None


@dataclass(frozen=True)
class RecordedEvent:
    """One event seen on the connection: `source` is "server" or "client"; `conn` the
    connection (episode) it belongs to and `t` when it was seen (ms from the connection's
    first frame, or its recorded time), when known."""

    source: str
    event: Mapping[str, Any]
    conn: int | None = None
    t: float | None = None

    @property
    def type(self) -> str:
        """The event's `type` ("" when missing)."""
        return str(self.event.get("type", ""))


# --------------------------------------------------------------------------- event logs


class EventLog:
    """Frames a server saw live (a replay server or a recording proxy), in arrival order.

    `add(conn, direction, frame)` is the servers' `on_frame` hook: it only stores the frame
    and when it came, on the server's thread; frames are parsed when `events()` is read.
    Frames that are not JSON objects (binary, invalid JSON) are left out of `events()`.
    """

    def __init__(self) -> None:
        self._raw: list[tuple[int, str, str | bytes, float]] = []
        self._events: list[RecordedEvent] = []
        self._parsed = 0
        self._start: dict[int, float] = {}  # conn -> when its first frame came
        self._lock = threading.Lock()

    def add(self, conn: int, direction: str, frame: str | bytes) -> None:
        """Record one frame (`direction`: "client" or "server")."""
        self._raw.append((conn, direction, frame, time.monotonic()))

    def __len__(self) -> int:
        return len(self._raw)

    def events(self) -> list[RecordedEvent]:
        """The JSON events so far, both directions (a new list each call)."""
        with self._lock:
            end = len(self._raw)
            for conn, direction, frame, when in self._raw[self._parsed:end]:
                start = self._start.setdefault(conn, when)
                if isinstance(frame, bytes):
                    continue
                try:
                    event = json.loads(frame)
                except (ValueError, RecursionError):
                    continue
                if isinstance(event, dict):
                    self._events.append(RecordedEvent(direction, event, conn,
                                                      round((when - start) * 1000, 3)))
            self._parsed = end
            return list(self._events)


_LOGS: weakref.WeakKeyDictionary[Any, list[RecordedEvent] | EventLog] = (
    weakref.WeakKeyDictionary()
)
_PATH_LOGS: dict[str, EventLog] = {}


def _path_key(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(path))


def attach(source: Any, log: EventLog) -> None:
    """Make `rt_conversation(source)` read `log` (what a server sees live).

    `source` is any object (a server, the `rt_cassette` object) or a cassette path; a path
    reads the log until `detach(path)`, then the file again. The plugin attaches its servers,
    `rt_cassette` and the cassette path for the duration of each test.
    """
    if isinstance(source, (str, os.PathLike)):
        _PATH_LOGS[_path_key(source)] = log
    else:
        _LOGS[source] = log


def detach(source: Any) -> None:
    """Undo `attach` (a no-op when `source` is not attached)."""
    if isinstance(source, (str, os.PathLike)):
        _PATH_LOGS.pop(_path_key(source), None)
    else:
        _LOGS.pop(source, None)


def watch(client: Any) -> list[RecordedEvent]:
    """Start logging every event `client` sends and receives; returns the live log.

    Idempotent. The `rt_client` fixture calls it before connecting, so `rt_conversation`
    sees the whole session; call it yourself for clients you build.
    """
    log = _LOGS.get(client)
    if isinstance(log, list):
        return log
    log = []

    def on_event(payload: Any) -> None:
        log.append(_to_recorded(payload, default_source="server"))

    client.on("realtime.event", on_event)
    _LOGS[client] = log
    return log


def _to_recorded(obj: Any, default_source: str = "server") -> RecordedEvent:
    """Normalise the event shapes rtkit meets into a `RecordedEvent`."""
    if isinstance(obj, RecordedEvent):
        return obj
    if isinstance(obj, Mapping):
        if isinstance(obj.get("event"), Mapping):  # {"source"|"dir": ..., "event": {...}}
            src = obj.get("source") or obj.get("dir") or default_source
            return RecordedEvent(str(src), obj["event"])
        return RecordedEvent(default_source, obj)
    event = getattr(obj, "event", None)  # a cassette Event line: .dir, .event
    if isinstance(event, Mapping):
        src = getattr(obj, "dir", None) or getattr(obj, "source", None) or default_source
        conn, t = getattr(obj, "conn", None), getattr(obj, "t", None)
        return RecordedEvent(str(src), event, conn if isinstance(conn, int) else None,
                             float(t) if isinstance(t, (int, float)) else None)
    raise TypeError(f"cannot read an event from {type(obj).__name__}")


# --------------------------------------------------------------------------- matching


def _match(actual: Any, expected: Any, path: str = "") -> str | None:
    """None when `actual` matches `expected`, else a one-line reason naming the path."""
    where = path or "value"
    if isinstance(expected, re.Pattern):
        if isinstance(actual, str) and expected.search(actual):
            return None
        return f"{where}: {_short(actual)} does not match /{expected.pattern}/"
    if callable(expected) and not isinstance(expected, type):
        try:
            ok = bool(expected(actual))
        except Exception as exc:
            return f"{where}: predicate raised {exc!r}"
        return None if ok else f"{where}: {_short(actual)} fails {_callable_name(expected)}"
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"{where}: expected an object, got {_short(actual)}"
        for key, exp_value in expected.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"{sub}: missing (expected {_short(exp_value)})"
            reason = _match(actual[key], exp_value, sub)
            if reason:
                return reason
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            return f"{where}: {_short(actual)} != {_short(list(expected))}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            reason = _match(a, e, f"{path}[{i}]")
            if reason:
                return reason
        return None
    if actual == expected:
        return None
    return f"{where}: {_short(actual)} != {_short(expected)}"


def _text_match(actual: str | None, expected: str | re.Pattern[str], ignore_case: bool) -> bool:
    if actual is None:
        return False
    if isinstance(expected, re.Pattern):
        return expected.search(actual) is not None
    if ignore_case:
        return expected.lower() in actual.lower()
    return expected in actual


def _callable_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", repr(fn))


def _short(value: Any, width: int = 60) -> str:
    if isinstance(value, re.Pattern):
        text = f"/{value.pattern}/"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr, separators=(", ", ": "))
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _describe(type_: str | None, fields: Mapping[str, Any]) -> str:
    parts = [type_ or "any"]
    if fields:
        parts.append(_short(dict(fields), 100))
    return " ".join(parts)


# --------------------------------------------------------------------------- items


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _formatted(item: Any) -> Mapping[str, Any]:
    fmt = _get(item, "formatted")
    return fmt if isinstance(fmt, Mapping) else {}


def item_text(item: Any) -> str:
    """Typed text of a message item (input_text / text / output_text parts)."""
    text = _formatted(item).get("text")
    if text:
        return str(text)
    parts = [
        str(_get(p, "text") or "")
        for p in _get(item, "content") or []
        if _get(p, "type") in ("input_text", "text", "output_text")
    ]
    return "".join(parts)


def item_transcript(item: Any) -> str:
    """Spoken transcript of a message item (input_audio / audio / output_audio parts)."""
    transcript = _formatted(item).get("transcript")
    if transcript:
        return str(transcript)
    parts = [
        str(_get(p, "transcript") or "")
        for p in _get(item, "content") or []
        if _get(p, "type") in ("input_audio", "audio", "output_audio")
    ]
    return "".join(parts)


def _arguments(item: Any) -> Any:
    tool = _formatted(item).get("tool")
    raw = _get(item, "arguments")
    if raw is None and isinstance(tool, Mapping):
        raw = tool.get("arguments")
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            return raw
    return raw


def _name(item: Any) -> str | None:
    name = _get(item, "name")
    tool = _formatted(item).get("tool")
    if name is None and isinstance(tool, Mapping):
        name = tool.get("name")
    return name


def _output(item: Any) -> Any:
    out = _get(item, "output")
    if out is None:
        out = _formatted(item).get("output")
    return out


# --------------------------------------------------------------------------- conversation


@dataclass
class Conversation:
    """What assertions look at: the events (both directions) and the conversation items.

    `formats`: the audio format (`rtkit.audio.AudioFormat`) of items' audio by item id, as
    the session set it (G.711 at 8 kHz, one byte a sample); other items' audio is PCM16 at
    `sample_rate`.
    """

    events: list[RecordedEvent] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    sample_rate: int = DEFAULT_SAMPLE_RATE
    label: str = ""
    formats: dict[str, Any] = field(default_factory=dict)

    @property
    def expect(self) -> Expect:
        """A fresh set of expectations (its event / item cursors start at the beginning)."""
        return Expect(self)

    @property
    def server_events(self) -> list[RecordedEvent]:
        """Events the server sent."""
        return [e for e in self.events if e.source == "server"]

    @property
    def client_events(self) -> list[RecordedEvent]:
        """Events the client sent."""
        return [e for e in self.events if e.source == "client"]

    # ----------------------------------------------------------------------- audio

    def audio_ms(self, item: Any) -> float:
        """Duration of an item's audio in ms (the client's decoded audio, else the deltas), at
        the rate of the item's format."""
        item_id = _get(item, "id")
        fmt = self.formats.get(item_id) if isinstance(item_id, str) else None
        rate, width = (self.sample_rate, 2) if fmt is None or fmt.sample_width == 2 \
            else (fmt.rate, fmt.sample_width)
        audio = _formatted(item).get("audio")
        if audio is not None and len(audio):
            return len(audio) * 1000.0 / rate
        total = 0
        for ev in self.server_events:
            e = ev.event
            if e.get("item_id") == item_id and e.get("type") in (
                "response.output_audio.delta",
                "response.audio.delta",
            ):
                total += len(base64.b64decode(e.get("delta") or ""))
        for ev in self.client_events:  # audio the client put in the item itself
            if ev.type == "conversation.item.create":
                sent = ev.event.get("item") or {}
                if sent.get("id") == item_id:
                    for part in sent.get("content") or []:
                        if part.get("audio"):
                            total += len(base64.b64decode(part["audio"]))
        return (total // width) * 1000.0 / rate

    # ----------------------------------------------------------------------- rendering

    def render(self, *, event_cursor: tuple[str, int] | None = None) -> str:
        """The conversation so far, compactly: one line per item, then the event types."""
        lines = [f"conversation so far{f' ({self.label})' if self.label else ''}:"]
        if not self.items:
            lines.append("  (no items)")
        for i, item in enumerate(self.items):
            lines.append(f"  #{i} {self._render_item(item)}")
        for source in ("server", "client"):
            evs = [e for e in self.events if e.source == source]
            marker = event_cursor[1] if event_cursor and event_cursor[0] == source else None
            lines.append(f"{source} events ({len(evs)}):")
            lines.extend(_render_event_groups(evs, marker))
        return "\n".join(lines)

    def _render_item(self, item: Any) -> str:
        kind = _get(item, "type") or "?"
        role = _get(item, "role") or ""
        status = _get(item, "status")
        tail = f" [{status}]" if status and status != "completed" else ""
        if kind == "message":
            text = item_transcript(item) or item_text(item)
            ms = self.audio_ms(item)
            audio = f"[audio {ms / 1000:.2f}s] " if ms else ""
            return f"{role:<9} message  {audio}{_short(text, _TEXT_WIDTH)}{tail}"
        if kind == "function_call":
            args = _get(item, "arguments")
            if args is None:
                args = _short(_arguments(item), _TEXT_WIDTH)
            call = f"{_name(item)}({_clip(str(args))})"
            return f"{'assistant':<9} function_call  {call} call_id={_get(item, 'call_id')}{tail}"
        if kind == "function_call_output":
            raw = _output(item)
            out = _clip(raw) if isinstance(raw, str) else _short(raw, _TEXT_WIDTH)
            return f"{'tool':<9} function_call_output  {_get(item, 'call_id')} -> {out}{tail}"
        return f"{role:<9} {kind}{tail}"


def _clip(text: str, width: int = _TEXT_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _render_event_groups(events: Sequence[RecordedEvent], marker: int | None) -> list[str]:
    """One line per group: the deltas of one response (or item) are one line where the
    first one is, whatever comes between them (`resp_1 deltas: response.output_audio.delta
    x12, ...`); other consecutive events of one type collapse to `type xN`; errors show code
    and message. The marker (`→`) is on the group holding event `marker`."""
    groups: list[list[Any]] = []  # [first index, label, count, types of deltas, marked]
    deltas: dict[str, list[Any]] = {}
    for i, ev in enumerate(events):
        marked = marker is not None and i == marker
        if ev.type.endswith(".delta"):
            key = ev.event.get("response_id") or ev.event.get("item_id")
            key = key if isinstance(key, str) else ev.type
            group = deltas.get(key)
            if group is None:
                group = deltas[key] = [i, f"{key} deltas", 0, {}, False]
                groups.append(group)
            group[2] += 1
            group[3][ev.type] = group[3].get(ev.type, 0) + 1
            group[4] = group[4] or marked
            continue
        label = ev.type or "?"
        if ev.type == "error":
            err = ev.event.get("error") or {}
            code = err.get("code") or err.get("type")
            label = f"error {code}: {_clip(str(err.get('message')), 60)}"
        last = groups[-1] if groups else None
        if last is not None and not last[3] and last[1] == label and not marked:
            last[2] += 1
        else:
            groups.append([i, label, 1, {}, marked])
    skipped = max(0, len(groups) - _MAX_EVENT_GROUPS)
    out = [f"  … {skipped} earlier groups"] if skipped else []
    for first, label, n, types, marked in groups[skipped:]:
        arrow = "→ " if marked else "  "
        if types:
            label += ": " + ", ".join(f"{t} x{k}" if k > 1 else t for t, k in types.items())
        count = f" x{n}" if n > 1 and not types else ""
        out.append(f"  {arrow}{first:>4} {label}{count}")
    if marker is not None and marker >= len(events):
        out.append("  →      (end)")
    if not events:
        out.append("  (none)")
    return out


# --------------------------------------------------------------------------- cursors


class _Cursor:
    def __init__(self, expect: Expect) -> None:
        self._expect = expect
        self.pos = 0
        self.last: Any = None

    def _fail(self, message: str) -> ConversationAssertionError:
        return self._expect._fail(message, cursor=self._cursor_marker())

    def _cursor_marker(self) -> tuple[str, int] | None:
        return None


class EventCursor(_Cursor):
    """Walks the events of one direction: `next`, `contains`, `no_more`, each chainable.

    `next` requires the very next event (after ignored types) to match; `contains` finds a match
    anywhere after the cursor and moves past it (so chained `contains` checks order); `no_more`
    requires no further (matching) events. The matched event is `cursor.last`.
    """

    def __init__(self, expect: Expect, source: str, ignore: Iterable[str] = ()) -> None:
        super().__init__(expect)
        self.source = source
        self._ignore = tuple(ignore)

    def _cursor_marker(self) -> tuple[str, int] | None:
        return (self.source, self.pos)

    @property
    def _events(self) -> list[RecordedEvent]:
        return [e for e in self._expect.conversation.events if e.source == self.source]

    def _ignored(self, ev: RecordedEvent) -> bool:
        return any(fnmatch.fnmatchcase(ev.type, pat) for pat in self._ignore)

    def ignoring(self, *patterns: str) -> EventCursor:
        """Skip events whose type matches any glob (e.g. "*.delta") from now on; chainable."""
        self._ignore = self._ignore + patterns
        return self

    def next(self, type: str | None = None, **fields: Any) -> EventCursor:
        """The next event has this type (glob allowed) and these fields (subset match)."""
        events = self._events
        i = self.pos
        while i < len(events) and self._ignored(events[i]):
            i += 1
        want = _describe(type, fields)
        if i >= len(events):
            raise self._fail(f"expected next {self.source} event {want}, but there are no more")
        reason = _event_mismatch(events[i], type, fields)
        if reason:
            self.pos = i
            raise self._fail(
                f"expected next {self.source} event {want}, got #{i} {events[i].type}: {reason}"
            )
        self.pos, self.last = i + 1, events[i].event
        return self

    def contains(self, type: str | None = None, **fields: Any) -> EventCursor:
        """Some later event has this type and these fields; the cursor moves past it."""
        events = self._events
        closest = None
        for i in range(self.pos, len(events)):
            if self._ignored(events[i]):
                continue
            reason = _event_mismatch(events[i], type, fields)
            if reason is None:
                self.pos, self.last = i + 1, events[i].event
                return self
            if closest is None and (type is None or fnmatch.fnmatchcase(events[i].type, type)):
                closest = f"closest: #{i} {events[i].type}: {reason}"
        msg = f"expected a {self.source} event {_describe(type, fields)} at or after #{self.pos}"
        raise self._fail(msg + (f"\n  {closest}" if closest else ", found none"))

    def no_more(self, type: str | None = None, **fields: Any) -> EventCursor:
        """No events after the cursor (or none of this type / with these fields)."""
        events = self._events
        for i in range(self.pos, len(events)):
            if self._ignored(events[i]):
                continue
            if _event_mismatch(events[i], type, fields) is None:
                what = f" {_describe(type, fields)}" if type or fields else ""
                raise self._fail(
                    f"expected no more {self.source} events{what} after #{self.pos}, "
                    f"found #{i} {events[i].type}"
                )
        return self


def _event_mismatch(ev: RecordedEvent, type_: str | None, fields: Mapping[str, Any]) -> str | None:
    if type_ is not None and not fnmatch.fnmatchcase(ev.type, type_):
        return f"type is {ev.type!r}, not {type_!r}"
    return _match(ev.event, fields) if fields else None


class ItemCursor(_Cursor):
    """Walks the conversation items like `EventCursor` walks events (fields: subset match)."""

    @property
    def _items(self) -> list[Any]:
        return list(self._expect.conversation.items)

    def next(self, **fields: Any) -> ItemCursor:
        """The next item matches `fields` (e.g. `role="assistant"`, `type="function_call"`)."""
        items = self._items
        want = _short(fields, 100)
        if self.pos >= len(items):
            raise self._fail(f"expected next item #{self.pos} {want}, but there are no more")
        reason = _item_mismatch(items[self.pos], fields)
        if reason:
            raise self._fail(f"expected next item #{self.pos} {want}: {reason}")
        self.last = items[self.pos]
        self.pos += 1
        return self

    def contains(self, **fields: Any) -> ItemCursor:
        """Some item after the cursor matches `fields`; the cursor moves past it."""
        items = self._items
        for i in range(self.pos, len(items)):
            if _item_mismatch(items[i], fields) is None:
                self.pos, self.last = i + 1, items[i]
                return self
        raise self._fail(
            f"expected an item {_short(fields, 100)} at or after #{self.pos}, found none"
        )

    def no_more(self, **fields: Any) -> ItemCursor:
        """No items after the cursor (or none matching `fields`)."""
        items = self._items
        for i in range(self.pos, len(items)):
            if _item_mismatch(items[i], fields) is None:
                what = f" {_short(fields, 100)}" if fields else ""
                raise self._fail(f"expected no more items{what} after #{self.pos}, found #{i}")
        return self


def _item_mismatch(item: Any, fields: Mapping[str, Any]) -> str | None:
    view = {k: _get(item, k) for k in fields}
    return _match(view, fields)


# --------------------------------------------------------------------------- expect


class Expect:
    """Expectations on one conversation; every method returns `self` so they chain.

    `events` / `client_events` / `items` are cursors (created once per `Expect`). The item or
    event a check matched is in `.last`.
    """

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.last: Any = None
        self._events: EventCursor | None = None
        self._client_events: EventCursor | None = None
        self._items: ItemCursor | None = None

    @property
    def events(self) -> EventCursor:
        """Cursor over the server's events."""
        if self._events is None:
            self._events = EventCursor(self, "server")
        return self._events

    @property
    def client_events(self) -> EventCursor:
        """Cursor over the client's events."""
        if self._client_events is None:
            self._client_events = EventCursor(self, "client")
        return self._client_events

    @property
    def items(self) -> ItemCursor:
        """Cursor over the conversation items."""
        if self._items is None:
            self._items = ItemCursor(self)
        return self._items

    def _fail(
        self, message: str, cursor: tuple[str, int] | None = None
    ) -> ConversationAssertionError:
        error = ConversationAssertionError(
            f"{message}\n\n{self.conversation.render(event_cursor=cursor)}"
        )
        if cursor is not None:
            source, index = cursor
            events = [e for e in self.conversation.events if e.source == source]
            error.source = source
            error.event = events[index] if 0 <= index < len(events) else None
        return error

    # ----------------------------------------------------------------------- checks

    def no_errors(self) -> Expect:
        """The server sent no `error` event."""
        errors = [e.event for e in self.conversation.server_events if e.type == "error"]
        if errors:
            err = errors[0].get("error") or {}
            raise self._fail(
                f"expected no error events, got {len(errors)}; first: "
                f"{err.get('type')}/{err.get('code')}: {err.get('message')}"
            )
        return self

    def error(self, code: str | None = None, **fields: Any) -> Expect:
        """The server sent an `error` event (with this `error.code`, and `error` fields)."""
        want: dict[str, Any] = dict(fields)
        if code is not None:
            want["code"] = code
        for ev in self.conversation.server_events:
            if ev.type == "error" and _match(ev.event.get("error") or {}, want) is None:
                self.last = ev.event
                return self
        raise self._fail(f"expected an error event {_short(want, 100)}, found none")

    def function_call(
        self, name: str, arguments: Mapping[str, Any] | None = None, *, exact: bool = False
    ) -> Expect:
        """The assistant called `name`; `arguments` must be a subset (or equal, `exact=True`)."""
        calls = [i for i in self.conversation.items if _get(i, "type") == "function_call"]
        named = [c for c in calls if _name(c) == name]
        for call in named:
            args = _arguments(call)
            if arguments is None:
                ok = True
            elif exact:
                ok = args == dict(arguments)
            else:
                ok = _match(args, arguments) is None
            if ok:
                self.last = call
                return self
        want = f"{name}({_short(arguments, 100) if arguments is not None else '…'})"
        if named:
            reasons = [
                f"{name}({_short(_arguments(c), 80)}): "
                + (
                    "arguments differ"
                    if exact
                    else str(_match(_arguments(c), arguments or {}, "arguments"))
                )
                for c in named
            ]
            detail = "\n  ".join(reasons)
            raise self._fail(
                f"expected a function call {want}; calls of {name} did not match:\n  {detail}"
            )
        seen = ", ".join(sorted({str(_name(c)) for c in calls})) or "none"
        raise self._fail(f"expected a function call {want}; functions called: {seen}")

    def function_call_output(
        self,
        name: str | None = None,
        output: Any = None,
        *,
        call_id: str | None = None,
    ) -> Expect:
        """A `function_call_output` item exists (for the call of `name`, or `call_id`).

        `output`: a string (substring of the output), a regex, or a dict (subset of the parsed
        JSON output).
        """
        items = self.conversation.items
        call_ids: set[str] | None = None
        if call_id is not None:
            call_ids = {call_id}
        elif name is not None:
            call_ids = {
                str(_get(i, "call_id"))
                for i in items
                if _get(i, "type") == "function_call" and _name(i) == name
            }
        outputs = [
            i
            for i in items
            if _get(i, "type") == "function_call_output"
            and (call_ids is None or _get(i, "call_id") in call_ids)
        ]
        reasons = []
        for item in outputs:
            reason = _output_mismatch(_output(item), output)
            if reason is None:
                self.last = item
                return self
            reasons.append(f"{_get(item, 'call_id')}: {reason}")
        target = f" for {name or call_id}" if (name or call_id) else ""
        want = f" with output {_short(output, 100)}" if output is not None else ""
        detail = ("\n  " + "\n  ".join(reasons)) if reasons else ", found none"
        raise self._fail(f"expected a function call output{target}{want}{detail}")

    def assistant_said(
        self,
        text: str | re.Pattern[str],
        *,
        source: str = "any",
        ignore_case: bool = False,
    ) -> Expect:
        """An assistant message's transcript or text holds `text` (substring, or a regex).

        `source`: "any" (default), "transcript" (spoken) or "text" (typed).
        """
        return self._message_said("assistant", text, source, ignore_case)

    def user_said(
        self,
        text: str | re.Pattern[str],
        *,
        source: str = "any",
        ignore_case: bool = False,
    ) -> Expect:
        """A user message's transcript (input audio transcription) or typed text holds `text`."""
        return self._message_said("user", text, source, ignore_case)

    def _message_said(
        self, role: str, text: str | re.Pattern[str], source: str, ignore_case: bool
    ) -> Expect:
        if source not in ("any", "transcript", "text"):
            raise ValueError("source must be 'any', 'transcript' or 'text'")
        messages = [
            i
            for i in self.conversation.items
            if _get(i, "type") == "message" and _get(i, "role") == role
        ]
        for item in messages:
            candidates = []
            if source in ("any", "transcript"):
                candidates.append(item_transcript(item))
            if source in ("any", "text"):
                candidates.append(item_text(item))
            if any(_text_match(c, text, ignore_case) for c in candidates):
                self.last = item
                return self
        what = {"any": "transcript or text", "transcript": "transcript", "text": "text"}[source]
        raise self._fail(
            f"expected a {role} message whose {what} contains {_short(text, 100)}; "
            f"{len(messages)} {role} message(s) seen"
        )

    def audio_duration(
        self,
        ms: float,
        *,
        tolerance_ms: float = 50.0,
        item: int | str | None = None,
    ) -> Expect:
        """An item's audio lasts `ms` ± `tolerance_ms`.

        `item`: an index into the items, an item id, or None for the last assistant message
        with audio (or the item matched by the previous check, when it has audio).
        """
        target = self._pick_audio_item(item)
        actual = self.conversation.audio_ms(target)
        if abs(actual - ms) > tolerance_ms:
            raise self._fail(
                f"expected item {_get(target, 'id')} audio of {ms:.0f} ms ± {tolerance_ms:.0f}, "
                f"got {actual:.0f} ms"
            )
        self.last = target
        return self

    def _pick_audio_item(self, item: int | str | None) -> Any:
        items = self.conversation.items
        if isinstance(item, int):
            if not -len(items) <= item < len(items):
                raise self._fail(f"no item at index {item} ({len(items)} items)")
            return items[item]
        if isinstance(item, str):
            for it in items:
                if _get(it, "id") == item:
                    return it
            raise self._fail(f"no item with id {item!r}")
        last = self.last
        if (
            last is not None
            and _get(last, "type") == "message"
            and self.conversation.audio_ms(last)
        ):
            return last
        for it in reversed(items):
            if _get(it, "role") == "assistant" and self.conversation.audio_ms(it):
                return it
        raise self._fail("expected an assistant message with audio, found none")


def _output_mismatch(actual: Any, expected: Any) -> str | None:
    if expected is None:
        return None
    if isinstance(expected, Mapping):
        parsed = actual
        if isinstance(actual, str):
            try:
                parsed = json.loads(actual)
            except ValueError:
                return f"output {_short(actual)} is not JSON"
        return _match(parsed, expected, "output")
    if isinstance(expected, (str, re.Pattern)):
        text = actual if isinstance(actual, str) else json.dumps(actual)
        return (
            None
            if _text_match(text, expected, False)
            else (f"output {_short(actual)} does not contain {_short(expected)}")
        )
    return _match(actual, expected, "output")


# --------------------------------------------------------------------------- entry point


def rt_conversation(source: Any, *, sample_rate: int = DEFAULT_SAMPLE_RATE) -> Conversation:
    """The conversation to assert on, from any of:

    - a `RealtimeClient` (its items; its events when `watch`ed, as the `rt_client` fixture does),
    - the `rt_server` or `rt_cassette` fixture, or the test's cassette path, during the test:
      what the replay server or recording proxy has seen so far (both directions, every
      connection), in record and replay modes alike,
    - a cassette (`Cassette`, a path): events of all episodes,
    - a list of events (dicts, `{"source": ..., "event": ...}` records or cassette event lines),
    - a `Conversation` (returned as is).

    Except for a client, the items are rebuilt from the server events, their audio in the
    session's formats (the server's `session.created` / `session.updated`, the client's
    `session.update`): audio durations are at each format's own rate (8 kHz for G.711).
    `sample_rate` is PCM16's.
    """
    if isinstance(source, Conversation):
        return source
    if _looks_like_client(source):
        events = _LOGS.get(source)
        items = list(source.conversation.get_items())
        if isinstance(events, EventLog):
            events = events.events()
        return Conversation(events if events is not None else [], items, sample_rate, "client",
                            _client_formats(source.conversation, items))
    label = "" if isinstance(source, (list, tuple)) else type(source).__name__
    log = _attached_log(source)
    if log is not None:
        events = log.events()
        items, formats = _items_from_events(events)
        return Conversation(events, items, sample_rate, label, formats)
    if isinstance(source, (str, os.PathLike)):
        from rtkit.cassette import Cassette

        source = Cassette.load(source)
        label = "Cassette"
    elif callable(getattr(source, "load", None)):  # `rt_cassette` outside a test's session
        source = source.load()
    events = _events_of(source)
    items, formats = _items_from_events(events)
    return Conversation(events, items, sample_rate, label, formats)


def _attached_log(source: Any) -> EventLog | None:
    if isinstance(source, (str, os.PathLike)):
        return _PATH_LOGS.get(_path_key(source))
    try:
        log = _LOGS.get(source)
    except TypeError:  # not weakly referenceable (a list, a dict)
        return None
    return log if isinstance(log, EventLog) else None


def _looks_like_client(obj: Any) -> bool:
    conv = getattr(obj, "conversation", None)
    return conv is not None and callable(getattr(conv, "get_items", None))


def _events_of(source: Any) -> list[RecordedEvent]:
    """Events of a cassette, an event log or an iterable of events, in order."""
    if isinstance(source, EventLog):
        return source.events()
    episodes = getattr(source, "episodes", None)
    if episodes is not None and not isinstance(episodes, int):  # a Cassette
        out: list[RecordedEvent] = []
        for ep in episodes:
            conn = _get(ep, "conn")
            for line in source.iter_episode(conn):
                if getattr(line, "event", None) is not None or isinstance(line, Mapping):
                    try:
                        out.append(_to_recorded(line))
                    except TypeError:
                        continue
        return out
    try:
        events = iter(source)
    except TypeError:
        raise TypeError(
            f"rt_conversation() cannot read a {type(source).__name__}: pass a RealtimeClient, "
            "the rt_server or rt_cassette fixture (or its .path) during the test, a cassette or "
            "its path, or a list of events. For a server you start yourself, pass "
            "on_frame=log.add with log = rtkit.assertions.EventLog(), then "
            "rt_conversation(log)."
        ) from None
    return [_to_recorded(e) for e in events]


def _client_formats(conversation: Any, items: Sequence[Any]) -> dict[str, Any]:
    """The format of each item's audio in a client's conversation (its session's)."""
    formats = {}
    for item in items:
        fmt = _get(conversation, "output_format" if _get(item, "role") == "assistant"
                   else "input_format")
        item_id = _get(item, "id")
        if fmt is not None and isinstance(item_id, str):
            formats[item_id] = fmt
    return formats


def _items_from_events(events: Sequence[RecordedEvent]) -> tuple[list[Any], dict[str, Any]]:
    """Rebuild the conversation items from server events with rtkit's conversation model,
    audio in the session's formats (followed per connection, both directions); and the format
    of each item's audio."""
    from rtkit.audio import SessionFormats
    from rtkit.client.conversation import RealtimeConversation

    conversation = RealtimeConversation()
    sessions: dict[Any, SessionFormats] = {}
    formats: dict[str, Any] = {}
    for ev in events:
        session = sessions.get(ev.conn)
        if session is None:
            session = sessions[ev.conn] = SessionFormats()
        if ev.source == "server":
            session.server_event(ev.event)
            conversation.input_format = session.input
            conversation.output_format = session.output
            try:
                item, _ = conversation.process_event(dict(ev.event))
            except Exception:  # a cassette may hold events the model rejects (e.g. errors)
                continue
            if item is not None and item["id"] not in formats:
                formats[item["id"]] = (session.output if item.get("role") == "assistant"
                                       else session.input)
        else:
            session.client_event(ev.event)
    return list(conversation.get_items()), formats
