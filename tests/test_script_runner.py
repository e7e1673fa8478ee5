"""`rtkit record --script`: a YAML script drives rtkit's client against a scripted upstream on
127.0.0.1 and the session is recorded; bad scripts are refused before connecting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from rtkit.audio import write_wav
from rtkit.cassette import Cassette
from rtkit.cli import main
from rtkit.fake import FakeRealtimeAPI, tone
from rtkit.script_runner import ScriptError, load_script, record_script

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-test-" + "script-runner-key-000"  # built at runtime: no key-shaped literal

SCRIPT = """
model: gpt-realtime
dialect: {dialect}
session:
  modalities: [text, audio]
  turn_detection: null
tools:
  - name: get_weather
    description: Current weather for a city.
    parameters: {{type: object, properties: {{location: {{type: string}}}}}}
    output: {{temp_c: 21, sky: sunny}}
steps:
  - say: What's the weather in Paris?
  - audio: hello.wav
  - wait: 0.05
  - send: {{type: response.create}}
  - wait: response
"""


def replies(default: dict[str, Any]) -> dict[str, Any]:
    """The fake API's script: the weather tool, its answer, then `default`."""
    return {"rules": [
        {"when": {"text": "weather"},
         "reply": {"function_call": {"name": "get_weather", "arguments": {"location": "Paris"}}}},
        {"when": {"tool_output": "sunny"}, "reply": {"text": "Sunny, 21 degrees."}},
    ], "default": default}


def _types(path: Path, direction: str) -> list[str]:
    cassette = Cassette.load(path)
    return [e.type for e in cassette.iter_events(0, direction)]


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_a_script_is_played_and_recorded(tmp_path: Path, dialect: str) -> None:
    write_wav(tmp_path / "hello.wav", tone(500, freq=440.0))
    script = tmp_path / "turn.yaml"
    script.write_text(SCRIPT.format(dialect=dialect))
    out = tmp_path / "turn.jsonl"
    lines: list[str] = []
    async with FakeRealtimeAPI(replies({"text": "Hello there.", "audio_ms": 400})) as up:
        result = await record_script(script, out, up.url, KEY, lines.append)
    client = _types(out, "client")
    assert client[:3] == ["session.update", "conversation.item.create", "response.create"]
    assert client.count("input_audio_buffer.append") == 5  # 500 ms in 100 ms chunks
    assert "input_audio_buffer.commit" in client
    assert client.count("response.create") == 4  # say, tool answer, audio, send
    events = list(Cassette.load(out).iter_events(0, "client"))
    outputs = [e.event["item"] for e in events if e.type == "conversation.item.create"
               and e.event["item"]["type"] == "function_call_output"]
    assert [o["output"] for o in outputs] == ['{"temp_c":21,"sky":"sunny"}']  # JSON.stringify's
    tools = events[0].event["session"]["tools"]
    assert [t["name"] for t in tools] == ["get_weather"]
    server = _types(out, "server")
    assert server.count("response.done") == 4
    assert KEY.encode() not in out.read_bytes()
    assert Cassette.load(out).header.dialect == dialect
    assert result.client_events == len(client) and result.server_events == len(server)
    # the tool answer (3 words: 900 ms, the fake's 300 ms a word), then two 400 ms answers
    assert result.audio_seconds == pytest.approx(1.7, abs=0.01)
    assert any(line.startswith("step 2/5 audio hello.wav") for line in lines)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_output_audio_is_counted_at_the_sessions_rate(tmp_path: Path, dialect: str) -> None:
    """A phone session's answer (G.711, 8 kHz, one byte a sample) counts its real seconds,
    not a sixth of them as PCM16 24 kHz would."""
    write_wav(tmp_path / "hello.wav", tone(500, freq=440.0))
    script = tmp_path / "phone.yaml"
    script.write_text(SCRIPT.format(dialect=dialect).replace(
        "  turn_detection: null\n", "  turn_detection: null\n  output_audio_format: g711_ulaw\n"))
    async with FakeRealtimeAPI(replies({"text": "Hello there.", "audio_ms": 400})) as up:
        result = await record_script(script, tmp_path / "phone.jsonl", up.url, KEY,
                                     lambda line: None)
    assert result.audio_seconds == pytest.approx(1.7, abs=0.01)


@pytest.fixture
def upstream_url() -> Iterator[str]:
    """The fake API on its own thread, for the CLI (which runs its own loop)."""
    with FakeRealtimeAPI(replies({"text": "Hello there."})) as fake:
        yield fake.url


def test_cli_records_the_example_script(tmp_path: Path, upstream_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "weather.jsonl"
    example = str(ROOT / "docs/examples/weather.yaml")
    result = CliRunner().invoke(main, ["record", "--script", example, "-o", str(out),
                                       "--upstream", upstream_url])
    assert result.exit_code == 0, result.output
    assert re.search(r"rtkit: recorded 7 client and \d+ server events, 0.0 s of output audio, "
                     rf"0 error event\(s\) to {re.escape(str(out))}", result.output)
    client = _types(out, "client")
    assert client.count("conversation.item.create") == 3  # two questions, one tool output


def _refused(tmp_path: Path, text: str) -> str:
    script = tmp_path / "bad.yaml"
    script.write_text(text)
    result = CliRunner().invoke(main, ["record", "--script", str(script), "-o",
                                       str(tmp_path / "out.jsonl"), "--upstream", "ws://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.jsonl").exists()
    return result.output


def test_bad_scripts_are_refused_naming_file_and_step(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    out = _refused(tmp_path, "steps:\n  - say: hi\n  - shout: hi\n")
    assert f"{bad}: step 2 (shout): unknown key (expected one of say, audio" in out
    out = _refused(tmp_path, "steps:\n  - say: hi\n    audio: x.wav\n")
    assert f"{bad}: step 1" in out and "exactly one of say, audio, wait, send" in out
    out = _refused(tmp_path, "steps:\n  - audio: missing.wav\n")
    assert f"{bad}: step 1 (audio): no such file {tmp_path / 'missing.wav'}" in out
    write_wav(tmp_path / "slow.wav", np.zeros(1600, dtype=np.int16), rate=16_000)
    out = _refused(tmp_path, "steps:\n  - audio: slow.wav\n")
    assert f"{bad}: step 1 (audio):" in out and "16000 Hz" in out
    out = _refused(tmp_path, "steps:\n  - say: [unclosed\n")
    assert re.search(rf"{re.escape(str(bad))}:\d+: not valid YAML", out)
    out = _refused(tmp_path, "model: gpt-realtime\n")
    assert f"{bad}: steps: Field required" in out
    with pytest.raises(ScriptError, match="step 1 \\(wait\\)"):
        load_script(_write(tmp_path, "steps:\n  - wait: soon\n"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


async def test_a_step_that_times_out_keeps_what_was_recorded(tmp_path: Path) -> None:
    script = _write(tmp_path, "timeout: 0.3\nsteps:\n  - say: hi\n"
                              "  - wait: {event: conversation.item.deleted}\n")
    out = tmp_path / "out.jsonl"
    async with FakeRealtimeAPI({"default": {"text": "Hi."}}) as up:
        with pytest.raises(TimeoutError, match=r"step 2 \(.*\): no conversation.item.deleted "
                                               r"within 0.3 s"):
            await record_script(script, out, up.url, KEY)
    assert "response.done" in _types(out, "server")  # the first step's turn was kept
