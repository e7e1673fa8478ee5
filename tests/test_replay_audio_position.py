"""Input audio matched by position, with plain event lists: the audio between two commits is
one stream however either side chunked it (`exact`, `length` with a tolerance, `any`), and
with server VAD the recorded speech_started / speech_stopped are released when the client's
audio passes the recorded point, not after the Nth append."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from rtkit.audio import int16_to_base64
from rtkit.replay.audio_stream import b64_size
from rtkit.replay.causal import CausalEngine
from rtkit.replay.matching import MatchPolicy
from tests.test_replay_causal import types
from tests.test_replay_core import c, s

RATE = 24_000
SPEECH = (np.sin(np.arange(RATE) * 2 * np.pi * 440 / RATE) * 8000).astype(np.int16)  # 1 s


def chunks(samples: np.ndarray, ms: int) -> list[str]:
    step = RATE * ms // 1000
    return [int16_to_base64(samples[i:i + step]) for i in range(0, len(samples), step)]


def appends(audio: list[str], t0: float = 10.0) -> list[Any]:
    return [c(t0 + 100 * k, type="input_audio_buffer.append", audio=a) for k, a in enumerate(audio)]


def manual(audio: np.ndarray, ms: int = 100) -> list[Any]:
    """A manual turn: the audio in `ms` chunks, a commit, a response."""
    return [
        s(1, type="session.created", session={"id": "sess_1"}),
        *appends(chunks(audio, ms)),
        c(1100, type="input_audio_buffer.commit"),
        s(1110, type="input_audio_buffer.committed", item_id="item_1"),
        s(1111, type="conversation.item.added", item={"id": "item_1", "role": "user"}),
        c(1112, type="response.create"),
        s(1120, type="response.created", response={"id": "resp_1"}),
        s(1130, type="response.done", response={"id": "resp_1"}),
    ]


def play(engine: CausalEngine, audio: list[str], *rest: str) -> list[str]:
    out: list[str] = []
    for k, a in enumerate(audio):
        out += types(engine.receive(json.dumps({"type": "input_audio_buffer.append",
                                                 "audio": a}), now=0.1 * k))
        if engine.failure is not None:
            return out
    for kind in rest:
        out += types(engine.receive(json.dumps({"type": kind})))
    return out


@pytest.mark.parametrize("mode", ["exact", "length", "any"])
@pytest.mark.parametrize("ms", [100, 200, 50, 333])
def test_the_same_audio_in_other_chunks_matches(mode: str, ms: int) -> None:
    engine = CausalEngine(manual(SPEECH, 100), policy=MatchPolicy(audio=mode))  # type: ignore[arg-type]
    engine.start()
    out = play(engine, chunks(SPEECH, ms), "input_audio_buffer.commit", "response.create")
    assert engine.failure is None, engine.failure
    assert out == ["input_audio_buffer.committed", "conversation.item.added",
                   "response.created", "response.done"]
    assert engine.finished and engine.position == 12  # 10 appends, the commit, the response


def test_changed_audio_is_found_at_its_first_different_byte() -> None:
    changed = SPEECH.copy()
    changed[RATE * 734 // 1000] += 1  # one sample at 734 ms
    engine = CausalEngine(manual(SPEECH), policy=MatchPolicy(audio="exact"))
    engine.start()
    out = play(engine, chunks(changed, 200), "input_audio_buffer.commit")
    assert out == ["error"]  # at the chunk that holds it: the fourth of 200 ms
    assert engine.received == 4
    report = str(engine.failure)
    assert "client event #4 (input_audio_buffer.append) does not match the recorded input " \
        f"audio: different input audio, at byte {RATE * 734 // 1000 * 2} (734 ms)" in report


@pytest.mark.parametrize(("mode", "tolerance", "ok"), [
    ("any", 0, True), ("length", 0, False), ("length", 300, True), ("exact", 0, False)])
def test_more_audio_than_recorded(mode: str, tolerance: int, ok: bool) -> None:
    """1.25 s where 1.0 s was recorded: `any` takes it; `length` within its tolerance."""
    longer = np.concatenate([SPEECH, SPEECH[: RATE // 4]])
    engine = CausalEngine(manual(SPEECH), policy=MatchPolicy(
        audio=mode, audio_tolerance_ms=tolerance))  # type: ignore[arg-type]
    engine.start()
    out = play(engine, chunks(longer, 250), "input_audio_buffer.commit", "response.create")
    assert (engine.failure is None) is ok, engine.failure
    if ok:
        assert out[-2:] == ["response.created", "response.done"]
    else:
        assert "more input audio than recorded" in str(engine.failure)


@pytest.mark.parametrize(("mode", "ok"), [("any", True), ("length", False), ("exact", False)])
def test_less_audio_than_recorded_is_found_at_the_commit(mode: str, ok: bool) -> None:
    engine = CausalEngine(manual(SPEECH), policy=MatchPolicy(audio=mode))  # type: ignore[arg-type]
    engine.start()
    out = play(engine, chunks(SPEECH[: RATE * 8 // 10], 200), "input_audio_buffer.commit")
    assert (engine.failure is None) is ok
    if not ok:
        assert out[-1] == "error"
        assert "38400 bytes of input audio before the commit; the recording has 48000" \
            in str(engine.failure)


def test_audio_where_the_recording_has_none_is_a_mismatch_at_once() -> None:
    engine = CausalEngine([c(1, type="response.create"), s(2, type="response.created")])
    engine.start()
    assert play(engine, chunks(SPEECH[:2400], 100)) == ["error"]
    assert "input audio where the recording has none" in str(engine.failure)


def vad_session(ms: int) -> list[Any]:
    """Server VAD as the fake records it: 0.5 s of silence, 1 s of speech, 0.5 s of silence
    in `ms` chunks; speech detected at 500 ms (audio_start_ms is 300 ms of padding earlier),
    stopped after 200 ms of silence (the fake's audio_end_ms includes it: 1700), then the
    auto response."""
    audio = np.concatenate([np.zeros(RATE // 2, np.int16), SPEECH, np.zeros(RATE // 2, np.int16)])
    lines: list[Any] = [s(1, type="session.created", session={
        "id": "sess_1", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                            "turn_detection": {"type": "server_vad",
                                                               "prefix_padding_ms": 300,
                                                               "silence_duration_ms": 200}}}})]
    sent = 0
    for k, a in enumerate(chunks(audio, ms)):
        lines.append(c(10 + k * ms, type="input_audio_buffer.append", audio=a))
        before, sent = sent, sent + b64_size(a) // 48
        if before <= 500 < sent:
            lines.append(s(11 + k * ms, type="input_audio_buffer.speech_started",
                           audio_start_ms=200, item_id="item_1"))
        if before < 1700 <= sent:
            lines += [s(11 + k * ms, type="input_audio_buffer.speech_stopped", audio_end_ms=1700,
                        item_id="item_1"),
                      s(11 + k * ms, type="input_audio_buffer.committed", item_id="item_1"),
                      s(11 + k * ms, type="conversation.item.added",
                        item={"id": "item_1", "role": "user"}),
                      s(12 + k * ms, type="response.created", response={"id": "resp_1"}),
                      s(13 + k * ms, type="response.done", response={"id": "resp_1"})]
    return lines


@pytest.mark.parametrize(("recorded", "sent", "started_at", "stopped_at"), [
    (100, 100, 6, 17),  # as recorded: after the 6th and the 17th append
    (100, 200, 3, 9),  # 200 ms chunks: the 3rd takes the audio past 500 ms, the 9th to 1.7 s
    (200, 100, 6, 18),  # recorded in 200 ms chunks (stopped seen at 1.8 s), in 100 ms ones
    (100, 50, 11, 34),
])
def test_vad_events_are_released_where_the_audio_reaches_them(
        recorded: int, sent: int, started_at: int, stopped_at: int) -> None:
    audio = np.concatenate([np.zeros(RATE // 2, np.int16), SPEECH, np.zeros(RATE // 2, np.int16)])
    engine = CausalEngine(vad_session(recorded), policy=MatchPolicy(audio="exact"))
    engine.start()
    seen: dict[str, int] = {}
    for k, a in enumerate(chunks(audio, sent), start=1):
        for kind in types(engine.receive(json.dumps({"type": "input_audio_buffer.append",
                                                     "audio": a}), now=k * sent / 1000)):
            seen.setdefault(kind, k)
    assert engine.failure is None, engine.failure
    assert seen == {"input_audio_buffer.speech_started": started_at,
                    "input_audio_buffer.speech_stopped": stopped_at,
                    "input_audio_buffer.committed": stopped_at,
                    "conversation.item.added": stopped_at,
                    "response.created": stopped_at, "response.done": stopped_at}
    assert engine.finished


def test_a_vad_event_the_audio_never_reaches_says_what_it_waits_for() -> None:
    engine = CausalEngine(vad_session(100))
    engine.start()
    play(engine, chunks(np.zeros(RATE // 2, np.int16), 100))
    assert engine.failure is None
    assert engine.describe_expected() == (
        "the client's input audio to reach 500 ms of the session, as recorded (it has sent "
        "500 ms)")


def test_paced_vad_events_are_anchored_where_the_audio_passed_them() -> None:
    """At recorded pace a VAD event keeps its recorded delay from the append that took the
    audio past its point; the auto response keeps its delay from the same point."""
    audio = np.concatenate([np.zeros(RATE // 2, np.int16), SPEECH, np.zeros(RATE // 2, np.int16)])
    engine = CausalEngine(vad_session(100))
    engine.start(now=100.0)
    anchors: dict[str, Any] = {}
    for k, a in enumerate(chunks(audio, 200), start=1):
        for out in engine.receive(json.dumps({"type": "input_audio_buffer.append", "audio": a}),
                                  now=100.0 + k):
            anchors[json.loads(out.data)["type"]] = (out.t, out.anchor)
    # the recorded speech_started followed the 6th append (t=510 ms, recorded at 511 ms); the
    # client's 3rd append (at 103.0 s) took the audio past the same point
    assert anchors["input_audio_buffer.speech_started"] == (511.0, (510.0, 103.0))
    assert anchors["response.created"] == (1612.0, (1610.0, 109.0))


def test_exact_audio_is_decoded_once_and_not_held() -> None:
    engine = CausalEngine(manual(SPEECH), policy=MatchPolicy(audio="exact"))
    engine.start()
    play(engine, chunks(SPEECH, 200))
    held = [e for e in engine._clients[engine._lo:] if e.audio is not None]
    assert held == []  # every recorded chunk the client passed has let go of its audio
    assert base64.b64decode(chunks(SPEECH, 100)[0])[:4] == SPEECH[:2].tobytes()


@pytest.mark.parametrize("mode", ["exact", "length", "any"])
def test_input_audio_the_client_never_sent_at_the_end_is_not_unplayed(mode: str) -> None:
    """A microphone recorded on after the answer (three chunks, one recorded between the
    answer's events): a replay whose app stopped at the answer sent none of them. Only
    "exact" holds it to them; recorded audio followed by a client event still counts."""
    tail = chunks(SPEECH[:RATE * 3 // 10], 100)
    recorded = [*manual(SPEECH), c(1125, type="input_audio_buffer.append", audio=tail[0]),
                *appends(tail[1:], t0=1140)]
    recorded.insert(-3, recorded.pop(-4))  # the first trailing chunk before response.done
    engine = CausalEngine(recorded, policy=MatchPolicy(audio=mode))  # type: ignore[arg-type]
    engine.start()
    out = play(engine, chunks(SPEECH, 100), "input_audio_buffer.commit", "response.create")
    assert engine.failure is None, engine.failure
    assert out[-1] == "response.done"
    sample: list[str] = []
    assert engine.count_unplayed(sample) == (3 if mode == "exact" else 0)
    assert sample == (["client input_audio_buffer.append"] * 3 if mode == "exact" else [])

    # recorded: the same tail, then a commit the replay did not send either: the audio is
    # not the stream's end but part of a turn, and counts whatever the mode
    engine = CausalEngine([*recorded, c(1500, type="input_audio_buffer.commit")],
                          policy=MatchPolicy(audio=mode))  # type: ignore[arg-type]
    engine.start()
    play(engine, chunks(SPEECH, 100), "input_audio_buffer.commit", "response.create")
    sample = []
    assert engine.count_unplayed(sample) == 4
    assert sample == ["client input_audio_buffer.append"] * 3 + ["client input_audio_buffer.commit"]
