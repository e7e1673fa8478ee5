"""Compare two recordings at the conversation level (what `rtkit diff` prints).

Sans-I/O: takes `EpisodeSummary` lists, returns lines. Items are compared by what was said,
called and returned (type, speaker, text, transcript, tool name, arguments, output, status),
never by ids, times or base64 audio; event types by which types occur and how often.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from rtkit.cassette.summary import EpisodeSummary, ItemSummary

__all__ = ["align_items", "compare_episodes", "compare_summaries", "item_changes"]

_NOISY = (".delta",)  # delta counts change with chunking, not with what was said


def _key(item: ItemSummary) -> str:
    return json.dumps(item.signature(), sort_keys=True, ensure_ascii=False)


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:119] + "…"


def _item_line(item: ItemSummary) -> str:
    sig = item.signature()
    rest = ", ".join(f"{k}={_show(v)}" for k, v in sig.items() if k not in ("type", "who"))
    return f"{sig['who']} {sig['type']}" + (f": {rest}" if rest else "")


def item_changes(a: ItemSummary, b: ItemSummary) -> dict[str, tuple[Any, Any]]:
    """The compared fields that differ between two items: field -> (A's value, B's), a value
    that is absent being None."""
    sa, sb = a.signature(), b.signature()
    return {key: (sa.get(key), sb.get(key)) for key in dict.fromkeys([*sa, *sb])
            if sa.get(key) != sb.get(key)}


def _changed(a: ItemSummary, b: ItemSummary) -> list[str]:
    return [f"    {key}: {_show('(none)' if x is None else x)} -> "
            f"{_show('(none)' if y is None else y)}" for key, (x, y) in item_changes(a, b).items()]


def align_items(a: list[ItemSummary], b: list[ItemSummary]
                ) -> list[tuple[str, int | None, int | None]]:
    """The two item lists side by side, in order: `("equal", i, j)`, `("changed", i, j)` (the
    same place, different content), `("removed", i, None)`, `("added", None, j)`; `i` / `j`
    index `a` / `b`."""
    rows: list[tuple[str, int | None, int | None]] = []
    ka, kb = [_key(i) for i in a], [_key(i) for i in b]
    matcher = difflib.SequenceMatcher(a=ka, b=kb, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows += [("equal", i1 + k, j1 + k) for k in range(i2 - i1)]
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        rows += [("changed", i1 + k, j1 + k) for k in range(paired)]
        rows += [("removed", i, None) for i in range(i1 + paired, i2)]
        rows += [("added", None, j) for j in range(j1 + paired, j2)]
    return rows


def compare_episodes(a: EpisodeSummary, b: EpisodeSummary) -> list[str]:
    """What changed from episode `a` to episode `b` (empty when nothing did)."""
    lines: list[str] = []
    for op, i, j in align_items(a.items, b.items):
        if op == "changed" and i is not None and j is not None:
            lines.append(f"  ~ item {i + 1}: {_item_line(a.items[i])}")
            lines += _changed(a.items[i], b.items[j])
        elif op == "removed" and i is not None:
            lines.append(f"  - item {i + 1}: {_item_line(a.items[i])}")
        elif op == "added" and j is not None:
            lines.append(f"  + item {j + 1}: {_item_line(b.items[j])}")
    ra = [(r["status"], r["reason"]) for r in a.responses]
    rb = [(r["status"], r["reason"]) for r in b.responses]
    if ra != rb:
        lines.append(f"  responses: {_statuses(ra)} -> {_statuses(rb)}")
    ea = [(e["type"], e["code"]) for e in a.errors]
    eb = [(e["type"], e["code"]) for e in b.errors]
    if ea != eb:
        lines.append(f"  errors: {_errors(ea)} -> {_errors(eb)}")
    only_a = sorted(set(a.event_counts) - set(b.event_counts))
    only_b = sorted(set(b.event_counts) - set(a.event_counts))
    if only_a:
        lines.append(f"  event types only in A: {', '.join(only_a)}")
    if only_b:
        lines.append(f"  event types only in B: {', '.join(only_b)}")
    counts = [f"{t} {a.event_counts[t]} -> {b.event_counts[t]}"
              for t in sorted(set(a.event_counts) & set(b.event_counts))
              if a.event_counts[t] != b.event_counts[t] and not t.endswith(_NOISY)]
    if counts:
        lines.append(f"  event counts: {'; '.join(counts)}")
    for what, x, y in (("input audio", a.input_audio_ms, b.input_audio_ms),
                       ("output audio", a.output_audio_ms, b.output_audio_ms)):
        if abs(x - y) >= 1:
            lines.append(f"  {what}: {x / 1000:.2f} s -> {y / 1000:.2f} s")
    return lines


def _statuses(responses: list[tuple[Any, Any]]) -> str:
    return "[" + ", ".join(f"{s}" + (f" ({r})" if r else "") for s, r in responses) + "]"


def _errors(errors: list[tuple[Any, Any]]) -> str:
    return "[" + ", ".join(f"{t}/{c}" for t, c in errors) + "]" if errors else "none"


def compare_summaries(a: list[EpisodeSummary], b: list[EpisodeSummary]) -> list[str]:
    """Differences between two cassettes, episode by episode (empty when they match)."""
    lines: list[str] = []
    if len(a) != len(b):
        lines.append(f"episodes: {len(a)} -> {len(b)}")
    for ea, eb in zip(a, b, strict=False):
        changes = compare_episodes(ea, eb)
        if changes:
            lines.append(f"episode {ea.conn} -> {eb.conn}:")
            lines += changes
    for extra in a[len(b):]:
        lines.append(f"episode {extra.conn}: only in A ({len(extra.items)} items)")
    for extra in b[len(a):]:
        lines.append(f"episode {extra.conn}: only in B ({len(extra.items)} items)")
    return lines
