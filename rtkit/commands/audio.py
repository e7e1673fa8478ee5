"""`rtkit audio`: write each item's audio (input and output) as WAV files."""

from __future__ import annotations

from pathlib import Path

import click

from rtkit.audio import SAMPLE_RATE, write_wav
from rtkit.cassette.summary import summarize
from rtkit.commands._common import fail, load_cassette

__all__ = ["command"]


@click.command("audio")
@click.argument("cassette", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the WAV files (created if missing).")
def command(cassette: Path, out_dir: Path) -> None:
    """Write the audio of every item as a WAV file a person can play (PCM16, 24 kHz, mono):
    the user's input audio and the assistant's output audio, named by episode, position and
    item: ep0-01-item_abc-input.wav, ep0-02-item_def-output.wav.

    \b
    $ rtkit audio cassettes/ga/audio_turn.jsonl -o /tmp/turn
    /tmp/turn/ep0-01-item_Jb6...-input.wav   0.80 s  user
    /tmp/turn/ep0-02-item_Yx1...-output.wav  1.20 s  assistant "Hi! How can I help you today?"

    Exit status: 0 (also when the cassette has no audio), 2 for a missing or corrupt cassette
    or an unwritable directory.
    """
    summaries = summarize(load_cassette(cassette))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{out_dir}: {exc}")
    written = 0
    for s in summaries:
        for position, item in enumerate(s.items, start=1):
            samples = s.audio.get(item.id)
            if samples is None or not len(samples):
                continue
            side = "output" if item.role == "assistant" else "input"
            path = out_dir / f"ep{s.conn}-{position:02d}-{item.id}-{side}.wav"
            try:
                write_wav(path, samples, SAMPLE_RATE)
            except OSError as exc:
                fail(f"{path}: {exc}")
            said = item.transcript or item.text
            click.echo(f"{path}  {len(samples) / SAMPLE_RATE:.2f} s  {item.who}"
                       + (f' "{said}"' if said else ""))
            written += 1
    if not written:
        click.echo(f"{cassette}: no audio in this cassette")
