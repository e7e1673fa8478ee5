"""The ids a client invents during a replay, and the recorded server events rewritten to
carry them (docs/replay.md, "Ids the client invents").

Both replay engines keep one `Rebinder` per episode: a matched client event adds its new id
bindings (`bind`), and every server event released after it goes out through `run`,
`payload` or `event`, which leave the recorded bytes alone unless they hold a rebound id (or,
in an `error` event, a client's `event_id`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rtkit.cassette import Event
from rtkit.cassette.reader import ServerEventText, ServerRun
from rtkit.replay.matching import rewrite_ids

__all__ = ["MAX_EVENT_IDS", "Rebinder"]

MAX_EVENT_IDS = 4096  # client event_id bindings kept for rewriting `error` events


def _quoted(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


class Rebinder:
    """Recorded ids bound to the client's (`bindings`), recorded client `event_id`s bound to
    the client's (`event_ids`, echoed only in `error` events), and the rewriting of released
    server events."""

    def __init__(self, conn: int = 0) -> None:
        self.conn = conn
        self.bindings: dict[str, str] = {}
        self.event_ids: dict[str, str] = {}  # recorded event_id -> the client's
        self._needles: list[bytes] = []  # the rebound recorded ids, as JSON strings

    @property
    def active(self) -> bool:
        """Whether anything is rebound (otherwise server events go out as recorded)."""
        return bool(self._needles or self.event_ids)

    def bind(self, recorded: dict[str, Any] | None, new_bindings: dict[str, str],
             actual: dict[str, Any] | None) -> None:
        """A client event matched the `recorded` one: keep its new bindings and event_id."""
        if new_bindings:
            self.bindings.update(new_bindings)
            self._needles = [_quoted(k) for k, v in self.bindings.items() if k != v]
        if actual is not None and recorded is not None:
            rec, sent = recorded.get("event_id"), actual.get("event_id")
            if isinstance(rec, str) and isinstance(sent, str) and rec and rec != sent:
                self.event_ids[rec] = sent
                if len(self.event_ids) > MAX_EVENT_IDS:
                    del self.event_ids[next(iter(self.event_ids))]

    def run(self, run: ServerRun) -> Sequence[bytes | memoryview]:
        """The run's payloads, with those that hold a rebound id (or, as an `error` event, a
        client's event_id) rewritten. A payload is searched in place, in the file's block,
        except inside a long `delta` / `audio` string (base64 audio cannot hold an id): the
        cost per event stays small whatever the audio's size."""
        block, starts, payloads = run.block, run.starts, run.payloads
        if not self.active:
            return payloads
        needles = [*self._needles, b'"error"'] if self.event_ids else self._needles
        out: list[bytes | memoryview] | None = None
        find = block.find
        for i, lo in enumerate(starts):
            hi = lo + len(payloads[i])
            head, tail = hi, hi  # search [lo, head) and [tail, hi)
            if hi - lo > 1024:
                cut = find(b'"delta":"', lo, lo + 512)
                if cut < 0:
                    cut = find(b'"audio":"', lo, lo + 512)
                if cut >= 0:
                    end = find(b'"', cut + 9, hi)
                    if end - cut > 256:
                        head, tail = cut + 9, end
            for needle in needles:
                if find(needle, lo, head) >= 0 or (tail < hi and find(needle, tail, hi) >= 0):
                    if out is None:
                        out = list(payloads)
                    out[i] = self.payload(payloads[i])
                    break
        return payloads if out is None else out

    def payload(self, data: bytes | memoryview) -> bytes | memoryview:
        """One recorded server event's bytes, rewritten if it holds a rebound id."""
        if not self.active:
            return data
        raw = bytes(data)
        if not any(n in raw for n in self._needles) and not (self.event_ids
                                                            and b'"error"' in raw):
            return data
        changed = self.rewrite(ServerEventText(self.conn, 0.0, raw).event)
        if changed is None:
            return data
        return json.dumps(changed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def event(self, line: Event) -> str:
        """A recorded server event's text, rewritten if it holds a rebound id."""
        if not self.active:
            return line.raw  # byte-for-byte as recorded
        changed = self.rewrite(line.event)
        if changed is None:
            return line.raw
        return json.dumps(changed, ensure_ascii=False, separators=(",", ":"))

    def rewrite(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """`event` with recorded ids replaced by the client's (None if nothing changes)."""
        mapping = self.bindings
        if self.event_ids and event.get("type") == "error":
            mapping = {**self.event_ids, **self.bindings}
        changed = rewrite_ids(event, mapping)
        return None if changed == event else changed
