"""`rtkit fake`: run the scripted fake Realtime API on loopback."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Literal

import click

from rtkit.commands._common import fail, parse_listen, run_until_signal

__all__ = ["command"]

_DIALECTS: dict[str, Literal["auto", "ga", "beta"]] = {"auto": "auto", "ga": "ga", "beta": "beta"}


@click.command("fake")
@click.option("--script", "script", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="YAML script of the replies (docs/fake.md). Without one, every answer "
                   "is 'OK.'.")
@click.option("--listen", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="Where to listen (port 0 picks a free one).")
@click.option("--api-key", default=None, metavar="KEY",
              help="Accept only this key; another gets an invalid_api_key error and close "
                   "3000, like the live API. Default: any key, or none.")
@click.option("--dialect", type=click.Choice(["auto", "ga", "beta"]), default=None,
              help="auto (the script's default): beta when the client asks for it; ga: refuse "
                   "beta clients as the live API does today; beta: always beta.")
@click.option("--seed", default=None, help="Seed of the ids (default: the script's).")
@click.option("--quiet", is_flag=True, help="No line per connection on stderr.")
def command(script: Path | None, listen: str, api_key: str | None, dialect: str | None,
            seed: str | None, quiet: bool) -> None:
    """Run a scripted fake of the Realtime API, for recording without a key.

    \b
    $ rtkit fake --script docs/examples/replies.yaml --listen 127.0.0.1:8766
    ws://127.0.0.1:8766/v1/realtime
    Point any client at the printed URL (the openai SDK: websocket_base_url=
    "ws://127.0.0.1:8766/v1"), or record through `rtkit record --listen ...
    --upstream ws://127.0.0.1:8766/v1/realtime`. One line per connection goes
    to stderr. Stops on Ctrl-C / SIGTERM.

    Exit status: 0 when stopped; 2 for a bad script or option (the message
    names the file, line and field).
    """
    from rtkit.fake import ConnectionRecord, FakeRealtimeAPI, FakeScriptError

    host, port = parse_listen(listen)

    def log(record: ConnectionRecord) -> None:
        problem(record.line())

    def problem(line: str) -> None:
        click.echo(f"rtkit fake: {line}", err=True)
        sys.stderr.flush()

    try:
        fake = FakeRealtimeAPI(script, host=host, port=port, api_key=api_key,
                               dialect=_DIALECTS.get(dialect or ""), seed=seed,
                               on_connection=None if quiet else log, on_problem=problem)
    except FakeScriptError as exc:
        fail(str(exc))
        return

    async def main(stop: asyncio.Event) -> None:
        try:
            await fake.start()
        except OSError as exc:
            fail(f"cannot listen on {listen}: {exc.strerror or exc}")
        click.echo(fake.url)  # first line of stdout: what clients connect to
        sys.stdout.flush()
        try:
            await stop.wait()
        finally:
            await fake.stop()

    asyncio.run(run_until_signal(main))
