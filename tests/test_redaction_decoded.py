"""Secrets written with JSON escapes, or right after one or after `_`, are found and removed:
by the Redactor, by `rtkit scrub` / `--check`, by the writer's final leak scan, and in all three
recorders (RecordingTransport, RecordingProxy, script mode)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect

from rtkit.cassette import Cassette, CassetteWriter, Redactor
from rtkit.cassette.redact import unescape
from rtkit.cli import main as cli
from rtkit.errors import SecretLeakError
from rtkit.script_runner import record_script
from rtkit.server.proxy import RecordingProxy
from rtkit.transport.base import ConnectRequest
from rtkit.transport.recording import RecordingTransport
from rtkit.transport.websocket import WebSocketTransport
from tests.scripted_server import ScriptConn, ScriptedServer, session_created

PROJ = "sk-proj-" + "ABCDEFGHIJKLMNOPQRSTUV"  # built at runtime: no key-shaped literal
EPH = "ek_" + "abcdefghijklmnopqrst"
LIVE = "azure-" + "z" * 30  # the key the recorder holds (no built-in shape)


def _u(text: str) -> str:
    """`text` with every character written as a JSON \\u escape."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


def test_the_redactor_reads_json_decoded() -> None:
    red = Redactor()
    assert PROJ not in red.text(json.dumps({"i": "k:\n" + PROJ}))  # the example
    assert PROJ not in red.text("x_" + PROJ)
    assert EPH not in red.text(json.dumps({"a": "\t" + EPH}))
    escaped = '{"i": "' + _u(PROJ) + '"}'
    assert PROJ not in unescape(red.text(escaped))
    assert json.loads(red.text(escaped)) == {"i": "sk-REDACTED"}
    word = "task-" + "management-feature-flags"  # 'sk-' inside a word (no key-shaped literal)
    assert red.text(word) == word
    assert red.filters_matching(escaped) == ["sk-keys"]
    live = Redactor(secrets=[LIVE])
    assert live.find_secret('{"a":"' + _u(LIVE) + '"}') == LIVE
    assert live.text('{"a": "x ' + _u(LIVE) + '"}') == '{"a":"x REDACTED"}'
    raw = json.dumps({"type": "response.output_text.delta", "delta": "k:\n" + PROJ})
    new_raw, event = live.event(raw, json.loads(raw), "server")  # type: ignore[misc]
    assert event["delta"] == "k:\nsk-REDACTED" and PROJ not in new_raw


def test_audio_events_with_an_escape_take_the_decoded_path() -> None:
    audio = "A" * 400
    raw = '{"type":"response.output_audio.delta","note":"' + _u(LIVE) + '","delta":"' + audio + '"}'
    new_raw, event = Redactor(patterns=["A{3}"], secrets=[LIVE]).event(  # type: ignore[misc]
        raw, json.loads(raw), "server")
    assert event == {"type": "response.output_audio.delta", "note": "REDACTED", "delta": audio}
    assert LIVE not in unescape(new_raw)


def _leaky_lines(tmp_path: Path) -> Path:
    path = tmp_path / "leaky.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0)
        w.event(0, "server", 1, '{"type":"x","text":"' + _u(PROJ) + '"}')
    text = path.read_text()
    assert PROJ not in unescape(text)  # the writer already redacted it: plant it back
    lines = text.splitlines()
    lines[2] = lines[2].replace("sk-REDACTED", _u(PROJ))
    lines.insert(3, lines[2].replace('"t":1.0', '"t":1.5').replace(
        _u(PROJ), "k:\\n" + PROJ))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_scrub_check_and_scrub_find_decoded_secrets(tmp_path: Path) -> None:
    path = _leaky_lines(tmp_path)
    result = CliRunner().invoke(cli, ["scrub", "--check", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:3: sk-keys" in result.output and f"{path}:4: sk-keys" in result.output
    assert PROJ not in result.output
    result = CliRunner().invoke(cli, ["scrub", str(path)])
    assert result.exit_code == 0, result.output
    assert PROJ not in unescape(path.read_text())
    Cassette.load(path)
    assert CliRunner().invoke(cli, ["scrub", "--check", str(path)]).exit_code == 0


def test_the_final_leak_scan_reads_escapes(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    w = CassetteWriter(path, redactor=Redactor(secrets=[LIVE]))
    w.connect(0)
    w.event(0, "server", 1, 'not JSON: "' + _u(LIVE) + '"')  # a text frame: not decoded
    with pytest.raises(SecretLeakError, match="line 3"):
        w.commit()
    assert not path.exists()


async def _leaky_upstream(conn: ScriptConn) -> None:
    event = session_created()
    event["session"]["instructions"] = "k:\n" + PROJ
    text = json.dumps(event)[:-1] + ', "echo": "' + _u(LIVE) + '", "eph": "x_' + EPH + '"}'
    await conn.send(text)
    await conn.drain()


def _assert_clean(path: Path) -> None:
    data = path.read_text()
    for secret in (PROJ, LIVE, EPH):
        assert secret not in unescape(data), secret
    event = next(Cassette.load(path).iter_events(0, "server")).event
    assert event["session"]["instructions"] == "k:\nsk-REDACTED"
    assert event["echo"] == "REDACTED" and event["eph"] == "x_ek_REDACTED"


async def test_recording_transport(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    async with ScriptedServer(_leaky_upstream) as up:
        transport = RecordingTransport(WebSocketTransport(), path)
        await transport.connect(ConnectRequest(up.url, {"Authorization": f"Bearer {LIVE}"}))
        await transport.recv()
        await transport.aclose()
    _assert_clean(path)


async def test_recording_proxy(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    async with (
        ScriptedServer(_leaky_upstream) as up,
        RecordingProxy(path, upstream_url=up.url, api_key=LIVE) as proxy,
        connect(proxy.url) as ws,
    ):
        await ws.recv()
    _assert_clean(path)


async def test_script_mode(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - wait: 0.05\n")
    path = tmp_path / "s.jsonl"
    async with ScriptedServer(_leaky_upstream) as up:
        await record_script(script, path, up.url, LIVE)
    _assert_clean(path)
