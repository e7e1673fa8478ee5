"""`rtkit fake` as a user runs it (real subprocesses, signals, loopback sockets), and the first
hour without a key: record from it through `rtkit record` with no OPENAI_API_KEY, then replay
with `rtkit serve` while it is stopped. (The README's own first-cassette steps run as written
in tests/test_docs.py.)"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from rtkit.cassette import Cassette
from rtkit.cli import main
from rtkit.fake import FakeRealtimeAPI, tone
from tests.rtkit_process import finish, start

ROOT = Path(__file__).resolve().parent.parent
REPLIES = ROOT / "docs" / "examples" / "replies.yaml"


# -- rtkit fake --------------------------------------------------------------------------------


async def test_rtkit_fake_serves_logs_each_connection_and_stops_on_sigterm() -> None:
    from websockets.asyncio.client import connect

    proc, url = await start("fake", "--script", str(REPLIES), "--listen", "127.0.0.1:0",
                            "--api-key", "k-123")
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/v1/realtime", url)
    async with connect(url + "?model=gpt-realtime",
                       additional_headers={"Authorization": "Bearer k-123"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
    async with connect(url, subprotocols=["realtime"]) as ws:  # type: ignore[list-item]
        assert json.loads(await ws.recv())["error"]["code"] == "invalid_api_key"
        await ws.wait_closed()
        assert ws.protocol.close_code == 3000
    # a TLS client (the JS SDK forces wss://) sends a ClientHello, not an HTTP request
    reader, writer = await asyncio.open_connection("127.0.0.1", int(url.split(":")[2][:-12]))
    writer.write(b"\x16\x03\x01\x00\x05hello")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    code, err = await finish(proc)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == ("rtkit fake: #1 GA /v1/realtime?model=gpt-realtime: 0 client / 1 server "
                        "events, 0 error event(s), closed 1000")
    assert lines[1] == ("rtkit fake: #2 GA /v1/realtime (no key): refused (invalid_api_key), "
                        "closed 3000 invalid_request_error.invalid_api_key")
    assert re.match(r"rtkit fake: 127\.0\.0\.1:\d+: the opening handshake failed: ", lines[2])
    assert "a TLS (wss://) client on the fake's plain ws:// port?" in lines[2]
    assert len(lines) == 3 and "Traceback" not in err


@pytest.mark.parametrize(("text", "expected"), [
    ("rules:\n  - when: {text: hi}\n    reply: {text: a, function_call: {name: f}}\n",
     "{path}:3: rules.0.reply: a reply is exactly one of text (with audio_ms or audio_wav), "
     "function_call, function_calls, error or events (got text, function_call)"),
    ("rules:\n  - when: {}\n    reply: {text: a}\n",
     "{path}:2: rules.0.when: give at least one of text, regex, tool_output, response"),
    ("default: {text: a}\nrulez: []\n",
     "{path}:2: rulez: unknown key (expected one of model, dialect, seed, delta_ms, "
     "transcripts, rules, default)"),
    ("rules:\n  - when: {text: x, colour: red}\n    reply: {text: a}\n",
     "{path}:2: rules.0.when.colour: unknown key (expected one of text, regex, tool_output, "
     "response)"),
    ("rules:\n  - when: {regex: '(unclosed'}\n    reply: {text: a}\n",
     "{path}:2: rules.0.when: regex: not a valid regular expression"),
    ("default: {text: a, audio_wav: nope.wav}\n",
     "{path}: default.audio_wav: no such file {dir}/nope.wav"),
    ("rules: [\n", "{path}:2: not valid YAML"),
    ("- just a list\n", "{path}: a script is a mapping (rules:, default:, ...), not a list"),
    ("delta_ms: -1\n", "{path}:1: delta_ms: Input should be greater than or equal to 0"),
])
def test_a_bad_script_exits_2_naming_file_line_and_field(
        tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "replies.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["fake", "--script", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.startswith(
        "rtkit: error: " + expected.format(path=path, dir=tmp_path)), result.output


def test_a_missing_script_or_a_wav_at_the_wrong_rate(tmp_path: Path) -> None:
    from rtkit.audio import write_wav

    result = CliRunner().invoke(main, ["fake", "--script", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert f"rtkit: error: {tmp_path / 'none.yaml'}: cannot read the script: No such file" in \
        result.output
    write_wav(tmp_path / "slow.wav", np.zeros(1600, dtype=np.int16), rate=16_000)
    (tmp_path / "s.yaml").write_text("rules:\n  - when: {text: x}\n"
                                     "    reply: {audio_wav: slow.wav}\n")
    result = CliRunner().invoke(main, ["fake", "--script", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2
    assert f"{tmp_path / 's.yaml'}: rules.0.reply.audio_wav: {tmp_path / 'slow.wav'} is " \
        "16000 Hz" in result.output


# -- the first hour, without a key ------------------------------------------------------------


async def sdk_session(base_url: str) -> list[dict[str, Any]]:
    """An app on the official SDK: a text turn, a tool round trip, an audio turn. Returns every
    server event it saw, as the SDK parsed it."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="placeholder", websocket_base_url=base_url)
    seen: list[dict[str, Any]] = []

    async def turn(conn: Any) -> Any:
        async for event in conn:
            seen.append(event.model_dump(mode="json"))
            if event.type == "response.done":
                return event.response

    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={
            "type": "realtime", "output_modalities": ["text"],
            "audio": {"input": {"turn_detection": None}},
            "tools": [{"type": "function", "name": "get_weather",
                       "parameters": {"type": "object"}}]})
        for text in ("Thanks for the help", "What's the weather in Paris?"):
            await conn.conversation.item.create(item={
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}]})
            await conn.response.create()
            response = await turn(conn)
        call = response.output[0]
        assert call.type == "function_call"
        await conn.conversation.item.create(item={
            "type": "function_call_output", "call_id": call.call_id,
            "output": json.dumps({"sky": "sunny"})})
        await conn.response.create()
        await turn(conn)
        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
        await conn.input_audio_buffer.append(
            audio=base64.b64encode(tone(500, freq=440.0).tobytes()).decode())
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        await turn(conn)
    return seen


def _said(seen: list[dict[str, Any]]) -> list[str]:
    """What the assistant said, answer by answer."""
    answers, current = [], ""
    for event in seen:
        if event["type"] in ("response.output_text.delta",
                             "response.output_audio_transcript.delta"):
            current += event["delta"]
        elif event["type"] == "response.done":
            answers.append(current)
            current = ""
    return answers


async def test_the_sdk_records_without_a_key_and_replays_with_the_fake_stopped(
        tmp_path: Path) -> None:
    script = tmp_path / "replies.yaml"
    script.write_text(REPLIES.read_text() + "transcripts: [hello there]\n")
    cassette = tmp_path / "sdk.jsonl"
    fake, fake_url = await start("fake", "--script", str(script))
    recorder, url = await start("record", "--listen", "127.0.0.1:0", "--upstream", fake_url,
                                "-o", str(cassette))
    recorded = await sdk_session(url.removesuffix("/realtime"))
    assert (await finish(recorder))[0] == 0
    code, fake_log = await finish(fake)
    assert code == 0 and "(no key)" in fake_log  # the recorder had no key: it sent none
    assert _said(recorded) == ["You're welcome!", "", "It is sunny in Paris, 21 degrees.",
                               "Hi! How can I help?"]
    audio = b"".join(base64.b64decode(e["delta"]) for e in recorded
                     if e["type"] == "response.output_audio.delta")
    assert len(audio) == 2 * 24000 * 1200 // 1000

    server, url = await start("serve", str(cassette), "--unplayed", "fail")
    replayed = await sdk_session(url.removesuffix("/realtime"))
    code, err = await finish(server)
    assert code == 0, err  # stderr is serve's console log: the connection and its end only
    assert [line.split(": ", 1)[1].split(" ", 1)[0] for line in err.splitlines()] == [
        "#1", "#1"] and "closed by the client (1000)" in err, err
    assert replayed == recorded  # the same events, field for field


def test_record_script_needs_no_key_for_a_loopback_upstream(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "weather.jsonl"
    with FakeRealtimeAPI(REPLIES) as fake:
        result = CliRunner().invoke(main, [
            "record", "--script", str(ROOT / "docs/examples/weather.yaml"), "-o", str(out),
            "--upstream", fake.url])
    assert result.exit_code == 0, result.output
    assert re.search(r"rtkit: recorded 7 client and \d+ server events", result.output)
    assert [r.key_presented for r in fake.records] == [False]  # no bogus Authorization
    items = [e.event["item"] for e in Cassette.load(out).iter_events(0, "server")
             if e.type == "conversation.item.done" and e.event["item"]["type"] == "message"]
    assert items[-1]["content"][0]["text"] == "You're welcome!"


async def test_a_keyless_recorder_forwards_no_client_key_at_all(tmp_path: Path) -> None:
    from websockets.asyncio.client import connect

    from rtkit.server.proxy import RecordingProxy

    protocols = ["realtime", "openai-insecure-api-key.placeholder"]
    async with (
        FakeRealtimeAPI() as fake,
        RecordingProxy(tmp_path / "x.jsonl", upstream_url=fake.url, api_key="") as proxy,
        connect(proxy.url, subprotocols=protocols,  # type: ignore[arg-type]
                additional_headers={"Authorization": "Bearer placeholder"}) as ws,
    ):
        assert ws.subprotocol == "realtime"
        assert json.loads(await ws.recv())["type"] == "session.created"
    assert [r.key_presented for r in fake.records] == [False]


def test_a_busy_port_exits_2_with_a_clear_message() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["fake", "--listen", f"127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert f"rtkit: error: cannot listen on 127.0.0.1:{port}: " in result.output
    assert "Traceback" not in result.output
