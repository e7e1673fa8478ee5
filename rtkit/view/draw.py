"""The SVG drawings of a report: an episode's timeline (client and server lanes on the
recorded time axis) and its audio (the user's input and the assistant's output on the audio
time axis, with VAD marks and truncations)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

from rtkit.cassette.audio_spool import AudioSpool
from rtkit.view.episode import INPUT_STREAM, EpisodeView
from rtkit.view.timeline import Mark, Stream, Timeline
from rtkit.view.waveform import envelope, envelope_path

__all__ = ["LEFT", "Scale", "audio_svg", "category", "scale_for", "timeline_svg"]

LEFT = 130  # px before time 0: the lanes' names
RIGHT = 24
WIDTH = 960  # px for the whole length, when that gives at least MIN_PX_PER_S
MIN_PX_PER_S = 40.0
MAX_WIDTH = 16000
MAX_GAIN = 8.0  # a lane is drawn at most this much louder than recorded
CLUSTER_PX = 4.0  # marks closer than this are drawn (and hovered) as one
_TICKS_S = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 3600)


@dataclass(frozen=True)
class Scale:
    """A time axis: `px_per_ms` from `LEFT`, `length_ms` long."""

    px_per_ms: float
    length_ms: float

    def x(self, ms: float) -> float:
        """The x of time `ms`."""
        return LEFT + ms * self.px_per_ms

    @property
    def width(self) -> int:
        """The drawing's width in px."""
        return int(LEFT + self.length_ms * self.px_per_ms + RIGHT)


def scale_for(length_ms: float) -> Scale:
    """`WIDTH` px for `length_ms`, unless that is under `MIN_PX_PER_S` (a long episode is
    wider and scrolls), at most `MAX_WIDTH`."""
    length = max(length_ms, 1.0)
    px = WIDTH / length
    if px * 1000 < MIN_PX_PER_S:
        px = min(MIN_PX_PER_S / 1000, MAX_WIDTH / length)
    return Scale(px, length)


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _axis(scale: Scale, height: int, label: str) -> list[str]:
    step = next((s for s in _TICKS_S if s * 1000 * scale.px_per_ms >= 80), _TICKS_S[-1])
    out = ['<g class="axis">', f'<text x="4" y="14">{escape(label)}</text>']
    n = int(scale.length_ms / (step * 1000)) + 1
    for k in range(n + 1):
        ms = k * step * 1000
        if ms > scale.length_ms + 1e-6:
            break
        x = _f(scale.x(ms))
        text = f"{k * step:g} s" if step >= 1 else f"{k * step:.2f}".rstrip("0").rstrip(".") + " s"
        out.append(f'<line x1="{x}" y1="18" x2="{x}" y2="{height}"/>'
                   f'<text x="{x}" y="14" text-anchor="middle">{text}</text>')
    out.append("</g>")
    return out


def category(kind: str) -> str:
    """The colour class of an event type."""
    if kind == "error":
        return "error"
    if kind in ("conversation.item.truncate", "conversation.item.truncated", "response.cancel"):
        return "cut"
    for prefix, name in (("session.", "session"), ("input_audio_buffer.", "input"),
                         ("conversation.", "item"), ("response.", "response")):
        if kind.startswith(prefix):
            return name
    return "other"


def _types(types: dict[str, int]) -> str:
    return ", ".join(f"{t} x{n}" if n > 1 else t for t, n in types.items())


def _clusters(marks: Iterable[Mark], scale: Scale) -> list[list[Mark]]:
    groups: list[list[Mark]] = []
    for mark in marks:
        if groups and scale.x(mark.t) - scale.x(groups[-1][0].t) < CLUSTER_PX:
            groups[-1].append(mark)
        else:
            groups.append([mark])
    return groups


def _mark_rect(group: list[Mark], scale: Scale, y: int, h: int) -> str:
    t0, t1 = group[0].t, group[-1].t
    types: dict[str, int] = {}
    for m in group:
        types[m.type] = types.get(m.type, 0) + 1
    kinds = [category(m.type) for m in group]
    cls = next((k for k in ("error", "cut") if k in kinds), kinds[0])
    lit = [m.type for m in group if m.highlight]
    x0 = scale.x(t0) - 1.5
    width = max(3.0, scale.x(t1) - scale.x(t0) + 3)
    title = f"{_when(t0, t1)} {group[0].lane}: {_types(types)}"
    marked = f' data-hl="{escape(", ".join(lit))}"' if lit else ""
    return (f'<rect class="mark {cls}{" hl" if lit else ""}" x="{_f(x0)}" y="{y}" '
            f'width="{_f(width)}" height="{h}" data-lane="{group[0].lane}" data-n="{len(group)}" '
            f'data-t0="{t0:g}" data-t1="{t1:g}" data-types="{escape(_types(types))}"{marked} '
            f'data-title="{escape(title)}" data-i="{" ".join(str(m.preview) for m in group)}"/>')


def _when(t0: float, t1: float) -> str:
    """`0.107 s`, or `0.107 s to 0.186 s` (recorded ms in)."""
    a, b = f"{t0 / 1000:.3f} s", f"{t1 / 1000:.3f} s"
    return a if a == b else f"{a} to {b}"


def _stream_label(stream: Stream) -> str:
    if stream.kind == "input audio":
        return f"input audio {stream.audio_ms / 1000:.2f} s"
    if stream.kind == "more":
        return f"{stream.n} more events"
    parts = []
    for kind, n in stream.types.items():
        word = kind.rsplit(".", 2)[-2].replace("output_", "").replace("audio_", "")
        if kind in ("response.output_audio.delta", "response.audio.delta"):
            parts.append(f"audio {stream.audio_ms / 1000:.2f} s")
        else:
            parts.append(f"{word} x{n}")
    return f"{stream.key}: {', '.join(parts)}"


def _stream_rect(stream: Stream, scale: Scale, y: int, h: int) -> str:
    x0 = scale.x(stream.t0)
    width = max(3.0, scale.x(stream.t1) - x0)
    kind = {"input audio": " audio-in", "more": " more"}.get(stream.kind, "")
    if stream.audio_ms and stream.kind == "deltas":
        kind = " audio-out"
    label = _stream_label(stream)
    title = (f"{_when(stream.t0, stream.t1)} {stream.lane}: {label} "
             f"({stream.n} events: {_types(stream.types)})")
    rect = (f'<rect class="bar{kind}{" hl" if stream.highlight else ""}" x="{_f(x0)}" y="{y}" '
            f'width="{_f(width)}" height="{h}" data-lane="{stream.lane}" data-n="{stream.n}" '
            f'data-t0="{stream.t0:g}" data-t1="{stream.t1:g}" data-key="{escape(stream.key)}" '
            f'data-types="{escape(_types(stream.types))}" data-title="{escape(title)}" '
            f'data-i="{stream.preview}"/>')
    if width > 7 * len(label) * 0.6:
        rect += (f'<text class="bar-label" x="{_f(x0 + 4)}" y="{y + h - 4}">'
                 f'{escape(label)}</text>')
    return rect


def timeline_svg(tl: Timeline, scale: Scale, svg_id: str) -> str:
    """The timeline: per lane (client, server) a row of events and a row of grouped ones."""
    height = 118
    out = [f'<svg class="timeline" id="{svg_id}" width="{scale.width}" height="{height}" '
           f'data-scale="{scale.px_per_ms:g}" data-left="{LEFT}">']
    out += _axis(scale, height, "recorded time")
    rows = {"client": (26, 44), "server": (70, 88)}
    for lane, (y_marks, y_bars) in rows.items():
        out.append(f'<text class="lane-label" x="4" y="{y_marks + 11}">{lane}</text>'
                   f'<text x="4" y="{y_bars + 11}">'
                   f'{"input audio" if lane == "client" else "deltas"}</text>')
        marks = [m for m in tl.marks if m.lane == lane]
        out += [_mark_rect(g, scale, y_marks, 14) for g in _clusters(marks, scale)]
        out += [_stream_rect(s, scale, y_bars, 14) for s in tl.streams if s.lane == lane]
    out.append("</svg>")
    return "".join(out)


class _Waves:
    """The waveforms of one lane, drawn at one gain: its loudest sample reaches the lane's
    edge (at most `MAX_GAIN` times louder than recorded), so quiet speech is seen."""

    def __init__(self, spool: AudioSpool, conn: int, scale: Scale, mid: float,
                 half: float) -> None:
        self.spool, self.conn, self.scale, self.mid, self.half = spool, conn, scale, mid, half
        self.waves: list[tuple[Any, Any, float, float, str]] = []

    def add(self, key: str, start: int, n: int, at_ms: float, cls: str, attrs: str = "") -> None:
        """Samples `[start, start + n)` of `key`'s audio, drawn from `at_ms` on."""
        path = self.spool.path(self.conn, key)
        if path is None or n <= 0:
            return
        width = n * 1000 / self.spool.rate(self.conn, key) * self.scale.px_per_ms
        lows, highs = envelope(path, start, n, max(1, round(width)))
        self.waves.append((lows, highs, self.scale.x(at_ms), width,
                           f'<path class="wave {cls}"{attrs} d="'))

    @property
    def gain(self) -> float:
        """How much louder than recorded the lane is drawn."""
        peak = max((max(float(-lows.min()), float(highs.max())) for lows, highs, *_ in
                    self.waves), default=0.0)
        return 1.0 if peak <= 0 else max(1.0, min(MAX_GAIN, 0.95 / peak))

    def svg(self) -> list[str]:
        """The paths."""
        gain = self.gain
        return [head + envelope_path(lows * gain, highs * gain, x0, width, self.mid, self.half)
                + '"/>' for lows, highs, x0, width, head in self.waves]


def _lane_label(top: int, bottom: int, name: str, gain: float) -> str:
    y = (top + bottom) // 2 + 4
    shown = f'<text x="4" y="{y + 13}">drawn x{gain:.1f}</text>' if gain > 1.05 else ""
    return f'<text class="lane-label" x="4" y="{y}">{name}</text>{shown}'


def audio_svg(view: EpisodeView, spool: AudioSpool, scale: Scale, svg_id: str) -> str:
    """The audio lanes: the input stream as appended (with each user item's part and the VAD
    marks) and each output item where it plays (a truncated part in grey)."""
    height, user, assistant, half = 214, (28, 110), (124, 206), 34.0
    out = [f'<svg class="audio" id="{svg_id}" width="{scale.width}" height="{height}" '
           f'data-scale="{scale.px_per_ms:g}" data-left="{LEFT}" '
           f'data-lag-ms="{view.lag_ms:g}">']
    out += _axis(scale, height, "audio time")
    conn = view.conn
    waves = _Waves(spool, conn, scale, (user[0] + user[1]) / 2, half)
    per_ms = view.input_rate / 1000
    for seg in view.segments:
        start, n = round(seg.stream_ms * per_ms), round(seg.length_ms * per_ms)
        waves.add(INPUT_STREAM, start, min(n, view.input_samples - start), seg.axis_ms, "user",
                  f' data-stream-ms="{seg.stream_ms:g}" data-axis-ms="{seg.axis_ms:g}"')
    if not view.segments:  # no stream (audio sent in the items themselves): their samples
        for clip in view.clips:
            if clip.role == "user":
                waves.add(clip.item_id, 0, clip.heard, clip.axis_ms, "user")
    out += waves.svg()
    out.append(_lane_label(*user, "user (input)", waves.gain))
    users = [clip for clip in view.clips if clip.role == "user"]
    for k, clip in enumerate(users):
        a, b = view.ranges.get(clip.item_id, (clip.axis_ms, clip.axis_ms + clip.heard_ms))
        y = user[1] - 2 - 5 * (k % 2)  # two rows: one item's part may overlap the next's
        title = f"{clip.item_id}: user audio {clip.heard_ms / 1000:.2f} s"
        out.append(f'<line class="range" x1="{_f(scale.x(a))}" y1="{y}" '
                   f'x2="{_f(max(scale.x(b), scale.x(a) + 2))}" y2="{y}"/>'
                   f'<rect class="clip" x="{_f(scale.x(a))}" y="{user[0]}" '
                   f'width="{_f(max(scale.x(b) - scale.x(a), 2))}" height="{user[1] - user[0]}" '
                   f'data-item="{escape(clip.item_id)}" data-axis-ms="{clip.axis_ms:g}" '
                   f'data-ms="{clip.heard_ms:g}"><title>{escape(title)}</title></rect>')
    for mark in view.vad:
        x = _f(scale.x(mark.axis_ms))
        title = (f"speech {mark.kind} at {mark.stream_ms:g} ms of the input "
                 f"(event at {mark.t / 1000:.3f} s)")
        out.append(f'<line class="vad {mark.kind}" x1="{x}" y1="{user[0]}" x2="{x}" '
                   f'y2="{user[1]}" data-stream-ms="{mark.stream_ms:g}" '
                   f'data-axis-ms="{mark.axis_ms:g}"><title>{escape(title)}</title></line>'
                   f'<text x="{x}" y="{user[0] + (9 if mark.kind == "started" else 20)}" '
                   f'text-anchor="middle">{"▼ speech" if mark.kind == "started" else "▲ end"}'
                   "</text>")
    waves = _Waves(spool, conn, scale, (assistant[0] + assistant[1]) / 2, half)
    answers = [clip for clip in view.clips if clip.role == "assistant"]
    for clip in answers:
        attrs = (f' data-item="{escape(clip.item_id)}" data-axis-ms="{clip.axis_ms:g}"'
                 f' data-ms="{clip.heard_ms:g}"')
        waves.add(clip.item_id, 0, clip.heard, clip.axis_ms, "assistant", attrs)
        waves.add(clip.item_id, clip.heard, clip.received - clip.heard,
                  clip.axis_ms + clip.heard_ms, "cut")
    out += waves.svg()
    out.append(_lane_label(*assistant, "assistant (output)", waves.gain))
    for clip in answers:
        x0, x1 = scale.x(clip.axis_ms), scale.x(clip.axis_ms + clip.heard_ms)
        title = f"{clip.item_id}: assistant audio {clip.heard_ms / 1000:.2f} s"
        if clip.truncated_ms is not None:
            title += (f", truncated at {clip.truncated_ms:g} ms (at "
                      f"{(clip.truncated_t or 0) / 1000:.3f} s) of {clip.received_ms:g} ms")
            out.append(f'<line class="truncation" x1="{_f(x1)}" y1="{assistant[0]}" '
                       f'x2="{_f(x1)}" y2="{assistant[1]}"/><text class="truncation" '
                       f'x="{_f(x1 + 3)}" y="{assistant[0] + 10}">✂ {clip.truncated_ms:g} ms'
                       "</text>")
        out.append(f'<rect class="clip" x="{_f(x0)}" y="{assistant[0]}" '
                   f'width="{_f(max(x1 - x0, 2))}" height="{assistant[1] - assistant[0]}" '
                   f'data-item="{escape(clip.item_id)}" data-axis-ms="{clip.axis_ms:g}" '
                   f'data-ms="{clip.heard_ms:g}"><title>{escape(title)}</title></rect>')
    out.append(f'<line class="playhead" x1="0" y1="22" x2="0" y2="{height}" '
               'style="display:none"/></svg>')
    return "".join(out)
