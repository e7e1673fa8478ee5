"""The JavaScript `openai` package (6.x) on node, as docs/clients.md shows it: OpenAIRealtimeWS
(the `ws` package) and OpenAIRealtimeWebSocket (the WebSocket global) each record a text turn
and a tool round trip through the recording proxy, replay them from `rtkit serve` unchanged,
and a changed user message ends the app with the mismatch (issue 16).

Needs node and npm; `openai@6` and `ws` are installed from the npm registry into a cache on
first use (see tests/client_compat.py), and the test is skipped when that cannot be done."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import pytest

from rtkit.cassette import Cassette
from tests.client_compat import EXAMPLES, node_client, npm_packages, record_and_replay

PACKAGES = ("openai@6", "ws@8")


@cache
def websocket_global_flags() -> tuple[str, ...]:
    """Node's flags for a WebSocket global: none on Node 22+, the flag on 20-21."""
    check = "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)"
    found = subprocess.run(["node", "-e", check], capture_output=True, timeout=30)
    return () if found.returncode == 0 else ("--experimental-websocket",)


@pytest.mark.parametrize("variant", ["OpenAIRealtimeWS", "OpenAIRealtimeWebSocket"])
async def test_js_openai_sdk_records_and_replays_unchanged(tmp_path: Path, variant: str) -> None:
    js_dir = npm_packages("openai6", *PACKAGES)
    if variant == "OpenAIRealtimeWS":
        converse = node_client(EXAMPLES / "openai_js.mjs", js_dir)
    else:  # the WebSocket global: Node 22, or --experimental-websocket on Node 20-21
        converse = node_client(EXAMPLES / "openai_js.mjs", js_dir, *websocket_global_flags(),
                               env={"RT_WEBSOCKET_GLOBAL": "1"})
    run = await record_and_replay(converse, tmp_path)
    assert run.recorded["said"] == [
        "assistant: Hi! How can I help?",
        'tool call: get_weather {"location": "Paris"}',
        "assistant: It is sunny in Paris, 21 degrees.",
    ]
    assert run.recorded["seen"].count("response.done") == 3
    assert "replay_mismatch" in str(run.mismatch)
    episode = Cassette.load(run.cassette).episodes[0]
    assert "placeholder" not in run.cassette.read_text()
    if variant == "OpenAIRealtimeWebSocket":  # browser-style: the key and `realtime` offered
        assert episode.connect.subprotocols[0] == "realtime"
    else:  # the `ws` package: the key in Authorization, no subprotocol
        assert episode.connect.subprotocols == []
        assert "authorization" in episode.connect.headers
