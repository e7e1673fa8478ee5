"""`rtkit inspect`: a cassette as a readable timeline per episode (or JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from rtkit.cassette.model import Event, Frame
from rtkit.cassette.reader import read_numbered_lines
from rtkit.cassette.summary import EpisodeSummary, ItemSummary, read_summaries
from rtkit.commands._common import echo, fail, read_cassette

__all__ = ["command", "describe_item", "numbered_events", "render"]

_WIDTH = 140


def _clip(text: str, width: int = _WIDTH) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def describe_item(item: ItemSummary) -> str:
    """One line for an item: what was said, called or returned."""
    if item.type == "function_call":
        what = f"call {item.name}({_compact(item.arguments)})"
    elif item.type == "function_call_output":
        what = f"output {_compact(item.output)}"
    else:
        said = item.text or item.transcript
        what = f'"{said}"' if said else ""
        if item.audio_ms:
            what = f"[audio {item.audio_ms / 1000:.2f} s] {what}".rstrip()
        what = what or "(empty)"
    if item.status not in (None, "completed"):
        what += f"  ({item.status})"
    return _clip(what)


def render(path: Path, summaries: list[EpisodeSummary], header: Any) -> str:
    """The human-readable timeline of a cassette."""
    dialects = {s.dialect for s in summaries if s.dialect} or {header.dialect or "?"}
    lines = [f"{path}: {len(summaries)} episode(s), {'/'.join(sorted(dialects)).upper()}, "
             f"recorded {header.created} by rtkit {header.rtkit}"]
    recovered = header.meta.get("recovered")
    if isinstance(recovered, dict):
        lines.append(f"incomplete: recovered by rtkit recover from {recovered.get('from')} "
                     "(the recording was killed)")
    for s in summaries:
        closed = s.ending()
        query = f"?{s.query}" if s.query else ""
        lines += ["", f"episode {s.conn}  {s.path}{query}  {s.duration_ms / 1000:.2f} s  "
                      f"({s.n_client} client / {s.n_server} server events)  {closed}"]
        items = {item.id: item for item in s.items}
        for m in s.timeline:
            if m.item_id is not None:
                item = items.get(m.item_id)
                if item is None:  # deleted later
                    continue
                who, what = item.who, describe_item(item)
            else:
                who, what = m.who, _clip(m.what)
            lines.append(f"  {m.t_ms / 1000:7.3f}  {who:<9}  {what}")
        statuses: dict[str, int] = {}
        for r in s.responses:
            statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
        resp = ", ".join(f"{n} {status}" for status, n in statuses.items())
        lines.append(f"  audio: {s.input_audio_ms / 1000:.2f} s in, "
                     f"{s.output_audio_ms / 1000:.2f} s out; {len(s.responses)} response(s)"
                     f"{f' ({resp})' if resp else ''}; {len(s.errors)} error(s)")
    return "\n".join(lines)


def numbered_events(path: Path, episode: int | None = None) -> list[str]:
    """Every event of each episode, numbered from 1 per direction as replay's mismatch
    reports count them ("client event #3"), with its line in the file."""
    counts: dict[tuple[int, str], int] = {}
    lines: dict[int, list[str]] = {}
    for lineno, line in read_numbered_lines(path):
        if not isinstance(line, Event | Frame) or episode not in (None, line.conn):
            continue
        number = counts[line.conn, line.dir] = counts.get((line.conn, line.dir), 0) + 1
        what = line.event.get("type") if isinstance(line, Event) else None
        what = what if isinstance(what, str) else \
            ("(a binary frame)" if isinstance(line, Frame) and line.binary is not None
             else "(not a JSON event)")
        lines.setdefault(line.conn, []).append(
            f"  {line.dir} #{number:<5} line {lineno:<6} {line.t / 1000:7.3f}  {_clip(what)}")
    out: list[str] = []
    for conn, found in lines.items():
        out += ["", f"episode {conn} events (numbered per direction, as replay reports them):",
                *found]
    return out


@click.command("inspect")
@click.argument("cassette", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--episode", "episode", type=int, default=None, metavar="N",
              help="Only this episode (conn number).")
@click.option("--counts", is_flag=True, help="Also list how many events of each type.")
@click.option("--events", is_flag=True,
              help="Also list every event, numbered from 1 per direction as replay's mismatch "
                   "reports count them, with its line in the file.")
def command(cassette: Path, as_json: bool, episode: int | None, counts: bool,
            events: bool) -> None:
    """Show a cassette as a timeline: turns, who spoke, text and transcripts, tool calls with
    arguments and outputs, audio durations, responses, errors and timings.

    \b
    $ rtkit inspect cassettes/ga/tool_call.jsonl
    cassettes/ga/tool_call.jsonl: 1 episode(s), GA, recorded 2026-12-07T21:06:30Z by rtkit 0.1.0
    ...
        0.013  user       "What's the weather in Paris?"
        0.013  server     response.created resp_zdSBMIvyqunLGFTJb80KJ
        0.013  assistant  call get_weather({"location": "Paris", "unit": "c"})
    ...
      audio: 0.00 s in, 0.00 s out; 2 response(s) (2 completed); 0 error(s)

    Audio is summarized as durations, never dumped; --json gives the same as JSON. Exit
    status: 0, or 2 for a missing or corrupt cassette (or no episode N).
    """
    header, summaries = read_cassette(cassette, read_summaries)
    if episode is not None:
        summaries = [s for s in summaries if s.conn == episode]
        if not summaries:
            fail(f"{cassette} has no episode {episode}")
    if as_json:
        data = {"path": str(cassette), "header": header.model_dump(exclude={"kind"}),
                "episodes": [s.to_json() for s in summaries]}
        echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    echo(render(cassette, summaries, header))
    if counts:
        for s in summaries:
            echo(f"\nepisode {s.conn} events:")
            for name, n in s.event_counts.items():
                echo(f"  {n:6d}  {name}")
    if events:
        for line in read_cassette(cassette, lambda p: numbered_events(p, episode)):
            echo(line)
