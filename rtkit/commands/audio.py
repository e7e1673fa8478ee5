"""`rtkit audio`: write each item's audio (input and output) as WAV files."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from rtkit.cassette.audio_spool import AudioSpool, copy_wav
from rtkit.cassette.summary import read_summaries
from rtkit.commands._common import echo, fail, read_cassette

__all__ = ["command"]


@click.command("audio")
@click.argument("cassette", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True,
              type=click.Path(path_type=Path),
              help="Directory for the WAV files (created if missing).")
def command(cassette: Path, out_dir: Path) -> None:
    """Write the audio of every item as a WAV file a person can play (PCM16 mono, at the
    session format's rate: 24 kHz, or 8 kHz for G.711, decoded): the user's input audio and
    the assistant's output audio, named by episode, position and item:
    ep0-01-item_abc-input.wav, ep0-02-item_def-output.wav.

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
        spool = AudioSpool(work)
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
                rate = spool.rate(s.conn, item.id)
                try:
                    n = copy_wav(path, source, spool.limits.get((s.conn, item.id)), rate)
                except OSError as exc:
                    fail(f"{path}: {exc.strerror or exc}")
                said = item.transcript or item.text
                echo(f"{path}  {n / rate:.2f} s  {item.who}"
                           + (f' "{said}"' if said else ""))
                written += 1
        if not written:
            echo(f"{cassette}: no audio in this cassette")
    finally:
        shutil.rmtree(work, ignore_errors=True)
