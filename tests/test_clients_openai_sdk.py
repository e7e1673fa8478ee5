"""The official `openai` SDK, async and sync, as docs/clients.md shows it: records a text turn
and a tool round trip through `rtkit record`, replays them from `rtkit serve` unchanged, and a
changed user message fails at once with the mismatch report (issue 16)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.client_compat import load_example, record_and_replay

EXPECTED_SAID = [
    "assistant: Hi! How can I help?",
    'tool call: get_weather {"location": "Paris"}',
    "assistant: It is sunny in Paris, 21 degrees.",
]


async def test_async_sdk_records_and_replays_unchanged(tmp_path: Path) -> None:
    app = load_example("openai_async.py")
    run = await record_and_replay(app.converse, tmp_path)
    assert run.recorded["said"] == EXPECTED_SAID
    assert "replay_mismatch" in str(run.mismatch)


async def test_sync_sdk_records_and_replays_unchanged(tmp_path: Path) -> None:
    app = load_example("openai_sync.py")

    async def converse(url: str, questions: list[str]) -> dict[str, object]:
        return await asyncio.to_thread(app.converse, url, questions)

    run = await record_and_replay(converse, tmp_path)
    assert run.recorded["said"] == EXPECTED_SAID
    assert "replay_mismatch" in str(run.mismatch)
