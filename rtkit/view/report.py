"""Writing a report file: one recording (`write_view`) or two side by side (`write_pair`),
and their audio: inline WAV data URIs up to a size limit, or WAV files beside the page.

The page is written to a temporary file beside its target and renamed into place (a failed
report never leaves half a page); the audio is spooled in a temporary directory beside it
while the cassette is read, and removed afterwards.
"""

from __future__ import annotations

import base64
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from rtkit.audio import wav_header
from rtkit.cassette.audio_spool import AudioSpool, copy_wav, pcm_blocks
from rtkit.cassette.model import Header
from rtkit.cassette.reader import read_lines
from rtkit.errors import CassetteError
from rtkit.view.collect import Highlight, Side, read_side, side_of_events
from rtkit.view.episode import INPUT_STREAM, Clip, EpisodeView
from rtkit.view.render import (
    Failure,
    episode_section,
    header_subtitle,
    page_end,
    page_start,
    render_pair,
)
from rtkit.view.timeline import Previews

__all__ = ["DEFAULT_INLINE_LIMIT", "AudioOut", "Report", "SideSource", "write_pair",
           "write_view"]

DEFAULT_INLINE_LIMIT = 8_000_000
"""Bytes of WAV audio a report inlines at most (about 2.8 minutes at 24 kHz)."""


@dataclass
class Report:
    """What was written: the page, and where each clip's audio went."""

    path: Path
    episodes: int = 0
    inline: int = 0  # clips inlined
    files: int = 0  # clips written as WAV files
    skipped: int = 0  # clips over the inline limit
    audio_dir: Path | None = None
    inline_limit: int = DEFAULT_INLINE_LIMIT

    def describe(self) -> str:
        """One line for people: what the page holds."""
        parts = [f"{self.episodes} episode(s)"]
        if self.files:
            parts.append(f"{self.files} audio clip(s) in {self.audio_dir}")
        elif self.inline or not self.skipped:
            parts.append(f"{self.inline} audio clip(s) inline")
        if self.skipped:
            parts.append(f"{self.skipped} over the {self.inline_limit / 1e6:g} MB inline limit "
                         "(--audio-files writes them beside the page)")
        return f"wrote {self.path} ({', '.join(parts)})"


class AudioOut:
    """The `Media` of a report: each clip inlined while the budget lasts (`inline_limit`
    bytes of WAV), or written as a WAV file into `files_dir` and linked as `link/NAME`."""

    def __init__(self, report: Report, inline_limit: int, files_dir: Path | None = None,
                 link: str = "") -> None:
        self.report = report
        self.left = inline_limit
        self.files_dir = files_dir
        self.link = link

    def audio(self, out: TextIO, side: Side, view: EpisodeView, clip: Clip, position: int,
              lanes: str) -> None:
        """Write the `<audio>` element of `clip`, or a note saying where its audio is not."""
        spool = side.spool.path(view.conn, clip.item_id)
        seconds = clip.heard_ms / 1000
        attrs = (f'controls preload="metadata" data-item="{escape(clip.item_id)}" '
                 f'data-conn="{view.conn}"'
                 f' data-ms="{clip.heard_ms:g}" data-axis-ms="{clip.axis_ms:g}"'
                 f' data-lanes="{lanes}" title="{seconds:.2f} s"')
        if spool is None:
            return
        if self.files_dir is not None:
            side_name = "input" if clip.role == "user" else "output"
            name = f"{side.tag}ep{view.conn}-{position:02d}-{clip.item_id}-{side_name}.wav"
            if clip.item_id == INPUT_STREAM:
                name = f"{side.tag}ep{view.conn}-input-as-sent.wav"
            copy_wav(self.files_dir / name, spool, clip.heard, clip.rate)
            self.report.files += 1
            out.write(f'<audio {attrs} src="{quote(self.link + name)}"></audio>')
        elif 44 + 2 * clip.heard <= self.left:
            self.left -= 44 + 2 * clip.heard
            self.report.inline += 1
            out.write(f'<audio {attrs} src="data:audio/wav;base64,')
            for piece in _base64_pieces(wav_header(clip.heard, clip.rate),
                                        pcm_blocks(spool, 0, clip.heard)):
                out.write(piece)
            out.write('"></audio>')
        else:
            self.report.skipped += 1
            out.write(f'<span class="noaudio" data-item="{escape(clip.item_id)}">'
                      f"{seconds:.2f} s of audio not inlined: over the report's inline "
                      "limit (rtkit view --audio-files writes it beside the page)</span>")
        out.write(f'<span class="t">{seconds:.2f} s</span>')


def _base64_pieces(head: bytes, blocks: Iterable[bytes]) -> Iterator[str]:
    """Base64 of `head` and then `blocks`, in pieces that concatenate to one string (each
    piece but the last encodes a multiple of 3 bytes: no padding inside)."""
    carry = head
    for block in blocks:
        data = carry + block
        cut = len(data) - len(data) % 3
        yield base64.b64encode(data[:cut]).decode("ascii")
        carry = data[cut:]
    if carry:
        yield base64.b64encode(carry).decode("ascii")


@contextmanager
def _writing(path: Path, audio_files: bool, inline_limit: int
             ) -> Iterator[tuple[TextIO, Path, AudioOut, Report]]:
    """An open temporary page beside `path` (renamed to it at the end), a spool directory
    and the report's `AudioOut`."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{directory} is a file, not a directory",
                                 str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".rtkit-view-", dir=directory))
    report = Report(path, inline_limit=inline_limit)
    files_dir = None
    if audio_files:
        files_dir = directory / f"{path.stem}_audio"
        files_dir.mkdir(exist_ok=True)
        report.audio_dir = files_dir
    media = AudioOut(report, inline_limit, files_dir, f"{path.stem}_audio/")
    # not mkstemp: the page is made to be shared, so it gets the umask's mode, not 0600
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as out:
            yield out, work, media, report
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_view(cassette: str | os.PathLike[str], out: str | os.PathLike[str], *,
               episode: int | None = None, audio_files: bool = False,
               inline_limit: int = DEFAULT_INLINE_LIMIT, title: str | None = None) -> Report:
    """Write the report of a cassette (only episode `episode`, when given) to `out`.

    Raises `CassetteError` for a missing or corrupt cassette (naming the file and line),
    `OSError` when the page cannot be written.
    """
    with _writing(Path(out), audio_files, inline_limit) as (page, work, media, report):
        previews = Previews()
        spool = AudioSpool(work)
        shown = Side(os.fspath(cassette), [], spool)

        def show(view: EpisodeView) -> None:  # each episode as soon as it is read
            if not report.episodes:
                page_start(page, title or f"rtkit view: {os.fspath(cassette)}",
                           header_subtitle(_header(cassette)))
            episode_section(page, shown, view, media, previews)
            spool.discard(view.conn)
            report.episodes += 1

        _reading(cassette, lambda: read_side(cassette, spool, previews, episode=episode,
                                             on_view=show))
        if episode is not None and not report.episodes:
            raise CassetteError(f"{os.fspath(cassette)} has no episode {episode}")
        if not report.episodes:
            page_start(page, title or f"rtkit view: {os.fspath(cassette)}",
                       header_subtitle(_header(cassette)))
            page.write("<p>No episode.</p>")
        page_end(page, previews)
    return report


def _header(cassette: str | os.PathLike[str]) -> Header | None:
    """The cassette's header line (read again: it was validated by the pass)."""
    with closing(read_lines(cassette)) as lines:
        first = next(lines, None)
    return first if isinstance(first, Header) else None


@dataclass
class SideSource:
    """One side of a side-by-side report: a cassette `path`, or `events` seen live
    (`RecordedEvent`s); `highlight` marks events by conn and `(lane, index)`."""

    name: str
    path: str | os.PathLike[str] | None = None
    events: Iterable[Any] | None = None
    highlight: Highlight | None = None


def _reading(path: str | os.PathLike[str], read: Callable[[], Side]) -> Side:
    """`read()`, a problem reading the cassette at `path` being a `CassetteError` (so any
    `OSError` left is one of writing the report)."""
    try:
        return read()
    except CassetteError:
        raise
    except OSError as exc:
        if exc.filename is not None and os.fspath(exc.filename) == os.fspath(path):
            raise CassetteError(f"{os.fspath(path)}: cannot read: {exc.strerror or exc}") \
                from None
        raise


def _read(source: SideSource, spool: AudioSpool, previews: Previews, tag: str) -> Side:
    path = source.path
    if path is not None:
        return _reading(path, lambda: read_side(path, spool, previews, name=source.name,
                                                highlight=source.highlight, tag=tag))
    return side_of_events(source.name, source.events or (), spool, previews,
                          highlight=source.highlight, tag=tag)


def write_pair(a: SideSource, b: SideSource, out: str | os.PathLike[str], *, title: str,
               differences: Iterable[str] = (), failure: Failure | None = None,
               audio_files: bool = False, inline_limit: int = DEFAULT_INLINE_LIMIT) -> Report:
    """Write a report of two recordings side by side (`rtkit diff --html`, a failed test)."""
    with _writing(Path(out), audio_files, inline_limit) as (page, work, media, report):
        previews = Previews()
        (work / "a").mkdir()
        (work / "b").mkdir()
        side_a = _read(a, AudioSpool(work / "a"), previews, "a-")
        side_b = _read(b, AudioSpool(work / "b"), previews, "b-")
        report.episodes = len({v.conn for v in side_a.episodes} | {v.conn for v in side_b.episodes})
        render_pair(page, side_a, side_b, media, previews, title, list(differences), failure)
    return report
