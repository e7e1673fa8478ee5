"""`rtkit.use_cassette` outside pytest (issue 23): unittest test cases (sync and async,
decorator and context manager) record from the keyless fake and replay, with the apps
unchanged; a plain script does the same, run as a script; what the marker does at the end
(the first mismatch raised, the unplayed policy, fail-fast) and its errors."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import runpy
import subprocess
import sys
import time
import unittest
from pathlib import Path

import pytest

import rtkit
from rtkit.errors import CannotOverwriteExistingCassetteException, CassetteError, ReplayError
from rtkit.fake import FakeRealtimeAPI
from rtkit.intercept import registry
from tests.client_compat import REPLIES

ROOT = Path(__file__).resolve().parent.parent
TEXT_TURN = ROOT / "cassettes" / "ga" / "text_turn.jsonl"  # its first client event: session.update
REALTIME = "wss://api.openai.com/v1/realtime?model=gpt-realtime"


def _run_cases(monkeypatch: pytest.MonkeyPatch, mode: str) -> unittest.TestResult:
    monkeypatch.setenv("RT_MODE", mode)
    import tests.use_cassette_cases as cases

    suite = unittest.defaultTestLoader.loadTestsFromModule(importlib.reload(cases))
    result = unittest.TestResult()
    suite.run(result)
    return result


def test_unittest_cases_record_then_replay(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RT_CASSETTES", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeRealtimeAPI(REPLIES) as fake:
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
        result = _run_cases(monkeypatch, "once")
    assert not result.errors and not result.failures, result.errors + result.failures
    assert (result.testsRun, len(result.skipped)) == (4, 1)
    assert len(fake.records) == 2  # the context manager replayed what the decorator recorded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["async_greeting.jsonl",
                                                          "sync_greeting.jsonl"]
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")  # the fake is gone: replay only
    result = _run_cases(monkeypatch, "none")
    assert not result.errors and not result.failures, result.errors + result.failures
    assert (result.testsRun, len(result.skipped)) == (4, 0)
    assert not registry.active()


def test_a_plain_script_records_then_replays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    script = ROOT / "tests" / "use_cassette_script.py"
    said = ('async: tool call: get_weather {"location": "Paris"} / assistant: It is sunny in '
            "Paris, 21 degrees.")
    # recorded from the fake (in this process, to spare a second interpreter's start-up)...
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path)])
    with FakeRealtimeAPI(REPLIES) as fake:
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
        runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.splitlines() == [
        "sync: assistant: Hi! How can I help? (recorded)", f"{said} (recorded)"]
    # ... then run as a script, without the fake
    env = {k: v for k, v in os.environ.items() if k not in ("RTKIT_UPSTREAM_URL",)}
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "sync: assistant: Hi! How can I help? (replayed)", f"{said} (replayed)"]


def test_fail_fast_stops_an_async_block_at_once() -> None:
    from websockets.asyncio.client import connect

    async def main() -> None:
        async with rtkit.use_cassette(TEXT_TURN), connect(REALTIME) as ws:
            await ws.send(json.dumps({"type": "response.create"}))  # not what was recorded
            while True:
                await ws.recv()  # ignores the error event, waits for more

    loop = asyncio.new_event_loop()
    try:
        started = loop.time()
        with pytest.raises(CannotOverwriteExistingCassetteException, match=r"session\.update"):
            loop.run_until_complete(asyncio.wait_for(main(), 10))
        assert loop.time() - started < 5
    finally:
        loop.close()


def test_fail_fast_stops_a_sync_block_at_once() -> None:
    from websockets.sync.client import connect

    mismatch = pytest.raises(CannotOverwriteExistingCassetteException, match=r"session\.update")
    started = time.monotonic()
    with mismatch, rtkit.use_cassette(TEXT_TURN), connect(REALTIME) as ws:
        ws.send(json.dumps({"type": "response.create"}))
        ws.recv(timeout=10)  # session.created
        ws.recv(timeout=10)  # blocks: interrupted at the mismatch
    assert time.monotonic() - started < 5


def test_the_unplayed_policy_applies_at_the_end() -> None:
    from websockets.sync.client import connect

    def stop_early(**options: object) -> None:
        with rtkit.use_cassette(TEXT_TURN, **options), connect(REALTIME) as ws:
            ws.recv(timeout=10)  # session.created, then nothing more

    with pytest.warns(rtkit.errors.RtkitUnplayedWarning, match="not played"):
        stop_early()
    with pytest.raises(ReplayError, match="unplayed='fail'"):
        stop_early(allow_unplayed=False)
    stop_early(unplayed="ignore")  # a replay server option, as a keyword


def test_errors_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CassetteError) as missing, rtkit.use_cassette(tmp_path / "new.jsonl"):
        pass
    assert "run it once with use_cassette(..., record_mode='once')" in str(missing.value)
    assert "pytest --rt" not in str(missing.value)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("RTKIT_UPSTREAM_URL", raising=False)
    no_key = pytest.raises(CassetteError, match=r"(?s)needs OPENAI_API_KEY.*use record_mode")
    with no_key, rtkit.use_cassette(tmp_path / "new.jsonl", record_mode="once"):
        pass
    assert not (tmp_path / "new.jsonl").exists()
    with pytest.raises(ValueError, match=r"unknown rtkit option\(s\) \['colour'\]"):
        rtkit.use_cassette(TEXT_TURN, colour="blue")
    with pytest.raises(ValueError, match="invalid record mode 'sometimes'"):
        rtkit.use_cassette(TEXT_TURN, record_mode="sometimes")
