"""The cassette package with plain files: writer, reader, redaction (no sockets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rtkit.audio import int16_to_base64
from rtkit.cassette import Cassette, CassetteWriter, Event, Frame, Redactor
from rtkit.errors import CassetteError, SecretLeakError

KEY = "sk-test-" + "cassette-unit-key-0000"  # built at runtime: no key-shaped literal


def write(path: Path, redactor: Redactor | None = None) -> None:
    with CassetteWriter(path, redactor=redactor) as w:
        w.connect(0, query="model=gpt-realtime", headers={"Authorization": f"Bearer {KEY}"},
                  subprotocols=["realtime", f"openai-insecure-api-key.{KEY}"])
        w.event(0, "server", 1.0, '{"type":"session.created","event_id":"e1","session":{}}')
        w.event(0, "client", 2.0004, '{"type": "response.create"}')
        w.event(0, "client", 1.9, "not json")  # time never goes backwards
        w.event(0, "server", 3.0, b"\x00\x01binary")
        w.close(0, 4.0, 1000, "", "client")


def test_round_trip_keeps_raw_text_binary_and_order(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path)
    cassette = Cassette.load(path)
    [ep] = cassette.episodes
    assert (ep.conn, ep.n_client, ep.n_server, ep.query) == (0, 2, 2, "model=gpt-realtime")
    lines = list(cassette.iter_episode(0))
    assert isinstance(lines[1], Event) and lines[1].raw == '{"type": "response.create"}'
    assert lines[1].t == 2.0 and lines[2].t == 2.0  # rounded to ms, then held monotonic
    assert isinstance(lines[2], Frame) and lines[2].text == "not json"
    assert isinstance(lines[3], Frame) and lines[3].binary == b"\x00\x01binary"
    assert ep.close is not None and (ep.close.code, ep.close.by) == (1000, "client")
    assert [e.type for e in cassette.iter_events(0, "server")] == ["session.created"]


def test_handshake_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path)
    text = path.read_text()
    assert KEY not in text
    connect = json.loads(text.splitlines()[1])
    assert connect["headers"]["authorization"] == "REDACTED"
    assert connect["subprotocols"] == ["realtime", "openai-insecure-api-key.REDACTED"]


def test_nothing_at_the_path_until_commit_and_abort_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("previous")
    w = CassetteWriter(path)
    w.connect(0)
    w.event(0, "server", 1, '{"type":"session.created"}')
    assert path.read_text() == "previous"
    w.abort()
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["c.jsonl"]


def test_the_leak_scan_refuses_a_live_secret(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("previous")
    # a user pattern that writes the secret back: the filters cannot help, the scan must
    w = CassetteWriter(path, redactor=Redactor(secrets=["live-secret-value"],
                                               patterns=[("PUT-BACK", "live-secret-value")]))
    w.connect(0, path="/v1/live-secret-value/realtime")  # paths are filtered
    w.event(0, "server", 1, '{"type":"x","note":"live-secret-value"}')  # frames are
    w.event(0, "server", 2, '{"type":"x","note":"PUT-BACK"}')
    with pytest.raises(SecretLeakError, match="line 4") as caught:
        w.commit()
    assert path.read_text() == "previous"
    leftover = Path(caught.value.leftover)  # type: ignore[arg-type]
    assert leftover.stat().st_mode & 0o777 == 0o600 and str(leftover) in str(caught.value)
    assert "/v1/REDACTED/realtime" in leftover.read_text()


def test_append_numbers_new_episodes_after_the_old(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path)
    with CassetteWriter(path, append=True) as w:
        w.connect(0)
        w.close(0, 1, 1000, "", "client")
    assert [e.conn for e in Cassette.load(path).episodes] == [0, 1]


def test_corrupt_lines_are_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path)
    lines = path.read_text().splitlines()
    for bad, message in [
        ("{oops", r"4:2: not valid JSON \(Expecting property name"),  # column 2, the "o"
        ('{"kind":"nope"}', "4: unknown line kind 'nope'"),
        ('{"kind":"event","conn":0,"dir":"server","t":5,"event":[1]}', "4: invalid event line"),
    ]:
        path.write_text("\n".join([*lines[:3], bad, *lines[3:]]) + "\n")
        with pytest.raises(CassetteError, match=rf"{path}:{message}"):
            Cassette.load(path)
    backwards = json.loads(lines[4])
    backwards["t"] = 0.5
    path.write_text("\n".join([*lines[:4], json.dumps(backwards), *lines[5:]]) + "\n")
    with pytest.raises(CassetteError, match=rf"{path}:5: "):
        Cassette.load(path)


def test_audio_of_an_episode(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    out = np.arange(-2400, 2400, dtype=np.int16)
    inp = np.arange(100, dtype=np.int16)
    with CassetteWriter(path) as w:
        w.connect(0)
        w.event(0, "client", 1, json.dumps({"type": "input_audio_buffer.append",
                                            "audio": int16_to_base64(inp)}))
        for chunk in np.split(out, 2):
            w.event(0, "server", 2, json.dumps({"type": "response.output_audio.delta",
                                                "delta": int16_to_base64(chunk)}))
        w.close(0, 3)
    cassette = Cassette.load(path)
    np.testing.assert_array_equal(cassette.output_audio(0), out)
    np.testing.assert_array_equal(cassette.input_audio(0), inp)


def test_redaction_skips_audio_payloads_but_not_text() -> None:
    redactor = Redactor(patterns=[r"\d{4}"], secrets=[KEY])
    audio = int16_to_base64(np.arange(4800, dtype=np.int16))
    assert any(ch.isdigit() for ch in audio)
    event = {"type": "response.output_audio.delta", "item_id": "item_1234", "delta": audio}
    raw = json.dumps(event)
    red_raw, red_event = redactor.event(raw, event, "server")
    assert audio in red_raw  # type: ignore[misc]
    assert red_event["delta"] == audio  # the samples are untouched
    assert red_event["item_id"] == "item_REDACTED"
    text = {"type": "response.output_audio_transcript.delta", "delta": f"card 1234, {KEY}"}
    _, red_text = redactor.event(json.dumps(text), text, "server")  # type: ignore[misc]
    assert red_text["delta"] == "card REDACTED, sk-REDACTED"
    assert redactor.filters_matching(json.dumps(text)) == ["sk-keys", "live-secret",
                                                          "pattern '\\\\d{4}'"]
    assert redactor.filters_matching("Bearer REDACTED sk-REDACTED") == []
