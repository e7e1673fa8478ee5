"""rtkit.view's sans-I/O core on plain data: the audio time axis, the timeline's grouping,
the waveform envelope, and what an episode's view holds of the reference barge-in."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from rtkit.audio import int16_to_base64
from rtkit.cassette.audio_spool import AudioSpool
from rtkit.view import timeline as timeline_module
from rtkit.view import waveform
from rtkit.view.clock import AudioClock
from rtkit.view.collect import read_side
from rtkit.view.timeline import Previews, TimelineBuilder, preview

ROOT = Path(__file__).resolve().parent.parent


def test_a_microphone_streamed_in_real_time_plays_at_the_recorded_time() -> None:
    clock = AudioClock()
    starts = [clock.append_input(100.0 * (k + 1), 100.0) for k in range(5)]
    assert starts == [0.0, 100.0, 200.0, 300.0, 400.0]  # each chunk ends when it was sent
    assert clock.lag == 0.0 and clock.at(1234.0) == 1234.0
    assert len(clock.segments) == 1
    # a pause in the streaming is a gap in the audio: a new segment
    assert clock.append_input(1500.0, 100.0) == 1400.0
    assert len(clock.segments) == 2
    assert clock.stream_to_axis(550.0) == 1450.0  # 50 ms into the chunk after the pause
    assert clock.stream_to_axis(250.0) == 250.0


def test_audio_sent_faster_than_real_time_is_laid_end_to_end() -> None:
    clock = AudioClock()
    starts = [clock.append_input(10.0 + 11.0 * k, 100.0) for k in range(10)]
    assert starts == [100.0 * k for k in range(10)]
    assert clock.lag == pytest.approx(1000.0 - 109.0)  # the last chunk ended 891 ms ahead
    assert clock.at(120.0) == pytest.approx(1011.0)  # what comes next is after that audio
    assert clock.stream_to_axis(700.0) == 700.0


def _delta(kind: str, response: str, delta: str) -> dict:
    return {"type": kind, "response_id": response, "item_id": "item_1", "delta": delta}


def test_the_timeline_groups_as_inspect_does() -> None:
    chunk = int16_to_base64(np.zeros(2400, dtype=np.int16))  # 100 ms
    b = TimelineBuilder(Previews(), highlight=[("server", 4)])
    b.event("client", 1.0, {"type": "session.update", "session": {}})
    for k in range(3):
        b.event("client", 2.0 + k, {"type": "input_audio_buffer.append", "audio": chunk})
    b.event("client", 10.0, {"type": "input_audio_buffer.commit"})
    b.event("client", 11.0, {"type": "input_audio_buffer.append", "audio": chunk})
    b.event("client", 2000.0, {"type": "input_audio_buffer.append", "audio": chunk})  # a gap
    b.event("server", 20.0, {"type": "response.created", "response": {"id": "r1"}})
    for k in range(4):  # audio and transcript deltas alternate, other events between them
        b.event("server", 21.0 + k, _delta("response.output_audio.delta", "r1", chunk))
        b.event("server", 21.5 + k, _delta("response.output_audio_transcript.delta", "r1", "a "))
        if k == 1:
            b.event("server", 22.7, {"type": "rate_limits.updated"})
    b.event("server", 30.0, {"type": "response.done", "response": {"id": "r1"}})
    b.frame("server", 31.0)
    tl = b.timeline
    assert tl.counts == {"client": 7, "server": 12}
    runs = [(s.t0, s.t1, s.n, round(s.audio_ms)) for s in tl.streams if s.kind == "input audio"]
    assert runs == [(2.0, 4.0, 3, 300), (11.0, 11.0, 1, 100), (2000.0, 2000.0, 1, 100)]
    (deltas,) = [s for s in tl.streams if s.kind == "deltas"]
    assert (deltas.key, deltas.t0, deltas.t1, deltas.n, round(deltas.audio_ms)) == \
        ("r1", 21.0, 24.5, 8, 400)
    assert deltas.types == {"response.output_audio.delta": 4,
                            "response.output_audio_transcript.delta": 4}
    assert deltas.highlight  # server event #4 is a delta of r1
    marks = [(m.lane, m.type, m.index) for m in tl.marks]
    assert marks == [("client", "session.update", 0), ("client", "input_audio_buffer.commit", 4),
                     ("server", "response.created", 0), ("server", "rate_limits.updated", 5),
                     ("server", "response.done", 10), ("server", "(not JSON)", 11)]
    # every event is in exactly one mark or bar
    for lane in ("client", "server"):
        n = sum(1 for m in tl.marks if m.lane == lane) + sum(s.n for s in tl.streams
                                                               if s.lane == lane)
        assert n == tl.counts[lane]


def test_past_the_cap_a_lane_counts_its_events_in_one_bar(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr(timeline_module, "MAX_MARKS", 5)
    b = TimelineBuilder(Previews())
    for k in range(12):
        b.event("server", float(k), {"type": "rate_limits.updated"})
    tl = b.timeline
    assert len(tl.marks) == 5
    (more,) = tl.streams
    assert (more.kind, more.n, more.t0, more.t1) == ("more", 7, 5.0, 11.0)


def test_a_preview_shows_json_without_the_audio() -> None:
    chunk = int16_to_base64(np.zeros(4800, dtype=np.int16))
    text = preview({"type": "response.output_audio.delta", "delta": chunk,
                    "item": {"content": [{"type": "input_audio", "audio": chunk}]}})
    assert chunk not in text
    assert text.count("<12800 base64 characters: 0.20 s of audio>") == 2
    assert json.loads(text)["type"] == "response.output_audio.delta"
    long = preview({"type": "session.update", "session": {"instructions": "x" * 10_000}})
    assert len(long) < 2100 and long.endswith("}")
    previews = Previews(budget=50)
    assert previews.add({"type": "a"}) == 0
    assert previews.add({"type": "b" * 60}) == 1  # spends the rest
    assert previews.add({"type": "c"}) == -1  # budget spent: not kept
    assert previews.add({"type": "d"}, whole=True) == 2  # a highlighted event still is


def test_the_envelope_is_the_min_and_max_per_column(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    samples = (np.sin(np.arange(24_000) / 7.0) * 20_000).astype(np.int16)
    samples[5000:6000] = 0  # silence
    spool = tmp_path / "s.pcm"
    spool.write_bytes(samples.astype("<i2").tobytes())
    lows, highs = waveform.envelope(spool, 0, len(samples), 24)
    columns = samples.reshape(24, 1000)
    np.testing.assert_allclose(lows, columns.min(axis=1) / 32768.0, rtol=1e-6)
    np.testing.assert_allclose(highs, columns.max(axis=1) / 32768.0, rtol=1e-6)
    assert highs[5] == lows[5] == 0.0
    monkeypatch.setattr(waveform, "_BLOCK", 2500)  # read in small blocks: the same result
    lows2, highs2 = waveform.envelope(spool, 1000, 20_000, 7)
    edges = np.linspace(0, 20_000, 8).astype(int)
    part = samples[1000:21_000]
    expected = [part[a:b].max() / 32768.0 for a, b in itertools.pairwise(edges)]
    np.testing.assert_allclose(highs2, expected, rtol=1e-6)
    assert len(lows2) == 7
    path = waveform.envelope_path(lows, highs, 100.0, 240.0, 50.0, 30.0)
    assert path.startswith("M105.0,") and path.endswith("Z") and path.count("L") == 47


def test_the_barge_in_overlaps_on_the_audio_axis(tmp_path: Path) -> None:
    """In the reference barge-in, the user speaks again while the assistant's answer plays:
    on the audio axis the interrupted answer lies inside the user's second utterance, and it
    is cut where the client truncated it."""
    for dialect in ("ga", "beta"):
        work = tmp_path / dialect
        work.mkdir()
        side = read_side(ROOT / "cassettes" / dialect / "vad_barge_in.jsonl",
                         AudioSpool(work), Previews())
        (view,) = side.episodes
        users = [c for c in view.clips if c.role == "user"]
        answers = [c for c in view.clips if c.role == "assistant"]
        assert len(users) == 2 and len(answers) == 2
        cut = answers[0]
        assert cut.truncated_ms == 100 and cut.heard_ms == 100 and cut.received_ms == 100
        start, end = view.ranges[users[1].item_id]  # the user's second utterance
        assert start <= cut.axis_ms and cut.axis_ms + cut.heard_ms <= end
        # the second answer plays after the user stopped speaking, whole
        assert answers[1].axis_ms >= view.ranges[users[1].item_id][1]
        assert answers[1].heard_ms == answers[1].received_ms == 800
        assert [m.kind for m in view.vad] == ["started", "stopped", "started", "stopped"]
        assert [m.stream_ms for m in view.vad] == [0, 800, 700, 1700]
        assert view.input_samples == 1900 * 24
        statuses = [(r.status, r.reason) for r in view.responses]
        assert statuses == [("cancelled", "turn_detected"), ("completed", None)]
        assert view.responses[0].to_first_audio is not None
        assert view.responses[0].usage["total_tokens"] == 312
        kinds = [n.kind for n in view.notes]
        assert kinds == ["cancelled", "truncate", "truncated"]
