"""The recording proxy's byte relay over real loopback sockets: large and fragmented frames,
keepalive pings, subprotocols, stopping with open connections, a TLS upstream, bad clients."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import ssl
import subprocess
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from rtkit.audio import int16_to_base64
from rtkit.cassette import Cassette, Event, Frame
from rtkit.server.proxy import RecordingProxy
from rtkit.transport.websocket import loopback_kwargs

KEY = "sk-test-" + "relay-" + "r" * 30  # built at runtime: no key-shaped literal in the repo
BIG = "A" * 200_000  # bigger than a relay chunk, so frames span chunks both ways


class Upstream:
    """Echoes every text event back as `{"type": "echo", "of": <event>}`; sends a large
    fragmented message when asked; records the subprotocol and how the connection closed."""

    def __init__(self) -> None:
        self.closes: list[tuple[int | None, str]] = []
        self.subprotocols: list[str | None] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.subprotocols.append(ws.subprotocol)
        await ws.send('{"type":"session.created","event_id":"e0","session":{}}')
        try:
            async for message in ws:
                if message == '{"type":"fragments"}':
                    await ws.send(['{"type":"big",', '"delta":"', BIG, '"}'])
                elif message == '{"type":"audio"}':  # 100 ms of output audio
                    await ws.send(json.dumps({"type": "response.output_audio.delta",
                                              "delta": int16_to_base64(np.zeros(2400, np.int16))}))
                elif isinstance(message, bytes):
                    await ws.send(message[::-1])
                else:
                    await ws.send(json.dumps({"type": "echo", "of": json.loads(message)}))
        except ConnectionClosed:
            pass
        rcvd = ws.protocol.close_rcvd
        self.closes.append((rcvd.code, rcvd.reason) if rcvd else (None, ""))


async def test_large_fragmented_binary_frames_and_pings_pass_and_are_recorded(
        tmp_path: Path) -> None:
    path = tmp_path / "relay.jsonl"
    up = Upstream()
    async with serve(up.handler, "127.0.0.1", 0, max_size=None) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1/realtime"
        async with (
            RecordingProxy(path, upstream_url=url, api_key=KEY) as proxy,
            connect(proxy.url + "?model=gpt-realtime", max_size=None) as ws,
        ):
            assert json.loads(await ws.recv())["type"] == "session.created"
            append = {"type": "input_audio_buffer.append", "audio": BIG}
            await ws.send(json.dumps(append))
            assert json.loads(await ws.recv())["of"] == append
            await ws.send('{"type":"fragments"}')
            assert json.loads(await ws.recv())["delta"] == BIG
            await ws.send(b"\x01\x02\x03")
            assert await ws.recv() == b"\x03\x02\x01"
            pong = await ws.ping(b"still there?")
            await asyncio.wait_for(pong, 5)  # answered by the upstream, through the proxy
    lines = list(Cassette.load(path).iter_episode(0))
    kinds = [(x.dir, x.type if isinstance(x, Event) else "frame") for x in lines[:-1]]
    assert kinds == [("server", "session.created"), ("client", "input_audio_buffer.append"),
                     ("server", "echo"), ("client", "fragments"), ("server", "big"),
                     ("client", "frame"), ("server", "frame")]
    assert isinstance(lines[1], Event) and lines[1].event["audio"] == BIG
    assert isinstance(lines[4], Event) and lines[4].event["delta"] == BIG
    assert isinstance(lines[5], Frame) and lines[5].binary == b"\x01\x02\x03"
    assert [x.t for x in lines] == sorted(x.t for x in lines)
    close = Cassette.load(path).episodes[0].close
    assert close is not None and (close.by, close.code) == ("client", 1000)
    assert up.closes == [(1000, "")]


async def test_stopping_with_an_open_connection_closes_both_sides_with_1001(
        tmp_path: Path) -> None:
    path = tmp_path / "stop.jsonl"
    up = Upstream()
    async with serve(up.handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1/realtime"
        proxy = RecordingProxy(path, upstream_url=url, api_key=KEY)
        await proxy.start()
        async with connect(proxy.url) as ws:
            await ws.recv()
            await ws.send('{"type":"response.create"}')
            await ws.recv()
            await asyncio.wait_for(proxy.stop(), 10)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        for _ in range(50):
            if up.closes:
                break
            await asyncio.sleep(0.05)
    assert up.closes == [(1001, "rtkit record stopped")]
    (episode,) = Cassette.load(path).episodes
    assert episode.close is not None
    assert (episode.close.by, episode.close.code) == ("client", 1001)
    assert episode.n_events == 3


async def test_the_subprotocol_the_upstream_chose_reaches_the_client(tmp_path: Path) -> None:
    up = Upstream()
    async with serve(up.handler, "127.0.0.1", 0, subprotocols=["realtime"]) as srv:  # type: ignore[list-item]
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1/realtime"
        async with RecordingProxy(tmp_path / "p.jsonl", upstream_url=url, api_key=KEY) as proxy:
            offered = ["realtime", "openai-insecure-api-key.placeholder"]
            async with connect(proxy.url, subprotocols=offered) as ws:  # type: ignore[arg-type]
                await ws.recv()
                assert ws.subprotocol == "realtime"
    assert up.subprotocols == ["realtime"]


async def test_a_request_that_is_not_a_websocket_handshake_is_refused_without_upstream(
        tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    async with RecordingProxy(path, upstream_url="ws://127.0.0.1:9/v1/realtime",
                              api_key=KEY) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status.startswith(b"HTTP/1.1 426") or status.startswith(b"HTTP/1.1 400")
        assert proxy.failures == []  # the upstream was never tried
    assert Cassette.load(path).episodes == []


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


async def test_a_tls_upstream_is_verified_and_relayed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the proxy trusts the test certificate
    up = Upstream()
    path = tmp_path / "tls.jsonl"
    async with serve(up.handler, "127.0.0.1", 0, ssl=context) as srv:
        url = f"wss://localhost:{srv.sockets[0].getsockname()[1]}/v1/realtime"
        async with (
            RecordingProxy(path, upstream_url=url, api_key=KEY) as proxy,
            connect(proxy.url) as ws,
        ):
            await ws.recv()
            await ws.send('{"type":"response.create"}')
            assert json.loads(await ws.recv())["type"] == "echo"
    (episode,) = Cassette.load(path).episodes
    assert episode.n_events == 3


async def test_an_untrusted_tls_upstream_is_a_502(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    async with serve(Upstream().handler, "127.0.0.1", 0, ssl=context) as srv:
        url = f"wss://localhost:{srv.sockets[0].getsockname()[1]}/v1/realtime"
        async with RecordingProxy(tmp_path / "p.jsonl", upstream_url=url, api_key=KEY) as proxy:
            with pytest.raises(Exception, match="502"):
                async with connect(proxy.url):
                    pass
            assert "certificate" in proxy.failures[0].lower()


class ConnectProxy:
    """A minimal HTTP CONNECT proxy, like a corporate one; remembers what it was asked."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.auth: list[str | None] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, *fields = head.decode().split("\r\n")
        self.requests.append(line)
        self.auth.append(next((f.split(":", 1)[1].strip() for f in fields
                               if f.lower().startswith("proxy-authorization:")), None))
        host, port = line.split()[1].rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer),
                             return_exceptions=True)


@pytest.mark.parametrize("userinfo", ["", "alice:s%40cret@"])
async def test_the_upstream_is_reached_through_an_http_proxy_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, userinfo: str) -> None:
    """On every websockets release: rtkit reads the proxy settings itself (urllib's
    getproxies / proxy_bypass) and sends its own CONNECT, with the proxy URL's credentials."""
    tunnel = ConnectProxy()
    up = Upstream()
    async with (
        serve(up.handler, "127.0.0.1", 0) as srv,
        await asyncio.start_server(tunnel.handle, "127.0.0.1", 0) as tunnel_server,
    ):
        port = srv.sockets[0].getsockname()[1]
        for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", f"http://{userinfo}127.0.0.1:"
                                         f"{tunnel_server.sockets[0].getsockname()[1]}")
        path = tmp_path / "proxied.jsonl"
        async with (
            RecordingProxy(path, upstream_url=f"ws://127.0.0.1:{port}/v1/realtime",
                           api_key=KEY) as proxy,
            connect(proxy.url, **loopback_kwargs(proxy.url)) as ws,  # type: ignore[arg-type]
        ):
            await ws.recv()
            await ws.send('{"type":"response.create"}')
            assert json.loads(await ws.recv())["type"] == "echo"
        monkeypatch.setenv("no_proxy", "127.0.0.1")  # bypassed: straight to the upstream
        async with (
            RecordingProxy(tmp_path / "direct.jsonl", api_key=KEY,
                           upstream_url=f"ws://127.0.0.1:{port}/v1/realtime") as proxy,
            connect(proxy.url, **loopback_kwargs(proxy.url)) as ws,  # type: ignore[arg-type]
        ):
            await ws.recv()
    assert tunnel.requests == [f"CONNECT 127.0.0.1:{port} HTTP/1.1"]
    assert tunnel.auth == (["Basic " + base64.b64encode(b"alice:s@cret").decode()]
                           if userinfo else [None])
    assert Cassette.load(path).episodes[0].n_events == 3
    assert "alice" not in path.read_text()


class NamingProxy(ConnectProxy):
    """A CONNECT proxy that resolves every host to the test's upstream on 127.0.0.1, as a
    corporate proxy resolves a public name: so an `*.openai.azure.com` URL reaches it."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.decode().split("\r\n")[0]
        self.requests.append(line)
        rewritten = head.replace(line.split()[1].encode(), f"127.0.0.1:{self.port}".encode(), 1)
        relay = asyncio.StreamReader()
        relay.feed_data(rewritten)
        # the rest of the client's bytes follow the rewritten request line
        async def rest() -> None:
            while data := await reader.read(65536):
                relay.feed_data(data)
            relay.feed_eof()

        pump = asyncio.ensure_future(rest())
        try:
            await super().handle(relay, writer)
        finally:
            pump.cancel()


async def test_an_azure_host_gets_the_key_as_an_api_key_header_end_to_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording from Azure with header auth (issue 21): with no `upstream_auth`, an
    `*.openai.azure.com` upstream gets the key in an `api-key` header (Azure key auth refuses
    a Bearer one), the client's own `api-key` placeholder is not forwarded, and neither key
    is in the cassette. The name reaches the test's upstream through an HTTP proxy."""
    seen: list[tuple[str, dict[str, str]]] = []

    async def azure(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append((ws.request.path, dict(ws.request.headers.raw_items())))
        await ws.send('{"type":"session.created","event_id":"e0","session":{}}')
        async for _ in ws:
            pass

    async with serve(azure, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        tunnel = NamingProxy(port)
        async with await asyncio.start_server(tunnel.handle, "127.0.0.1", 0) as tunnel_server:
            for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("http_proxy",
                               f"http://127.0.0.1:{tunnel_server.sockets[0].getsockname()[1]}")
            path = tmp_path / "azure.jsonl"
            upstream = ("ws://myres.openai.azure.com:8080/openai/realtime"
                        "?api-version=2025-04-01-preview&deployment=gpt-realtime")
            async with (
                RecordingProxy(path, upstream_url=upstream, api_key=KEY) as proxy,
                connect(proxy.url.replace("/v1/realtime", "/openai/realtime"),
                        additional_headers={"api-key": "placeholder"},
                        **loopback_kwargs(proxy.url)) as ws,  # type: ignore[arg-type]
            ):
                assert json.loads(await ws.recv())["type"] == "session.created"
    # what rtkit asked the proxy for (then the same, resolved, as the proxy passes it on)
    assert tunnel.requests == ["CONNECT myres.openai.azure.com:8080 HTTP/1.1",
                               f"CONNECT 127.0.0.1:{port} HTTP/1.1"]
    (where, headers), = seen
    assert where.startswith("/openai/realtime?"), where
    lowered = {name.lower(): value for name, value in headers.items()}
    assert lowered.get("api-key") == KEY
    assert "authorization" not in lowered
    text = path.read_text()
    assert KEY not in text and "placeholder" not in text


async def test_the_status_counts_events_and_output_audio_while_streaming(tmp_path: Path) -> None:
    seen: list[tuple[int, int, float]] = []
    up = Upstream()
    async with serve(up.handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1/realtime"
        proxy = RecordingProxy(tmp_path / "s.jsonl", upstream_url=url, api_key=KEY,
                               on_status=lambda s: seen.append((s.open, s.events,
                                                                s.audio_seconds)))
        async with proxy, connect(proxy.url) as ws:
            await ws.recv()
            for _ in range(3):
                await ws.send('{"type":"audio"}')
                await ws.recv()
            assert (proxy.status.open, proxy.status.events) == (1, 7)
            assert proxy.status.audio_seconds == pytest.approx(0.3)
    assert seen[0][0] == 1  # told when the connection opened
    assert seen[-1][0] == 0 and proxy.status.episodes == 1
    assert "audio 0.3 s" in proxy.status.line()


@pytest.mark.parametrize("fmt", ["pcm16", "g711_ulaw", "g711_alaw"])
@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_the_status_counts_output_audio_at_the_sessions_rate(tmp_path: Path, fmt: str,
                                                                  dialect: str) -> None:
    """`rtkit record`'s "N s of output audio" for a phone session: 400 ms of G.711 (8 kHz,
    a byte a sample) is 400 ms, not the 67 ms it is as PCM16 24 kHz."""
    from rtkit import RealtimeClient
    from rtkit.fake import FakeRealtimeAPI

    script = {"default": {"text": "Hello there.", "audio_ms": 400}}
    async with (FakeRealtimeAPI(script) as up,
                RecordingProxy(tmp_path / "phone.jsonl", upstream_url=up.url,
                               api_key="") as proxy):
        client = RealtimeClient(url=proxy.url, dialect=dialect)
        client.update_session(output_audio_format=fmt, modalities=["text", "audio"])
        await client.connect()
        try:
            await client.wait_for_session_created(timeout=10)
            done = asyncio.ensure_future(client.realtime.wait_for_next("server.response.done",
                                                                       timeout=10))
            client.send_user_message_content([{"type": "input_text", "text": "hi"}])
            await done
        finally:
            await client.disconnect()
        assert proxy.status.audio_seconds == pytest.approx(0.4, abs=0.01)
