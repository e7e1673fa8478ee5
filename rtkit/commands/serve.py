"""`rtkit serve`: replay a cassette from a fake Realtime server on loopback."""

from __future__ import annotations

import asyncio
import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from rtkit.cassette.redact import Redactor
from rtkit.commands._common import echo, fail, parse_listen, run_until_signal
from rtkit.errors import CassetteError, ReplayError, RtkitUnplayedWarning
from rtkit.replay.matching import Matcher
from rtkit.replay.player import DEFAULT_MAX_MESSAGE

__all__ = ["command"]


def _matcher(spec: str) -> Matcher:
    """`module:function` -> the function (a usage error when it cannot be imported)."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise click.BadParameter(f"expected MODULE:FUNCTION, not {spec!r}", param_hint="--matcher")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m` would have it
    try:
        func = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot import {spec}: {exc}", param_hint="--matcher") from None
    if not callable(func):
        raise click.BadParameter(f"{spec} is not callable", param_hint="--matcher")
    return func  # type: ignore[no-any-return]


_REDACTOR = Redactor()


def _log(line: str) -> None:
    """A console line, with every secret it could quote redacted (a client's `?api-key=`, a
    token in a mismatch report)."""
    echo(f"rtkit serve: {_REDACTOR.message(line)}", err=True)


@click.command("serve")
@click.argument("cassette", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--listen", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="Where to listen (port 0 picks a free one).")
@click.option("--pace", default="instant", show_default=True,
              help="instant, recorded, or a speed factor such as 4x.")
@click.option("--order", type=click.Choice(["causal", "strict"]), default="causal",
              show_default=True,
              help="causal: each recorded server event waits for what it answers, and "
                   "independent client events may come in any order; strict: the recorded "
                   "order.")
@click.option("--audio-match", type=click.Choice(["any", "length", "exact"]), default="any",
              show_default=True,
              help="How input audio must match the recording (compared as one stream "
                   "between commits, however it is chunked).")
@click.option("--audio-tolerance-ms", type=click.FloatRange(min=0), default=0.0,
              show_default=True, metavar="MS",
              help="With --audio-match length: how far the audio's length may differ.")
@click.option("--ignore-path", "ignore_paths", multiple=True, metavar="PATH",
              help="A dotted path not compared in client events, e.g. session.instructions "
                   "(repeatable).")
@click.option("--match-on", type=click.Choice(["type", "content"]), multiple=True,
              default=("type", "content"), show_default=True,
              help="What must match: the event type, and its content (repeatable; "
                   "--match-on type compares types only).")
@click.option("--matcher", "matchers", multiple=True, metavar="MODULE:FUNCTION",
              help="A matcher function(recorded, actual) returning None/True, False or a "
                   "message (repeatable; imported from the current directory too).")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for an expected client event, for an idle client after "
                   "the episode, or for a client that stopped reading.")
@click.option("--unplayed", type=click.Choice(["ignore", "warn", "fail"]), default="warn",
              show_default=True, help="What to do with recorded events never played.")
@click.option("--max-message", type=int, default=DEFAULT_MAX_MESSAGE, show_default=True,
              help="Largest client message in bytes; larger ones get the API's error event.")
@click.option("--record-mode", default="none", show_default=True, hidden=True,
              help="The record mode quoted in mismatch reports.")
@click.option("--max-connections", type=int, default=None,
              help="Exit after this many connections have ended.")
@click.option("--repeat", is_flag=True,
              help="When every episode recorded for a path has been played, start over "
                   "(for an app run more than once against one rtkit serve).")
@click.option("--quiet", "-q", is_flag=True,
              help="No console log on stderr (connections, mismatch reports as they happen).")
def command(cassette: Path, listen: str, pace: str, order: str, audio_match: str,
            audio_tolerance_ms: float, ignore_paths: tuple[str, ...],
            match_on: tuple[str, ...], matchers: tuple[str, ...], timeout: float,
            unplayed: str, max_message: int, record_mode: str, max_connections: int | None,
            repeat: bool, quiet: bool) -> None:
    """Replay CASSETTE to any Realtime client, deterministically.

    \b
    A fake Realtime server on 127.0.0.1, one recorded episode per connection:
      $ rtkit serve cassettes/ga/text_turn.jsonl --listen 127.0.0.1:0
      ws://127.0.0.1:40123/v1/realtime
    Point rtkit's client (url=...), the openai SDK (websocket_base_url=
    "ws://127.0.0.1:40123/v1") or any WebSocket client at the printed URL.

    \b
    stderr logs each connection (which episode it got, how it ended) and
    the full report of a mismatch as it happens (--quiet turns it off).

    \b
    Run an app against it more than once: --repeat serves the episodes
    again once all were played.

    Exit status: 0 when everything matched, 1 on a mismatch or timeout, a
    connection that failed (or unplayed events with --unplayed fail), 2 for a
    missing or corrupt cassette.
    """
    host, port = parse_listen(listen)
    def log(line: str) -> None:
        # a bad line the background index finds is this command's error (`rtkit: error:
        # FILE:LINE:COL`, exit 2), said once, at the end, not also as a console line
        error = served[0].cassette_error if served else None
        if error is None or line != f"error: {error}":
            _log(line)

    served: list[Any] = []  # the ReplayServer, once made
    options: dict[str, Any] = {
        "pace": pace, "order": order, "repeat": repeat,
        "audio_tolerance_ms": audio_tolerance_ms,
        "unplayed": unplayed, "audio_match": audio_match, "timeout": timeout,
        "ignore_paths": ignore_paths, "match_on": match_on or ("type", "content"),
        "matchers": [_matcher(spec) for spec in matchers], "max_message": max_message,
        "record_mode": record_mode, "lazy": True, "log": None if quiet else log,
    }
    try:
        from rtkit.replay.filters import apply_playback_filters
        from rtkit.server.replay_server import ReplayServer

        server = ReplayServer(cassette, host=host, port=port, **options)
        # what the client sends is compared as it was recorded: redacted (nor is a secret it
        # sent ever shown in a report)
        apply_playback_filters(server, _REDACTOR)
        served.append(server)
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
            while not stop.is_set() and server.cassette_error is None:
                if max_connections is not None and server.player.completed >= max_connections:
                    break
                await asyncio.sleep(0.05)
        finally:
            await server.stop()

    asyncio.run(run_until_signal(main))
    if server.cassette_error is not None:
        fail(str(server.cassette_error))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RtkitUnplayedWarning)
            server.player.end()
    except CassetteError as exc:
        fail(str(exc))
    except ReplayError as exc:
        if quiet or exc not in server.errors:  # not in the log (e.g. what was not played)
            _log(str(exc))
        else:  # the full report is in the log above
            n = len(server.errors)
            _log(f"{n} replay error(s), reported above; the first: {str(exc).splitlines()[0]}")
        sys.exit(1)
    for warning in caught:
        _log(f"warning: {warning.message}")
    if server.errors:  # reported already (e.g. raised by a test through check()): still a failure
        sys.exit(1)
