"""The report's HTML: a page of episodes (`rtkit view`), or two recordings side by side
(`rtkit diff --html`, a failed replayed test). Written to a text stream piece by piece: only
the drawings of one episode are held as strings, audio goes through `Media`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Protocol, TextIO

from rtkit.cassette.compare import align_items, item_changes
from rtkit.cassette.model import Header
from rtkit.cassette.summary import ItemSummary
from rtkit.view.assets import CSS, JS
from rtkit.view.collect import Side
from rtkit.view.draw import audio_svg, scale_for, timeline_svg
from rtkit.view.episode import Clip, EpisodeView, Note
from rtkit.view.timeline import Previews

__all__ = ["Failure", "Media", "render_pair", "render_view"]


class Media(Protocol):
    """Writes an item's `<audio>` element (inline, linked, or a note saying why not)."""

    def audio(self, out: TextIO, side: Side, view: EpisodeView, clip: Clip, position: int,
              lanes: str) -> None:
        """Write the element for `clip` (the `position`-th item of its episode); `lanes` is
        the id of the audio drawing its playhead moves on."""


@dataclass
class Failure:
    """What failed, for the box at the top of a side-by-side report."""

    message: str
    where: str = ""  # e.g. "episode 0, client event #5"
    expected: dict[str, Any] | None = None
    actual: dict[str, Any] | None = None
    differences: list[str] = field(default_factory=list)


def _s(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.3f} s"


def _json(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return escape(text)


def page_start(out: TextIO, title: str, subtitle: str) -> None:
    """The page's head and title."""
    out.write(f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
              f'<meta name="viewport" content="width=device-width, initial-scale=1">'
              f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
              f"<header><h1>{escape(title)}</h1><p class=\"meta\">{escape(subtitle)}</p>"
              "</header>")


def write_previews(out: TextIO, previews: Previews) -> None:
    """The events' previews not written yet (the page's script gathers every such block)."""
    first, texts = previews.take()
    if not texts:
        return
    data = json.dumps(texts, ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    out.write(f'<script type="application/json" class="rt-previews" data-first="{first}">'
              f"{data}</script>")


def page_end(out: TextIO, previews: Previews) -> None:
    """The hover panel, the previews left and the script."""
    write_previews(out, previews)
    out.write(f'<pre id="hover" hidden></pre><script>{JS}</script></body></html>\n')


def header_subtitle(header: Header | None) -> str:
    """When and by what a recording was recorded (and whether it is complete)."""
    if header is None:
        return ""
    parts = [f"recorded {header.created} by rtkit {header.rtkit}"]
    if header.model:
        parts.append(f"model {header.model}")
    if isinstance(header.meta.get("recovered"), dict):
        parts.append("incomplete: recovered by rtkit recover")
    return ", ".join(parts)


def side_subtitle(side: Side) -> str:
    """One line about a recording: episodes, dialect, when and by what it was recorded."""
    n = len(side.episodes)
    parts = [f"{n} episode{'s' if n != 1 else ''}"]
    dialects = {e.summary.dialect for e in side.episodes if e.summary.dialect}
    if dialects:
        parts.append("/".join(sorted(dialects)).upper())
    if side.header is not None:
        parts.append(header_subtitle(side.header))
    return ", ".join(parts)


# -- one episode ------------------------------------------------------------------------------


def episode_heading(view: EpisodeView) -> str:
    """Path, length, event counts, how it ended."""
    s = view.summary
    query = f"?{s.query}" if s.query else ""
    status = "" if view.connect.status == 101 else f" · refused: HTTP {view.connect.status}"
    dialect = f"{s.dialect.upper()} · " if s.dialect else ""
    return (f"{s.path}{query} · {dialect}{s.duration_ms / 1000:.2f} s · {s.n_client} client / "
            f"{s.n_server} server events · {s.ending()}{status}")


def figures(view: EpisodeView) -> str:
    """Time to first audio and text, durations and tokens per response; audio; errors."""
    s = view.summary
    heard = sum(c.heard_ms for c in view.clips if c.role == "assistant")
    received = sum(c.received_ms for c in view.clips if c.role == "assistant")
    played = f" ({heard / 1000:.2f} s played)" if abs(received - heard) >= 1 else ""
    n_err = len(s.errors)
    lines = [f'<p class="hint">input audio {s.input_audio_ms / 1000:.2f} s · output audio '
             f"{received / 1000:.2f} s{played} · {len(view.responses)} response(s) · "
             f"{n_err} error{'s' if n_err != 1 else ''}</p>"]
    if view.responses:
        lines.append('<table class="figures"><tr><th>response</th><th>status</th>'
                     "<th>created</th><th>first audio</th><th>first text</th><th>duration</th>"
                     "<th>tokens in / out / total</th></tr>")
        for r in view.responses:
            status = (r.status or "not done") + (f" ({r.reason})" if r.reason else "")
            tokens = " / ".join(str(r.usage.get(k, "—")) for k in
                                ("input_tokens", "output_tokens", "total_tokens"))
            first_audio = "—" if r.to_first_audio is None else f"+{r.to_first_audio:.0f} ms"
            first_text = "—" if r.to_first_text is None else f"+{r.to_first_text:.0f} ms"
            duration = "—" if r.duration is None else f"{r.duration:.0f} ms"
            lines.append(f"<tr><td>{escape(r.id)}</td><td>{escape(status)}</td>"
                         f"<td>{_s(r.t_created)}</td><td>{first_audio}</td><td>{first_text}</td>"
                         f"<td>{duration}</td><td>{tokens}</td></tr>")
        lines.append("</table>")
    return "".join(lines)


def lag_hint(view: EpisodeView) -> str:
    """What the audio axis is, in words."""
    if view.lag_ms < 50:
        return ('<p class="hint">Audio time is the recorded time: input audio where the client '
                "sent it, output audio from its first delta, one item after another; a "
                "truncated item stops where it was cut (grey: audio received, not played). "
                "Click a sound to play it.</p>")
    return ('<p class="hint">The client sent its audio faster than real time, so on the audio '
            "axis the input plays end to end and everything after it is later than recorded "
            f"(by up to {view.lag_ms / 1000:.2f} s): output audio starts after the input the "
            "server had heard when its first delta came, one item after another; a truncated "
            "item stops where it was cut (grey: received, not played). Click a sound to play "
            "it.</p>")


def _item_body(out: TextIO, item: ItemSummary, side: Side, view: EpisodeView, media: Media,
               position: int, lanes: str, notes: dict[str, list[str]]) -> None:
    if item.type == "function_call":
        out.write(f'<span class="call">{escape(str(item.name))}({_json(item.arguments)})</span>')
    elif item.type == "function_call_output":
        out.write(f'<span class="call">→ {_json(item.output)}</span>')
    else:
        said = item.text or item.transcript
        if said:
            out.write(f'<span class="said">“{escape(said)}”</span>')
        clip = view.clip(item.id)
        if clip is not None:
            media.audio(out, side, view, clip, position, lanes)
        elif not said:
            out.write('<span class="noaudio">(empty)</span>')
    if item.status not in (None, "completed"):
        out.write(f'<span class="status">{escape(str(item.status))}</span>')
    for note in notes.get(item.id, []):
        out.write(f'<span class="status">{escape(note)}</span>')


def _item_notes(view: EpisodeView) -> dict[str, list[str]]:
    """What happened to each item: its response cancelled, its audio truncated."""
    out: dict[str, list[str]] = {}
    for r in view.responses:
        if r.status == "cancelled":
            why = f" ({r.reason})" if r.reason else ""
            for item in r.items:
                out.setdefault(item, []).append(f"response cancelled{why} at {_s(r.t_done)}")
    for clip in view.clips:
        if clip.truncated_ms is not None:
            out.setdefault(clip.item_id, []).append(
                f"✂ truncated at {clip.truncated_ms:g} ms (at {_s(clip.truncated_t)}), "
                f"{clip.heard_ms / 1000:.2f} of {clip.received_ms / 1000:.2f} s played")
    return out


def item_row(out: TextIO, item: ItemSummary, side: Side, view: EpisodeView, media: Media,
             position: int, lanes: str, notes: dict[str, list[str]], cls: str = "") -> None:
    """One item of the conversation as a list entry."""
    out.write(f'<li class="item {escape(item.who)}{cls}" data-item="{escape(item.id)}">'
              f'<span class="t">{_s(item.t_ms)}</span>'
              f'<span class="who {escape(item.who)}">{escape(item.who)}</span>')
    _item_body(out, item, side, view, media, position, lanes, notes)
    out.write("</li>")


def _note_row(note: Note) -> str:
    cls = "error" if note.kind == "error" else "cut"
    who = "server" if note.kind in ("truncated", "cancelled", "error") else "client"
    return (f'<li class="note {cls}"><span class="t">{_s(note.t)}</span>'
            f'<span class="who">{who}</span><span>{escape(note.text)}</span></li>')


def conversation(out: TextIO, side: Side, view: EpisodeView, media: Media, lanes: str) -> None:
    """The items in order of appearance, with truncations, cancellations and errors where
    they happened."""
    notes = _item_notes(view)
    rows: list[tuple[float, int, Any]] = [(item.t_ms, 0, (k, item))
                                          for k, item in enumerate(view.summary.items, 1)]
    rows += [(note.t, 1, note) for note in view.notes]
    rows.sort(key=lambda r: (r[0], r[1]))
    out.write('<ol class="conversation">')
    for _, kind, row in rows:
        if kind == 0:
            position, item = row
            item_row(out, item, side, view, media, position, lanes, notes)
        else:
            out.write(_note_row(row))
    if not rows:
        out.write('<li class="note">(no items)</li>')
    out.write("</ol>")


def drawings(out: TextIO, side: Side, view: EpisodeView, media: Media, prefix: str,
             length_ms: float | None = None, audio_ms: float | None = None,
             label: str = "") -> str:
    """The timeline and audio drawings of an episode (with a shared length, when two are
    compared), and the input audio as sent; returns the audio drawing's id."""
    lanes = f"{prefix}-ep{view.conn}-audio"
    out.write(f"<h3>{escape(label)}Timeline</h3><div class=\"scroll\">")
    out.write(timeline_svg(view.timeline, scale_for(length_ms or view.summary.duration_ms),
                           f"{prefix}-ep{view.conn}-timeline"))
    out.write(f"</div><h3>{escape(label)}Audio</h3>")
    if not view.clips and not view.segments:
        out.write('<p class="hint">No audio in this episode.</p>')
        return lanes
    out.write('<div class="scroll">')
    out.write(audio_svg(view, side.spool, scale_for(audio_ms or view.audio_end_ms), lanes))
    out.write("</div>" + lag_hint(view))
    stream = view.input_clip
    if stream is not None:
        out.write('<p class="hint">All the input audio as the client sent it: ')
        media.audio(out, side, view, stream, 0, lanes)
        out.write("</p>")
    return lanes


def episode_section(out: TextIO, side: Side, view: EpisodeView, media: Media,
                    previews: Previews) -> None:
    """One episode of a recording's page: figures, timeline, audio, conversation (and the
    previews of its events)."""
    out.write(f'<section class="episode" id="ep{view.conn}"><h2>Episode {view.conn} '
              f"<small>{escape(episode_heading(view))}</small></h2>")
    out.write(figures(view))
    lanes = drawings(out, side, view, media, "v")
    out.write("<h3>Conversation</h3>")
    conversation(out, side, view, media, lanes)
    out.write("</section>")
    write_previews(out, previews)


def render_view(out: TextIO, side: Side, media: Media, previews: Previews, title: str) -> None:
    """The page of one recording read whole: per episode its figures, timeline, audio,
    conversation (`write_view` writes each episode as soon as it is read instead)."""
    page_start(out, title, side_subtitle(side))
    for view in side.episodes:
        episode_section(out, side, view, media, previews)
    if not side.episodes:
        out.write("<p>No episode.</p>")
    page_end(out, previews)


# -- two recordings side by side --------------------------------------------------------------


def failure_box(failure: Failure) -> str:
    """The failure's message, and the differing event as recorded and as sent."""
    where = f" at {escape(failure.where)}" if failure.where else ""
    out = [f'<section class="failure"><h2>Failure{where}</h2>'
           f"<pre>{escape(failure.message)}</pre>"]
    if failure.expected is not None or failure.actual is not None:
        from rtkit.view.timeline import preview

        shown = [preview(e, None) if e is not None else "(none)"
                 for e in (failure.expected, failure.actual)]
        out.append('<div class="events"><div><h3>recorded</h3><pre class="json">'
                   f"{escape(shown[0])}</pre></div><div><h3>this run</h3><pre class=\"json\">"
                   f"{escape(shown[1])}</pre></div></div>")
    if failure.differences:
        out.append("<h3>Differences</h3><pre>" + escape("\n".join(failure.differences))
                   + "</pre>")
    out.append("</section>")
    return "".join(out)


def _pair_conversation(out: TextIO, a: Side, b: Side, va: EpisodeView, vb: EpisodeView,
                       media: Media, lanes: tuple[str, str]) -> None:
    notes = (_item_notes(va), _item_notes(vb))
    out.write(f'<table class="pair"><thead><tr><th>{escape(a.name)}</th><th>{escape(b.name)}'
              "</th></tr></thead><tbody>")
    for op, i, j in align_items(va.summary.items, vb.summary.items):
        cls = "" if op == "equal" else f" {op}"
        out.write(f'<tr class="row{cls}">')
        for side, view, index, lane, note in ((a, va, i, lanes[0], notes[0]),
                                              (b, vb, j, lanes[1], notes[1])):
            if index is None:
                out.write('<td class="empty"></td>')
                continue
            out.write(f'<td class="{op}"><ol class="conversation">')
            item_row(out, view.summary.items[index], side, view, media, index + 1, lane, note)
            out.write("</ol>")
            if op == "changed" and side is b and i is not None:
                changes = item_changes(va.summary.items[i], vb.summary.items[index])
                out.write('<div class="changes">' + "<br>".join(
                    f"{escape(k)}: {_json(x) if x is not None else '(none)'} → "
                    f"{_json(y) if y is not None else '(none)'}" for k, (x, y) in changes.items())
                    + "</div>")
            out.write("</td>")
        out.write("</tr>")
    out.write("</tbody></table>")


def render_pair(out: TextIO, a: Side, b: Side, media: Media, previews: Previews, title: str,
                differences: Sequence[str] = (), failure: Failure | None = None) -> None:
    """Two recordings episode by episode: the conversations side by side (differing items
    highlighted), then each one's timeline and audio on the same scale."""
    page_start(out, title, f"{a.name}: {side_subtitle(a)} — {b.name}: {side_subtitle(b)}")
    if failure is not None:
        out.write(failure_box(failure))
    if differences:
        out.write("<h2>Differences</h2><pre>" + escape("\n".join(differences)) + "</pre>")
    conns = sorted({v.conn for v in a.episodes} | {v.conn for v in b.episodes})
    for conn in conns:
        va, vb = a.episode(conn), b.episode(conn)
        out.write(f'<section class="episode" id="ep{conn}"><h2>Episode {conn}</h2>')
        for side, view in ((a, va), (b, vb)):
            heading = episode_heading(view) if view is not None else "(no such episode)"
            out.write(f'<p class="hint"><b>{escape(side.name)}</b>: {escape(heading)}</p>')
        if va is not None and vb is not None:
            length = max(va.summary.duration_ms, vb.summary.duration_ms)
            audio = max(va.audio_end_ms, vb.audio_end_ms)
            ids = ("a", "b")
            lanes = (f"{ids[0]}-ep{conn}-audio", f"{ids[1]}-ep{conn}-audio")
            out.write("<h3>Conversation</h3>")
            _pair_conversation(out, a, b, va, vb, media, lanes)
            for (side, view), prefix in zip(((a, va), (b, vb)), ids, strict=True):
                out.write(f'<h3 class="side">{escape(side.name)}</h3>' + figures(view))
                drawings(out, side, view, media, prefix, length, audio, f"{side.name}: ")
        else:
            for (side, view), prefix in zip(((a, va), (b, vb)), ("a", "b"), strict=True):
                if view is None:
                    continue
                lanes_id = drawings(out, side, view, media, prefix, label=f"{side.name}: ")
                out.write(f"<h3>{escape(side.name)}: Conversation</h3>")
                conversation(out, side, view, media, lanes_id)
        out.write("</section>")
    page_end(out, previews)


def all_clips(sides: Iterable[Side]) -> int:
    """How many audio clips the sides have."""
    return sum(len(v.clips) for s in sides for v in s.episodes)
