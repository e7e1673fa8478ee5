"""Per-test cost of rtkit's pytest plugin: 200 replayed tests vs 200 empty tests.

    .venv/bin/python benchmarks/plugin_overhead.py [--n 200]

Records one small cassette (a text turn: session.update, a user message, a streamed text
answer) from rtkit's fake Realtime API (`rtkit.fake`), then runs, each in one pytest
session: N tests replaying that cassette through `rt_client` (rtkit's client, loopback
WebSocket to the replay server; async tests), N tests using only `rt_server` with a bare
`websockets` client (sync tests), and as baselines N empty async tests and N empty sync tests:
each kind of test is compared with an empty test of the same kind, so pytest-asyncio's own
per-test cost is not counted as the plugin's. Prints wall time per session and the overhead
per replayed test. Target: < 30 ms per replayed test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from rtkit.fake import FakeRealtimeAPI

ROOT = Path(__file__).resolve().parent.parent

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

EMPTY = """
import pytest

@pytest.mark.parametrize("n", range({n}))
def test_empty(n):
    pass
"""

EMPTY_ASYNC = """
import pytest

@pytest.mark.parametrize("n", range({n}))
async def test_empty(n):
    pass
"""

CLIENT = """
import pytest
from rtkit.assertions import rt_conversation

@pytest.mark.rtkit(cassette="ref_client")
@pytest.mark.parametrize("n", range({n}))
async def test_replayed(rt_client, n):
    rt_client.update_session(modalities=["text"])
    rt_client.send_user_message_content([{{"type": "input_text", "text": "Capital of France?"}}])
    while True:
        payload = await rt_client.wait_for_next_completed_item(timeout=5)
        if payload["item"].get("role") == "assistant":
            break
    rt_conversation(rt_client).expect.no_errors().assistant_said("Paris")
"""

SERVER = """
import json
import pytest
from websockets.sync.client import connect

@pytest.mark.rtkit(cassette="ref_server")
@pytest.mark.parametrize("n", range({n}))
def test_replayed(rt_server, n):
    with connect(rt_server.url + "?model=gpt-realtime") as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        ws.send(json.dumps({{"type": "session.update",
                             "session": {{"type": "realtime", "instructions": "Be brief."}}}}))
        assert json.loads(ws.recv())["type"] == "session.updated"
"""


def run_pytest(directory: Path, *args: str, env: dict[str, str] | None = None) -> float:
    """Run pytest in a subprocess; return its wall time in seconds (fails loudly)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit(f"pytest failed in {directory}: {' '.join(args)}")
    return elapsed


def record_cassettes(directory: Path) -> None:
    """Record ref_client.jsonl and ref_server.jsonl against the fake API."""
    script = {"default": {"text": "The capital of France is Paris."}, "delta_ms": 0}
    with FakeRealtimeAPI(script, seed="bench") as fake:
        env = {**os.environ, "RTKIT_UPSTREAM_URL": fake.url, "OPENAI_API_KEY": "sk-bench-fake"}
        for name in ("client", "server"):
            run_pytest(directory / name, "--rt-record-mode=once", "-k", "replayed and 0", env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="tests per session (default 200)")
    args = parser.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory(prefix="rtkit-bench-") as tmp:
        base = Path(tmp)
        for name, body in (("empty", EMPTY), ("empty_async", EMPTY_ASYNC), ("client", CLIENT),
                           ("server", SERVER)):
            (base / name).mkdir()
            (base / name / "pytest.ini").write_text(INI)
            (base / name / f"test_{name}.py").write_text(textwrap.dedent(body.format(n=n)))
        record_cassettes(base)
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY",)}
        env.pop("RTKIT_UPSTREAM_URL", None)
        results = {}
        for name in ("empty", "empty_async", "client", "server"):
            run_pytest(base / name, env=env)  # warm-up (imports, .pyc)
            results[name] = min(run_pytest(base / name, env=env) for _ in range(2))
    print(f"{n} tests per pytest session (best of 2 runs, wall time incl. interpreter start)")
    for name, label in (("empty", "empty sync tests"), ("empty_async", "empty async tests")):
        total = results[name]
        print(f"  {label:<28} {total:7.2f} s  ({total / n * 1000:6.2f} ms/test)")
    overheads = {}
    for name, label, baseline in (("client", "replayed, rt_client turn", "empty_async"),
                                  ("server", "replayed, rt_server", "empty")):
        total = results[name]
        overheads[name] = (total - results[baseline]) / n * 1000
        print(f"  {label:<28} {total:7.2f} s  overhead {overheads[name]:6.2f} ms/test "
              f"(vs {baseline.replace('_', ' ')} tests)")
    worst = max(overheads.values())
    print(f"target < 30 ms per replayed test: {'met' if worst < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
