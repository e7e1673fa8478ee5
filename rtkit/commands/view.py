"""`rtkit view`: a cassette as one self-contained HTML page, to see and hear it."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from rtkit.commands._common import fail, read_cassette
from rtkit.view import DEFAULT_INLINE_LIMIT, Report, write_view

__all__ = ["command"]


@click.command("view")
@click.argument("cassette", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), default=None,
              help="The HTML file to write (default: CASSETTE's name with .html, here).")
@click.option("--episode", type=int, default=None, metavar="N",
              help="Only this episode (conn number).")
@click.option("--audio-files", is_flag=True,
              help="Write the audio as WAV files in OUTPUT's name + _audio/ beside the page, "
                   "linked from it, instead of inlining it.")
@click.option("--inline-limit", type=click.FloatRange(min=0), default=DEFAULT_INLINE_LIMIT / 1e6,
              show_default=True, metavar="MB",
              help="Megabytes of WAV audio inlined at most; clips past it are listed, not "
                   "playable (use --audio-files for long sessions).")
@click.option("--open", "open_", is_flag=True, help="Open the page in a web browser.")
def command(cassette: Path, output: Path | None, episode: int | None, audio_files: bool,
            inline_limit: float, open_: bool) -> None:
    """Write a cassette as one HTML page that loads nothing (no network; open it from disk,
    attach it to a CI run): per episode, the timeline of client and server events (a
    response's deltas as one bar, each event's JSON on hover), the audio of both sides on one
    time axis with VAD marks and truncations, the conversation with every item's audio
    playable, and figures (time to first audio and text, durations, tokens, errors).

    \b
    $ rtkit view cassettes/ga/vad_barge_in.jsonl -o barge_in.html
    wrote barge_in.html (1 episode(s), 5 audio clip(s) inline)

    The cassette is read in one streaming pass; its audio is spooled on disk, so memory
    stays bounded on a long session. Exit status: 0, or 2 for a missing or corrupt cassette,
    no episode N, or a page that cannot be written.
    """
    output = output if output is not None else Path(cassette.stem + ".html")
    if output.is_dir():
        fail(f"{output}: is a directory; give the HTML file's name")

    def write(path: Path) -> Report:
        try:
            return write_view(path, output, episode=episode, audio_files=audio_files,
                              inline_limit=int(inline_limit * 1e6))
        except OSError as exc:  # reading the cassette is a CassetteError
            fail(f"{output}: cannot write: {exc.strerror or exc}")

    report = read_cassette(cassette, write)
    click.echo(report.describe())
    if open_ and not webbrowser.open(output.resolve().as_uri()):
        click.echo(f"rtkit: no web browser to open {output} with", err=True)
