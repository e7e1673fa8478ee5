"""`rtkit record --listen` when things go wrong, as a user meets it: a real subprocess, real
signals, loopback sockets. Each fault: what the client gets, what the cassette keeps, what is
printed and the exit status (docs/recording.md, "When things go wrong")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rtkit.cassette import Cassette
from tests import rtkit_process
from tests.proxy_upstream import TurnUpstream
from tests.rtkit_process import finish, no_key_env

KEY = "sk-test-" + "record-faults-" + "f" * 20  # built at runtime: no key-shaped literal


async def start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start `rtkit record ARGS` with a key; return the process and the URL it prints first
    ("" when it exited without printing one)."""
    return await rtkit_process.start("record", *args, expect_url=False,
                                     env=no_key_env(OPENAI_API_KEY=KEY))


async def turn(url: str) -> list[str]:
    """One session of one turn; the server event types it saw."""
    seen = []
    async with connect(url) as ws:
        await ws.send('{"type":"response.create"}')
        async for message in ws:
            seen.append(json.loads(message)["type"])
            if seen[-1] == "rate_limits.updated":
                break
    return seen


# -- upstream failures: the client gets the upstream's answer, the command exits 1 ---------


async def test_an_upstream_401_reaches_the_client_and_the_command_exits_1(
        tmp_path: Path) -> None:
    out = tmp_path / "refused.jsonl"
    async with TurnUpstream("refuse-401") as up:
        proc, url = await start("--listen", "127.0.0.1:0", "-o", str(out), "--upstream", up.url,
                                "--max-connections", "1")
        with pytest.raises(InvalidStatus) as info:
            async with connect(url):
                pass
        code, err = await finish(proc, None)
    assert info.value.response.status_code == 401
    assert b"invalid_api_key" in (info.value.response.body or b"")  # the upstream's own body
    assert code == 1, err
    assert "rtkit: error: " in err and "HTTP 401" in err and "Traceback" not in err
    (episode,) = Cassette.load(out).episodes
    assert episode.connect.status == 401 and episode.n_events == 0


async def test_an_unreachable_upstream_is_a_502_and_the_command_exits_1(tmp_path: Path) -> None:
    with contextlib.closing(__import__("socket").socket()) as sock:
        sock.bind(("127.0.0.1", 0))  # a port nobody listens on
        port = sock.getsockname()[1]
        proc, url = await start("--listen", "127.0.0.1:0", "-o", str(tmp_path / "u.jsonl"),
                                "--upstream", f"ws://127.0.0.1:{port}/v1/realtime",
                                "--max-connections", "1")
        with pytest.raises(InvalidStatus) as info:
            async with connect(url):
                pass
    code, err = await finish(proc, None)
    assert info.value.response.status_code == 502
    assert code == 1 and "cannot reach upstream" in err and "Traceback" not in err


async def test_a_wrong_path_gets_the_upstreams_own_404(tmp_path: Path) -> None:
    out = tmp_path / "path.jsonl"
    async with TurnUpstream() as up:
        proc, url = await start("--listen", "127.0.0.1:0", "-o", str(out), "--upstream", up.url,
                                "--max-connections", "2")
        with pytest.raises(InvalidStatus) as info:
            async with connect(url.replace("/v1/realtime", "/v1/nope")):
                pass
        assert await turn(url)  # the right path still works
        code, err = await finish(proc, None)
    assert info.value.response.status_code == 404
    assert b"no such path" in (info.value.response.body or b"")
    assert up.paths[0] == "/v1/nope"  # asked of the upstream, which answered it
    assert code == 1 and "HTTP 404" in err
    first, second = Cassette.load(out).episodes
    assert (first.connect.path, first.connect.status, first.n_events) == ("/v1/nope", 404, 0)
    assert (second.connect.status, second.close and second.close.code) == (101, 1000)


# -- the output file -----------------------------------------------------------------------


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """A directory nobody can create files in (root ignores permission bits: a read-only
    tmpfs then)."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only directory as root: {done.stderr.decode()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


async def test_a_read_only_output_directory_is_refused_before_listening(tmp_path: Path) -> None:
    with read_only_dir(tmp_path / "ro") as ro:
        proc, url = await start("--listen", "127.0.0.1:0", "-o", str(ro / "x.jsonl"),
                                "--upstream", "ws://127.0.0.1:9/v1/realtime")
        code, err = await finish(proc, None)
    assert (url, code) == ("", 2)
    assert f"rtkit: error: {ro / 'x.jsonl'}: cannot write the cassette there:" in err
    assert "Traceback" not in err


async def test_an_output_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    proc, url = await start("--listen", "127.0.0.1:0", "-o", str(tmp_path),
                            "--upstream", "ws://127.0.0.1:9/v1/realtime")
    code, err = await finish(proc, None)
    assert (url, code) == ("", 2)
    assert "rtkit: error: " in err and "is a directory" in err and "Traceback" not in err


# -- signals mid-session -------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_mid_session_closes_with_1001_and_keeps_everything(
        tmp_path: Path, sig: int) -> None:
    out = tmp_path / "sig.jsonl"
    async with TurnUpstream() as up:
        proc, url = await start("--listen", "127.0.0.1:0", "-o", str(out), "--upstream", up.url)
        async with connect(url) as ws:
            await ws.send('{"type":"response.create"}')
            while json.loads(await ws.recv())["type"] != "rate_limits.updated":
                pass
            proc.send_signal(sig)  # the session is still open
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 20)
        code, err = await finish(proc, None)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert code == 0, err
    (episode,) = Cassette.load(out).episodes
    assert episode.n_events == 8  # session.created, response.create, the six of the response
    assert episode.close is not None and (episode.close.code, episode.close.by) == (1001, "client")


async def test_a_full_disk_keeps_the_session_and_what_was_written_and_exits_1(
        tmp_path: Path) -> None:
    where = tmp_path / "small"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (tests/test_proxy_faults.py injects "
                    "the error instead)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode()}")
    try:
        out = where / "full.jsonl"
        async with TurnUpstream(audio=500) as up:  # 3.2 MB of audio events
            proc, url = await start("--listen", "127.0.0.1:0", "-o", str(out),
                                    "--upstream", up.url)
            seen = await turn(url)
            code, err = await finish(proc)
        assert seen.count("response.output_audio.delta") == 500  # the client lost nothing
        assert code == 1
        assert f"rtkit: error: {out}: writing the cassette failed (No space left on device)" \
            in err
        assert "Traceback" not in err
        assert 0 < Cassette.load(out).episodes[0].n_events < 500  # what fitted is kept
    finally:
        subprocess.run(["umount", str(where)], check=True)
