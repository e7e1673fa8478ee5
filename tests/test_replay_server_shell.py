"""ReplayServer's socket shell over real loopback sockets: the hand-framed writes of recorded
events (every length class, runs far over one write, pings in between), the episode chosen
only after a valid upgrade, how a connection ends (4000 at once after a mismatch, dropped when
the client stops reading), recorded client events without a string `type`, and a
LiveKit-style client whose invented ids are rebound."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rtkit.cassette import CassetteWriter
from rtkit.errors import CannotOverwriteExistingCassetteException, ReplayTimeout
from rtkit.server.replay_server import ReplayServer
from rtkit.transport.websocket import loopback_kwargs
from tests.serve_helpers import QUERY, RawClient, good_session, write_sessions

SIZES = [0, 1, 100, 125, 126, 127, 1000, 65535, 65536, 65537, 300_000]


def sized_event(n: int, k: int) -> str:
    """A server event whose text is exactly `n` bytes (at least the shortest such event)."""
    head = f'{{"type":"x.delta","k":{k},"pad":"'
    return head + "p" * max(n - len(head) - 2, 0) + '"}'


def write_sized(path: Path) -> list[str]:
    events = [sized_event(n, k) for k, n in enumerate(SIZES * 3)]
    events += [sized_event(6000, 100 + k) for k in range(200)]  # many writes of 64 KB
    events.append('{"type":"response.done"}')
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query=QUERY)
        w.event(0, "server", 0, '{"type":"session.created"}')
        w.event(0, "client", 1, '{"type":"response.create"}')
        for i, text in enumerate(events):
            w.event(0, "server", 2 + i, text)
        w.close(0, 1000, 1000, "", "client")
    return events


async def test_recorded_events_arrive_byte_for_byte_in_every_frame_size(tmp_path: Path) -> None:
    events = write_sized(tmp_path / "sized.jsonl")
    async with ReplayServer(tmp_path / "sized.jsonl", unplayed="fail") as server:
        url = server.url + "?" + QUERY
        async with connect(url, max_size=None, ping_interval=None,
                           **loopback_kwargs(url)) as ws:  # type: ignore[arg-type]
            assert await ws.recv() == '{"type":"session.created"}'
            await ws.send('{"type":"response.create"}')
            got = []
            pings = []
            while len(got) < len(events):
                got.append(await ws.recv())
                if len(got) % 50 == 0:  # websockets' own frames go between ours
                    pings.append(await ws.ping())
            await asyncio.wait_for(asyncio.gather(*pings), 10)
    assert got == events


async def test_a_plain_get_uses_no_episode_and_gets_426(tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "two.jsonl", 2)
    lines: list[str] = []
    async with ReplayServer(path, unplayed="fail", log=lines.append) as server:
        for _ in range(3):  # health checks, curl
            client, head = await RawClient.request(
                server.port, f"GET /v1/realtime?{QUERY} HTTP/1.1\r\nHost: x\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 426 ")
            client.close()
        await good_session(server.url + "?" + QUERY, 0)
        await good_session(server.url + "?" + QUERY, 1)
    assert server.played == [0, 1] and server.errors == []
    assert sum("426" in line and "not a WebSocket upgrade" in line for line in lines) == 3


async def test_a_mismatch_closes_the_connection_at_once_with_4000(tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "one.jsonl", 1)
    async with ReplayServer(path, timeout=30, unplayed="ignore") as server:
        url = server.url + "?" + QUERY
        t0 = time.monotonic()
        async with connect(url, **loopback_kwargs(url)) as ws:
            await ws.recv()
            await ws.send('{"type":"response.create"}')  # the recording has a user message
            error = json.loads(await ws.recv())
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert time.monotonic() - t0 < 10
        assert error["error"]["code"] == "replay_mismatch"
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            4000, "invalid_request_error.replay_mismatch")
        assert isinstance(server.errors[0], CannotOverwriteExistingCassetteException)
        server.player.reported(server.errors[0])


async def test_a_client_that_stops_reading_is_dropped_after_the_timeout(tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "big.jsonl", 1, deltas=3000, delta_bytes=6400)
    lines: list[str] = []
    async with ReplayServer(path, timeout=0.5, unplayed="ignore", log=lines.append) as server:
        client = await RawClient.upgrade(server.port, rcvbuf=4096)
        from tests.serve_helpers import user_text

        client.send_frame(user_text(0).encode())
        client.send_frame(b'{"type":"response.create"}')
        deadline = time.monotonic() + 20
        while server.player.completed < 1:
            assert time.monotonic() < deadline, lines
            await asyncio.sleep(0.05)
        client.close()
        assert isinstance(server.errors[0], ReplayTimeout)
        assert "the client stopped reading" in str(server.errors[0])
        server.player.reported(server.errors[0])
    assert lines[-1].startswith("#1 episode 0: dropped by rtkit (no close frame)")


def typeless_cassette(path: Path) -> Path:
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query=QUERY)
        w.event(0, "server", 0, '{"type":"session.created"}')
        w.event(0, "client", 1, '{"event_id":"e1","item":{"type":"message"}}')
        w.event(0, "server", 2, json.dumps({"type": "error", "error": {
            "type": "invalid_request_error", "code": "missing_required_parameter",
            "param": "type", "event_id": "e1"}}))
        w.event(0, "client", 3, '{"type":5}')
        w.event(0, "server", 4, '{"type":"error","error":{"code":"invalid_value"}}')
        w.event(0, "client", 5, '{"type":"response.create"}')
        w.event(0, "server", 6, '{"type":"response.done"}')
        w.close(0, 10, 1000, "", "client")
    return path


async def test_recorded_client_events_without_a_string_type_replay(tmp_path: Path) -> None:
    path = typeless_cassette(tmp_path / "typeless.jsonl")
    async with ReplayServer(path, unplayed="fail") as server:
        url = server.url + "?" + QUERY
        async with connect(url, **loopback_kwargs(url)) as ws:
            await ws.recv()
            await ws.send('{"event_id":"e1","item":{"type":"message"}}')
            assert json.loads(await ws.recv())["error"]["code"] == "missing_required_parameter"
            await ws.send('{"type":5}')
            assert json.loads(await ws.recv())["error"]["code"] == "invalid_value"
            await ws.send('{"type":"response.create"}')
            assert json.loads(await ws.recv())["type"] == "response.done"
    assert server.errors == []


async def test_a_livekit_style_client_gets_its_ids_echoed(tmp_path: Path) -> None:
    """livekit-plugins-openai: a random metadata.client_event_id on every response.create,
    and it waits for the response.created that echoes it; its event_id comes back in errors."""
    path = tmp_path / "livekit.jsonl"

    def response_events(rid: str, resp: str) -> list[dict[str, Any]]:
        meta = {"client_event_id": rid}
        return [{"type": "response.created", "response": {"id": resp, "metadata": meta}},
                {"type": "response.output_text.delta", "response_id": resp, "delta": "Hi"},
                {"type": "response.done", "response": {"id": resp, "metadata": meta,
                                                       "status": "completed"}}]

    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query=QUERY)
        w.event(0, "server", 0, '{"type":"session.created","session":{"id":"sess_1"}}')
        for turn, rid in enumerate(["response_create_1866aa", "response_create_77bb01"]):
            w.event(0, "client", 10 * turn + 1, json.dumps(
                {"type": "response.create", "event_id": rid,
                 "response": {"metadata": {"client_event_id": rid}}}))
            for event in response_events(rid, f"resp_{turn}"):
                w.event(0, "server", 10 * turn + 2, json.dumps(event))
        w.event(0, "client", 30, '{"type":"response.cancel","event_id":"cancel_0a"}')
        w.event(0, "server", 31, json.dumps({"type": "error", "error": {
            "type": "invalid_request_error", "code": "response_cancel_not_active",
            "event_id": "cancel_0a"}}))
        w.close(0, 40, 1000, "", "client")
    async with ReplayServer(path, unplayed="fail") as server:
        url = server.url + "?" + QUERY
        async with connect(url, **loopback_kwargs(url)) as ws:
            await ws.recv()
            for turn, mine in enumerate(["response_create_9e7e42", "response_create_c0ffee"]):
                await ws.send(json.dumps({"type": "response.create", "event_id": mine,
                                          "response": {"metadata": {"client_event_id": mine}}}))
                created, _, done = [json.loads(await ws.recv()) for _ in range(3)]
                assert created["response"]["metadata"]["client_event_id"] == mine
                assert done["response"]["metadata"]["client_event_id"] == mine
                assert created["response"]["id"] == f"resp_{turn}"
            await ws.send('{"type":"response.cancel","event_id":"my_cancel"}')
            assert json.loads(await ws.recv())["error"]["event_id"] == "my_cancel"
    assert server.errors == []


async def test_refused_handshakes_are_one_log_line_each_without_a_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_sessions(tmp_path / "one.jsonl", 1)
    lines: list[str] = []
    async with ReplayServer(path, log=lines.append, unplayed="ignore") as server:
        client, head = await RawClient.request(
            server.port, f"GET /v1/realtime?{QUERY} HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 426 "), head
        client.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"HELLO\r\n\r\n")  # not HTTP: the connection is closed, no answer
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        with pytest.raises(Exception, match="404"):
            async with connect(server.url.replace("realtime", "nope"),
                               **loopback_kwargs(server.url)):
                pass
        await good_session(server.url + "?" + QUERY, 0)
        assert "no unplayed episode" in str(server.errors[0])  # the 404, reported to the test
        server.player.reported(server.errors[0])
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert len(lines) == 5, lines
    assert "answered HTTP 426 Upgrade Required (not a WebSocket upgrade" in lines[0]
    assert ": the opening handshake failed: " in lines[1] and "HTTP request" in lines[1]
    assert "GET /v1/nope: answered HTTP 404: Replay: no unplayed episode" in lines[2]


async def test_a_recorded_refusal_is_answered_with_its_status_or_502_when_unknown(
        tmp_path: Path) -> None:
    from websockets.exceptions import InvalidStatus

    path = tmp_path / "refused.jsonl"
    with CassetteWriter(path, dialect="ga") as w:
        for conn, status in enumerate((401, 0)):  # 0: the status was not known
            w.connect(conn, query=QUERY, status=status)
            w.close(conn, 1, None, "", "server")
    lines: list[str] = []
    async with ReplayServer(path, log=lines.append, unplayed="fail") as server:
        for status in (401, 502):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(server.url + "?" + QUERY, **loopback_kwargs(server.url)):
                    pass
            assert refused.value.response.status_code == status
    assert lines[0].endswith("episode 0: refused with HTTP 401, as recorded")
    assert lines[1].endswith("episode 1: refused with HTTP 0, as recorded (not an HTTP "
                             "status: answered 502)")


async def test_on_frame_sees_every_frame_including_events_sent_in_runs(tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "one.jsonl", 1, deltas=300)
    tapped: list[tuple[int, str, Any]] = []
    async with ReplayServer(path, on_frame=lambda *f: tapped.append(f)) as server:
        frames = await good_session(server.url + "?" + QUERY, 0, deltas=300)
    from tests.serve_helpers import user_text

    assert [f for c, d, f in tapped if d == "server"] == frames
    assert [f for c, d, f in tapped if d == "client"] == [user_text(0),
                                                          '{"type":"response.create"}']
    assert {c for c, _, _ in tapped} == {0}
