"""JavaScript clients of the reference client's kind against rtkit: `openai-realtime-api` from
npm (a port of the reference client, openai-realtime-api-beta, which is not on the npm registry;
beta dialect) records a text turn and a tool round trip through the recording proxy, replays them
from `rtkit serve` unchanged, and stops on a changed user message; the reference client's
`waitForNextCompletedItem()` loop needs `--pace recorded` (docs/clients.md).

Needs node and the package; the package is installed from the npm registry into a cache
directory on first use (`RTKIT_JS_CACHE`, default `~/.cache/rtkit-tests/js`). Without node, or
when npm cannot install it, the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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


def _js_dir() -> Path:
    """A directory holding node_modules/openai-realtime-api."""
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
    return cache


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
    episode = Cassette.load(run.cassette).episodes[0]
    assert episode.connect.headers.get("openai-beta") == "realtime=v1"
    # `ws` closes without a status code; the proxy passed that on (not an abort) and kept it
    assert episode.close is not None and (episode.close.code, episode.close.by) == (1005, "client")


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
