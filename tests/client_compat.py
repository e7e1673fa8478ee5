"""What every client compatibility test does (issue 16), whatever the client: record a session
against the fake Realtime API through the recording proxy (`RecordingProxy`, what
`rtkit record --listen` runs), replay it from `rtkit serve` with
the fake stopped and get the same events, and see the replay refuse a changed user message with
the mismatch report.

A client is an async `converse(url, questions) -> dict` (the apps in docs/examples/clients/, or
a wrapper that runs a node script): `url` is the URL rtkit printed, the dict holds at least the
server event types the client saw (`seen`) and what was said (`said`). It must raise on the
server's `error` event, as the apps do, so a mismatch ends it at once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rtkit.cassette import Cassette
from rtkit.fake import FakeRealtimeAPI
from rtkit.server.proxy import RecordingProxy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples" / "clients"
REPLIES = ROOT / "docs" / "examples" / "replies.yaml"
RTKIT = [sys.executable, "-c", "from rtkit.cli import main; main()"]
NO_KEY = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
QUESTIONS = ["Hello!", "What's the weather in Paris?"]
CHANGED = ["Hello!", "What's the weather in Rome?"]
# the line of the mismatch report that names the changed text
CHANGED_TEXT = "expected \"What's the weather in Paris?\", got \"What's the weather in Rome?\""

Converse = Callable[[str, list[str]], Awaitable[dict[str, Any]]]


def load_example(name: str) -> ModuleType:
    """Import docs/examples/clients/NAME as a module (its `__main__` part does not run)."""
    spec = importlib.util.spec_from_file_location(f"rtkit_example_{Path(name).stem}",
                                                  EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start `rtkit ARGS` (no OPENAI_API_KEY); return it and the URL it prints first."""
    proc = await asyncio.create_subprocess_exec(
        *RTKIT, *args, env=NO_KEY,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line:
        raise AssertionError(f"rtkit {args[0]} printed no URL: {(await proc.stderr.read())!r}")
    return proc, line.decode().strip()


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """Wait for a command run with --max-connections 1 to exit (SIGTERM after 20 s); return
    its exit status and stderr."""
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    except asyncio.TimeoutError:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    return (proc.returncode if proc.returncode is not None else -1), err.decode()


@dataclass
class Replayed:
    """What a record-and-replay run gave."""

    cassette: Path
    recorded: dict[str, Any]
    replayed: dict[str, Any]
    mismatch: BaseException
    serve_stderr: str


async def record_and_replay(converse: Converse, tmp_path: Path, *,
                            questions: list[str] = QUESTIONS,
                            changed: list[str] = CHANGED,
                            serve_args: tuple[str, ...] = ()) -> Replayed:
    """Record `questions` from the fake through the recording proxy; replay them from `rtkit serve`
    with the fake stopped (asserting a clean exit and the same events), then `changed` from a
    second `rtkit serve` (asserting the client raised and rtkit serve reported the mismatch)."""
    cassette = tmp_path / "session.jsonl"
    # in-process: a third rtkit process would cost its start-up (~1 s) in every client's test
    async with (FakeRealtimeAPI(REPLIES) as fake,
                RecordingProxy(cassette, upstream_url=fake.url) as proxy):
        recorded = await asyncio.wait_for(converse(proxy.url, questions), 30)
    assert not proxy.failures, proxy.failures
    assert len(Cassette.load(cassette).episodes) == 1

    # the fake is stopped: two replay servers, one for the same session, one for a changed one
    (same, same_url), (other, other_url) = await asyncio.gather(
        start("serve", str(cassette), "--listen", "127.0.0.1:0", "--unplayed", "fail",
              "--max-connections", "1", *serve_args),
        start("serve", str(cassette), "--listen", "127.0.0.1:0", "--max-connections", "1",
              *serve_args))
    try:
        replayed = await asyncio.wait_for(converse(same_url, questions), 30)
    finally:
        code, err = await finish(same)
    assert code == 0, err
    assert replayed == recorded, f"recorded:\n{recorded}\nreplayed:\n{replayed}"

    mismatch: BaseException | None = None
    try:
        await asyncio.wait_for(converse(other_url, changed), 30)
    except Exception as exc:  # the client's own way of failing on the error event
        mismatch = exc
    finally:
        code, err = await finish(other)
    assert mismatch is not None, "the changed session replayed without an error"
    assert code == 1, err
    assert "Replay mismatch" in err and CHANGED_TEXT in err, err
    return Replayed(cassette, recorded, replayed, mismatch, err)
