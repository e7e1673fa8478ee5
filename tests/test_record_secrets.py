"""No secret reaches a cassette or the console through the recorder, whatever carries it
(issue 21's probes 1-7, 9, 10 and 16, each of which wrote or printed the secret before):

1. an MCP tool's `authorization` and `headers` in `session.update` (and the server's echo);
2. `Bearer` / `Basic` credentials, a GitHub token, a base64-encoded key in an item;
3. `--upstream '...?api-key=KEY'`: the connect line, the header's `meta.upstream`, a refused
   episode's close reason and the refusal line on stderr;
4. another `sk-` key in a close reason, from the client and from the upstream;
5. a key in a binary frame and in a text frame that is not UTF-8;
6. a key in the request path and in custom headers;
7. `ws://user:password@host` upstreams;
10. Azure's key auth: the key goes upstream as an `api-key` header (`--upstream-auth api-key`,
    or an `*.openai.azure.com` host), and neither it nor the client's is recorded;
16. a refusal to write keeps the recording as a 0600 leftover that `rtkit scrub` cleans and
    `rtkit recover` finishes, as the error says.

Every secret is built at run time; every cassette is also scanned with detect-secrets."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.frames import Close, Opcode

from rtkit.cassette import Cassette
from rtkit.cassette.redact import unescape
from rtkit.server.proxy import RecordingProxy
from rtkit.server.upstream import auth_form, upstream_request
from tests.rtkit_process import finish, run, start
from tests.scripted_server import ScriptConn, ScriptedServer, session_created
from tests.secret_scan import scan_file
from tests.serve_helpers import RawClient

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
GH = "ghp_" + (ALNUM * 2)[3:39]
GOOG = "AIza" + "Sy" + (ALNUM * 2)[5:38]
LIVE = "sk-" + "live-" + (ALNUM * 2)[7:40]  # the recorder's own key
OTHER = "sk-" + "proj-" + (ALNUM * 2)[11:45]  # a key that is not the configured one
BEARER = "Bearer " + (ALNUM * 2)[13:45]
BASIC = "Basic " + base64.b64encode(b"alice:" + ALNUM[5:20].encode()).decode()
B64_LIVE = base64.b64encode(b"key=" + LIVE.encode()).decode()
AZURE = "f" + "0123456789abcdef" * 2  # an Azure key: no token shape of its own
PASSWORD = "pw-" + ALNUM[4:16]


def _clean(path: Path, *secrets: str) -> str:
    """The cassette's text, checked to hold none of `secrets` (raw, unescaped, or in a
    binary frame) and to scan clean with detect-secrets."""
    text = path.read_text()
    views = [text, unescape(text)]
    for line in text.splitlines():
        frame = json.loads(line)
        if frame.get("binary"):
            views.append(base64.b64decode(frame["binary"]).decode("latin-1"))
    for secret in secrets:
        for view in views:
            assert secret not in view, (secret, path)
    assert scan_file(path) == [], scan_file(path)
    return text


async def _echo(conn: ScriptConn) -> None:
    """Echo the session and items back as the API does; close as the client asks."""
    await conn.send(session_created())
    async for message in conn.ws:
        if isinstance(message, bytes):
            await conn.send(message[::-1])
            continue
        event = json.loads(message)
        if event["type"] == "session.update":
            await conn.send({"type": "session.updated", "event_id": "event_2",
                             "session": event["session"]})
        elif event["type"] == "conversation.item.create":
            await conn.send({"type": "conversation.item.added", "event_id": "event_3",
                             "item": event["item"]})
        elif event["type"] == "goodbye":
            await conn.close(4000, f"Incorrect API key provided: {OTHER}")
            return


def _request(path: str, headers: dict[str, str]) -> str:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


async def _session(port: int, path: str, headers: dict[str, str], frames: list[Any],
                   close: bytes | None) -> None:
    client, head = await RawClient.request(port, _request(path, headers))
    assert head.startswith(b"HTTP/1.1 101"), head
    try:
        await client.read_frame()
        for frame in frames:
            if isinstance(frame, tuple):  # (raw bytes, as a text frame)
                opcode, payload = Opcode.TEXT, frame[0]
            elif isinstance(frame, bytes):
                opcode, payload = Opcode.BINARY, frame
            else:
                opcode, payload = Opcode.TEXT, json.dumps(frame).encode()
            client.send_frame(payload, opcode)
            if (await asyncio.wait_for(client.read_frame(), 10))[0] == Opcode.CLOSE:
                return  # the upstream closed
        if close is not None:
            client.send_frame(close, Opcode.CLOSE)
        while (await asyncio.wait_for(client.read_frame(), 10))[0] != Opcode.CLOSE:
            pass
    except asyncio.IncompleteReadError:
        pass
    finally:
        client.close()


async def test_structure_catalogue_binary_path_headers_and_close_reasons(tmp_path: Path
                                                                          ) -> None:
    path = tmp_path / "c.jsonl"
    mcp = {"type": "mcp", "server_label": "github", "server_url": "https://mcp.example.com",
           "authorization": GH, "headers": {"X-Goog-Api-Key": GOOG, "X-Team": "blue"}}
    frames: list[Any] = [
        {"type": "session.update", "session": {"type": "realtime", "tools": [mcp],
                                               "instructions": f"use {B64_LIVE}"}},
        {"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": "call_1",
            "output": json.dumps({"auth": BEARER, "basic": BASIC, "token": GH})}},
        b"binary " + OTHER.encode(),
    ]
    async with ScriptedServer(_echo) as up, \
            RecordingProxy(path, upstream_url=up.url, api_key=LIVE) as proxy:
        await _session(proxy.port, f"/v1/realtime/{OTHER}?model=gpt-realtime",
                       {"Authorization": f"Bearer {OTHER}", "X-Custom-Token": GOOG,
                        "X-Trace": f"via {GH}"},
                       frames, Close(4000, f"Incorrect API key provided: {OTHER}").serialize())
        # the upstream closes with the key in its reason; a text frame that is not UTF-8
        await _session(proxy.port, "/v1/realtime", {},
                       [{"type": "goodbye"}], None)
        await _session(proxy.port, "/v1/realtime", {}, [(b"\xff\xfe " + OTHER.encode(),)],
                       None)
    assert len(up.connections) == 3
    text = _clean(path, GH, GOOG, LIVE, OTHER, BEARER.split()[1], BASIC.split()[1], B64_LIVE)
    cassette = Cassette.load(path)
    update = next(cassette.iter_events(0, "client")).event
    tool = update["session"]["tools"][0]
    assert tool["authorization"] == "REDACTED"
    assert tool["headers"] == {"X-Goog-Api-Key": "REDACTED", "X-Team": "REDACTED"}
    echoed = next(e for e in cassette.iter_events(0, "server") if e.type == "session.updated")
    assert echoed.event["session"]["tools"][0]["authorization"] == "REDACTED"
    ep = cassette.episodes[0]
    assert ep.connect.path == "/v1/realtime/sk-REDACTED"
    assert ep.connect.headers["x-custom-token"] == "REDACTED"
    assert ep.connect.headers["x-trace"] == "via ghp_REDACTED"
    assert ep.close is not None and ep.close.reason == "Incorrect API key provided: sk-REDACTED"
    assert cassette.episodes[1].close.reason == "Incorrect API key provided: sk-REDACTED"  # type: ignore[union-attr]
    binary = [base64.b64decode(json.loads(line)["binary"]) for line in text.splitlines()
              if '"binary"' in line]
    assert binary[0] == b"binary sk-REDACTED" and binary[-1] == b"\xff\xfe sk-REDACTED"


async def _azure(conn: ScriptConn) -> None:
    await conn.send(session_created())
    await conn.drain()


async def test_azure_query_and_header_auth_userinfo_and_the_refusal_line(tmp_path: Path
                                                                         ) -> None:
    path = tmp_path / "azure.jsonl"
    async with ScriptedServer(_azure) as up:
        upstream = up.url.replace("ws://", f"ws://me:{PASSWORD}@") + \
            f"?api-key={AZURE}&deployment=gpt-realtime"
        proc, url = await start("record", "--listen", "127.0.0.1:0", "-o", str(path),
                                "--upstream", upstream, "--upstream-auth", "api-key",
                                env={**os.environ, "OPENAI_API_KEY": LIVE})
        async with connect(url + f"?api-key={AZURE}",
                           additional_headers={"api-key": "placeholder"}) as ws:
            await ws.recv()
        up.refuse = 401  # the next handshake is refused: its line names the upstream URL
        try:
            async with connect(url):
                pass
        except Exception:  # the refusal itself is what is looked at
            pass
        code, err = await finish(proc, signal.SIGTERM)
    headers = up.connections[0].headers
    assert headers.get("api-key") == LIVE  # the client's placeholder replaced by the key
    assert not str(headers.get("Authorization", "")).startswith("Bearer")
    assert code == 1 and "refused the handshake with HTTP 401" in err, err
    for secret in (AZURE, PASSWORD, LIVE):
        assert secret not in err, secret
    _clean(path, AZURE, PASSWORD, LIVE)
    cassette = Cassette.load(path)
    assert "REDACTED" in cassette.header.meta["upstream"]
    assert "api-key=REDACTED" in cassette.episodes[0].connect.query
    assert cassette.episodes[1].connect.status == 401


def test_the_form_of_the_upstream_key() -> None:
    assert auth_form("wss://myres.openai.azure.com/openai/realtime") == "api-key"
    assert auth_form("wss://api.openai.com/v1/realtime") == "bearer"
    assert auth_form("ws://127.0.0.1:1/v1/realtime", "api-key") == "api-key"
    _, fwd, _ = upstream_request("wss://r.openai.azure.com/openai/realtime", LIVE, "/v1",
                                 "", {"api-key": "placeholder", "Authorization": "x"}, [])
    assert fwd == {"api-key": LIVE}
    _, fwd, _ = upstream_request("wss://api.openai.com/v1/realtime", LIVE, "/v1", "", {}, [])
    assert fwd == {"Authorization": f"Bearer {LIVE}"}


async def _audio_with_the_key(conn: ScriptConn) -> None:
    await conn.send(session_created())
    payload = "AAAA" * 40 + AZURE + "AAA" + "AAAA" * 40  # base64 audio holding the key
    await conn.send({"type": "response.output_audio.delta", "event_id": "event_2",
                     "response_id": "resp_1", "item_id": "item_1", "output_index": 0,
                     "content_index": 0, "delta": payload})
    await conn.drain()


async def test_a_refusal_keeps_a_leftover_that_scrub_cleans_and_recover_finishes(
        tmp_path: Path) -> None:
    path = tmp_path / "refused.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": AZURE}
    async with ScriptedServer(_audio_with_the_key) as up:
        proc, url = await start("record", "--listen", "127.0.0.1:0", "-o", str(path),
                                "--upstream", up.url, env=env)
        async with connect(url) as ws:
            await ws.recv()
            await ws.recv()
        code, err = await finish(proc, signal.SIGTERM)
    assert code == 1 and "refusing to write the cassette" in err, err
    assert AZURE not in err and not path.exists()
    leftover = Path(re.search(r"kept in (\S+) \(mode 0600\)", err).group(1))  # type: ignore[union-attr]
    assert leftover.stat().st_mode & 0o777 == 0o600 and AZURE in leftover.read_text()
    assert f"rtkit scrub {leftover}" in err and f"rtkit recover {leftover} -o {path}" in err
    code, out, err = await run("recover", str(leftover), "-o", str(path), env=env)
    assert code == 2 and "holds the live API key" in err  # not before it is scrubbed
    code, out, err = await run("scrub", str(leftover), env=env)
    assert code == 0, err
    assert "live-secret" in out
    code, out, err = await run("recover", str(leftover), "-o", str(path), env=env)
    assert code == 0, err
    _clean(path, AZURE)
    assert [e.type for e in Cassette.load(path).iter_events(0)] == [
        "session.created", "response.output_audio.delta"]
