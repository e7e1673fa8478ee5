"""Phone (G.711) cassettes in the cassette tools: `rtkit inspect`, `rtkit audio`, `rtkit view`
and the conversation assertions read each direction's audio in the session's format (μ-law /
A-law at 8 kHz, one byte a sample) and give its real durations and samples, not the bytes
taken as PCM16 at 24 kHz (1 s of μ-law in used to show as 0.17 s).

The cassettes are recorded here as users record them: rtkit's client through the recording
proxy to the fake Realtime API, in a phone session of each dialect."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from rtkit.assertions import rt_conversation
from rtkit.audio import G711_ALAW, G711_ULAW, PCM16, AudioFormat
from rtkit.cli import main
from rtkit.fake import FakeRealtimeAPI, tone
from tests.test_cli_view import parse, wav_of

ANSWER = "Hi! How can I help you today?"
SCRIPT = {"default": {"text": ANSWER, "audio_ms": 1200}}
TIMEOUT = 10.0

# name: (dialect, session fields, input format, output format, truncation ms)
SESSIONS: dict[str, tuple[str, dict[str, Any], AudioFormat, AudioFormat, int | None]] = {
    "ga_pcmu": ("ga", {"audio": {"input": {"format": {"type": "audio/pcmu"}},
                                 "output": {"format": {"type": "audio/pcmu"}}}},
                G711_ULAW, G711_ULAW, None),
    "beta_alaw_cut": ("beta", {"input_audio_format": "g711_alaw",
                               "output_audio_format": "g711_alaw"}, G711_ALAW, G711_ALAW, 700),
    "beta_ulaw_in_pcm_out": ("beta", {"input_audio_format": "g711_ulaw",
                                      "output_audio_format": "pcm16"}, G711_ULAW, PCM16, None),
}


async def _record(path: Path, dialect: str, fields: dict[str, Any], cut: int | None
                  ) -> dict[str, float]:
    """One spoken turn: 1.0 s of audio in, a 1.2 s answer (cut at `cut` ms when given);
    returns the durations `rt_conversation(client)` gives, by role."""
    from rtkit import RealtimeClient
    from rtkit.server.proxy import RecordingProxy

    async with (FakeRealtimeAPI(SCRIPT, seed=path.stem) as upstream,
                RecordingProxy(str(path), upstream_url=upstream.url, api_key="") as proxy):
        client = RealtimeClient(url=proxy.url, model="gpt-realtime", dialect=dialect)
        await client.connect()
        try:
            client.update_session(modalities=["text", "audio"], turn_detection=None, **fields)
            client.append_input_audio(tone(1000, freq=440.0, rate=client.input_format.rate))
            client.create_response()
            while True:
                payload = await client.wait_for_next_completed_item(timeout=TIMEOUT)
                item = payload["item"]
                if item.get("role") == "assistant":
                    break
            if cut is not None:
                truncated = asyncio.ensure_future(client.realtime.wait_for_next(
                    "server.conversation.item.truncated", timeout=TIMEOUT))
                client.truncate_item(item["id"], cut)
                await truncated
            conv = rt_conversation(client)
            return {str(i["role"]): conv.audio_ms(i) for i in conv.items}
        finally:
            await client.disconnect()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    out = tmp_path_factory.mktemp("g711")
    return {name: (out / f"{name}.jsonl",
                   asyncio.run(_record(out / f"{name}.jsonl", dialect, fields, cut)))
            for name, (dialect, fields, _, _, cut) in SESSIONS.items()}


Recorded = dict[str, tuple[Path, dict[str, float]]]  # name: (cassette, durations live)


def _wire(path: Path) -> tuple[str, str]:
    """The base64 input audio the client appended and the output deltas, as recorded."""
    appended, deltas = [], []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        event = obj.get("event") or {}
        if event.get("type") == "input_audio_buffer.append":
            appended.append(event["audio"])
        elif event.get("type") in ("response.output_audio.delta", "response.audio.delta"):
            deltas.append(event["delta"])
    return "".join(base64.b64encode(base64.b64decode(a)).decode() for a in appended), \
        base64.b64encode(b"".join(base64.b64decode(d) for d in deltas)).decode()


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _expected(path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The input and output samples a person should hear (output cut where truncated)."""
    _, _, fin, fout, cut = SESSIONS[name]
    sent, received = _wire(path)
    samples_in, samples_out = fin.decode_base64(sent), fout.decode_base64(received)
    if cut is not None:
        samples_out = samples_out[: fout.ms_to_samples(cut)]
    return samples_in, samples_out


def _out_ms(name: str) -> float:
    cut = SESSIONS[name][4]
    return 1200.0 if cut is None else float(cut)


@pytest.mark.parametrize("name", list(SESSIONS))
def test_the_recording_is_what_the_session_says(recorded: Recorded, name: str) -> None:
    _, _, fin, fout, _ = SESSIONS[name]
    samples_in, samples_out = _expected(recorded[name][0], name)
    assert len(samples_in) == fin.rate  # 1.0 s: 8,000 bytes of G.711
    assert len(samples_out) == fout.ms_to_samples(_out_ms(name))


@pytest.mark.parametrize("name", list(SESSIONS))
def test_inspect_gives_the_real_durations(recorded: Recorded, name: str) -> None:
    path = recorded[name][0]
    out = _cli("inspect", str(path))
    assert "input audio 1.00 s" in out
    assert re.search(r"user\s+\[audio 1\.00 s\]", out), out
    said = "" if SESSIONS[name][4] else f' "{ANSWER}"'  # a cut answer loses its transcript
    assert f"assistant  [audio {_out_ms(name) / 1000:.2f} s]{said}\n" in out, out
    assert f"audio: 1.00 s in, {_out_ms(name) / 1000:.2f} s out" in out
    episode = json.loads(_cli("inspect", "--json", str(path)))["episodes"][0]
    assert episode["input_audio_ms"] == 1000.0
    assert episode["output_audio_ms"] == _out_ms(name)
    assert [(i["role"], i["audio_ms"]) for i in episode["items"]] == [
        ("user", 1000.0), ("assistant", _out_ms(name))]


@pytest.mark.parametrize("name", list(SESSIONS))
def test_audio_writes_wavs_at_the_formats_rate_with_the_decoded_samples(
        recorded: Recorded, name: str, tmp_path: Path) -> None:
    _, _, fin, fout, _ = SESSIONS[name]
    path = recorded[name][0]
    out = _cli("audio", str(path), "-o", str(tmp_path))
    assert re.search(r"-input\.wav  1\.00 s  user", out), out
    assert f"-output.wav  {_out_ms(name) / 1000:.2f} s  assistant" in out, out
    expected = dict(zip(("input", "output"), _expected(path, name), strict=True))
    rates = {"input": fin.rate, "output": fout.rate}
    files = sorted(tmp_path.glob("*.wav"))
    assert [f.stem.rsplit("-", 1)[1] for f in files] == ["input", "output"]
    for wav_path in files:
        side = wav_path.stem.rsplit("-", 1)[1]
        with wave.open(str(wav_path), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rates[side], 1, 2)
            assert w.getnframes() == len(expected[side])
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        assert np.array_equal(samples, expected[side]), side


@pytest.mark.parametrize("name", list(SESSIONS))
def test_view_shows_the_real_durations_and_plays_the_decoded_audio(
        recorded: Recorded, name: str, tmp_path: Path) -> None:
    path = recorded[name][0]
    page = tmp_path / "page.html"
    _cli("view", str(path), "-o", str(page))
    html = page.read_text(encoding="utf-8")
    played = "" if SESSIONS[name][4] is None else f" ({_out_ms(name) / 1000:.2f} s played)"
    assert f"input audio 1.00 s · output audio 1.20 s{played} · 1 response(s)" in html
    assert "input audio 1.00 s (1 events: input_audio_buffer.append)" in html
    assert "base64 characters: 1.00 s of audio" in html  # the append's preview
    shown = {str(a["data-item"]): (float(str(a["data-ms"])), wav_of(str(a["src"])))
             for a in parse(page).audio}
    assert shown["<input audio stream>"][0] == 1000.0
    _cli("audio", str(path), "-o", str(tmp_path / "wav"))
    for wav in (tmp_path / "wav").glob("*.wav"):
        item = wav.name.split("-")[2]
        ms = 1000.0 if wav.stem.endswith("input") else _out_ms(name)
        assert shown[item] == (ms, wav.read_bytes()), item
    assert len(shown) == 3


@pytest.mark.parametrize("name", list(SESSIONS))
def test_conversation_assertions_count_audio_at_the_formats_rate(
        recorded: Recorded, name: str) -> None:
    path, live = recorded[name]
    assert live == {"user": 1000.0, "assistant": _out_ms(name)}  # a RealtimeClient's items
    conv = rt_conversation(path)  # rebuilt from the cassette's events
    conv.expect.audio_duration(_out_ms(name), tolerance_ms=0.5)
    assistant = next(i for i in conv.items if i["role"] == "assistant")
    assert conv.audio_ms(assistant) == _out_ms(name)


def test_session_formats_follow_the_client_until_the_server_has_answered() -> None:
    from rtkit.audio import SessionFormats

    formats = SessionFormats()
    pcmu = {"audio": {"input": {"format": {"type": "audio/pcmu"}},
                      "output": {"format": {"type": "audio/pcmu"}}}}
    pcm = {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                     "output": {"format": {"type": "audio/pcm", "rate": 24000}}}}
    assert not formats.server_event({"type": "session.created", "session": pcm})
    assert formats.client_event({"type": "session.update", "event_id": "a", "session": pcm}) \
        is False
    assert formats.client_event({"type": "session.update", "event_id": "b", "session": pcmu})
    assert (formats.input, formats.output) == (G711_ULAW, G711_ULAW)
    # the answer to the first update does not undo the second one, the second answer counts
    assert not formats.server_event({"type": "session.updated", "session": pcm})
    assert formats.input is G711_ULAW
    assert not formats.server_event({"type": "session.updated", "session": pcmu})
    # a refused update is answered by its error; a session naming no format keeps it; one
    # rtkit does not know is PCM16; the beta names, each direction apart
    formats.client_event({"type": "session.update", "event_id": "c",
                          "session": {"input_audio_format": "g711_alaw"}})
    assert (formats.input, formats.output) == (G711_ALAW, G711_ULAW)
    formats.server_event({"type": "error", "error": {"event_id": "c", "code": "x"}})
    assert formats.server_event({"type": "session.updated", "session": pcm})
    assert not formats.server_event({"type": "session.updated", "session": {"voice": "x"}})
    assert formats.server_event({"type": "session.updated", "session": {
        "input_audio_format": "g711_ulaw", "output_audio_format": "opus"}})
    assert (formats.input, formats.output) == (G711_ULAW, PCM16)
    for odd in ("x", {"audio": "x"}, {"audio": {"input": "x"}}, {"input_audio_format": []},
                {"audio": {"input": {"format": {"type": ["audio/pcmu"]}}}}):
        formats.server_event({"type": "session.updated", "session": odd})  # never raises


def test_base64_sample_count_of_each_format() -> None:
    for fmt in (PCM16, G711_ULAW, G711_ALAW):
        for n in (0, 1, 2, 3, 160, 801):
            wire = fmt.encode_base64(np.zeros(n, dtype=np.int16))
            assert fmt.base64_sample_count(wire) == n
            assert fmt.base64_sample_count(wire.rstrip("=")) == n
