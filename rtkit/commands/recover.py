"""`rtkit recover`: find what killed recordings left beside a cassette, and make it a cassette."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from rtkit.cassette.recover import (
    TMP_SUFFIX,
    Leftover,
    find_leftovers,
    leftover,
    recover,
    scan,
)
from rtkit.commands._common import fail
from rtkit.errors import CassetteError

__all__ = ["command"]


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def _show(found: Leftover, secrets: list[str]) -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(found.mtime))
    state = (f"still being written by pid {found.writer_pid}" if found.in_use
             else "left by a writer that is gone")
    click.echo(f"  {found.path.name}  {when}  {_size(found.size)}  {state}")
    if found.in_use:
        return
    try:
        click.echo(f"    {scan(found.path, secrets).describe()}")
    except CassetteError as exc:
        click.echo(f"    cannot be recovered: {exc.reason or exc}")


@click.command("recover")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write what the leftover holds as a cassette here.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--keep", is_flag=True, help="Keep the leftover after recovering it.")
def command(path: Path, output: Path | None, force: bool, keep: bool) -> None:
    """Find the temporary files killed recordings left beside a cassette
    (.NAME.*.rtkit-tmp), say what each holds, and turn one into a cassette marked
    incomplete. PATH is a cassette (its leftovers are listed) or a leftover.

    \b
    $ rtkit recover cassettes/ga/text_turn.jsonl
    cassettes/ga/text_turn.jsonl: no leftover recordings beside it

    With -o, the leftover (PATH, or the only one beside the cassette PATH) becomes a
    cassette: every complete line it holds is kept, an unfinished last line is dropped,
    and each episode left open gets a close line (code null, "recording cut off"); the
    header's meta.recovered says so. Then the leftover is removed (--keep keeps it).

    Exit status: 0, or 2 when there is nothing to recover, the leftover is still being
    written, or OUTPUT exists (add --force).
    """
    secrets = [k for k in (os.environ.get("OPENAI_API_KEY"),) if k]
    if output is not None and output.is_dir():
        fail(f"{output}: is a directory; -o names the cassette to write")
    if path.name.endswith(TMP_SUFFIX):
        try:
            candidates = [leftover(path)]
        except CassetteError as exc:
            fail(str(exc))
        cassette = candidates[0].cassette
    else:
        if path.is_dir():
            fail(f"{path}: is a directory; give the cassette whose leftovers to look for")
        cassette, candidates = path, find_leftovers(path)
    if output is None:
        if not candidates:
            click.echo(f"{path}: no leftover recordings beside it")
            return
        if not path.name.endswith(TMP_SUFFIX):
            click.echo(f"{cassette}: {len(candidates)} leftover recording(s) beside it")
        for found in candidates:
            _show(found, secrets)
        gone = [f for f in candidates if not f.in_use]
        if gone:
            click.echo(f"recover one with: rtkit recover {gone[-1].path} -o {cassette}")
        return
    usable = [f for f in candidates if not f.in_use]
    if len(candidates) > 1 and len(usable) != 1:
        names = ", ".join(f.path.name for f in candidates)
        fail(f"{cassette}: {len(candidates)} leftovers beside it ({names}); name the one to "
             "recover")
    if not candidates:
        fail(f"{cassette}: no leftover recordings beside it; nothing to recover")
    chosen = usable[0] if usable else candidates[0]
    try:
        report = recover(chosen.path, output, force=force, keep=keep, secrets=secrets)
    except CassetteError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{output}: {exc.strerror or exc}")
    click.echo(f"rtkit: recovered {chosen.path.name} into {output}: {report.describe()}")
    if not keep:
        click.echo(f"rtkit: removed {chosen.path}")
