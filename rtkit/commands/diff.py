"""`rtkit diff`: what changed between two recordings, at the conversation level."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rtkit.cassette.compare import compare_summaries
from rtkit.cassette.summary import read_summaries
from rtkit.commands._common import read_cassette

__all__ = ["command"]


@click.command("diff")
@click.argument("a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(dir_okay=False, path_type=Path))
def command(a: Path, b: Path) -> None:
    """Compare two cassettes by conversation: items (who said what, transcripts), tool calls
    and their arguments and outputs, response statuses, errors, event types. Not a text diff:
    ids, timings and base64 audio are ignored.

    \b
    $ rtkit diff cassettes/old/weather.jsonl cassettes/new/weather.jsonl
    episode 0 -> 0:
      ~ item 4: assistant message: text=It is sunny in Paris, 21 degrees., status=completed
        text: It is sunny in Paris, 21 degrees. -> Sunny, 21 °C in Paris.

    Made for "re-recorded against the new model: what changed?". Exit status: 0 when the
    conversations match, 1 when they differ, 2 for a missing or corrupt cassette.
    """
    (_, sa), (_, sb) = read_cassette(a, read_summaries), read_cassette(b, read_summaries)
    lines = compare_summaries(sa, sb)
    if not lines:
        click.echo(f"no conversation-level differences ({len(sa)} episode(s))")
        return
    click.echo(f"--- {a}\n+++ {b}")
    click.echo("\n".join(lines))
    sys.exit(1)
