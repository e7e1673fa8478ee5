"""Interception in the plugin: tests marked `rtkit` drive the popular clients' apps with the
URL they use in production (the live API's; Azure's and openai-agents' with none at all, their
defaults) and no URL of rtkit's; threads connecting at once start one server. They record
from the keyless fake (`RTKIT_UPSTREAM_URL`), then replay under pytest-recording's
`--block-network`, where a connection to another host is refused; a
changed question fails at once with the mismatch; `intercept=False` turns it off and
`rt_server` still works. One recording for all (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtkit.cassette import Cassette
from rtkit.fake import FakeRealtimeAPI
from tests.client_compat import REPLIES, load_example
from tests.intercept_checks import servers

# the apps, imported here once: in-process pytest runs then find their libraries loaded
APPS = {name: load_example(f"{name}.py")
        for name in ("openai_async", "openai_sync", "agents_app")}
for name, module in (("pipecat_app", "pipecat.services.openai.realtime.llm"),
                     ("livekit_app", "livekit.plugins.openai.realtime")):
    try:
        __import__(module)
    except ImportError:  # the compat extra is not installed
        continue
    APPS[name] = load_example(f"{name}.py")

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
TESTS = '''
import asyncio, os
import pytest
from openai import AsyncAzureOpenAI
from rtkit.assertions import rt_conversation
from tests.test_plugin_intercept import APPS

LIVE = "wss://api.openai.com/v1/realtime"  # what the apps use in production
QUESTIONS = [os.environ.get("RT_FIRST", "Hello!"), "What's the weather in Paris?"]
SAID = ["assistant: Hi! How can I help?", 'tool call: get_weather {"location": "Paris"}',
        "assistant: It is sunny in Paris, 21 degrees."]


def app(name):
    if name not in APPS:
        pytest.skip(f"{name}: its client is in the compat extra")
    return APPS[name]


@pytest.mark.rtkit
async def test_openai_async(rt_cassette):
    assert (await app("openai_async").converse(LIVE, QUESTIONS))["said"] == SAID
    rt_conversation(rt_cassette).expect.no_errors().function_call("get_weather")


@pytest.mark.rtkit
def test_openai_sync():
    assert app("openai_sync").converse(LIVE, QUESTIONS)["said"] == SAID


@pytest.mark.rtkit
async def test_agents():  # openai-agents with its default URL (the live API's)
    from agents.realtime import RealtimeAgent, RealtimeRunner
    runner = RealtimeRunner(
        starting_agent=RealtimeAgent(name="Greeter", instructions="Answer briefly."),
        # without tracing: its session.update, sent when session.created arrives, races the
        # first message, and replay follows the order recorded
        config={"model_settings": {"model_name": "gpt-realtime", "modalities": ["text"]},
                "tracing_disabled": True})
    session = await runner.run(model_config={"api_key": "placeholder"})
    async with session:
        await session.send_message(QUESTIONS[0])
        async for event in session:
            if event.type == "error":
                raise RuntimeError(str(event.error))
            if event.type == "history_updated" and (
                    text := app("agents_app").answer(event.history, 1)):
                assert text == "Hi! How can I help?"
                break


@pytest.mark.rtkit
async def test_pipecat():
    assert (await app("pipecat_app").converse(LIVE, QUESTIONS[-1:]))["said"] == SAID[1:]


@pytest.mark.rtkit
async def test_livekit():
    assert (await app("livekit_app").converse(LIVE, QUESTIONS))["said"] == SAID


@pytest.mark.rtkit
async def test_azure():
    client = AsyncAzureOpenAI(azure_endpoint="https://my-res.openai.azure.com",
                              api_key="placeholder", api_version="2025-04-01-preview")
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": QUESTIONS[0]}]})
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                assert event.response.output[0].content[0].text == "Hi! How can I help?"
                break


@pytest.mark.rtkit
def test_threads_connect_at_once():  # the first connections start the server together
    import json, threading
    from websockets.sync.client import connect
    said = []

    def session(n):
        with connect(LIVE + "?model=gpt-realtime") as ws:
            assert json.loads(ws.recv())["type"] == "session.created"
            ws.send(json.dumps({"type": "session.update",
                                "session": {"type": "realtime", "instructions": "Be brief."}}))
            said.append(json.loads(ws.recv())["session"]["instructions"])

    threads = [threading.Thread(target=session, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert said == ["Be brief."] * 4


@pytest.mark.rtkit
def test_another_host_is_untouched():
    from websockets.sync.client import connect
    with connect(os.environ["ECHO_URL"] + "?untouched") as ws:
        assert ws.recv() == "hi"


@pytest.mark.rtkit
def test_a_remote_host_is_refused_under_block_network():
    from websockets.sync.client import connect
    with pytest.raises(RuntimeError, match="Network is disabled"):
        connect("ws://10.255.255.1/v1/realtime", open_timeout=1)


class TestOff:
    @pytest.fixture
    def rt_config(self):  # the echo server would be intercepted, but interception is off
        return {"intercept": False, "intercept_hosts": [os.environ["ECHO_URL"]]}

    @pytest.mark.rtkit
    def test_off(self, rt_server):
        from websockets.sync.client import connect
        with connect(os.environ["ECHO_URL"] + "?off") as ws:
            assert ws.recv() == "hi"
        assert app("openai_sync").converse(rt_server.url, QUESTIONS)["said"] == SAID


@pytest.mark.rtkit
async def test_with_rt_server_too(rt_server):  # it intercepts to itself
    assert rt_server.url.startswith("ws://127.0.0.1:")
    assert (await app("openai_async").converse(LIVE, QUESTIONS[:1]))["said"] == SAID[:1]
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(test_app=TESTS)
    return pytester


def test_every_client_records_and_replays_unchanged(project: pytest.Pytester,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # the docs' replies at their pace (unpaced, openai-agents' second session.update races
    # the answer, and the recording would hold one order of the two and replay the other)
    with servers(1) as (echo,), FakeRealtimeAPI(REPLIES) as fake:
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
        monkeypatch.setenv("ECHO_URL", echo.url)
        result = project.runpytest("--rt-record-mode=once", "-k", "not refused")
        result.assert_outcomes(passed=len(APPS) + 5, skipped=5 - len(APPS))
    assert echo.paths == ["/v1/realtime?untouched", "/v1/realtime?off"]
    cassettes = project.path / "cassettes" / "test_app"
    recorded = {p.name.removesuffix(".jsonl") for p in cassettes.glob("*.jsonl")}
    compat = {"test_pipecat": "pipecat_app", "test_livekit": "livekit_app"}
    assert recorded == {"test_openai_async", "test_openai_sync", "test_agents", "test_azure",
                        "TestOff.test_off", "test_with_rt_server_too",
                        "test_threads_connect_at_once",
                        *(test for test, app in compat.items() if app in APPS)}
    # one connection to the fake per test (none loops back through interception), each
    # recorded with the path and query the app asked the live API for
    assert len(fake.records) == len(recorded) + 3  # the threads' test: four
    for name in recorded - {"test_azure"}:
        episodes = Cassette.load(cassettes / f"{name}.jsonl").episodes
        assert len(episodes) == (4 if name == "test_threads_connect_at_once" else 1), name
        assert {(ep.path, ep.query) for ep in episodes} == {
            ("/v1/realtime", "model=gpt-realtime")}, name
    (azure,) = Cassette.load(cassettes / "test_azure.jsonl").episodes
    assert (azure.path, azure.query) == (
        "/openai/realtime", "api-version=2025-04-01-preview&deployment=gpt-realtime")

    # replay: the fake is gone, no key, no network but loopback to rtkit's own servers
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    result = project.runpytest("-p", "recording", "--block-network", "-k",
                               "not untouched and not off")
    result.assert_outcomes(passed=len(APPS) + 4, skipped=5 - len(APPS))

    # a changed question is refused at once, as the test's failure
    monkeypatch.setenv("RT_FIRST", "Good morning!")
    result = project.runpytest("-k", "openai_async")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CannotOverwriteExistingCassetteException*",
                                 "*expected 'Hello!', got 'Good morning!'*"])

    # a new test's missing cassette: the error names the fake script the others came from
    assert Cassette.load(cassettes / "test_agents.jsonl").header.meta["fake_script"] == str(
        REPLIES)
    project.makepyfile(test_new="import pytest\n\n@pytest.mark.rtkit\ndef test_new(rt_server):"
                                "\n    pass\n")
    result = project.runpytest("test_new.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*start `rtkit fake --script {REPLIES}`*"])


def test_a_missing_cassette_fails_the_test_at_its_first_connection(
        project: pytest.Pytester) -> None:
    project.makepyfile(test_new='''
        import pytest
        from tests.test_plugin_intercept import APPS

        @pytest.mark.rtkit
        async def test_never_recorded():
            try:
                await APPS["openai_async"].converse("wss://api.openai.com/v1/realtime", ["Hi"])
            except Exception as exc:  # an app that swallows its connection's error
                print("the app saw:", type(exc).__name__)

        @pytest.mark.rtkit
        def test_never_connects():
            pass
        ''')
    result = project.runpytest("-s", "test_new.py")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "*the app saw: MissingCassetteError",
        "*no cassette at *cassettes/test_new/test_never_recorded.jsonl*",
        "*pytest --rt-record-mode=once test_new.py::test_never_recorded*"])
    assert not (project.path / "cassettes" / "test_new").exists()  # nothing was recorded


def test_recording_needs_the_key_only_when_the_app_connects(
        project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("RTKIT_UPSTREAM_URL", raising=False)
    result = project.runpytest("--rt-record-mode=once", "-k", "openai_async")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*record mode 'once' needs OPENAI_API_KEY*"])
    assert json.dumps(sorted(p.name for p in project.path.rglob("*.jsonl"))) == "[]"


def test_intercept_hosts_from_rt_config(pytester: pytest.Pytester) -> None:
    """A relay of the app's own, listed in `rt_config["intercept_hosts"]`, is replayed too."""
    pytester.makeini(INI)
    cassette = Path(__file__).resolve().parent.parent / "cassettes" / "ga" / "text_turn.jsonl"
    pytester.makepyfile(test_relay=f'''
        import json
        import pytest
        from websockets.sync.client import connect

        @pytest.fixture
        def rt_config():
            return {{"intercept_hosts": ["relay.internal.example:8443"],
                     "cassette": {str(cassette)!r}}}

        @pytest.mark.rtkit
        def test_relay():
            with connect("wss://relay.internal.example:8443/v1/realtime?model=gpt-realtime") as ws:
                assert json.loads(ws.recv())["type"] == "session.created"
        ''')
    result = pytester.runpytest("-W", "ignore::rtkit.errors.RtkitUnplayedWarning")
    result.assert_outcomes(passed=1)
