"""kill -9 during a recording: every line recorded before the kill is in the temporary file,
`rtkit recover` finds it, says what it holds and makes a valid cassette of it, marked
incomplete. Real SIGKILLed processes (a writer, and `rtkit record --listen`), and the
salvage rules with plain bytes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect

from rtkit.cassette import Cassette, CassetteWriter
from rtkit.cassette.recover import CUT_REASON, Salvager, find_leftovers, recover, scan
from rtkit.cassette.validate import validate_path
from rtkit.cli import main
from rtkit.errors import CassetteError
from rtkit.fake import FakeRealtimeAPI

AUDIO = "A" * 6400  # 100 ms of silence, base64: takes the writer's audio fast path

# Records `n` audio deltas on conn 0 (left open) after a closed conn 1, says "ready", waits.
WRITER = """
import json, sys, time
from rtkit.cassette import CassetteWriter
path, n = sys.argv[1], int(sys.argv[2])
w = CassetteWriter(path, dialect="ga")
w.connect(1)
w.event(1, "server", 1, json.dumps({"type": "session.created", "event_id": "a", "session": {}}))
w.close(1, 2)
w.connect(0)
w.event(0, "server", 1, json.dumps({"type": "session.created", "event_id": "b", "session": {}}))
for k in range(n):
    w.event(0, "server", 2 + k, '{"type":"response.output_audio.delta","event_id":"e%d",'
            '"response_id":"r","item_id":"i","output_index":0,"content_index":0,'
            '"delta":"%s"}' % (k, "A" * 6400))
print("ready", flush=True)
time.sleep(600)
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def killed_writer(path: Path, n: int) -> None:
    """Run WRITER and SIGKILL it as soon as it says it recorded everything (no waiting)."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "ready\n", line + proc.stderr.read()  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)


@pytest.mark.parametrize("n", [3, 400], ids=["small session", "over 1 MB"])
def test_every_line_recorded_before_a_sigkill_is_recovered(tmp_path: Path, n: int) -> None:
    path = tmp_path / "session.jsonl"
    killed_writer(path, n)
    assert not path.exists()  # never committed
    [left] = find_leftovers(path)
    assert not left.in_use and left.size > 0  # before: 0 bytes under 1 MB
    assert (left.size > 1 << 20) == (n == 400)

    code, out = run("recover", str(path))
    assert code == 0
    assert out.splitlines()[0] == f"{path}: 1 leftover recording(s) beside it"
    assert "left by a writer that is gone" in out
    assert f"2 episode(s), 1 left open (conn 0), {n + 2} events" in out
    assert f"recover one with: rtkit recover {left.path} -o {path}" in out

    code, out = run("recover", str(path), "-o", str(path))
    assert code == 0, out
    assert f"rtkit: recovered {left.path.name} into {path}: 2 episode(s)" in out
    assert not left.path.exists() and find_leftovers(path) == []
    cassette = Cassette.load(path)  # a valid cassette
    recovered = cassette.header.meta["recovered"]
    assert recovered["incomplete"] is True and recovered["closed_episodes"] == [0]
    assert recovered["from"] == left.path.name and recovered["cut_bytes"] == 0
    ep1, ep0 = cassette.episode(1), cassette.episode(0)
    assert ep1.close is not None and ep1.close.code == 1000  # closed before the kill: as it was
    assert ep0.n_server == n + 1  # every event recorded before the kill
    assert ep0.close is not None and (ep0.close.code, ep0.close.reason) == (None, CUT_REASON)
    assert ep0.close.t == n + 1  # at the last recorded time
    deltas = [e.event["delta"] for e in cassette.iter_events(0, "server") if "delta" in e.event]
    assert deltas == [AUDIO] * n


def salvage(data: bytes) -> tuple[list[str], Salvager]:
    salvager = Salvager("left.tmp")
    kept = []
    for lineno, raw in enumerate(data.splitlines(keepends=True), start=1):
        text = salvager.feed(lineno, raw)
        if text is not None:
            kept.append(text)
    return kept + salvager.finish(), salvager


def test_what_is_kept_and_what_is_dropped_with_plain_bytes(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0)
        w.event(0, "client", 1, '{"type":"response.create"}')
        w.event(0, "server", 2, '{"type":"response.output_audio.delta","event_id":"x",'
                '"response_id":"r","item_id":"i","output_index":0,"content_index":0,'
                f'"delta":"{AUDIO}"}}')
    lines = path.read_bytes().splitlines(keepends=True)  # no close line: cut off
    bad_audio = lines[3].replace(b'"content_index":0', b'"content_index":0,,')  # not JSON
    data = b"".join([*lines, b"{nonsense\n", b'{"kind":"event","conn":7,"dir":"server",'
                     b'"t":1,"event":{"type":"x"}}\n', bad_audio, lines[3][:100]])
    kept, salvager = salvage(data)
    s = salvager.salvage
    assert s.dropped == [(5, "not valid JSON (Expecting property name enclosed in double "
                             "quotes)"), (6, "conn 7 has no connect line before it")]
    assert s.cut_bytes == 100 and s.open_episodes == [0] and s.events == 3
    frame = json.loads(kept[4])  # the unparsable audio line is kept as a frame, as at commit
    assert frame["kind"] == "frame" and frame["text"].endswith('"delta":"' + AUDIO + '"}')
    close = json.loads(kept[-1])
    assert (close["kind"], close["code"], close["reason"], close["t"]) == (
        "close", None, CUT_REASON, 2)
    assert "1 left open (conn 0), 3 events" in s.describe()
    assert "last line cut mid-write (100 bytes)" in s.describe()
    assert "2 line(s) dropped: 5 (not valid JSON" in s.describe()
    with pytest.raises(CassetteError, match=r"left\.tmp:1: the header is unreadable"):
        salvage(lines[0][:20])


def test_recover_refuses_what_it_must(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.jsonl"
    live = CassetteWriter(path)  # a live writer's temporary file is not a leftover
    live.connect(0)
    [tmp] = find_leftovers(path)
    assert tmp.in_use and tmp.writer_pid == os.getpid()
    code, out = run("recover", str(path))
    assert code == 0 and f"still being written by pid {os.getpid()}" in out
    code, out = run("recover", str(tmp.path), "-o", str(tmp_path / "out.jsonl"))
    assert code == 2
    assert out == f"rtkit: error: {tmp.path}: still being written by pid {os.getpid()}: " \
                  "not a leftover\n"
    live.abort()

    empty = tmp_path / ".c.jsonl.abcd1234.rtkit-tmp"  # killed before it wrote anything
    empty.write_bytes(b"")
    code, out = run("recover", str(empty), "-o", str(path))
    assert code == 2 and "empty: the recording was killed before it wrote anything" in out

    with CassetteWriter(tmp_path / "d.jsonl") as w:
        w.connect(0)
    done = tmp_path / "d.jsonl"
    left = tmp_path / ".d.jsonl.x1.rtkit-tmp"
    left.write_bytes(done.read_bytes())
    code, out = run("recover", str(left), "-o", str(done))
    assert code == 2 and f"{done}: exists; add --force" in out and left.exists()
    key = "sk-test-" + "recoverkey" * 3
    left.write_bytes(done.read_bytes().replace(b'"query":""', f'"query":"{key}"'.encode()))
    monkeypatch.setenv("OPENAI_API_KEY", key)
    code, out = run("recover", str(left), "-o", str(done), "--force")
    assert code == 2 and "holds the live API key" in out and key not in out
    monkeypatch.delenv("OPENAI_API_KEY")
    assert recover(left, done, force=True, keep=True).episodes == [0]
    assert left.exists() and validate_path(done) == []
    assert scan(left).episodes == [0]
    code, out = run("recover", str(tmp_path / "nothing.jsonl"), "-o", str(done))
    assert code == 2 and "no leftover recordings beside it; nothing to recover" in out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_rtkit_record_killed_mid_session_is_recovered(tmp_path: Path) -> None:
    """`rtkit record --listen` SIGKILLed in the middle of a conversation: what it relayed is
    in the temporary file, and `rtkit recover` turns it into a cassette."""
    path = tmp_path / "session.jsonl"
    async with FakeRealtimeAPI({"default": {"text": "Hi"}}) as upstream:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-" + "killme" * 4,
               "RTKIT_UPSTREAM_URL": upstream.url}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from rtkit.cli import main; main()", "record", "--listen",
            "127.0.0.1:0", "-o", str(path), env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            assert proc.stdout is not None
            url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
            async with connect(url + "?model=gpt-realtime") as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
                await ws.send(json.dumps({"type": "session.update", "session": {
                    "type": "realtime", "instructions": "Be brief."}}))
                assert json.loads(await ws.recv())["type"] == "session.updated"
                proc.send_signal(signal.SIGKILL)  # mid-session, the connection still open
                await asyncio.wait_for(proc.wait(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    code, out = run("recover", str(path), "-o", str(path))
    assert code == 0, out
    cassette = Cassette.load(path)
    [ep] = cassette.episodes
    events = [(e.dir, e.type) for e in cassette.iter_events(0)]
    # the proxy records a frame as it forwards it: these two were recorded before the answer
    assert events[:2] == [("server", "session.created"), ("client", "session.update")]
    assert ep.close is not None and ep.close.reason == CUT_REASON
    assert cassette.header.meta["recovered"]["closed_episodes"] == [0]


async def test_inside_an_event_loop_lines_reach_the_file_when_the_loop_turns(
        tmp_path: Path) -> None:
    """One write per loop turn for what was recorded meanwhile (a proxy's chunk of frames),
    or at once past 64 KB; outside a loop, before the call returns."""
    from rtkit.cassette.writer import FLUSH_PENDING

    w = CassetteWriter(tmp_path / "c.jsonl")
    [left] = find_leftovers(tmp_path / "c.jsonl")
    size = left.path.stat().st_size  # the header: written before the loop mattered
    w.connect(0)
    w.event(0, "client", 1, '{"type":"response.create"}')
    assert left.path.stat().st_size == size  # pending until the loop turns
    await asyncio.sleep(0)
    lines = left.path.read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["header", "connect", "event"]
    big = '{"type":"x","pad":"' + "a" * FLUSH_PENDING + '"}'
    w.event(0, "client", 2, big)
    assert left.path.read_text().splitlines()[-1].endswith(big + "}")  # at once
    w.commit()
