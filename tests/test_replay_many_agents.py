"""openai-agents 0.25 with tracing on (its default), a handoff and a function tool, recorded 4
times from the fake and replayed 20 times from `rtkit serve --repeat`, 5 at a time: every
replay sees its recording (issue 20 measured 7 of 20 before the causal matcher; the SDK sends
its tracing `session.update` from its receive loop, so it lands anywhere among the app's
events)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.many.harness import record_and_replay_many

pytest.importorskip("agents.realtime", reason="openai-agents is a dev extra")


async def test_agents_with_a_handoff_and_a_tool_replay_20_of_20(tmp_path: Path) -> None:
    from tests.many.agents_handoff import QUESTIONS, SAID, SCRIPT, converse

    run = await record_and_replay_many(converse, tmp_path, SCRIPT, QUESTIONS)
    assert all(r["said"] == SAID for r in run.recorded), run.recorded
    assert any("tracing" in line for line in run.cassette.read_text().splitlines())
    assert run.passed == 20 and run.code == 0, run.report()
    assert run.log.count("closed by the client") == 20, run.log
    assert run.log.count("starting over") == 4, run.log  # rounds 2 to 5
    print(f"\nopenai-agents: {run.passed}/20 replays in {run.seconds:.1f} s")
