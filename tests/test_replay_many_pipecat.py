"""pipecat 1.14 with audio in and server VAD (a greeting, then a spoken question answered
through a tool), its microphone feeding audio in real time, recorded 4 times from the fake
and replayed 20 times from `rtkit serve --repeat --pace recorded`, 10 at a time: every replay
sees its recording.

The strict order fails here at recorded pace (measured 18, 5 and 0 of 20; 1 of 3 in issue
20): the microphone's appends go on while the tool runs, and a strict replay requires their
recorded interleaving with the tool's output, which is a matter of milliseconds. Recorded
pace because the app is timing-dependent: fed as fast as the pipeline takes it, an instant
replay delivers a response in one burst and pipecat 1.14 then sometimes never sends the
`response.create` that follows its tool's output (measured 9 to 14 of 20); and with the
real-time microphone the answer comes sooner than recorded, so the app stops before its last
recorded chunk (`--unplayed fail` says so)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import pytest

from tests.many.harness import concurrently, record_and_replay_many

pytest.importorskip("pipecat.services.openai.realtime.llm",
                    reason="pipecat-ai is in the compat extra")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SAID = ["assistant: Hello! Ask me about the weather.",
        'tool call: get_weather {"location": "Paris"}',
        "assistant: It is sunny in Paris, 21 degrees."]


@pytest.fixture(autouse=True)
def quiet_pipecat() -> None:
    """pipecat logs every frame at DEBUG through loguru: keep the test's output readable."""
    from loguru import logger

    logger.remove()
    logger.add(lambda message: logging.getLogger("pipecat").debug(message), level="WARNING")


async def test_pipecat_with_audio_and_server_vad_replays_20_of_20(tmp_path: Path) -> None:
    from tests.many.pipecat_voice import SCRIPT, converse

    speaking = functools.partial(converse, realtime=True)
    run = await record_and_replay_many(speaking, tmp_path, SCRIPT, [],
                                       replay_all=concurrently(speaking, [], 10),
                                       serve_args=("--pace", "recorded"))
    assert all(r["said"] == SAID for r in run.recorded), run.recorded
    assert run.passed == 20 and run.code == 0, run.report()
    assert run.log.count("closed by the client") == 20, run.log
    print(f"\npipecat, audio + server VAD: {run.passed}/20 replays in {run.seconds:.1f} s")
