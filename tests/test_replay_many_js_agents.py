"""@openai/agents-realtime (0.20, node) over its WebSocket transport: a text turn and a tool
round trip, recorded 4 times from the fake and replayed 20 times from `rtkit serve --repeat`,
all 20 sessions at once in one node process. Every replay sees its recording (issue 20
measured 15 of 20 before the causal matcher: the SDK's two `session.update`s, tracing and
the agent's config, go out in either order).

Needs node and npm; the package is installed from the npm registry into a cache on first use
(tests/client_compat.py), and the test is skipped with the reason when that cannot be done."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from tests.client_compat import QUESTIONS, REPLIES, npm_packages
from tests.many.harness import record_and_replay_many

PACKAGES = ("@openai/agents-realtime@0.20.0",)
SCRIPT = Path(__file__).parent / "js" / "agents_realtime_sessions.mjs"
SAID = ["assistant: Hi! How can I help?", 'tool call: get_weather {"location": "Paris"}',
        "assistant: It is sunny in Paris, 21 degrees."]


def sessions(js_dir: Path) -> Any:
    """`replay_all(url, n)`: `n` sessions at once in one node process."""
    shutil.copy(SCRIPT, js_dir / SCRIPT.name)  # ESM resolves packages beside the script

    async def replay_all(url: str, n: int) -> list[Any]:
        proc = await asyncio.create_subprocess_exec(
            "node", str(js_dir / SCRIPT.name), url, str(n), *QUESTIONS, cwd=js_dir,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, err.decode()
        results: list[Any] = json.loads(out.decode().strip().splitlines()[-1])
        return [RuntimeError(r["error"]) if "error" in r else r for r in results]

    return replay_all


async def test_agents_realtime_over_websocket_replays_20_of_20(tmp_path: Path) -> None:
    replay_all = sessions(npm_packages("agents-realtime", *PACKAGES))

    async def converse(url: str, questions: list[str]) -> dict[str, Any]:
        (result,) = await replay_all(url, 1)
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    run = await record_and_replay_many(converse, tmp_path, REPLIES, QUESTIONS,
                                       replay_all=replay_all)
    assert all(r["said"] == SAID for r in run.recorded), run.recorded
    assert run.passed == 20 and run.code == 0, run.report()
    assert run.log.count("closed by the client") == 20, run.log
    print(f"\n@openai/agents-realtime: {run.passed}/20 replays in {run.seconds:.1f} s")
