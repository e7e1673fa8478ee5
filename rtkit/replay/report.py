"""The replay mismatch report: where, expected vs actual, the differing paths, how to fix it.

Lines stay short whatever the events hold: a long string is shown as a window around its
first differing character (with that character's position, from 1), base64 audio as its
size, and the expected / actual events with their long strings cut down.
"""

from __future__ import annotations

import json
from typing import Any

from rtkit.cassette import Event, Frame
from rtkit.errors import CannotOverwriteExistingCassetteException
from rtkit.replay.matching import Difference

__all__ = ["event_text", "mismatch_error", "preview"]

EVENT_LINE = 240  # characters of an expected / actual line at most
LONG_STRING = 48  # strings longer than this are cut in the expected / actual lines
AUDIO_KEYS = frozenset({"audio", "delta"})
HOW_TO_FIX = ("How to fix: if the app's behaviour changed on purpose, re-record the cassette "
              "(pytest --rt-record-mode=rewrite, or rtkit record); if only volatile fields "
              "differ, ignore them (ignore_paths=[...], audio_match='any') or register a "
              "matcher.")


def preview(data: str | bytes | None, limit: int = 300) -> str:
    """A frame as the report shows it."""
    if data is None:
        return "(nothing)"
    if isinstance(data, bytes):
        return f"<binary frame, {len(data)} bytes>"
    return data if len(data) <= limit else data[:limit] + "…"


def _cut(value: Any, path: str, focus: dict[str, int], depth: int = 0) -> Any:
    """`value` with long strings cut (around `focus[path]`, a differing character, when the
    path differs) and base64 audio replaced by its size."""
    if depth > 50:
        return "…"
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if k in AUDIO_KEYS and isinstance(v, str) and len(v) > 64:
                out[k] = f"<{len(v)} base64 chars>"
            else:
                out[k] = _cut(v, sub, focus, depth + 1)
        return out
    if isinstance(value, list):
        return [_cut(v, f"{path}[{i}]", focus, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, str) and len(value) > LONG_STRING:
        at = focus.get(path)
        if at is None or at < LONG_STRING - 8:
            return value[:LONG_STRING - 8] + "…"
        start = at - 16
        end = start + LONG_STRING - 16
        return "…" + value[start:end] + ("…" if end < len(value) else "")
    return value


def event_text(event: dict[str, Any] | None, diffs: list[Difference] = (),  # type: ignore[assignment]
               limit: int = EVENT_LINE) -> str:
    """An event on one short line: long strings cut (around the first differing character of
    a differing one), audio as its size."""
    if event is None:
        return "(none)"
    focus = {d.path: d.offset for d in diffs if d.offset is not None}
    try:
        text = json.dumps(_cut(event, "", focus), ensure_ascii=False)
    except (RecursionError, ValueError):
        text = f"<an event nested too deeply to show (type {str(event.get('type'))[:60]!r})>"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _recorded_text(expected: Event | Frame | None, diffs: list[Difference]) -> str:
    if isinstance(expected, Event):
        return event_text(expected.event, diffs)
    return preview(getattr(expected, "text", None))


def mismatch_error(
    *,
    cassette_path: str,
    conn: int,
    position: int,
    expected: Event | Frame | None,
    actual: dict[str, Any] | None,
    data: str | bytes | None,
    diffs: list[Difference],
    record_mode: str,
    reason: str | None = None,
    where: str = "",
    notes: tuple[str, ...] = (),
) -> CannotOverwriteExistingCassetteException:
    """The vcrpy-style error: where, expected vs actual, differing paths, how to fix it.

    `position` is the number of client events received before this one; `where` says where
    the recorded event is (appended to the first line); `notes` are extra lines."""
    got = event_text(actual, diffs) if actual is not None else preview(data)
    if reason is None:
        if expected is None:
            reason = ("the client sent an event after the last client event recorded in this "
                      "episode")
        else:
            what = expected.type if isinstance(expected, Event) else "frame"
            reason = f"client event #{position + 1} does not match the recorded {what!r}"
    if where:
        reason = f"{reason} ({where})"
    lines = [
        f"Replay mismatch in cassette {cassette_path}, episode (conn) {conn}: {reason}.",
        f"  expected: {_recorded_text(expected, diffs)}",
        f"  actual:   {got}",
    ]
    if diffs:
        lines.append("  differences:")
        lines += [f"    - {d}" for d in diffs[:20]]
        if len(diffs) > 20:
            lines.append(f"    … and {len(diffs) - 20} more")
    lines += [f"  {note}" for note in notes]
    lines += [f"  record mode: {record_mode}", HOW_TO_FIX]
    return CannotOverwriteExistingCassetteException("\n".join(lines))
