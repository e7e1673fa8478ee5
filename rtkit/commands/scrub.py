"""`rtkit scrub`: re-apply the secret filters to cassettes, in place and atomically."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from rtkit.cassette.redact import Redactor
from rtkit.cassette.scrub import scrub_file
from rtkit.commands._common import fail
from rtkit.errors import CassetteError

__all__ = ["command"]


@click.command("scrub")
@click.argument("cassettes", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--pattern", "patterns", multiple=True, metavar="REGEX",
              help="Also replace what this regex matches with REDACTED (repeatable).")
@click.option("--header", "headers", multiple=True, metavar="NAME",
              help="Also redact this handshake header (repeatable).")
@click.option("--check", is_flag=True, help="Only report what would change; write nothing.")
def command(cassettes: tuple[Path, ...], patterns: tuple[str, ...], headers: tuple[str, ...],
            check: bool) -> None:
    """Re-apply the secret filters (the token catalogue: API keys, ephemeral keys, GitHub,
    Google, Slack, AWS, Stripe tokens, JWTs, bearer and basic credentials...; credential
    headers, fields and query parameters, URL passwords, the insecure-api-key subprotocol;
    the OPENAI_API_KEY of the environment, also base64-encoded) and your own regexes to
    cassettes, in place: every line, close reasons and the header's metadata too. Each file
    is rewritten atomically: on any error it is untouched. A recording `rtkit record`
    refused to write (.NAME.*.rtkit-tmp) is scrubbed the same way, then `rtkit recover`
    makes it the cassette.

    \b
    $ rtkit scrub --check cassettes/ga/tool_call.jsonl --pattern 'weather in Paris'
    cassettes/ga/tool_call.jsonl:7: pattern 'weather in Paris'
    cassettes/ga/tool_call.jsonl:12: pattern 'weather in Paris'
    cassettes/ga/tool_call.jsonl:13: pattern 'weather in Paris'
    would scrub 3 line(s) in 1 of 1 cassette(s)
    $ rtkit scrub --check cassettes/*/*.jsonl   # in CI: fail if a secret slipped in
    would scrub 0 line(s) in 0 of 12 cassette(s)

    Secrets are never printed, only the names of the filters that matched. Exit status: 0
    (with --check: nothing to scrub), 1 with --check when something would change, 2 for a
    bad pattern or a missing or corrupt file.
    """
    try:
        redactor = Redactor(extra_headers=headers, patterns=patterns,
                            secrets=[k for k in (os.environ.get("OPENAI_API_KEY"),) if k])
    except re.error as exc:
        fail(f"bad --pattern: {exc}")
    total = files = 0
    for path in cassettes:
        if path.is_dir():
            fail(f"{path}: is a directory, not a cassette")
        if not path.is_file():
            fail(f"{path}: no such file")
        try:
            changes = scrub_file(path, redactor, check=check)
        except CassetteError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{path}: {exc}")
        for change in changes:
            click.echo(str(change))
        total += len(changes)
        files += bool(changes)
    verb = "would scrub" if check else "scrubbed"
    click.echo(f"{verb} {total} line(s) in {files} of {len(cassettes)} cassette(s)")
    if check and total:
        sys.exit(1)
