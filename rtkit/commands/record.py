"""`rtkit record`: record Realtime sessions through a proxy, or from a YAML script."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from rtkit.commands._common import (
    STATUS_INTERVAL,
    fail,
    parse_listen,
    run,
    run_until_signal,
    status_printer,
)

__all__ = ["command"]


@click.command("record")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Cassette to write (JSONL). Written atomically when recording ends.")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Run a recording proxy here (port 0 picks a free one).")
@click.option("--script", "script", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Drive the API from a YAML script instead of proxying a client.")
@click.option("--upstream", default="wss://api.openai.com/v1/realtime", show_default=True,
              envvar="RTKIT_UPSTREAM_URL", help="Realtime endpoint to record from.")
@click.option("--upstream-auth", type=click.Choice(["auto", "bearer", "api-key"]),
              default="auto", show_default=True,
              help="How the proxy sends the key upstream: an api-key header (Azure key "
                   "auth; auto picks it for *.openai.azure.com) or Authorization: Bearer.")
@click.option("--max-connections", type=int, default=None,
              help="Stop after this many connections (episodes).")
@click.option("--append", is_flag=True, help="Add episodes to an existing cassette.")
def command(output: Path, listen: str | None, script: Path | None, upstream: str,
            upstream_auth: str, max_connections: int | None, append: bool) -> None:
    """Record Realtime sessions into a cassette, secrets scrubbed.

    \b
    Proxy mode: any client connects to the printed URL with a placeholder key;
    the real key comes from OPENAI_API_KEY.
      $ rtkit record --listen 127.0.0.1:8765 -o session.jsonl
      ws://127.0.0.1:8765/v1/realtime
    then e.g. AsyncOpenAI(api_key="placeholder",
                          websocket_base_url="ws://127.0.0.1:8765/v1").
    Stops on Ctrl-C / SIGTERM or after --max-connections episodes.

    \b
    Script mode: rtkit's client plays a YAML script (session, tools, user
    text and WAV audio, waits) against the API; see docs/cli.md.
      $ rtkit record --script docs/examples/weather.yaml -o weather.jsonl
      rtkit: recorded 7 client and 49 server events, 0.0 s of output audio,...

    Exit status: 0 recorded; 1 the upstream refused a connection, a frame or
    the cassette could not be written, or a script step timed out (what was
    recorded is kept); 2 usage error, invalid script, or an output path that
    cannot be written.
    """
    if (listen is None) == (script is None):
        fail("give exactly one of --listen HOST:PORT (proxy) or --script FILE (scripted)")
    api_key = os.environ.get("OPENAI_API_KEY")
    if not api_key and upstream.startswith("wss://api.openai.com"):
        fail("OPENAI_API_KEY is not set: recording from the live API needs a key "
             "(or point --upstream / RTKIT_UPSTREAM_URL at another server)")
    if script is not None:
        _script(script, output, upstream, api_key)
        return
    host, port = parse_listen(listen or "")
    code = run(_proxy(output, host, port, upstream, api_key, max_connections, append,
                      upstream_auth))
    if code:
        sys.exit(code)


def _script(script: Path, output: Path, upstream: str, api_key: str | None) -> None:
    from rtkit.errors import TransportError
    from rtkit.script_runner import ScriptError, load_script, record_script

    try:
        load_script(script)  # a bad script exits 2 before anything connects
    except ScriptError as exc:
        fail(str(exc))
    show = status_printer(True, STATUS_INTERVAL)  # throttled like the proxy's status line
    try:
        result = asyncio.run(record_script(script, output, upstream, api_key, show))
    except (TimeoutError, TransportError) as exc:
        show("")
        kept = f"; what was recorded is in {output}" if output.exists() else ""
        fail(f"{exc}{kept}", code=1)
    show("")
    click.echo(f"rtkit: {result.line()}")


async def _proxy(output: Path, host: str, port: int, upstream: str, api_key: str | None,
                 max_connections: int | None, append: bool, upstream_auth: str = "auto") -> int:
    """Run the recording proxy until a signal or --max-connections; the exit status."""
    from rtkit.errors import CassetteError
    from rtkit.server.proxy import RecordingProxy

    show = status_printer(True)

    async def main(stop: asyncio.Event) -> int:
        proxy = RecordingProxy(output, upstream_url=upstream, api_key=api_key or "", host=host,
                               port=port, max_connections=max_connections, append=append,
                               upstream_auth=upstream_auth,
                               on_status=(lambda s: show(s.line())) if sys.stderr.isatty()
                               else None)
        await proxy.start()  # a cassette that cannot be written there: exit 2, nothing started
        commit_error: CassetteError | None = None
        try:
            click.echo(proxy.url)  # first line of stdout: what clients connect to
            waiters = [asyncio.ensure_future(stop.wait())]
            if max_connections is not None:
                waiters.append(asyncio.ensure_future(proxy.wait_done()))
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        finally:
            try:
                await proxy.stop()
            except CassetteError as exc:
                commit_error = exc
        status = proxy.status
        show("")
        if commit_error is None:
            click.echo(f"rtkit: wrote {output}: {status.episodes} episode(s), {status.events} "
                       f"events, {status.audio_seconds:.1f} s of output audio", err=True)
        for failure in proxy.failures:  # a failure like any other: one error style
            click.echo(f"rtkit: error: {failure}", err=True)
        for error in proxy.errors:
            click.echo(f"rtkit: error: {error}", err=True)
        if commit_error is not None:
            click.echo(f"rtkit: error: {commit_error}", err=True)
        return 1 if proxy.failures or proxy.errors or commit_error is not None else 0

    return await run_until_signal(main)
