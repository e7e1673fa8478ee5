"""A replay mismatch fails the test at once, whatever the client: rtkit's client waiting 30 s,
raw websockets clients (async and sync) that ignore `error` events, pipecat (which only logs
it); and an `rt_client` on another event loop than the test's (anyio) fails at once with what
to change."""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import pytest

import rtkit.client.client
import rtkit.server.replay_server  # noqa: F401  (kept loaded across in-process pytester runs)
from rtkit.fake import FakeRealtimeAPI
from rtkit.pytest.failfast import Interrupter, ReplayInterrupt, interrupted_at
from tests.client_compat import EXAMPLES, REPLIES

ROOT = Path(__file__).resolve().parent.parent
TEXT_TURN = ROOT / "cassettes" / "ga" / "text_turn.jsonl"
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

# prints how long each test's call phase took, for the outer test to read
CONFTEST = """
def pytest_runtest_logreport(report):
    if report.when == "call":
        print(f"\\nCALL {report.nodeid.split('::')[-1]} {report.outcome} {report.duration:.3f}")
"""

TESTS = """
import json
import pytest

pytestmark = pytest.mark.rtkit(cassette="text_turn")


async def test_rtkit_client(rt_client):
    rt_client.update_session(modalities=["text"], instructions="Answer in one short sentence.")
    rt_client.send_user_message_content([{"type": "input_text", "text": "And Italy?"}])
    while True:
        await rt_client.wait_for_next_completed_item(timeout=30)


async def test_raw_async(rt_server):
    from websockets.asyncio.client import connect
    async with connect(rt_server.url + "?model=gpt-realtime") as ws:
        await ws.send(json.dumps({"type": "response.create"}))
        while True:
            await ws.recv()  # ignores the error event, then waits for more


def test_raw_sync(rt_server):
    from websockets.sync.client import connect
    with connect(rt_server.url + "?model=gpt-realtime") as ws:
        ws.send(json.dumps({"type": "response.create"}))
        while True:
            ws.recv()  # blocks with no timeout


def test_sleeping_sync(rt_server):
    import time
    from websockets.sync.client import connect
    with connect(rt_server.url + "?model=gpt-realtime") as ws:
        ws.send(json.dumps({"type": "response.create"}))
        time.sleep(30)


def test_next_test_is_unaffected():
    import time
    time.sleep(0.2)  # a late interrupt would land here
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    (pytester.path / "cassettes" / "test_app").mkdir(parents=True)
    shutil.copy(TEXT_TURN, pytester.path / "cassettes" / "test_app" / "text_turn.jsonl")
    return pytester


def _calls(result: pytest.RunResult) -> dict[str, tuple[str, float]]:
    found = re.findall(r"^CALL (\S+) (\w+) ([0-9.]+)$", result.stdout.str(), re.MULTILINE)
    return {name: (outcome, float(seconds)) for name, outcome, seconds in found}


def test_a_mismatch_fails_the_test_at_once(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest("-s")
    result.assert_outcomes(failed=4, passed=1)
    calls = _calls(result)
    for name in ("test_rtkit_client", "test_raw_async", "test_raw_sync", "test_sleeping_sync"):
        outcome, seconds = calls[name]
        assert outcome == "failed" and seconds < 1.0, (name, calls)
    assert calls["test_next_test_is_unaffected"][0] == "passed"
    out = result.stdout.str()
    # once per failed test, counted in traceback lines only: the short test summary repeats it
    # in full when CI is set or the terminal is wide
    reported = [line for line in result.stdout.lines if line.startswith("E ")
                and "CannotOverwriteExistingCassetteException: Replay mismatch" in line]
    assert len(reported) == 4, reported
    # the rtkit client's changed question; the raw clients' response.create before the
    # user message it answers
    assert "expected 'What is the capital of France?', got 'And Italy?'" in out
    assert "came too early: the recorded 'response.create' it matches comes only after the " \
        "recorded 'conversation.item.create'" in out
    # the report shows the test's own line, not rtkit's or asyncio's frames
    result.stdout.fnmatch_lines(["*await rt_client.wait_for_next_completed_item(timeout=30)",
                                 "E*CannotOverwriteExistingCassetteException*"])
    result.stdout.fnmatch_lines(["*time.sleep(30)", "E*CannotOverwriteExistingCassetteException*"])
    assert "ReplayInterrupt" not in out and "CancelledError" not in out
    assert "rtkit/pytest/" not in out and "pytest_plugin.py" not in out


# the app's pipeline without its on_pipeline_error handler: pipecat logs a mismatch and waits
# (for ever: no idle timeout on a text pipeline)
WITHOUT_HANDLER = '''
import pytest
import pipecat_app
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.services.openai.realtime.events import (
    AudioConfiguration, AudioInput, SessionProperties)
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
from pipecat.workers.runner import WorkerRunner


@pytest.mark.rtkit(cassette="weather")
async def test_without_an_error_handler(rt_server):
    llm = OpenAIRealtimeLLMService(api_key="placeholder", base_url=rt_server.url,
        settings=OpenAIRealtimeLLMService.Settings(model="gpt-realtime",
            session_properties=SessionProperties(output_modalities=["text"],
                audio=AudioConfiguration(input=AudioInput(turn_detection=False)),
                tools=[pipecat_app.WEATHER_TOOL])))
    llm.register_function("get_weather", pipecat_app.get_weather)
    context = LLMContext([{"role": "user", "content": "What's the weather in QUESTION?"}])
    user, assistant = LLMContextAggregatorPair(context)
    answers = pipecat_app.Answers()
    worker = PipelineWorker(Pipeline([user, llm, answers, assistant]))
    answers.worker = worker
    await worker.queue_frames([LLMRunFrame()])
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
'''


def test_a_pipecat_test_without_an_error_handler_fails_at_once(
        project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/clients.md: pipecat turns the server's mismatch error into a non-fatal ErrorFrame,
    logs it and waits; the plugin fails the test at once with the report."""
    pytest.importorskip("pipecat.services.openai.realtime.llm",
                        reason="pipecat-ai is in the compat extra")
    project.syspathinsert(EXAMPLES)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeRealtimeAPI(REPLIES) as fake:  # record it as it is, from the fake
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
        project.makepyfile(test_app=WITHOUT_HANDLER.replace("QUESTION", "Paris"))
        project.runpytest("--rt-record-mode=once").assert_outcomes(passed=1)
    assert fake.connections == 1

    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    project.makepyfile(test_app=WITHOUT_HANDLER.replace("QUESTION", "Rome"))
    result = project.runpytest("-s")  # replay
    result.assert_outcomes(failed=1)
    outcome, seconds = _calls(result)["test_without_an_error_handler"]
    assert outcome == "failed" and seconds < 5.0
    result.stdout.fnmatch_lines([
        "*CannotOverwriteExistingCassetteException: Replay mismatch*",
        "*item.content[[]0[]].text: expected \"What's the weather in Paris?\", "
        "got \"What's the weather in Rome?\"*"])


def test_fail_fast_off_lets_the_test_run_on(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_app="""
        import json
        import pytest

        @pytest.mark.rtkit(cassette="text_turn", fail_fast=False)
        def test_raw_sync(rt_server):
            from websockets.sync.client import connect
            with connect(rt_server.url + "?model=gpt-realtime") as ws:
                ws.send(json.dumps({"type": "response.create"}))
                assert json.loads(ws.recv())["type"] == "session.created"
                assert json.loads(ws.recv())["error"]["code"] == "replay_mismatch"
            print("\\nRAN ON")
        """
    )
    result = project.runpytest("-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RAN ON*", "*CannotOverwriteExistingCassetteException*"])


def test_rt_client_on_another_loop_fails_at_once(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_app="""
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        @pytest.mark.rtkit(cassette="text_turn")
        async def test_anyio(rt_client):
            rt_client.update_session(modalities=["text"])
            await rt_client.wait_for_next_completed_item(timeout=10)
        """
    )
    result = project.runpytest("-s")
    result.assert_outcomes(failed=1)
    assert _calls(result)["test_anyio"][1] < 1.0
    result.stdout.fnmatch_lines([
        "*rt_client was connected on pytest-asyncio's event loop, but this test runs on another*",
        "*drop @pytest.mark.anyio*",
    ])


# --------------------------------------------------------------------------- the interrupter


def test_interrupter_wakes_a_blocked_main_thread() -> None:
    interrupter = Interrupter()
    assert interrupter.arm_main_thread()
    error = RuntimeError("mismatch")
    timer = threading.Timer(0.05, interrupter.fire, [error])
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(ReplayInterrupt):
            threading.Event().wait(10)  # a lock wait, as a blocked socket read is
    finally:
        interrupter.disarm()
        timer.join()
    assert time.monotonic() - start < 5
    assert interrupter.fired and interrupter.error is error


def test_interrupter_does_nothing_when_disarmed() -> None:
    interrupter = Interrupter()
    interrupter.fire(RuntimeError("before arming"))
    assert interrupter.arm_main_thread()
    interrupter.disarm()
    interrupter.fire(RuntimeError("after disarming"))
    time.sleep(0.05)  # a stray interrupt would land here
    assert not interrupter.fired


def test_interrupted_at_finds_the_test_frame_in_a_chain() -> None:
    def the_test() -> None:
        helper()

    def helper() -> None:
        raise KeyError("deep")

    try:
        try:
            the_test()
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        tb = interrupted_at(exc, the_test)
    assert tb is not None and tb.tb_frame.f_code is the_test.__code__ and tb.tb_next is None
    assert interrupted_at(RuntimeError("no traceback"), the_test) is None
