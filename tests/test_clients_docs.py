"""docs/clients.md stays true: the apps it shows are the files the client tests run, and its
pytest example records pipecat's session from the fake with no key, replays it, and a pipecat
test that ignores the mismatch (pipecat only logs it) still fails at once under the plugin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtkit.fake import FakeRealtimeAPI
from tests.client_compat import EXAMPLES, REPLIES

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "clients.md").read_text()
EMBEDDED = re.compile(r"<!-- clients-example: (?P<name>\S+) -->\n```\w+\n(?P<body>.*?)```", re.S)
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


def test_the_page_shows_the_apps_the_tests_run() -> None:
    shown = {m["name"]: m["body"] for m in EMBEDDED.finditer(PAGE)}
    assert len(shown) == 6
    for name, body in shown.items():
        assert body == (EXAMPLES / name).read_text(), f"docs/clients.md's copy of {name} is stale"
    for path in EXAMPLES.iterdir():  # every app is on the page, shown or linked
        assert path.name in shown or f"(examples/clients/{path.name})" in PAGE, path.name


def test_every_python_block_is_an_app_or_the_pytest_example() -> None:
    blocks = re.findall(r"(<!-- [^>]+ -->\n)?```python\n", PAGE)
    assert blocks and all(marker.startswith(("<!-- clients-example:", "<!-- clients-pytest"))
                          for marker in blocks)


# a pipecat test written without the app's on_pipeline_error: pipecat logs the mismatch and
# waits (for ever: no idle timeout on a text pipeline); the plugin must end it
NAIVE_PIPECAT = '''

@pytest.mark.rtkit(cassette="test_weather")
async def test_weather_in_rome_without_an_error_handler(rt_server):
    import pipecat_app
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.frames.frames import LLMRunFrame
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
    from pipecat.services.openai.realtime.events import (
        AudioConfiguration, AudioInput, SessionProperties)
    from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
    from pipecat.workers.runner import WorkerRunner

    llm = OpenAIRealtimeLLMService(api_key="placeholder", base_url=rt_server.url,
        settings=OpenAIRealtimeLLMService.Settings(model="gpt-realtime",
            session_properties=SessionProperties(output_modalities=["text"],
                audio=AudioConfiguration(input=AudioInput(turn_detection=False)),
                tools=[pipecat_app.WEATHER_TOOL])))
    llm.register_function("get_weather", pipecat_app.get_weather)
    context = LLMContext([{"role": "user", "content": "What's the weather in Rome?"}])
    user, assistant = LLMContextAggregatorPair(context)
    answers = pipecat_app.Answers()
    worker = PipelineWorker(Pipeline([user, llm, answers, assistant]))
    answers.worker = worker
    await worker.queue_frames([LLMRunFrame()])
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
'''

TIMING = """
def pytest_runtest_logreport(report):
    if report.when == "call":
        print(f"\\nCALL {report.nodeid.split('::')[-1]} {report.outcome} {report.duration:.3f}")
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtimeAPI]:
    with FakeRealtimeAPI(REPLIES) as api:
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", api.url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield api


def test_the_pytest_example_records_replays_and_fails_fast(
        pytester: pytest.Pytester, fake: FakeRealtimeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pipecat.services.openai.realtime.llm",
                        reason="pipecat-ai is in the compat extra")
    (example,) = re.findall(r"<!-- clients-pytest -->\n```python\n(.*?)```", PAGE, re.S)
    pytester.makeini(INI)
    pytester.makeconftest(TIMING)
    pytester.syspathinsert(EXAMPLES)
    pytester.makepyfile(test_my_app=example)
    result = pytester.runpytest("-p", "no:cacheprovider", "--rt-record-mode=once")
    result.assert_outcomes(passed=1)
    assert fake.connections == 1
    assert (pytester.path / "cassettes" / "test_my_app" / "test_weather.jsonl").exists()

    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    pytester.makepyfile(test_my_app=example + NAIVE_PIPECAT)
    result = pytester.runpytest("-p", "no:cacheprovider", "-s")  # replay
    result.assert_outcomes(passed=1, failed=1)
    assert fake.connections == 1  # the fake was not asked again
    calls = dict(re.findall(r"^CALL (\S+) failed ([0-9.]+)$", result.stdout.str(), re.M))
    assert float(calls["test_weather_in_rome_without_an_error_handler"]) < 5.0
    result.stdout.fnmatch_lines([
        "*CannotOverwriteExistingCassetteException: Replay mismatch*",
        "*item.content[[]0[]].text: expected \"What's the weather in Paris?\", "
        "got \"What's the weather in Rome?\"*"])
