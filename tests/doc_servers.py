"""Long-running `rtkit` commands (`serve`, `fake`, `record --listen`) run as a user runs them:
a real process, its URL read from the first line of stdout, stopped with a signal."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from tests import processes

__all__ = ["RTKIT", "URL", "WAIT", "Server", "base_env", "is_server"]

_BIN = shutil.which("rtkit", path=str(Path(sys.executable).parent))
RTKIT = [_BIN] if _BIN else [sys.executable, "-c", "from rtkit.cli import main; main()"]
URL = re.compile(r"^ws://127\.0\.0\.1:(\d+)(/\S*)?$")
WAIT = 30.0  # seconds for what should happen at once; generous for a loaded machine


def is_server(args: list[str]) -> bool:
    """Whether `rtkit ARGS` runs until stopped (it serves clients)."""
    if not args:
        return False
    return args[0] in ("serve", "fake") or (args[0] == "record" and "--listen" in args)


class Server:
    """`rtkit ARGS` in its own process, stdout and stderr merged as on a terminal."""

    def __init__(self, args: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [*RTKIT, *args], cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)
        processes.outlives_the_test(self.proc.pid)  # the doc's later blocks use it
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port: int | None = None
        self.url: str | None = None
        self.where = ""  # the doc block that started it
        self.want_exit = 0  # its exit status when stopped, as the doc says
        self.shown: list[str] | None = None  # what the doc shows it prints later

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    @property
    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.proc.poll() is None

    def readline(self, timeout: float = WAIT) -> str | None:
        """The next line it prints, or None once it has exited and printed everything."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"`rtkit {' '.join(self.args)}` printed nothing for "
                                 f"{timeout:g} s") from None
        if line is None:
            self._lines.put(None)  # stays at the end
        return line

    def start(self) -> str | None:
        """Wait for the first line; when it is the URL, remember the port. Returns the line."""
        first = self.readline()
        found = URL.match(first or "")
        if found:
            self.url, self.port = first, int(found.group(1))
        return first

    def lines(self, n: int, timeout: float = WAIT) -> list[str]:
        """The next `n` lines (fewer if it exits first)."""
        out: list[str] = []
        while len(out) < n:
            line = self.readline(timeout)
            if line is None:
                break
            out.append(line)
        return out

    def wait(self) -> tuple[int, list[str]]:
        """Wait for it to exit on its own; its exit status and the rest it printed."""
        return self.stop(None)

    def stop(self, sig: int | None = signal.SIGINT) -> tuple[int, list[str]]:
        """Signal it (unless it exited), wait for it; its exit status and the rest it printed."""
        if self.proc.poll() is None and sig is not None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"`rtkit {' '.join(self.args)}` did not stop within "
                                 f"{WAIT:g} s (signal {sig})") from None
        self._reader.join(WAIT)
        rest: list[str] = []
        while (line := self.readline()) is not None:
            rest.append(line)
        return code, rest

    def kill(self) -> None:
        """Make sure it is gone (test teardown after a failure)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def base_env() -> dict[str, str]:
    """This process's environment without a key or an upstream: the docs run keyless."""
    return {k: v for k, v in os.environ.items()
            if k not in ("OPENAI_API_KEY", "RTKIT_UPSTREAM_URL", "COLUMNS")}
