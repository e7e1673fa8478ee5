"""The plugin's fixture wiring with stand-in servers (the real ones are tested end to end in
test_plugin_replay.py): which server each mode starts and with what, mismatch reporting, the
unplayed warning, the HTTP side and network blocking.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

EPHEMERAL = "ek_" + "test_" + "0123456789abcdef"  # an ephemeral key's shape, built at runtime
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

# Stand-ins installed under the colleagues' module names, in the pytester session only.
CONFTEST = """
import json, sys, types
from pathlib import Path
from websockets.asyncio.server import serve

LOG = []


class _Base:
    async def __aenter__(self):
        async def handler(ws):
            await ws.send(json.dumps({"type": "session.created", "session": {}}))
            async for message in ws:
                event = json.loads(message)
                self.seen.append(event)
                if event.get("type") == "bad":
                    self.errors.append(
                        self.error_type("event 0 of episode 0 does not match the cassette"))
                    await ws.send(json.dumps({"type": "error", "error": {"code": "mismatch"}}))
                else:
                    await ws.send(json.dumps({"type": "ack"}))
        self._server = await serve(handler, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.ws_base_url = f"ws://127.0.0.1:{port}/v1"
        self.url = self.ws_base_url + "/realtime"
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        await self._server.wait_closed()


class ReplayServer(_Base):
    def __init__(self, path, pace="instant", on_frame=None, **options):
        from rtkit.errors import CannotOverwriteExistingCassetteException
        self.error_type = CannotOverwriteExistingCassetteException
        self.errors, self.seen, self.played, self.options = [], [], [], options
        # what the plugin wraps (rtkit.replay.filters) and tells of a failure it reported
        self.player = types.SimpleNamespace(pick=None, engine=None, reported=lambda error: None)
        LOG.append(("replay", Path(path).name, pace, options))

    async def __aexit__(self, *exc):
        import warnings
        from rtkit.errors import RtkitUnplayedWarning
        await super().__aexit__(*exc)
        if not self.seen and not self.errors and self.options.get("unplayed") == "warn":
            warnings.warn(RtkitUnplayedWarning("1 recorded event(s) were not played"))


class RecordingProxy(_Base):
    def __init__(self, path, upstream_url, api_key, append=False, on_frame=None, redactor=None):
        self.path, self.errors, self.seen = Path(path), [], []
        LOG.append(("record", self.path.name, upstream_url, api_key, append))

    async def __aexit__(self, *exc):
        await super().__aexit__(*exc)
        with self.path.open("a") as f:
            f.write(json.dumps({"kind": "header", "dialect": "ga"}) + "\\n")


STANDINS = {"rtkit.server.replay_server": ReplayServer, "rtkit.server.proxy": RecordingProxy}
for name, cls in STANDINS.items():
    module = types.ModuleType(name)
    setattr(module, cls.__name__, cls)
    sys.modules[name] = module


def pytest_terminal_summary(terminalreporter):
    for entry in LOG:
        terminalreporter.write_line("LOG " + repr(entry))
"""

TESTS = """
import json
import pytest
from websockets.sync.client import connect


def talk(rt_server, *types):
    with connect(rt_server.url) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        for t in types:
            ws.send(json.dumps({"type": t}))
            ws.recv()


@pytest.mark.rtkit(pace=2, replay_options={"audio_match": "any"})
def test_replay(rt_server):
    talk(rt_server, "good")


@pytest.mark.rtkit
def test_mismatch(rt_server):
    talk(rt_server, "bad")


@pytest.mark.rtkit(fail_fast=False)  # the test runs on and fails with its own error
def test_mismatch_then_app_error(rt_server):
    talk(rt_server, "bad")
    raise TimeoutError("the client gave up waiting")


@pytest.mark.rtkit
def test_unplayed(rt_server):
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_app=TESTS)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-wiring")
    monkeypatch.setenv("RTKIT_UPSTREAM_URL", "ws://127.0.0.1:9/v1/realtime")
    return pytester


def _log(result: pytest.RunResult) -> list[str]:
    return [line[4:] for line in result.outlines if line.startswith("LOG ")]


def test_modes_start_the_right_server(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--rt-record-mode=once", "-k", "replay or unplayed")
    result.assert_outcomes(passed=2)
    upstream = "'ws://127.0.0.1:9/v1/realtime', 'sk-test-wiring', False)"
    assert _log(result) == [
        f"('record', 'test_replay.jsonl', {upstream}",
        f"('record', 'test_unplayed.jsonl', {upstream}",
    ]
    result = project.runpytest_subprocess("-k", "replay", "--rt-pace=recorded")
    result.assert_outcomes(passed=1)
    options = "{'unplayed': 'warn', 'audio_match': 'any'}"
    assert _log(result) == [f"('replay', 'test_replay.jsonl', 'recorded', {options})"]
    result = project.runpytest_subprocess("-k", "replay")
    assert _log(result) == [f"('replay', 'test_replay.jsonl', 2.0, {options})"]
    result = project.runpytest_subprocess("-k", "replay", "--rt-record-mode=all")
    assert _log(result)[0].endswith("'sk-test-wiring', True)")  # all keeps the old episodes
    result = project.runpytest_subprocess("-k", "replay", "--rt-record-mode=rewrite")
    assert _log(result)[0].endswith("'sk-test-wiring', False)")


def test_mismatch_fails_the_test_and_unplayed_warns(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--rt-record-mode=once").assert_outcomes(passed=2, failed=2)
    result = project.runpytest_subprocess("-k", "mismatch or unplayed")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*CannotOverwriteExistingCassetteException: event 0 of episode 0 does not match*",
            "*RtkitUnplayedWarning: 1 recorded event(s) were not played",
        ]
    )
    # the mismatch is the error reported, with the app's own error as its cause
    result.stdout.fnmatch_lines(["*TimeoutError: the client gave up waiting*"])
    # once per failing test (not again as a teardown error); the short summary's copy depends
    # on CI (set: not truncated) and the terminal width, so only the traceback lines are counted
    raised = [
        line
        for line in result.outlines
        if line.startswith("E ") and "CannotOverwriteExistingCassetteException: event 0" in line
    ]
    assert len(raised) == 2, raised
    result = project.runpytest_subprocess(
        "-k", "unplayed", "-o", "filterwarnings=error::rtkit.errors.RtkitUnplayedWarning"
    )
    result.assert_outcomes(passed=1, errors=1)


def test_block_network_allows_the_fake_server(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--rt-record-mode=once", "-k", "replay").assert_outcomes(passed=1)
    result = project.runpytest_subprocess("-p", "recording", "--block-network", "-k", "replay")
    result.assert_outcomes(passed=1)


@pytest.fixture
def http_url() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"value": EPHEMERAL}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/secret"
    httpd.shutdown()
    httpd.server_close()


def test_http_side_with_vcr(
    project: pytest.Pytester, http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RT_HTTP_URL", http_url)
    project.makepyfile(
        test_http="""
        import json, os, urllib.request
        import pytest

        @pytest.mark.rtkit(vcr=True)
        def test_mint(rt_server, rt_cassette):
            with urllib.request.urlopen(os.environ["RT_HTTP_URL"]) as resp:
                print("\\nVALUE", json.load(resp)["value"])
        """
    )
    result = project.runpytest_subprocess("--rt-record-mode=once", "-k", "mint", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"VALUE {EPHEMERAL}"])  # the app gets the real key live
    http_cassette = project.path / "cassettes" / "test_http" / "test_mint.http.yaml"
    assert EPHEMERAL not in http_cassette.read_text()  # the cassette does not
    assert "ek_REDACTED" in http_cassette.read_text()
    monkeypatch.setenv("RT_HTTP_URL", http_url.replace("/secret", "/other"))
    result = project.runpytest_subprocess("-k", "mint")  # replay: an unrecorded request is refused
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CannotOverwriteExistingCassetteException*"])
    monkeypatch.setenv("RT_HTTP_URL", http_url)
    result = project.runpytest_subprocess("-k", "mint", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["VALUE ek_REDACTED"])


def test_xdist_workers_get_their_own_servers_and_cassettes(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_many="""
        import json
        import pytest
        from websockets.sync.client import connect

        @pytest.mark.rtkit
        @pytest.mark.parametrize("n", range(8))
        def test_conn(rt_server, n):
            with connect(rt_server.url) as ws:
                assert json.loads(ws.recv())["type"] == "session.created"
        """
    )
    result = project.runpytest_subprocess("-n", "4", "--rt-record-mode=once", "-k", "test_conn")
    result.assert_outcomes(passed=8)
    names = sorted(p.name for p in (project.path / "cassettes" / "test_many").iterdir())
    assert names == [f"test_conn[{n}].jsonl" for n in range(8)]
    project.runpytest_subprocess("-n", "4", "-k", "test_conn").assert_outcomes(passed=8)
