"""How a client event is compared with the recorded one (vcrpy-style matchers).

Built in: the event's own `event_id` is not compared (the engine binds it, see below). A
string under an *id key* (`id`, or any key ending in `_id`: `item_id`, `call_id`,
`previous_item_id`, `response_id`, `metadata.client_event_id`, a custom `request_id`, at any
depth) may differ from the recording when the recorded value was invented by the client: it is
then *bound* to the client's value (later events must use the same binding, two recorded ids
cannot share one new id, and the replayed server events are rewritten to the client's value).
A recorded id the server announced earlier (`announced(value)` is true) must come back
exactly. Every other difference is a mismatch. Audio payloads follow an `AudioMatch` policy.
Users add `ignore_paths` (dotted paths such as `session.instructions`) and matcher functions
`matcher(recorded, actual) -> None | bool | str` (False, a message, or an AssertionError mean
"no match").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ID_KEYS",
    "AudioMatch",
    "Difference",
    "MatchPolicy",
    "Matcher",
    "collect_ids",
    "compare_events",
    "is_id_key",
]

AudioMatch = Literal["exact", "length", "any"]
Matcher = Callable[[dict[str, Any], dict[str, Any]], "bool | str | None"]

ID_KEYS = frozenset({"id", "item_id", "previous_item_id", "call_id", "response_id"})
"""The API's own id keys; any key ending in `_id` is treated the same (`is_id_key`)."""
AUDIO_KEYS = frozenset({"audio"})


def is_id_key(key: str | None) -> bool:
    """Whether a value under `key` is an identifier: `id`, or a key ending in `_id`."""
    return key is not None and (key == "id" or key.endswith("_id"))


def collect_ids(value: Any, out: set[str], key: str | None = None) -> None:
    """Add to `out` every string found under an id key in `value` (at any depth)."""
    if isinstance(value, str):
        if is_id_key(key):
            out.add(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            collect_ids(v, out, k)
    elif isinstance(value, list):
        for v in value:
            collect_ids(v, out, key)


@dataclass(frozen=True)
class Difference:
    """One differing JSON path: what the cassette has and what the client sent.

    When both are strings, `offset` is where they first differ (0-based), and a long one is
    shown as a window around that character, with its position (from 1)."""

    path: str
    expected: Any
    actual: Any

    @property
    def offset(self) -> int | None:
        """The index of the first differing character of two strings (else None)."""
        e, a = self.expected, self.actual
        if not isinstance(e, str) or not isinstance(a, str) or self.path.startswith("<"):
            return None  # not two values (a `<frame>`, `<matcher ...>`: descriptions)
        n = min(len(e), len(a))
        lo, hi = 0, n  # the longest common prefix, by bisection of slice comparisons
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if e[:mid] == a[:mid]:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def __str__(self) -> str:
        where = self.path or "<event>"
        e, a = self.expected, self.actual
        at = self.offset
        if at is not None and max(len(repr(e)), len(repr(a))) > _SHORT:
            return (f"{where}, from character {at + 1}: expected {_window(e, at)}, "
                    f"got {_window(a, at)}")
        return f"{where}: expected {_short(self.expected)}, got {_short(self.actual)}"


_MISSING = object()
_SHORT = 80
_BEFORE, _WIDTH = 24, 56  # a window: this many characters before the difference, in all


def _window(text: str, at: int) -> str:
    """`text` around index `at`, quoted, with … where it was cut."""
    start = max(0, at - _BEFORE)
    part = text[start:start + _WIDTH]
    return f"{'…' if start else ''}{part!r}{'…' if start + _WIDTH < len(text) else ''}"


def _short(value: Any, limit: int = _SHORT) -> str:
    if value is _MISSING:
        return "(missing)"
    try:
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) \
            else repr(value)
    except (RecursionError, ValueError):
        text = "<JSON nested too deeply to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class MatchPolicy:
    """What counts as the same client event."""

    audio: AudioMatch = "any"
    ignore_paths: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    match_on: tuple[str, ...] = ("type", "content")
    audio_tolerance_ms: float = 0.0  # "length": how far the input audio's length may differ

    def __post_init__(self) -> None:
        if self.audio not in ("exact", "length", "any"):
            raise ValueError(f"audio_match must be 'exact', 'length' or 'any', not {self.audio!r}")
        unknown = set(self.match_on) - {"type", "content"}
        if unknown:
            raise ValueError(f"unknown match_on entries {sorted(unknown)}; use 'type', 'content'")
        if not self.audio_tolerance_ms >= 0:
            raise ValueError(f"audio_tolerance_ms must be >= 0, not {self.audio_tolerance_ms!r}")


def _never(value: str) -> bool:
    return False


@dataclass
class _Walk:
    policy: MatchPolicy
    bindings: dict[str, str]
    announced: Callable[[str], bool] = _never
    new_bindings: dict[str, str] = field(default_factory=dict)
    diffs: list[Difference] = field(default_factory=list)

    def bound(self, recorded: str) -> str | None:
        return self.new_bindings.get(recorded, self.bindings.get(recorded))

    def owner(self, actual: str) -> str | None:
        """The recorded id already bound to `actual`, if any."""
        for table in (self.new_bindings, self.bindings):
            for recorded, value in table.items():
                if value == actual and recorded != actual:
                    return recorded
        return None

    def compare(self, path: str, expected: Any, actual: Any, key: str | None) -> None:
        if path in self.policy.ignore_paths:
            return
        if is_id_key(key) and isinstance(expected, str) and isinstance(actual, str):
            self.compare_id(path, expected, actual)
            return
        if key in AUDIO_KEYS and isinstance(expected, str) and isinstance(actual, str):
            self.compare_audio(path, expected, actual)
            return
        if isinstance(expected, dict) and isinstance(actual, dict):
            for k in expected.keys() | actual.keys():
                if path == "" and k == "event_id":
                    continue
                sub = f"{path}.{k}" if path else k
                self.compare(sub, expected.get(k, _MISSING), actual.get(k, _MISSING), k)
            return
        if isinstance(expected, list) and isinstance(actual, list):
            if len(expected) != len(actual):
                self.diffs.append(Difference(f"{path}.length", len(expected), len(actual)))
            for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
                self.compare(f"{path}[{i}]", e, a, key)
            return
        if expected != actual or type(expected) is not type(actual):
            if isinstance(expected, int | float) and isinstance(actual, int | float) and \
                    not isinstance(expected, bool) and not isinstance(actual, bool) and \
                    expected == actual:
                return
            self.diffs.append(Difference(path, expected, actual))

    def compare_id(self, path: str, expected: str, actual: str) -> None:
        bound = self.bound(expected)
        if bound is not None:
            if bound != actual:
                self.diffs.append(Difference(path, f"{bound} (recorded {expected})", actual))
            return
        if expected == actual:
            return
        if not expected or self.announced(expected):
            # the client got this id from the server when the cassette was recorded
            self.diffs.append(Difference(path, f"{expected} (an id the server sent earlier)",
                                         actual))
            return
        owner = self.owner(actual)
        if owner is not None:
            self.diffs.append(Difference(path, f"{expected} (a new id; {actual!r} already "
                                         f"stands for the recorded {owner!r})", actual))
            return
        self.new_bindings[expected] = actual

    def compare_audio(self, path: str, expected: str, actual: str) -> None:
        mode = self.policy.audio
        if mode == "any":
            return
        if mode == "length":
            if _b64_len(expected) != _b64_len(actual):
                self.diffs.append(Difference(path, f"<{_b64_len(expected)} bytes of audio>",
                                             f"<{_b64_len(actual)} bytes of audio>"))
            return
        if expected != actual:
            self.diffs.append(Difference(path, f"<audio, {_b64_len(expected)} bytes>",
                                         f"<different audio, {_b64_len(actual)} bytes>"))


def _b64_len(b64: str) -> int:
    return len(b64) * 3 // 4 - b64[-2:].count("=")


def compare_events(
    expected: dict[str, Any],
    actual: dict[str, Any],
    policy: MatchPolicy,
    bindings: dict[str, str],
    *,
    announced: Callable[[str], bool] | None = None,
) -> tuple[list[Difference], dict[str, str]]:
    """Differences between a recorded and an actual client event, and the new id bindings.

    `announced(value)` says whether the server sent `value` (as an id) before this client
    event was recorded; such an id must come back exactly. Without it every recorded id may be
    rebound once.
    """
    walk = _Walk(policy, bindings, announced or _never)
    if expected.get("type") != actual.get("type"):
        walk.diffs.append(Difference("type", expected.get("type"), actual.get("type")))
        return walk.diffs, {}
    if "content" in policy.match_on:
        walk.compare("", expected, actual, None)
    for matcher in policy.matchers:
        try:
            verdict = matcher(expected, actual)
        except AssertionError as exc:
            verdict = str(exc) or False
        if verdict is False or isinstance(verdict, str):
            name = getattr(matcher, "__name__", repr(matcher))
            reason = verdict if isinstance(verdict, str) else "returned False"
            walk.diffs.append(Difference(f"<matcher {name}>", "a match", reason))
    return walk.diffs, walk.new_bindings


def rewrite_ids(value: Any, bindings: dict[str, str]) -> Any:
    """A copy of `value` with every string equal to a recorded id replaced by the bound id."""
    if isinstance(value, str):
        return bindings.get(value, value)
    if isinstance(value, dict):
        return {k: rewrite_ids(v, bindings) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_ids(v, bindings) for v in value]
    return value
