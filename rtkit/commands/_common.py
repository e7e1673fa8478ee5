"""Helpers shared by the CLI commands: running asyncio with signal handling, clean errors."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from rtkit.cassette import Cassette
from rtkit.errors import CassetteError, RtkitError
from rtkit.threads import report_loop_errors

__all__ = ["STATUS_INTERVAL", "echo", "fail", "load_cassette", "parse_listen", "printable",
           "read_cassette", "run", "run_until_signal", "status_printer"]

T = TypeVar("T")


def printable(text: str) -> str:
    """`text` as it can be written to a UTF-8 stream: a lone surrogate (a cassette may hold
    one, escaped) is written as its JSON escape, `\\ud800`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def echo(text: str, err: bool = False) -> None:
    """`click.echo` of `printable(text)`."""
    click.echo(printable(text), err=err)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` to stderr and exit with `code` (no traceback)."""
    echo(f"rtkit: error: {message}", err=True)
    sys.exit(code)


def load_cassette(path: Path) -> Cassette:
    """Load a cassette, or exit 2 with a message naming the file (and line) on a problem."""
    if not path.exists():
        fail(f"{path}: no such file")
    if path.is_dir():
        fail(f"{path}: is a directory, not a cassette")
    try:
        return Cassette.load(path)
    except CassetteError as exc:
        fail(str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {exc}")
    raise AssertionError("unreachable")


def read_cassette(path: Path, read: Callable[[Path], T]) -> T:
    """`read(path)` (a one-pass reader such as `read_summaries`), or exit 2 with a message
    naming the file (and line) on a problem."""
    if not path.exists():
        fail(f"{path}: no such file")
    if path.is_dir():
        fail(f"{path}: is a directory, not a cassette")
    try:
        return read(path)
    except CassetteError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (port 0 picks a free one)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, e.g. 127.0.0.1:8765, not {value!r}")
    return host or "127.0.0.1", int(port)


async def run_until_signal(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run `main(stop)`; SIGINT / SIGTERM set `stop` instead of killing the process."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # what asyncio would print with a traceback is one `rtkit: error:` line
    report_loop_errors(loop, lambda line: click.echo(f"rtkit: error: {line}", err=True))
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        return await main(stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


STATUS_INTERVAL = 0.25
"""Seconds between two redraws of a status line: a live line, not a flood."""


def status_printer(enabled: bool, interval: float = 0.0) -> Callable[[str], None]:
    """A function that rewrites one status line on stderr when it is a terminal, at most
    once per `interval` seconds (lines in between are dropped); an empty line, which clears
    it, is always written."""
    if not enabled or not sys.stderr.isatty():
        return lambda line: None
    next_draw = 0.0

    def show(line: str) -> None:
        nonlocal next_draw
        now = time.monotonic()
        if line and now < next_draw:
            return
        next_draw = now + interval
        sys.stderr.write("\r\033[K" + line)
        sys.stderr.flush()

    return show


def run(coro: Awaitable[T]) -> T:
    """asyncio.run with rtkit errors turned into clean exits."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except RtkitError as exc:
        fail(str(exc))
        raise  # unreachable
