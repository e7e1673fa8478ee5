"""The cassette reader's block reads, lazy index and replay runs, against a naive line-by-line
reading of the same file; and bad lines (cut short, deeply nested, not UTF-8) as errors that
name the file and line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rtkit.cassette import Cassette, CassetteWriter, CloseLine, Event, Frame, parse_line, read_lines
from rtkit.cassette import reader as reader_module
from rtkit.cassette.reader import ServerEventText, ServerRun
from rtkit.errors import CassetteError
from tests.rtkit_process import RTKIT


def write_interleaved(path: Path, *, big: int = 0) -> Path:
    """Two episodes whose lines interleave, frames, a close, long and short events."""
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query="model=gpt-realtime")
        w.connect(1, query="model=gpt-realtime")
        for k in range(60):
            for conn in (0, 1):
                w.event(conn, "server", k, json.dumps({"type": "response.output_audio.delta",
                                                       "k": k, "conn": conn,
                                                       "delta": "QUJD" * (50 + 37 * k)}))
            if k % 10 == 3:
                w.event(0, "client", k, json.dumps({"type": "response.create", "k": k}))
                w.event(1, "client", k, "not json")
        if big:
            w.event(0, "server", 61, json.dumps({"type": "x", "pad": "y" * big}))
        w.event(0, "server", 62, json.dumps({"type": "t", "text": "é ü 😀"}, ensure_ascii=False))
        w.close(0, 70, 1000, "", "client")
        w.close(1, 71, 4000, "bye", "server")
    return path


def naive(path: Path, conn: int) -> list[Any]:
    """What an episode holds, read the simple way."""
    out = []
    for text in path.read_text(encoding="utf-8").splitlines()[1:]:
        line = parse_line(text)
        if isinstance(line, Event | Frame | CloseLine) and line.conn == conn:
            out.append(line)
    return out


def flatten(items: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for item in items:
        if isinstance(item, ServerRun):
            out += [("server", json.loads(bytes(p))) for p in item.payloads]
        elif isinstance(item, ServerEventText):
            out.append(("server", item.event))
        elif isinstance(item, Event):
            out.append((item.dir, item.event))
        elif isinstance(item, Frame):
            out.append((item.dir, item.text or item.binary))
        else:
            out.append(("close", (item.code, item.reason, item.by)))
    return out


@pytest.mark.parametrize("block", [37, 1000, 1 << 20])
@pytest.mark.parametrize("lazy", [False, True])
def test_every_way_of_reading_an_episode_agrees_with_the_naive_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, lazy: bool) -> None:
    path = write_interleaved(tmp_path / "mixed.jsonl", big=3000)
    with path.open("rb+") as f:  # the last line without its newline
        f.seek(-1, 2)
        f.truncate()
    monkeypatch.setattr(reader_module, "_BLOCK", block)
    cassette = Cassette.load(path, lazy=lazy)
    for conn in (0, 1):
        want = flatten(naive(path, conn))
        assert flatten(cassette.iter_episode(conn)) == want
        assert flatten(cassette.iter_episode(conn, lazy_server=True)) == want
        runs = list(cassette.iter_episode(conn, runs=True))
        assert flatten(runs) == want
        if block > 100_000:  # smaller blocks hold one line at most: runs of one
            assert any(isinstance(r, ServerRun) and len(r) > 1 for r in runs)
    strict = Cassette.load(path)
    assert [vars(e) for e in cassette.episodes] == [vars(e) for e in strict.episodes]
    assert cassette.n_lines == strict.n_lines == len(path.read_bytes().splitlines())


def test_a_lazy_cassette_reads_only_as_far_as_it_is_asked(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    with CassetteWriter(path, dialect="ga") as w:
        for conn in range(40):
            w.connect(conn, query="model=gpt-realtime")
            for k in range(60):
                w.event(conn, "server", k, json.dumps({"type": "response.output_audio.delta",
                                                       "delta": "QUJD" * 1000}))
            w.close(conn, 100, 1000, "", "client")
    size = path.stat().st_size
    assert size > 8 << 20
    cassette = Cassette.load(path, lazy=True)
    first = cassette.find_episode(lambda ep: ep.conn == 0)
    assert first is not None and cassette.lazy
    assert cassette._index is not None and cassette._index.offset <= 2 << 20  # one block
    assert len(list(cassette.iter_episode(0, runs=True))) >= 1
    cassette.index_all(step=1 << 20)
    assert not cassette.lazy and len(cassette.episodes) == 40
    assert cassette.episodes[39].n_server == 60 and cassette.episodes[39].close is not None


@pytest.mark.parametrize(("bad", "message"), [
    ('{"kind":"event","conn":0,"dir":"server","t":5,"event":{"type":"x"', "not valid JSON"),
    ('{"kind":"event","conn":0,"dir":"server","t":1,"event":{"type":"x"}}',
     "time goes backwards in conn 0"),
    ('{"kind":"event","conn":7,"dir":"server","t":9,"event":{"type":"x"}}',
     "conn 7 has no connect line before it"),
    ('{"kind":"header","format":"rtkit-cassette","version":1,"created":"x","rtkit":"0"}',
     "a second header line"),
    ('{"kind":"event","conn":0,"dir":"server","t":9,"event":' + "[" * 3000 + "]" * 3000 + "}",
     "JSON nested too deeply"),
    ('{"kind":"frame","conn":0,"dir":"client","t":9,"text":' + "[" * 3000 + "]" * 3000 + "}",
     "JSON nested too deeply"),
])
@pytest.mark.parametrize("lazy", [False, True])
def test_bad_lines_name_file_and_line(tmp_path: Path, bad: str, message: str,
                                      lazy: bool) -> None:
    path = write_interleaved(tmp_path / "bad.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(20, bad)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    where = f"^{path}:21(:[0-9]+)?: {message}"  # a JSON error also gives the column
    with pytest.raises(CassetteError, match=where):
        cassette = Cassette.load(path, lazy=lazy)
        cassette.index_all()
    if "nested" in message:
        with pytest.raises(CassetteError, match=where):
            list(read_lines(path))


def test_a_line_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = write_interleaved(tmp_path / "latin.jsonl")
    data = path.read_bytes().split(b"\n")
    data[30] = data[30].replace(b"QUJD", b"QU\xe9D", 1)
    path.write_bytes(b"\n".join(data))
    for lazy in (False, True):
        with pytest.raises(CassetteError, match=f"^{path}:31:[0-9]+: not UTF-8 text"):
            Cassette.load(path, lazy=lazy).index_all()


def test_a_recorded_server_event_that_is_not_json_is_a_cassette_error() -> None:
    with pytest.raises(CassetteError, match="a recorded server event of conn 3"):
        _ = ServerEventText(3, 5.0, b'{"type":"x",').event
    with pytest.raises(CassetteError, match="a recorded server event of conn 3"):
        _ = ServerEventText(3, 5.0, b"[" * 10_000 + b"]" * 10_000).event


def deep_cassette(path: Path) -> Path:
    write_interleaved(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(5, '{"kind":"event","conn":0,"dir":"client","t":0,"event":{"a":'
                 + "[" * 50_000 + "]" * 50_000 + "}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["inspect", "validate"])
def test_the_tools_report_a_deeply_nested_line_without_a_traceback(
        tmp_path: Path, command: str) -> None:
    path = deep_cassette(tmp_path / "deep.jsonl")
    done = subprocess.run([*RTKIT, command, str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode in (1, 2), done.stderr
    assert f"{path}:6: JSON nested too deeply" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


async def test_rtkit_serve_reports_a_deeply_nested_line_when_it_reaches_it(
        tmp_path: Path) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from rtkit.transport.websocket import loopback_kwargs
    from tests.serve_helpers import Serve

    path = deep_cassette(tmp_path / "deep.jsonl")
    server = Serve(path, "--timeout", "5")  # lazy: only the lines' framing is checked up front
    try:
        url = server.url + "?model=gpt-realtime"
        async with connect(url, **loopback_kwargs(url)) as ws:
            events = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    events.append(json.loads(await ws.recv()))
        assert events[-1]["error"]["code"] == "replay_cassette_error"
        assert f"{path}:6: JSON nested too deeply" in events[-1]["error"]["message"]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    finally:
        code, err = server.stop()
    assert code == 1 and f"{path}:6: JSON nested too deeply" in err and "Traceback" not in err


def test_finding_episodes_while_another_thread_indexes(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    path = tmp_path / "many.jsonl"
    with CassetteWriter(path, dialect="ga") as w:
        for conn in range(200):
            w.connect(conn, query=f"n={conn}")
            w.event(conn, "server", 1, '{"type":"session.created"}')
            w.close(conn, 2, 1000, "", "client")
    monkeypatch.setattr(reader_module, "_BLOCK", 4096)
    # what another thread may do between a caller's look at the list and its scan: the
    # episode it wants gets indexed; it must still be found
    cassette = Cassette.load(path, lazy=True)
    seen = len(cassette._episodes)
    cassette.index_all(step=20_000)
    assert cassette._index is not None
    assert cassette._index.scan(until=lambda ep: ep.conn == 50, seen=seen) is not None
    # and for real, with a thread indexing in small steps
    cassette = Cassette.load(path, lazy=True)
    indexer = threading.Thread(target=cassette.index_all, kwargs={"step": 3000})
    indexer.start()
    found = [cassette.find_episode(lambda ep, k=k: ep.query == f"n={k}") for k in range(200)]
    indexer.join()
    assert [ep.conn if ep else None for ep in found] == list(range(200))
