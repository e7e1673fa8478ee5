"""Helpers shared by the CLI commands: running asyncio with signal handling, clean errors."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from rtkit.errors import RtkitError

__all__ = ["fail", "parse_listen", "run_until_signal", "status_printer"]

T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    """Print `message` to stderr and exit with `code` (no traceback)."""
    click.echo(f"rtkit: error: {message}", err=True)
    sys.exit(code)


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
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        return await main(stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def status_printer(enabled: bool) -> Callable[[str], None]:
    """A function that rewrites one status line on stderr when it is a terminal."""
    if not enabled or not sys.stderr.isatty():
        return lambda line: None

    def show(line: str) -> None:
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
