"""`rtkit validate`: schema and protocol checks, every problem with its file:line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rtkit.cassette.validate import check_path
from rtkit.commands._common import fail

__all__ = ["command"]


@click.command("validate")
@click.argument("cassettes", nargs=-1, required=True,
                type=click.Path(path_type=Path))
def command(cassettes: tuple[Path, ...]) -> None:
    """Check cassettes: each line parses, the header comes first, time never goes backwards,
    event types are known for the dialect, required fields are present, and items and
    responses are not referenced before they exist.

    \b
    $ rtkit validate cassettes/*/*.jsonl
    cassettes/beta/audio_turn.jsonl: OK (1 episode(s), 42 lines)
    ...
    cassettes/ga/text_turn.jsonl: OK (1 episode(s), 28 lines)
    ...

    Each problem is printed as FILE:LINE: message, or FILE:LINE:COLUMN: message when it is
    at one character (bytes that are not UTF-8, JSON that does not parse). Exit status: 0
    when every cassette is valid, 1 when a problem was found (a corrupt file included), 2
    when a file is missing or unreadable.
    """
    bad = 0
    for path in cassettes:
        if not path.exists():
            fail(f"{path}: no such file")
        if path.is_dir():
            fail(f"{path}: is a directory, not a cassette")
        try:
            report = check_path(path)
        except OSError as exc:
            fail(f"{path}: cannot read: {exc.strerror or exc}")
        if report.problems:
            bad += 1
            for problem in report.problems:
                click.echo(str(problem))
            continue
        click.echo(f"{path}: OK ({report.episodes} episode(s), {report.lines} lines)")
    if bad:
        click.echo(f"{bad} of {len(cassettes)} cassette(s) have problems", err=True)
        sys.exit(1)
