"""The writer's audio fast path (no json.loads, no copy) against its general path: the same
lines, the same filters, and look-alikes that are not JSON are still recorded, as frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rtkit.audio import int16_to_base64
from rtkit.cassette import Cassette, CassetteWriter, Event, Frame, Redactor
from rtkit.cassette.redact import audio_payload_span
from rtkit.errors import SecretLeakError

KEY = "sk-test-" + "fast-path-key-0000000"  # built at runtime: no key-shaped literal
AUDIO = int16_to_base64(np.arange(2400, dtype=np.int16))  # 100 ms


def delta(**extra: object) -> dict[str, object]:
    return {"type": "response.output_audio.delta", "event_id": "event_1", "response_id": "r",
            "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": AUDIO,
            **extra}


COMPACT = json.dumps(delta(), separators=(",", ":"))
SPACED = json.dumps(delta())  # what json.dumps writes by default
APPEND = json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO}, separators=(",", ":"))


def test_the_span_is_the_payload() -> None:
    for text, payload in ((COMPACT, AUDIO), (SPACED, AUDIO), (APPEND, AUDIO)):
        data = text.encode()
        span = audio_payload_span(data)
        assert span is not None and data[span[0]:span[1]].decode() == payload
    assert audio_payload_span(b'{"type":"response.output_text.delta","delta":"' + b"a" * 99
                              + b'"}') is None  # not audio
    short = json.dumps(delta(delta="AAAA"), separators=(",", ":")).encode()
    assert audio_payload_span(short) is None  # too short to be worth it
    escaped = COMPACT.replace(AUDIO[:4], "\\u0041AAA", 1).encode()
    assert audio_payload_span(escaped) is not None  # the payload is the writer's to check


@pytest.mark.parametrize("change", [
    lambda t: t.replace(AUDIO[:4], "\\u0041AAA", 1),  # an escape in the payload
    lambda t: t.replace('"event_1"', '"ev\\u0065nt_1"', 1),  # an escape around it
    lambda t: t.replace(AUDIO[:4], "AA\\nA", 1),  # an escaped newline in the payload
])
def test_an_audio_event_with_an_escape_is_recorded_whole(tmp_path: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.jsonl"
    text = change(COMPACT)
    with CassetteWriter(path) as w:
        w.connect(0)
        w.text_event(0, "server", 1.0, text.encode())
    (event,) = [x for x in Cassette.load(path).iter_episode(0) if isinstance(x, Event)]
    assert event.event == json.loads(text)  # recorded decoded, as the general path does


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()[1:]  # without the header


@pytest.mark.parametrize("text", [COMPACT, SPACED, APPEND])
def test_fast_and_general_paths_write_the_same_line(tmp_path: Path, text: str) -> None:
    fast, general = tmp_path / "fast.jsonl", tmp_path / "general.jsonl"
    with CassetteWriter(fast) as w:
        w.connect(0)
        data = b"...." + text.encode() + b"...."  # a span inside a bigger chunk, as relayed
        w.text_event(0, "server", 12.5, data, 4, len(data) - 4)
        w.event(0, "server", 13.0, text)
    hook = Redactor(before_record_event=lambda e, d: e)  # a hook turns the fast path off
    with CassetteWriter(general, redactor=hook) as w:
        w.connect(0)
        w.event(0, "server", 12.5, text)
        w.event(0, "server", 13.0, text)
    assert lines_of(fast)[1:] == [line.replace(json.dumps(json.loads(text), ensure_ascii=False,
                                                          separators=(",", ":")), text)
                                  for line in lines_of(general)[1:]]
    events = [x for x in Cassette.load(fast).iter_episode(0) if isinstance(x, Event)]
    assert [e.raw for e in events] == [text, text]  # exactly as it crossed the wire


def test_the_filters_still_apply_around_the_payload(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    token = "abcdefghijklmnopqrstuvwx"
    text = json.dumps(delta(note=f"key {KEY}", bearer="Bearer " + token))
    with CassetteWriter(path, redactor=Redactor(secrets=[KEY])) as w:
        w.connect(0)
        w.text_event(0, "server", 1.0, text.encode())
    data = path.read_text()
    assert KEY not in data and token not in data
    (event,) = [x for x in Cassette.load(path).iter_episode(0) if isinstance(x, Event)]
    assert event.event["delta"] == AUDIO and event.event["note"] == "key sk-REDACTED"


@pytest.mark.parametrize("broken", [
    COMPACT[:-1] + ',"x":}',  # not JSON after the payload
    COMPACT.replace(AUDIO[100:101], "\x01", 1),  # a raw control character in the payload
])
def test_a_look_alike_that_is_not_json_is_kept_as_a_frame(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0)
        w.text_event(0, "server", 1.0, broken.encode())
        w.event(0, "server", 2.0, COMPACT)
        w.close(0, 3.0)
    frame, event = list(Cassette.load(path).iter_episode(0))[:2]
    assert isinstance(frame, Frame) and frame.text == broken  # nothing lost
    assert isinstance(event, Event) and event.raw == COMPACT


def test_a_look_alike_that_is_not_utf8_is_kept_as_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    broken = COMPACT.encode().replace(b'"event_1"', b'"event_\xff"', 1)
    with CassetteWriter(path) as w:
        w.connect(0)
        w.text_event(0, "server", 1.0, broken)
    (frame,) = [x for x in Cassette.load(path).iter_episode(0) if isinstance(x, Frame)]
    assert frame.binary == broken


def test_a_payload_that_is_not_plain_base64_but_valid_json_stays_an_event(
        tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    text = COMPACT.replace(AUDIO[100:102], "é", 1)  # not ASCII, still JSON
    with CassetteWriter(path) as w:
        w.connect(0)
        w.text_event(0, "server", 1.0, text.encode())
    (event,) = [x for x in Cassette.load(path).iter_episode(0) if isinstance(x, Event)]
    assert event.raw == text


def test_frames_of_one_chunk_share_a_line_start_but_time_never_goes_back(
        tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0)
        w.connect(1)
        for conn, dir, t in [(0, "server", 5.0), (0, "server", 5.0), (1, "server", 5.0),
                             (0, "client", 5.0), (0, "server", 5.0)]:
            w.text_event(conn, dir, t, COMPACT.encode())
        w.event(0, "server", 7.0, '{"type":"later"}')
        w.text_event(0, "server", 5.0, COMPACT.encode())  # an earlier time is written as 7
    cassette = Cassette.load(path)
    got = [(x.conn, x.dir, x.t) for conn in (0, 1) for x in cassette.iter_episode(conn)
           if isinstance(x, Event)]
    assert got == [(0, "server", 5.0), (0, "server", 5.0), (0, "client", 5.0),
                   (0, "server", 5.0), (0, "server", 7.0), (0, "server", 7.0),
                   (1, "server", 5.0)]


def test_a_live_secret_inside_a_payload_is_refused_at_commit(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    planted = COMPACT.replace(AUDIO[:len(KEY)], KEY, 1)
    with pytest.raises(SecretLeakError, match="line 3"), \
            CassetteWriter(path, redactor=Redactor(secrets=[KEY])) as w:
        w.connect(0)
        w.text_event(0, "server", 1.0, planted.encode())
    assert not path.exists()


def test_invalid_utf8_text_is_recorded_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0)
        w.text_event(0, "client", 1.0, b"\xff\xfe not utf-8")
    (frame,) = [x for x in Cassette.load(path).iter_episode(0) if isinstance(x, Frame)]
    assert frame.binary == b"\xff\xfe not utf-8"


def test_large_sessions_go_through_the_thread_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0)
        for k in range(600):  # about 4 MB: several blocks handed to the writer thread
            w.text_event(0, "server", float(k), COMPACT.replace("event_1", f"e{k}").encode())
        w.close(0, 601.0)
    events = [x for x in Cassette.load(path).iter_episode(0) if isinstance(x, Event)]
    assert [e.event["event_id"] for e in events] == [f"e{k}" for k in range(600)]
    assert w.audio_out_chars == 600 * len(AUDIO)


@pytest.mark.parametrize("event", [
    '{"type":["session.update"]}',  # the small-event path (it looks for session events)
    '{"type":{"session.updated":1},"instructions":"a\\nb"}',  # the general path
    '{"type":"session.updated","session":["not","an","object"]}',
    '{"type":"error","error":"not an object"}',
])
def test_events_shaped_like_session_events_but_not_are_recorded(tmp_path: Path,
                                                                 event: str) -> None:
    """The writer follows session events for the output audio's format: whatever JSON a
    `type` or `session` holds, the event is recorded and recording goes on."""
    path = tmp_path / "odd.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0)
        for direction in ("client", "server"):
            w.text_event(0, direction, 1.0, event.encode())
    assert [e.event for e in Cassette.load(path).iter_events(0)] == [json.loads(event)] * 2
