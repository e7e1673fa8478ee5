"""pipecat (`pipecat-ai`, OpenAIRealtimeLLMService) as docs/clients.md shows it: a text pipeline
whose context asks for the weather records the tool round trip and the answer through the
recording proxy, replays them from `rtkit serve` unchanged, and a changed user message ends the
pipeline with the mismatch (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client_compat import CHANGED, QUESTIONS, load_example, record_and_replay

pytest.importorskip("pipecat.services.openai.realtime.llm",
                    reason="pipecat-ai is in the compat extra")


async def test_pipecat_records_and_replays_unchanged(tmp_path: Path) -> None:
    app = load_example("pipecat_app.py")
    # pipecat sends a text context of several messages as one: one question, one turn
    run = await record_and_replay(app.converse, tmp_path, questions=QUESTIONS[-1:],
                                  changed=CHANGED[-1:])
    assert run.recorded["said"] == ['tool call: get_weather {"location": "Paris"}',
                                    "assistant: It is sunny in Paris, 21 degrees."]
    assert run.recorded["seen"][0] == "response end"  # the tool call's response
    assert len(run.recorded["seen"]) == 9  # then a text delta per word and the end
    assert "replay_mismatch" in str(run.mismatch)

