"""`rtkit serve` as a user runs it, watched from its console: the log on stderr as things
happen (connections, the full mismatch report while the server is still running), --quiet,
the matching options of the Python API, and how a connection ends (at once after a mismatch,
dropped when the client stops reading, so --max-connections finishes)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rtkit.transport.websocket import loopback_kwargs
from tests import rtkit_process
from tests.rtkit_process import RTKIT, no_key_env
from tests.serve_helpers import RawClient, Serve, good_session, user_text, write_sessions

ROOT = Path(__file__).resolve().parent.parent
TEXT_TURN = ROOT / "cassettes" / "ga" / "text_turn.jsonl"


def recorded_client_events(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [x["event"] for x in lines if x.get("kind") == "event" and x["dir"] == "client"]


async def start(*args: str, cwd: Path | None = None) -> tuple[asyncio.subprocess.Process, str]:
    """`rtkit serve ARGS` on a free port, with the tests' matchers importable."""
    return await rtkit_process.start(
        "serve", *args, "--listen", "127.0.0.1:0", cwd=cwd,
        env=no_key_env(PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path])))


async def replay_with(url: str, change: Any = None) -> tuple[list[dict[str, Any]], Any]:
    """Send text_turn's client events (one altered by `change`); returns what the server
    sent and how the connection ended (the close, or None when still open at the end)."""
    events = recorded_client_events(TEXT_TURN)
    received: list[dict[str, Any]] = []
    async with connect(url + "?model=gpt-realtime", **loopback_kwargs(url)) as ws:
        for event in events:
            if change is not None:
                change(event)
            await ws.send(json.dumps(event))
        try:
            while True:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
                if received[-1]["type"] == "response.done":
                    return received, None
        except ConnectionClosed as exc:
            return received, exc.rcvd


def _italy(event: dict[str, Any]) -> None:
    if event["type"] == "conversation.item.create":
        event["item"]["content"][0]["text"] = "What is the capital of Italy?"


async def test_the_mismatch_report_is_on_stderr_while_the_server_runs() -> None:
    proc, url = await start(str(TEXT_TURN), "--timeout", "30")
    assert proc.stderr is not None
    t0 = time.monotonic()
    received, close = await replay_with(url, _italy)
    # the client hears it at once: the error event with the report, then a close saying why
    assert time.monotonic() - t0 < 10  # not the 30 s timeout
    assert received[-1]["type"] == "error"
    assert received[-1]["error"]["code"] == "replay_mismatch"
    report = received[-1]["error"]["message"]
    assert "How to fix" in report
    assert (close.code, close.reason) == (4000, "invalid_request_error.replay_mismatch")
    # and the server's console shows it while the server is still running
    log = []
    while not any("How to fix" in line for line in log):
        log.append((await asyncio.wait_for(proc.stderr.readline(), 20)).decode())
    assert proc.returncode is None  # still serving
    text = "".join(log)
    assert "-> episode 0" in text and "mismatch at client event #3:" in text
    assert report in text  # the same full report the exception carries
    assert ("item.content[0].text: expected 'What is the capital of France?', got 'What is the "
            "capital of Italy?'") in text
    closed = (await asyncio.wait_for(proc.stderr.readline(), 20)).decode()
    assert "episode 0: closed by rtkit (4000 invalid_request_error.replay_mismatch)" in closed
    proc.terminate()
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert "1 replay error(s), reported above; the first: Replay mismatch" in err.decode()


async def test_quiet_turns_the_log_off() -> None:
    proc, url = await start(str(TEXT_TURN), "--quiet", "--max-connections", "1")
    received, close = await replay_with(url)
    assert received[-1]["type"] == "response.done" and close is None
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert (proc.returncode, err) == (0, b"")


def _instructions(event: dict[str, Any]) -> None:
    if event["type"] == "session.update":
        event["session"]["instructions"] = "Answer at length."


MATCHER = '''
def _words(event):
    return event["item"]["content"][0]["text"].split()


def same_start(recorded, actual):
    if recorded.get("type") == "conversation.item.create":
        return _words(recorded)[:4] == _words(actual)[:4]


def same_end(recorded, actual):
    if recorded.get("type") == "conversation.item.create":
        return _words(recorded)[-1] == _words(actual)[-1] or "the country changed"
'''


@pytest.mark.parametrize(("args", "change", "ok", "needle"), [
    (["--ignore-path", "session.instructions"], _instructions, True, ""),
    (["--match-on", "type", "--matcher", "rt_matchers:same_start"], _italy, True, ""),
    (["--match-on", "type", "--matcher", "rt_matchers:same_end"], _italy, False,
     "<matcher same_end>: expected 'a match', got 'the country changed'"),
])
async def test_matching_options(tmp_path: Path, args: list[str], change: Any, ok: bool,
                                needle: str) -> None:
    (tmp_path / "rt_matchers.py").write_text(MATCHER)
    proc, url = await start(str(TEXT_TURN), "--max-connections", "1", "--quiet",
                            "--unplayed", "ignore", *args, cwd=tmp_path)
    received, _ = await replay_with(url, change)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert (received[-1]["type"] == "response.done") is ok, received[-1]
    assert proc.returncode == (0 if ok else 1), err
    assert needle.encode() in err


async def test_a_bad_matcher_option_is_a_usage_error() -> None:
    proc = await asyncio.create_subprocess_exec(
        *RTKIT, "serve", str(TEXT_TURN), "--matcher", "no_such_module:f",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2 and out == b""
    assert b"cannot import no_such_module:f" in err and b"Traceback" not in err


async def test_a_client_that_never_reads_is_dropped_and_max_connections_ends(
        tmp_path: Path) -> None:
    # a 20 MB answer to a client that reads nothing: socket buffers fill, the server stalls
    path = write_sessions(tmp_path / "big.jsonl", 1, deltas=3000, delta_bytes=6400)
    server = Serve(path, "--max-connections", "1", "--timeout", "1")
    try:
        client = await RawClient.upgrade(server.port, rcvbuf=4096)
        client.send_frame(user_text(0).encode())
        client.send_frame(b'{"type":"response.create"}')
        t0 = time.monotonic()
        code, err = await server.wait(30)  # exits by itself: the connection was ended
        assert time.monotonic() - t0 < 20
        client.close()
    finally:
        server.stop()
    assert code == 1, err
    assert "the client stopped reading" in err
    assert "episode 0: dropped by rtkit (no close frame): the client stopped reading" in err


async def test_a_corrupt_line_found_while_serving_exits_2(tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "three.jsonl", 3)
    lines = path.read_text().splitlines()
    lines[-4] = lines[-4][:40]  # a line of the last episode, cut short
    path.write_text("\n".join(lines) + "\n")
    server = Serve(path, "--timeout", "5")
    try:
        code, err = await server.wait(30)  # the background index finds it
    finally:
        server.stop()
    assert code == 2, err
    assert re.search(f"rtkit: error: {re.escape(str(path))}:{len(lines) - 3}:[0-9]+: not valid "
                     "JSON", err), err
    assert err.count("not valid JSON") == 1, err  # said once, as the command's error
    assert "Traceback" not in err


async def test_a_big_cassette_is_served_with_its_index_built_in_the_background(
        tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "many.jsonl", 150, deltas=40, delta_bytes=4000)
    server = Serve(path, "--timeout", "5", "--unplayed", "ignore", "--quiet")
    try:
        for k in (0, 1):
            await good_session(server.url + "?model=gpt-realtime", k, deltas=40,
                               delta_bytes=4000)
    finally:
        code, err = server.stop()
    assert (code, err) == (0, "")
    # generated by the test, not recorded: not for the end-of-run secret scan
    path.unlink()
