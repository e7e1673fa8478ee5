"""The processes a test run started, read from /proc: so that no test leaves one running.

`descendants()` lists the live (not zombie) descendants of this process; `stop(pids)` ends
them (SIGTERM, then SIGKILL after a grace). tests/conftest.py stops whatever a test started
and left running when the test ends, fails a test that passed but left one, and fails the run
when a process survives to its end (a wider-scoped fixture that never stopped its server).
Elsewhere than Linux there is no /proc, and nothing is checked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

__all__ = ["descendants", "outlives_the_test", "stop", "supported"]

PROC = Path("/proc")
OUTLIVING: set[int] = set()  # pids a wider-scoped owner stops later (still checked at the end)


def outlives_the_test(pid: int) -> None:
    """`pid` is meant to outlive the test that started it: its owner (a module fixture, a
    doc's session) stops it later. The end-of-run check still applies to it."""
    OUTLIVING.add(pid)


def supported() -> bool:
    """Whether processes can be read here (Linux /proc with `children` files)."""
    return (PROC / "self" / "task" / str(os.getpid()) / "children").exists()


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, state) of a process, or None when it is gone."""
    try:
        text = (PROC / pid / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and ")"
    return int(fields[1]), fields[0]


def _cmdline(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200]


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from each of its threads' `children` file."""
    out: list[int] = []
    try:
        tasks = os.listdir(PROC / str(pid) / "task")
    except OSError:
        return out
    for task in tasks:
        with contextlib.suppress(OSError):
            out += [int(p) for p in (PROC / str(pid) / "task" / task / "children")
                    .read_text().split()]
    return out


def descendants(root: int | None = None) -> dict[int, str]:
    """Live descendants of `root` (default: this process): pid -> command line."""
    found: dict[int, str] = {}
    todo = _children(os.getpid() if root is None else root)
    while todo:
        pid = todo.pop()
        stat = _stat(str(pid))
        if stat is None:
            continue
        if stat[1] not in ("Z", "X"):
            found[pid] = _cmdline(pid)
        todo += _children(pid)
    return found


def _alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        stat = _stat(str(pid))
        if stat is not None and stat[1] not in ("Z", "X"):
            out.add(pid)
    return out


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait up to `timeout` s for `pids` to end; return those still alive."""
    deadline = time.monotonic() + timeout
    left = _alive(pids)
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = _alive(left)
    return left


def stop(pids: set[int], grace: float = 5.0) -> None:
    """SIGTERM `pids`, then SIGKILL whatever is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        for pid in _alive(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if not wait_gone(pids, wait):
            return
