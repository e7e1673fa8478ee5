"""openai-agents (RealtimeAgent with a function tool, run by RealtimeRunner) as docs/clients.md
shows it: records a text turn and a tool round trip through the recording proxy, replays them
from `rtkit serve` unchanged, and a changed user message fails at once with the mismatch
(issue 16). tests/test_agents_sdk.py replays the same kind of session in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client_compat import load_example, record_and_replay

pytest.importorskip("agents.realtime", reason="openai-agents is a dev extra")


async def test_agents_records_and_replays_unchanged(tmp_path: Path) -> None:
    app = load_example("agents_app.py")
    run = await record_and_replay(app.converse, tmp_path)
    assert run.recorded["said"] == [
        "assistant: Hi! How can I help?",
        'tool call: get_weather {"location": "Paris"}',
        "assistant: It is sunny in Paris, 21 degrees.",
    ]
    assert run.recorded["seen"].count("response.function_call_arguments.done") == 1
    assert "replay_mismatch" in str(run.mismatch)
