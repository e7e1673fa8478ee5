"""`rtkit audio`: write each item's audio (input and output) as WAV files."""

from __future__ import annotations

import shutil
import tempfile
import wave
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

import click
import numpy as np

from rtkit.audio import SAMPLE_RATE
from rtkit.cassette.summary import read_summaries
from rtkit.commands._common import echo, fail, read_cassette

__all__ = ["command"]

_OPEN_FILES = 16  # spool files kept open at once
_COPY = 1 << 20


class _Spool:
    """An `AudioSink` that keeps each item's samples in a file of its own (raw PCM16) in a
    temporary directory, so memory does not grow with the audio."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.limits: dict[tuple[int, str], int] = {}  # truncations, in samples
        self._open: OrderedDict[tuple[int, str], BinaryIO] = OrderedDict()
        self._names: dict[tuple[int, str], Path] = {}

    def path(self, conn: int, item_id: str) -> Path | None:
        return self._names.get((conn, item_id))

    def _file(self, key: tuple[int, str], mode: str) -> BinaryIO:
        f = self._open.pop(key, None)
        if f is not None and mode == "wb":
            f.close()
            f = None
        if f is None:
            name = self._names.setdefault(key, self.dir / f"{len(self._names)}.pcm")
            f = open(name, mode)  # noqa: SIM115 - closed when evicted or at close()
            if len(self._open) >= _OPEN_FILES:
                self._open.popitem(last=False)[1].close()
        self._open[key] = f
        return f

    def output(self, conn: int, item_id: str, samples: np.ndarray) -> None:
        self._file((conn, item_id), "ab").write(samples.astype("<i2", copy=False).tobytes())

    def truncate(self, conn: int, item_id: str, n_samples: int) -> None:
        key = (conn, item_id)
        self.limits[key] = min(self.limits.get(key, n_samples), n_samples)

    def input(self, conn: int, item_id: str, samples: np.ndarray) -> None:
        self._file((conn, item_id), "wb").write(samples.astype("<i2", copy=False).tobytes())

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()


def _write_wav(path: Path, spool: Path, n_samples: int | None) -> int:
    """Copy the spooled samples (at most `n_samples`) into a WAV file; returns how many."""
    remaining = spool.stat().st_size // 2 if n_samples is None else n_samples
    written = 0
    with open(spool, "rb") as src, wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        while remaining > 0:
            data = src.read(min(_COPY, remaining * 2))
            if len(data) < 2:
                break
            data = data[: len(data) // 2 * 2]
            w.writeframes(data)
            written += len(data) // 2
            remaining -= len(data) // 2
    return written


@click.command("audio")
@click.argument("cassette", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True,
              type=click.Path(path_type=Path),
              help="Directory for the WAV files (created if missing).")
def command(cassette: Path, out_dir: Path) -> None:
    """Write the audio of every item as a WAV file a person can play (PCM16, 24 kHz, mono):
    the user's input audio and the assistant's output audio, named by episode, position and
    item: ep0-01-item_abc-input.wav, ep0-02-item_def-output.wav.

    \b
    $ rtkit audio cassettes/ga/audio_turn.jsonl -o wav
    wav/ep0-01-item_llCXOUcI6zW8oIsImC4Zi-input.wav  0.80 s  user
    wav/ep0-02-item_X1LPBUHa34NxRXpTc3qIn-output.wav  1.20 s  assistant "Hi! How can...

    Exit status: 0 (also when the cassette has no audio), 2 for a missing or corrupt cassette
    or an unwritable directory.
    """
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir}: not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".rtkit-audio-", dir=out_dir))
    except OSError as exc:
        fail(f"{out_dir}: {exc.strerror or exc}")
    try:
        spool = _Spool(work)
        try:
            _, summaries = read_cassette(cassette, lambda p: read_summaries(p, audio=spool))
        finally:
            spool.close()
        written = 0
        for s in summaries:
            for position, item in enumerate(s.items, start=1):
                source = spool.path(s.conn, item.id)
                if source is None or not item.audio_ms:
                    continue
                side = "output" if item.role == "assistant" else "input"
                path = out_dir / f"ep{s.conn}-{position:02d}-{item.id}-{side}.wav"
                try:
                    n = _write_wav(path, source, spool.limits.get((s.conn, item.id)))
                except OSError as exc:
                    fail(f"{path}: {exc.strerror or exc}")
                said = item.transcript or item.text
                echo(f"{path}  {n / SAMPLE_RATE:.2f} s  {item.who}"
                           + (f' "{said}"' if said else ""))
                written += 1
        if not written:
            echo(f"{cassette}: no audio in this cassette")
    finally:
        shutil.rmtree(work, ignore_errors=True)
