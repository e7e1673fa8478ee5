"""`rtkit` commands as the user runs them: real processes, for the CLI tests.

`start` runs a command that prints its URL first (`serve`, `fake`, `record --listen`),
`finish` signals it and collects its exit status and stderr, `run` runs one to completion.
Processes get the environment given, or this one without `OPENAI_API_KEY` (`no_key_env()`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

__all__ = ["RTKIT", "finish", "no_key_env", "run", "start"]

RTKIT = [sys.executable, "-c", "from rtkit.cli import main; main()"]

Process = asyncio.subprocess.Process


def no_key_env(**extra: str) -> dict[str, str]:
    """This environment without `OPENAI_API_KEY`, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}, **extra}


async def start(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 30.0, expect_url: bool = True) -> tuple[Process, str]:
    """Start `rtkit ARGS`; return the process and the first line it prints (its URL). With
    `expect_url` a command that exits without printing one fails the test with its stderr;
    without, the line is "" and the caller looks at the exit status."""
    proc = await asyncio.create_subprocess_exec(
        *RTKIT, *args, cwd=cwd, env=env if env is not None else no_key_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not line and expect_url:
        raise AssertionError(f"rtkit {' '.join(args)} printed no URL: "
                             f"{(await proc.stderr.read()).decode()}")
    return proc, line.decode().strip()


async def finish(proc: Process, sig: int | None = signal.SIGTERM, *, grace: float = 0.0,
                 timeout: float = 30.0) -> tuple[int, str]:
    """Signal `proc` (after `grace` seconds to end by itself; `sig=None`: just wait); return
    its exit status and stderr."""
    if grace:
        try:
            _, err = await asyncio.wait_for(proc.communicate(), grace)
            return (proc.returncode if proc.returncode is not None else -1), err.decode()
        except TimeoutError:
            pass
    if sig is not None and proc.returncode is None:
        proc.send_signal(sig)
    _, err = await asyncio.wait_for(proc.communicate(), timeout)
    return (proc.returncode if proc.returncode is not None else -1), err.decode()


async def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 30.0) -> tuple[int, str, str]:
    """Run `rtkit ARGS` to completion; its exit status, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *RTKIT, *args, cwd=cwd, env=env if env is not None else no_key_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return (proc.returncode if proc.returncode is not None else -1), out.decode(), err.decode()
