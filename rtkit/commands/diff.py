"""`rtkit diff`: what changed between two recordings, at the conversation level."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rtkit.cassette.compare import compare_summaries
from rtkit.cassette.summary import read_summaries
from rtkit.commands._common import echo, fail, read_cassette

__all__ = ["command"]


@click.command("diff")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--html", "html", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Also write the two side by side as an HTML page (conversations aligned, "
                   "differing items highlighted, timelines, audio): see rtkit view.")
def command(a: Path, b: Path, html: Path | None) -> None:
    """Compare two cassettes by conversation: items (who said what, transcripts), tool calls
    and their arguments and outputs, response statuses, errors, event types. Not a text diff:
    ids, timings and base64 audio are ignored.

    \b
    $ rtkit diff cassettes/ga/tool_call.jsonl cassettes/beta/tool_call.jsonl
    --- cassettes/ga/tool_call.jsonl
    +++ cassettes/beta/tool_call.jsonl
    episode 0 -> 0:
      event types only in A: server conversation.item.added, server conversation.item.done,...
      event types only in B: server conversation.item.created, server response.text.delta,...

    (The same conversation in both dialects: only event names differ. A changed item shows
    as "~ item 4: ..." with the fields that changed, "text: A -> B".) Made for "re-recorded
    against the new model: what changed?". With --html FILE, the page is written too (and
    named last). Exit status: 0 when the conversations match, 1 when they differ, 2 for a
    missing or corrupt cassette or a page that cannot be written.
    """
    (_, sa), (_, sb) = read_cassette(a, read_summaries), read_cassette(b, read_summaries)
    lines = compare_summaries(sa, sb)
    if not lines:
        echo(f"no conversation-level differences ({len(sa)} episode(s))")
    else:
        echo(f"--- {a}\n+++ {b}")
        echo("\n".join(lines))
    if html is not None:
        _write_html(a, b, html, lines)
    if lines:
        sys.exit(1)


def _write_html(a: Path, b: Path, html: Path, lines: list[str]) -> None:
    from rtkit.errors import CassetteError
    from rtkit.view import SideSource, write_pair

    if html.is_dir():
        fail(f"{html}: is a directory; give the HTML file's name")
    try:
        report = write_pair(SideSource(str(a), path=a), SideSource(str(b), path=b), html,
                            title=f"rtkit diff {a} {b}", differences=lines)
    except CassetteError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{html}: cannot write: {exc.strerror or exc}")
    echo(report.describe())
