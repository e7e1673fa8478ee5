"""livekit-plugins-openai (RealtimeModel / RealtimeSession on aiohttp, driven without a LiveKit
server) as docs/clients.md shows it: records a text turn and a tool round trip through the
recording proxy, replays them from `rtkit serve` unchanged, and a changed user message ends the
session with the mismatch (issue 16).

LiveKit invents a value the server echoes: every `response.create` carries a random
`metadata.client_event_id`, and LiveKit waits for the `response.created` whose
`response.metadata` holds it. Replay binds it and rewrites it into the replayed events."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtkit.cassette import Cassette
from tests.client_compat import load_example, record_and_replay

pytest.importorskip("livekit.plugins.openai.realtime",
                    reason="livekit-plugins-openai is in the compat extra")


async def test_livekit_records_and_replays_unchanged(tmp_path: Path) -> None:
    app = load_example("livekit_app.py")
    run = await record_and_replay(app.converse, tmp_path)
    assert run.recorded["said"] == [
        "assistant: Hi! How can I help?",
        'tool call: get_weather {"location": "Paris"}',
        "assistant: It is sunny in Paris, 21 degrees.",
    ]
    assert "replay_mismatch" in str(run.mismatch)
    creates = [line.event for line in Cassette.load(run.cassette).iter_events(0, "client")
               if line.type == "response.create"]
    assert len(creates) == 3 and all(
        event["response"]["metadata"]["client_event_id"].startswith("response_create_")
        for event in creates)
