"""A JavaScript client replays against `rtkit serve`: `openai-realtime-api` from npm (a port of
the reference client, beta dialect) records a tool-call turn through `rtkit record`, then the same
script runs against `rtkit serve` with the upstream gone and sees the same events.

Needs node and the package; the package is installed from the npm registry into a cache
directory on first use (`RTKIT_JS_CACHE`, default `~/.cache/rtkit-tests/js`). Without node, or
when npm cannot install it, the test is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rtkit.cassette import Cassette
from rtkit.fake import FakeRealtimeAPI
from rtkit.server.proxy import RecordingProxy
from tests.client_compat import (
    EXAMPLES,
    REPLIES,
    finish,
    node_client,
    record_and_replay,
    start,
)

PACKAGE = "openai-realtime-api@1.0.8"
SCRIPT = Path(__file__).parent / "js" / "weather_turn.mjs"
FAKE_KEY = "sk-test-" + "js-client-fake-key-0000"  # built at runtime: no key-shaped literal
RTKIT = [sys.executable, "-c", "from rtkit.cli import main; main()"]


def _js_dir() -> Path:
    """A directory holding node_modules/openai-realtime-api and the test script."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed")
    cache = Path(os.environ.get("RTKIT_JS_CACHE", Path.home() / ".cache" / "rtkit-tests" / "js"))
    if not (cache / "node_modules" / "openai-realtime-api" / "package.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), PACKAGE],
                check=True, capture_output=True, timeout=180,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"npm could not install {PACKAGE} (offline?): {exc}")
    shutil.copy(SCRIPT, cache / SCRIPT.name)  # ESM resolves packages beside the script
    return cache


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start an rtkit command that prints its URL first; return it and the URL."""
    proc = await asyncio.create_subprocess_exec(
        *RTKIT, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    if not line:
        err = await proc.stderr.read() if proc.stderr else b""
        raise AssertionError(f"rtkit {args[0]} printed no URL: {err.decode()}")
    return proc, line.decode().strip()


async def _node(js_dir: Path, url: str) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        "node", str(js_dir / SCRIPT.name), url, cwd=js_dir,
        env={**os.environ, "RT_TEST_KEY": FAKE_KEY},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return proc.returncode or 0, err.decode()


async def test_js_reference_client_port_replays_against_rtkit_serve(tmp_path: Path) -> None:
    js_dir = _js_dir()
    cassette = tmp_path / "js_weather.jsonl"
    replies = {"rules": [
        {"when": {"text": "weather"}, "reply": {"function_call": {
            "name": "get_weather", "arguments": {"location": "Paris"}}}},
        {"when": {"tool_output": "sunny"}, "reply": {"text": "It is sunny in Paris, 21 degrees."}},
    ]}
    async with FakeRealtimeAPI(replies) as upstream:
        recorder, url = await _start("record", "--listen", "127.0.0.1:0", "-o", str(cassette),
                                     "--upstream", upstream.url, "--max-connections", "1")
        recorded = await _node(js_dir, url)
        code, err = await asyncio.wait_for(_wait(recorder), 20)
        assert code == 0, err
    assert recorded["text"] == "It is sunny in Paris, 21 degrees."
    data = cassette.read_bytes()
    assert FAKE_KEY.encode() not in data
    episode = Cassette.load(cassette).episodes[0]
    assert episode.connect.headers.get("openai-beta") == "realtime=v1"
    # `ws` closes without a status code; the proxy passed that on (not an abort) and kept it
    assert episode.close is not None and (episode.close.code, episode.close.by) == (1005, "client")

    # the upstream is gone: the same script against the replay server
    server, url = await _start("serve", str(cassette), "--listen", "127.0.0.1:0",
                               "--unplayed", "fail", "--max-connections", "1")
    replayed = await _node(js_dir, url)
    code, err = await asyncio.wait_for(_wait(server), 20)
    assert code == 0, err
    assert replayed["text"] == recorded["text"]
    # the client disconnects on the answer: what it saw by then depends on timing, in order
    seen, seen_live = replayed["seen"], recorded["seen"]
    n = min(len(seen), len(seen_live))  # type: ignore[arg-type]
    assert seen[:n] == seen_live[:n] and n >= 20  # type: ignore[index]
    assert "response.function_call_arguments.done" in replayed["seen"]  # type: ignore[operator]


async def _wait(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """Wait for a command started with --max-connections 1 to exit by itself."""
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    except asyncio.TimeoutError:
        return await _finish(proc)
    return proc.returncode or 0, err.decode()


async def test_js_reference_client_port_records_and_replays_unchanged(tmp_path: Path) -> None:
    """docs/clients.md's app for the port: a text turn and a tool round trip, replayed from
    `rtkit serve` unchanged; a changed user message ends it with the mismatch."""
    converse = node_client(EXAMPLES / "realtime_api_port.mjs", _js_dir())
    run = await record_and_replay(converse, tmp_path)
    assert run.recorded["said"] == [
        "assistant: Hi! How can I help?",
        'tool call: get_weather {"location": "Paris"}',
        "assistant: It is sunny in Paris, 21 degrees.",
    ]
    assert run.recorded["seen"][0] == "session.created"
    assert "replay_mismatch" in str(run.mismatch)


async def test_a_wait_for_next_completed_item_loop_sees_every_item_at_recorded_pace(
        tmp_path: Path) -> None:
    """The reference client's README loop (`await client.waitForNextCompletedItem()` in a
    loop) listens only while it is awaiting: items completed in the same burst as the one it
    just got are lost. At instant pace the replay sends each answer as one burst and the loop
    misses items (here 5 of 6 runs lost the function call or the answer); `--pace recorded`
    keeps the gaps the live session had, and the loop sees every item, as it did live."""
    js_dir = _js_dir()
    converse = node_client(Path(__file__).parent / "js" / "completed_items_loop.mjs", js_dir)
    cassette = tmp_path / "loop.jsonl"
    async with (FakeRealtimeAPI(REPLIES) as fake,
                RecordingProxy(cassette, upstream_url=fake.url) as proxy):
        recorded = await converse(proxy.url, [])
    every_item = ["user", "function_call", "function_call_output", "assistant"]
    assert recorded == {"items": every_item, "answered": True}
    server, url = await start("serve", str(cassette), "--listen", "127.0.0.1:0",
                              "--pace", "recorded", "--max-connections", "1")
    replayed = await converse(url, [])
    code, err = await finish(server)
    assert code == 0, err
    assert replayed == recorded
