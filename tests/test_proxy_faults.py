"""The recording proxy under bad input and faults (issues 12 and 14), over loopback sockets.

For each probe: what the client and the upstream get (the relay stays byte-exact), what the
cassette keeps, and that the proxy still serves another client afterwards."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode

from rtkit.cassette import Cassette, Event, Frame
from rtkit.errors import CassetteError
from rtkit.server.proxy import RecordingProxy
from tests.proxy_upstream import AUDIO_100MS, TurnUpstream

KEY = "sk-test-" + "proxy-faults-" + "p" * 22  # built at runtime: no key-shaped literal


async def turn(url: str, event_id: str = "evt_1") -> list[dict]:
    """A whole session of one turn; the server events it got."""
    seen = []
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "conversation.item.create", "event_id": event_id}))
        await ws.send('{"type":"response.create"}')
        async for message in ws:
            seen.append(json.loads(message))
            if seen[-1]["type"] == "rate_limits.updated":
                break
    return seen


async def served(url: str) -> bool:
    """Whether a whole session of one turn through `url` got its whole response."""
    return (await turn(url))[-1]["type"] == "rate_limits.updated"


def lines(path: Path, conn: int = 0) -> list[Event | Frame]:
    return [x for x in Cassette.load(path).iter_episode(conn) if isinstance(x, Event | Frame)]


def send_raw(ws: ClientConnection, frame: WsFrame) -> None:
    """Write `frame` as the client would (masked), bypassing the client's own checks."""
    ws.transport.write(frame.serialize(mask=True))


# -- bad input from the client: relayed as sent, recorded, and the proxy goes on ------------

BAD_TEXT = {
    "not-json": ("hello", Frame),
    "json-not-an-object": ("[1, 2]", Frame),
    "no-type": ('{"item": {"x": 1}}', Event),
    "type-not-a-string": ('{"type": 7}', Event),
    "deeply-nested": ("[" * 100_000 + "]" * 100_000, Frame),
}


@pytest.mark.parametrize("name", list(BAD_TEXT))
async def test_bad_text_is_relayed_exactly_and_recorded(tmp_path: Path, name: str) -> None:
    text, kind = BAD_TEXT[name]
    path = tmp_path / "bad.jsonl"
    async with TurnUpstream() as up, RecordingProxy(path, upstream_url=up.url,
                                                     api_key=KEY) as proxy:
        async with connect(proxy.url, max_size=None) as ws:
            await ws.recv()
            await ws.send(text)
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ack"
        assert await served(proxy.url)  # the next client is served as usual
    assert up.received[0] == text
    bad = lines(path)[1]
    assert isinstance(bad, kind) and bad.dir == "client"
    assert (bad.raw if isinstance(bad, Event) else bad.text) == text
    assert proxy.errors == []


async def test_binary_and_invalid_utf8_frames_are_relayed_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "bin.jsonl"
    async with TurnUpstream() as up, RecordingProxy(path, upstream_url=up.url,
                                                     api_key=KEY) as proxy:
        async with connect(proxy.url) as ws:
            await ws.recv()
            await ws.send(b"\x00\x01\xff")
            assert await asyncio.wait_for(ws.recv(), 10) == b"\xff\x01\x00"
            send_raw(ws, WsFrame(Opcode.TEXT, b"bad \xff utf-8"))  # the upstream refuses it
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1007  # from upstream
        assert await served(proxy.url)
    frames = [x for x in lines(path) if isinstance(x, Frame)]
    assert [(f.dir, f.binary) for f in frames] == [
        ("client", b"\x00\x01\xff"), ("server", b"\xff\x01\x00"),
        ("client", b"bad \xff utf-8"),  # text that is not UTF-8 is kept as its bytes
    ]


async def test_a_20_mb_frame_and_a_fragmented_message_pass_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    big = json.dumps({"type": "input_audio_buffer.append", "audio": "QUJD" * (5 << 20)})
    async with (
        TurnUpstream() as up,
        RecordingProxy(path, upstream_url=up.url, api_key=KEY) as proxy,
        connect(proxy.url, max_size=None) as ws,
    ):
        await ws.recv()
        await ws.send(big)
        await asyncio.wait_for(ws.recv(), 30)
        await ws.send(['{"type":"conversation.item.create",', '"item":{"n":', "1}}"])
        await asyncio.wait_for(ws.recv(), 10)
    assert up.received == [big, '{"type":"conversation.item.create","item":{"n":1}}']
    client = [x for x in lines(path) if x.dir == "client"]
    assert isinstance(client[0], Event) and client[0].raw == big
    assert isinstance(client[1], Event) and client[1].event == {
        "type": "conversation.item.create", "item": {"n": 1}}


async def test_a_ping_flood_is_answered_by_the_upstream_and_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "pings.jsonl"
    async with (
        TurnUpstream() as up,
        RecordingProxy(path, upstream_url=up.url, api_key=KEY) as proxy,
        connect(proxy.url) as ws,
    ):
        await ws.recv()
        pongs = [await ws.ping(str(i).encode()) for i in range(2000)]
        await asyncio.wait_for(asyncio.gather(*pongs), 30)
        await ws.send('{"type":"response.create"}')
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "rate_limits.updated":
            pass  # the session goes on as usual
    assert [x.type for x in lines(path) if isinstance(x, Event)] == [
        "session.created", "response.create", "response.created", "response.text.delta",
        "response.text.delta", "response.text.delta", "response.done", "rate_limits.updated"]


# -- connections that end badly ------------------------------------------------------------


async def test_a_client_that_drops_tcp_mid_frame_leaves_a_complete_episode(
        tmp_path: Path) -> None:
    path = tmp_path / "drop.jsonl"
    async with TurnUpstream() as up, RecordingProxy(path, upstream_url=up.url,
                                                     api_key=KEY) as proxy:
        ws = await connect(proxy.url)
        await ws.recv()
        await ws.send('{"type":"one"}')
        await ws.recv()
        half = WsFrame(Opcode.TEXT, b'{"type":"never finished"}').serialize(mask=True)[:9]
        ws.transport.write(half)
        ws.transport.abort()  # gone, mid-frame, without a close frame
        assert await served(proxy.url)
    (first, second) = Cassette.load(path).episodes
    assert [x.type for x in lines(path) if isinstance(x, Event)] == [
        "session.created", "one", "ack"]
    assert first.close is not None and (first.close.by, first.close.code) == ("client", None)
    assert up.closes[0] is None  # the upstream connection was dropped too, not closed cleanly
    assert second.close is not None and second.close.code == 1000


async def test_an_upstream_that_drops_mid_response_is_dropped_downstream(
        tmp_path: Path) -> None:
    path = tmp_path / "updrop.jsonl"
    async with TurnUpstream("close-mid-response") as up, RecordingProxy(
            path, upstream_url=up.url, api_key=KEY) as proxy, connect(proxy.url) as ws:
        await ws.recv()
        await ws.send('{"type":"response.create"}')
        got = []
        with pytest.raises(ConnectionClosed) as info:
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
    assert got == ["response.created", "response.text.delta"]
    assert info.value.rcvd is None  # a drop, as the upstream did
    (episode,) = Cassette.load(path).episodes
    assert episode.n_events == 4
    assert episode.close is not None and (episode.close.by, episode.close.code) == ("server", None)


async def test_an_upstream_error_and_close_3000_reach_the_client(tmp_path: Path) -> None:
    path = tmp_path / "3000.jsonl"
    async with TurnUpstream("error-3000") as up, RecordingProxy(
            path, upstream_url=up.url, api_key=KEY) as proxy, connect(proxy.url) as ws:
        await ws.recv()
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
    assert error["error"]["code"] == "insufficient_quota"
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (3000, "insufficient_quota")
    (episode,) = Cassette.load(path).episodes
    assert episode.close is not None
    assert (episode.close.by, episode.close.code, episode.close.reason) == (
        "server", 3000, "insufficient_quota")


async def test_an_upstream_that_never_answers_the_handshake_is_a_504(tmp_path: Path) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    path = tmp_path / "504.jsonl"
    async with await asyncio.start_server(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with RecordingProxy(path, upstream_url=f"ws://127.0.0.1:{port}/v1/realtime",
                                  api_key=KEY, open_timeout=0.5) as proxy:
            with pytest.raises(InvalidStatus) as info:
                async with connect(proxy.url):
                    pass
    assert info.value.response.status_code == 504
    assert "cannot reach upstream" in proxy.failures[0]
    assert Cassette.load(path).episodes[0].connect.status == 504


async def test_garbage_instead_of_a_handshake_is_answered_400_and_not_recorded(
        tmp_path: Path) -> None:
    path = tmp_path / "garbage.jsonl"
    async with TurnUpstream() as up, RecordingProxy(path, upstream_url=up.url,
                                                     api_key=KEY) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"\x16\x03\x01 not http at all\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 400")
        writer.close()
        assert await served(proxy.url)
    assert len(Cassette.load(path).episodes) == 1 and up.paths == ["/v1/realtime"]


async def test_a_client_that_never_reads_holds_back_only_its_own_upstream(
        tmp_path: Path) -> None:
    path = tmp_path / "slow.jsonl"
    deltas = 2000  # 12.8 MB of audio events: 3x what the sockets between held here
    async with TurnUpstream(audio=deltas) as up, RecordingProxy(
            path, upstream_url=up.url, api_key=KEY) as proxy:
        slow = await connect(proxy.url, max_size=None)
        await slow.recv()
        slow.transport.pause_reading()  # this client reads nothing from now on
        await slow.send('{"type":"response.create"}')
        for _ in range(200):  # until the stream is held back (the upstream cannot send)
            await asyncio.sleep(0.05)
            held = proxy.status.events
            await asyncio.sleep(0.05)
            if proxy.status.events == held:
                break
        assert proxy.status.events < deltas  # held back, not buffered in the proxy
        assert await served(proxy.url)  # another client meanwhile: served
        slow.transport.resume_reading()
        n = 0
        while json.loads(await asyncio.wait_for(slow.recv(), 30))["type"] != "rate_limits.updated":
            n += 1
        await slow.close()
    assert n == 1 + 3 + deltas + 1  # every event arrived in the end
    assert Cassette.load(path).episodes[0].n_events == 2 + n + 1


async def test_fifty_concurrent_clients_each_get_their_own_session(tmp_path: Path) -> None:
    path = tmp_path / "fifty.jsonl"
    async with TurnUpstream() as up, RecordingProxy(path, upstream_url=up.url,
                                                     api_key=KEY) as proxy:
        sessions = await asyncio.wait_for(
            asyncio.gather(*(turn(proxy.url, f"evt_{i}") for i in range(50))), 60)
    for i, seen in enumerate(sessions):
        assert seen[1] == {"type": "ack", "of": "conversation.item.create",
                           "event_id": f"evt_{i}"}
        assert [e["type"] for e in seen][-2:] == ["response.done", "rate_limits.updated"]
    cassette = Cassette.load(path)
    assert len(cassette.episodes) == 50
    for episode in cassette.episodes:
        own = [x for x in cassette.iter_episode(episode.conn) if isinstance(x, Event)]
        ids = {x.event.get("event_id") for x in own if x.type in ("conversation.item.create",
                                                                  "ack")}
        assert len(ids) == 1  # the client's own id, in both directions, and no other


# -- the cassette cannot be written ----------------------------------------------------------


async def test_an_output_path_that_is_a_directory_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="is a directory"):
        async with RecordingProxy(tmp_path, upstream_url="ws://127.0.0.1:9/v1/realtime",
                                  api_key=KEY):
            pass


async def test_a_full_disk_stops_recording_not_relaying(tmp_path: Path, small_disk: Path) -> None:
    path = small_disk / "full.jsonl"
    deltas = 500  # 3.2 MB of audio events on a 256 KB file system
    async with TurnUpstream(audio=deltas) as up:
        proxy = RecordingProxy(path, upstream_url=up.url, api_key=KEY)
        await proxy.start()
        try:
            async with connect(proxy.url, max_size=None) as ws:
                await ws.send('{"type":"response.create"}')
                got = 0
                async for message in ws:
                    event = json.loads(message)
                    if event["type"] == "response.output_audio.delta":
                        got += 1
                        assert event["delta"] == AUDIO_100MS
                    if event["type"] == "rate_limits.updated":
                        break
            assert got == deltas  # the live client lost nothing
            assert proxy.write_error is not None and proxy.write_error.strerror
            with pytest.raises(InvalidStatus) as info:  # a connection it cannot record
                async with connect(proxy.url):
                    pass
            assert info.value.response.status_code == 503
            assert b"No space left on device" in (info.value.response.body or b"")
        finally:
            with pytest.raises(CassetteError, match="No space left on device") as failed:
                await proxy.stop()
    assert "holds the lines written before that" in str(failed.value)
    kept = Cassette.load(path)  # what was written is a valid cassette
    (episode,) = kept.episodes
    events = [x for x in kept.iter_episode(0) if isinstance(x, Event)]
    assert [x.type for x in events[:3]] == ["session.created", "response.create",
                                           "response.created"]
    assert 0 < len(events) < deltas and episode.close is None  # cut off where the disk filled


@pytest.fixture(params=["tmpfs", "injected"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory where only 256 KB can be written: a 256 KB tmpfs (mounting it needs root;
    skipped otherwise), and, everywhere, the cassette sink's writes failing with ENOSPC past
    256 KB, as a full disk's do."""
    import errno
    import os
    import subprocess

    import rtkit.cassette.sink as sink

    where = tmp_path / "small"
    where.mkdir()
    if request.param == "injected":
        room = [256 * 1024]

        def write_all(fd: int, data: bytes) -> None:
            n = min(room[0], len(data))
            if n:
                sink.os.write(fd, data[:n])  # type: ignore[attr-defined]
                room[0] -= n
            if n < len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(sink, "_write_all", write_all)
        monkeypatch.setattr(sink, "_write_parts",
                            lambda fd, parts, total: write_all(fd, b"".join(parts)))
        yield where
        return
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the injected case runs anyway)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode()}")
    yield where
    subprocess.run(["umount", str(where)], check=True)
