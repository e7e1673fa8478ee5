"""The episodes of a report, from a cassette file (one streaming pass) or from events seen
live (a test's `EventLog`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rtkit.cassette.audio_spool import AudioSpool
from rtkit.cassette.model import Connect, Header
from rtkit.cassette.summary import AudioSink, EpisodeBuilder, EpisodeLines, read_summaries
from rtkit.view.episode import EpisodeView, EpisodeViewBuilder
from rtkit.view.timeline import Previews

__all__ = ["Side", "read_side", "side_of_events"]

Highlight = Mapping[int, Collection[tuple[str, int]]]  # conn -> (lane, index) of events


@dataclass
class Side:
    """One recording as a report shows it: a name, its episodes and where their audio is."""

    name: str
    episodes: list[EpisodeView]
    spool: AudioSpool
    header: Header | None = None
    path: str | None = None
    tag: str = ""  # prefix of its audio files' names when a report shows two sides

    def episode(self, conn: int) -> EpisodeView | None:
        """The episode with this conn number."""
        return next((e for e in self.episodes if e.conn == conn), None)


def read_side(path: str | os.PathLike[str], spool: AudioSpool, previews: Previews, *,
              name: str | None = None, episode: int | None = None,
              highlight: Highlight | None = None, tag: str = "",
              on_view: Callable[[EpisodeView], None] | None = None) -> Side:
    """Read a cassette into a `Side` in one pass (only episode `episode`, when given).

    With `on_view`, each episode's view is handed to it as soon as the episode ends (its
    close line, or the end of the file) and not kept: memory then holds one episode at a
    time (those recorded at the same time, when connections overlap). Raises `CassetteError`
    as `read_summaries` does."""
    built: list[EpisodeViewBuilder] = []
    side = Side(name or os.fspath(path), [], spool, None, os.fspath(path), tag)

    def make(connect: Connect, audio: AudioSink | None) -> EpisodeLines:
        if episode is not None and connect.conn != episode:
            return EpisodeBuilder(connect)  # summarised only: no audio, no view
        builder = EpisodeViewBuilder(connect, spool, previews,
                                     (highlight or {}).get(connect.conn, ()), on_view)
        if on_view is None:
            built.append(builder)
        return builder

    side.header, _ = read_summaries(path, builder=make)
    spool.close()
    side.episodes = sorted((b.view for b in built if b.view is not None), key=lambda v: v.conn)
    return side


def side_of_events(name: str, events: Iterable[Any], spool: AudioSpool, previews: Previews,
                   *, highlight: Highlight | None = None, tag: str = "") -> Side:
    """A `Side` from events in order: `rtkit.assertions.RecordedEvent`s (their `conn`,
    `source` and `t`, ms; a missing conn is 0, a missing time the event's position)."""
    builders: dict[int, EpisodeViewBuilder] = {}
    for position, ev in enumerate(events):
        conn = ev.conn if isinstance(ev.conn, int) else 0
        builder = builders.get(conn)
        if builder is None:
            builder = builders[conn] = EpisodeViewBuilder(
                Connect(conn=conn), spool, previews, (highlight or {}).get(conn, ()))
        t = ev.t if isinstance(getattr(ev, "t", None), (int, float)) else float(position)
        builder.event(ev.source, max(t, builder.t), dict(ev.event))
    for builder in builders.values():
        builder.finish()
    spool.close()
    views = [b.view for _, b in sorted(builders.items()) if b.view is not None]
    return Side(name, views, spool, tag=tag)
