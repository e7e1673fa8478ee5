"""One redaction pipeline, configured in `rt_config`, for both parts of a test's cassette:
`filter_headers`, `filter_query_parameters` and `before_record_event` keep a custom header, a
query token and a field out of the WebSocket cassette and the vcrpy HTTP cassette (with vcrpy's
`before_record_response` chained); keys in HTTP bodies and `x-api-key` headers are removed; a
live key the filters miss stops the HTTP cassette from being written; both files are 0600; and
the test replays with the same filters applied to what the client sends."""

from __future__ import annotations

import asyncio
import http.server
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vcr
import yaml

# kept loaded across in-process pytester runs (a C extension cannot be imported twice)
import rtkit.client.client
import rtkit.pytest.http
import rtkit.server.proxy
import rtkit.server.replay_server
from tests.secret_scan import scan_file

assert vcr and yaml and rtkit.client.client and rtkit.pytest.http
assert rtkit.server.proxy and rtkit.server.replay_server

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
# secrets and private values, built at runtime: no key-shaped literal in the repository
TOKEN, HEADER, ACCOUNT = "tok-" + "Q1W2E3", "hdr-" + "R4T5Y6", "acct-" + "U7I8O9"
XKEY = "xkey-" + "P0A1S2D3F4G5H6J7"
PROJ = "sk-proj-" + "ABCDEFGHIJKLMNOPQRSTUV"
EPH = "ek_" + "abcdefghijklmnopqrstuv"
LIVE = "azure-" + "z" * 30
PRIVATE = (TOKEN, HEADER, ACCOUNT, XKEY, PROJ, EPH, LIVE)

APP = """
import json, os, urllib.request
import pytest
from websockets.sync.client import connect

S = json.loads(os.environ["RT_SECRETS"])


def drop_account(event, direction):  # the field, wherever it is
    if isinstance(event, dict):
        event.pop("account_id", None)
        for value in event.values():
            drop_account(value, direction)
    return event


def no_trace(response):
    response["headers"].pop("X-Trace", None)
    return response


@pytest.fixture
def rt_config():
    return {"vcr": True, "filter_headers": ["x-custom-token"],
            "filter_query_parameters": ["session_token"],
            "before_record_event": drop_account, "before_record_response": no_trace}


@pytest.mark.rtkit
def test_app(rt_server):
    headers = {"X-Custom-Token": S["HEADER"], "X-Api-Key": S["XKEY"]}
    url = rt_server.url + "?model=gpt-realtime&session_token=" + S["TOKEN"]
    with connect(url, additional_headers=headers) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        ws.send(json.dumps({"type": "session.update", "account_id": S["ACCOUNT"],
                            "session": {"type": "realtime", "instructions": "hi"}}))
        echo = json.loads(ws.recv())
    assert echo["type"] == "echo" and echo["got"]["session"]["instructions"] == "hi"
    request = urllib.request.Request(
        os.environ["RT_HTTP_URL"] + "/v1/things?session_token=" + S["TOKEN"],
        data=json.dumps({"account_id": S["ACCOUNT"], "key": S["PROJ"], "q": "hi"}).encode(),
        headers={**headers, "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request) as resp:
        body = json.load(resp)
    print("\\nVALUE", body["value"], "ACCOUNT" if "account_id" in body else "-")
"""


class Servers:
    """A WebSocket upstream that echoes, and an HTTP API, on a background loop / thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.http_bodies: list[bytes] = []
        self.text_response = ""
        self.ws: Any = None

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def start(self) -> None:
        from websockets.asyncio.server import serve

        async def handler(ws: Any) -> None:
            await ws.send(json.dumps({"type": "session.created", "session": {"id": "s1"}}))
            async for message in ws:
                await ws.send(json.dumps({"type": "echo", "got": json.loads(message),
                                          "account_id": ACCOUNT}))

        async def start() -> Any:
            return await serve(handler, "127.0.0.1", 0)

        self.ws = self.run(start())
        self.ws_url = f"ws://127.0.0.1:{self.ws.sockets[0].getsockname()[1]}/v1/realtime"
        servers = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                servers.http_bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                if servers.text_response:
                    body, kind = servers.text_response.encode(), "text/plain"
                else:
                    body = json.dumps({"value": EPH, "account_id": ACCOUNT}).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("X-Trace", "trace-1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.http_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        if self.ws is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.ws.close()
            self.run(self.ws.wait_closed())
            self.ws = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def servers(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    s = Servers()
    s.start()
    pytester.makeini(INI)
    pytester.makepyfile(test_app=APP)
    monkeypatch.setenv("RT_SECRETS", json.dumps({k: v for k, v in globals().items()
                                                 if k in ("TOKEN", "HEADER", "ACCOUNT",
                                                          "XKEY", "PROJ")}))
    monkeypatch.setenv("RTKIT_UPSTREAM_URL", s.ws_url)
    monkeypatch.setenv("RT_HTTP_URL", s.http_url)
    monkeypatch.setenv("OPENAI_API_KEY", LIVE)
    try:
        yield s
    finally:
        s.close()


def _files(pytester: pytest.Pytester) -> tuple[Path, Path]:
    base = pytester.path / "cassettes" / "test_app"
    return base / "test_app.jsonl", base / "test_app.http.yaml"


def test_one_pipeline_for_both_parts(pytester: pytest.Pytester, servers: Servers,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    result = pytester.runpytest("--rt-record-mode=once", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"VALUE {EPH} ACCOUNT"])  # live, the app sees everything
    assert ACCOUNT.encode() in servers.http_bodies[0]  # and so does the upstream
    ws, http_yaml = _files(pytester)
    for path in (ws, http_yaml):
        text = path.read_text()
        for value in PRIVATE:
            assert value not in text, (path.name, value)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    lines = [json.loads(line) for line in ws.read_text().splitlines()]
    connect = next(line for line in lines if line["kind"] == "connect")
    assert "x-custom-token" not in connect["headers"]
    assert connect["headers"]["x-api-key"] == "REDACTED"
    assert connect["query"] == "model=gpt-realtime"
    assert "filter-headers" in lines[0]["redactions"]
    events = [line["event"] for line in lines if line["kind"] == "event"]
    assert events[1]["type"] == "session.update" and "account_id" not in events[1]
    assert events[2]["type"] == "echo" and "account_id" not in events[2]
    yaml_text = http_yaml.read_text()
    for gone in ("x-custom-token", "X-Custom-Token", "X-Api-Key", "X-Trace", "session_token"):
        assert gone not in yaml_text, gone
    assert "ek_REDACTED" in yaml_text and "sk-REDACTED" in yaml_text

    # replay: no upstream, no API, no key; the same filters apply to what the client sends
    servers.stop()
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["VALUE ek_REDACTED -"])


def test_a_live_key_the_filters_miss_is_never_written(
    pytester: pytest.Pytester, servers: Servers
) -> None:
    # plain text, \\u-escaped: no filter decodes it, the final scan does
    servers.text_response = "token: " + "".join(f"\\u{ord(c):04x}" for c in LIVE)
    pytester.makepyfile(test_app=APP.replace('body = json.load(resp)', 'body = {"value": '
                                             'resp.read().decode()}'))
    result = pytester.runpytest("--rt-record-mode=once")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*SecretLeakError*test_app.http.yaml: refusing to write*"])
    ws, http_yaml = _files(pytester)
    assert ws.exists() and not http_yaml.exists()
    assert not list(http_yaml.parent.glob("*.rtkit-tmp"))


def test_http_secrets_are_removed_without_configuration(
    pytester: pytest.Pytester, servers: Servers
) -> None:
    pytester.makepyfile(test_app="""
        import json, os, urllib.request
        import pytest

        S = json.loads(os.environ["RT_SECRETS"])

        @pytest.mark.rtkit(vcr=True)
        def test_app(rt_server):
            request = urllib.request.Request(
                os.environ["RT_HTTP_URL"] + "/v1/realtime/client_secrets",
                data=json.dumps({"key": S["PROJ"]}).encode(),
                headers={"X-Api-Key": S["XKEY"]}, method="POST")
            with urllib.request.urlopen(request) as resp:
                assert json.load(resp)["value"].startswith("ek_")
        """)
    pytester.runpytest("--rt-record-mode=once").assert_outcomes(passed=1)
    ws, http_yaml = _files(pytester)
    text = http_yaml.read_text()
    for value in (PROJ, XKEY, EPH):
        assert value not in text, value
    assert stat.S_IMODE(http_yaml.stat().st_mode) == stat.S_IMODE(ws.stat().st_mode) == 0o600


def test_vcrpy_filter_semantics_on_the_handshake() -> None:
    from rtkit.cassette import Redactor

    red = Redactor(filter_headers=["X-Drop", ("x-set", "fixed"), ("x-none", None),
                                   ("x-call", lambda key, value, request: value.upper())],
                   filter_query_parameters=["t", ("s", "XXX")])
    headers = red.headers({"X-Drop": "1", "X-Set": "2", "X-None": "3", "X-Call": "abc",
                           "Authorization": "Bearer " + LIVE, "X-Keep": "k"})
    assert headers == {"x-set": "fixed", "x-call": "ABC", "authorization": "REDACTED",
                       "x-keep": "k"}
    assert red.query("model=m&t=1&s=2&key=3") == "model=m&s=XXX&key=REDACTED"
    assert {"filter-headers", "filter-query-parameters"} <= set(red.names)
    assert red.with_secrets(LIVE).filter_headers == red.filter_headers


MCP_APP = """
import json, os, urllib.request
import pytest
from websockets.sync.client import connect

S = json.loads(os.environ["RT_SECRETS"])
TOOL = {"type": "mcp", "server_label": "gh", "server_url": "https://mcp.example.com",
        "authorization": S["MCP"], "headers": {"X-Team-Key": S["MCP"]}}


@pytest.mark.rtkit(vcr=True)
def test_app(rt_server):
    with connect(rt_server.url + "?model=gpt-realtime&api-key=" + S["AZURE"]) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        ws.send(json.dumps({"type": "session.update",
                            "session": {"type": "realtime", "tools": [TOOL]}}))
        assert json.loads(ws.recv())["got"]["type"] == "session.update"
    request = urllib.request.Request(
        os.environ["RT_HTTP_URL"] + "/v1/responses",
        data=json.dumps({"model": "gpt-5", "tools": [TOOL]}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request) as resp:
        json.load(resp)
"""
MCP = "mcp-" + "opaque-" + "Q9w8E7r6T5y4U3i2"  # no token shape: only its place says what it is
AZURE = "f" + "0123456789abcdef" * 2


def test_a_query_key_and_mcp_credentials_in_both_cassettes(
    pytester: pytest.Pytester, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21, probe 8: the session query's `api-key` and an MCP tool's `authorization`
    and `headers`, in the WebSocket cassette (both directions) and in an HTTP body of the
    `.http.yaml`; the test then replays with the same values sent."""
    pytester.makepyfile(test_app=MCP_APP)
    monkeypatch.setenv("RT_SECRETS", json.dumps({"MCP": MCP, "AZURE": AZURE}))
    pytester.runpytest("--rt-record-mode=once").assert_outcomes(passed=1)
    assert MCP.encode() in servers.http_bodies[0]  # live, the API got it
    for path in _files(pytester):
        text = path.read_text()
        assert MCP not in text and AZURE not in text, path.name
        assert scan_file(path) == [], (path.name, scan_file(path))
    ws, _ = _files(pytester)
    events = [json.loads(line) for line in ws.read_text().splitlines()]
    update = next(e["event"] for e in events if e.get("dir") == "client")
    assert update["session"]["tools"][0]["authorization"] == "REDACTED"
    servers.stop()
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    pytester.runpytest().assert_outcomes(passed=1)  # the same secrets sent: still a match
