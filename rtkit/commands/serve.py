"""`rtkit serve`: replay a cassette from a fake Realtime server on loopback."""

from __future__ import annotations

import asyncio
import sys
import warnings
from pathlib import Path

import click

from rtkit.commands._common import fail, parse_listen, run_until_signal
from rtkit.errors import CassetteError, ReplayError, RtkitUnplayedWarning

__all__ = ["command"]


@click.command("serve")
@click.argument("cassette", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--listen", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="Where to listen (port 0 picks a free one).")
@click.option("--pace", default="instant", show_default=True,
              help="instant, recorded, or a speed factor such as 4x.")
@click.option("--unplayed", type=click.Choice(["ignore", "warn", "fail"]), default="warn",
              show_default=True, help="What to do with recorded events never played.")
@click.option("--audio-match", type=click.Choice(["any", "length", "exact"]), default="any",
              show_default=True, help="How input audio must match the recording.")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for an expected client event.")
@click.option("--max-connections", type=int, default=None,
              help="Exit after this many connections have ended.")
def command(cassette: Path, listen: str, pace: str, unplayed: str, audio_match: str,
            timeout: float, max_connections: int | None) -> None:
    """Replay CASSETTE to any Realtime client, deterministically.

    \b
    $ rtkit serve session.jsonl --listen 127.0.0.1:0
    ws://127.0.0.1:40123/v1/realtime
    Point rtkit's client (url=...), the openai SDK (websocket_base_url=
    "ws://127.0.0.1:40123/v1") or any WebSocket client at the printed URL.

    Exit status: 0 when everything matched, 1 on a mismatch or timeout (or
    unplayed events with --unplayed fail), 2 for a missing or corrupt cassette.
    """
    host, port = parse_listen(listen)
    try:
        from rtkit.server.replay_server import ReplayServer

        server = ReplayServer(cassette, host=host, port=port, pace=pace, unplayed=unplayed,
                              audio_match=audio_match, timeout=timeout)
    except CassetteError as exc:
        fail(str(exc))
        return
    except ValueError as exc:
        fail(str(exc))
        return

    async def main(stop: asyncio.Event) -> None:
        await server.start()
        click.echo(server.url)
        sys.stdout.flush()
        try:
            while not stop.is_set():
                if max_connections is not None and server.player.completed >= max_connections:
                    break
                await asyncio.sleep(0.05)
        finally:
            await server.stop()

    asyncio.run(run_until_signal(main))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RtkitUnplayedWarning)
            server.player.end()
    except ReplayError as exc:
        click.echo(f"rtkit serve: {exc}", err=True)
        sys.exit(1)
    for warning in caught:
        click.echo(f"rtkit serve: warning: {warning.message}", err=True)
