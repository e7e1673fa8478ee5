"""The replay driver with a fake link and an injectable clock: pacing and timeouts, no real
sleeps and no sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtkit.cassette import CassetteWriter
from rtkit.errors import ReplayError, ReplayTimeout, RtkitUnplayedWarning
from rtkit.replay.pacing import Pace
from rtkit.replay.player import CassettePlayer, drive
from rtkit.transport.base import Close


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class FakeLink:
    """Client frames are scripted; `None` in the script means "the client went quiet" (for
    one `recv`, which then times out), `(t, frame)` a frame that arrives at clock time `t`
    (a `recv` whose timeout ends before then times out)."""

    def __init__(self, clock: FakeClock,
                 script: list[str | bytes | Close | tuple[float, str] | None]) -> None:
        self.clock = clock
        self.script = list(script)
        self.sent: list[tuple[float, Any]] = []
        self.closed: tuple[int | None, str] | None = None
        self.timeouts: list[float | None] = []

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        self.timeouts.append(timeout)
        if not self.script:
            return Close(1000, "", "client")
        frame = self.script[0]
        if isinstance(frame, tuple):
            at, data = frame
            if timeout is not None and self.clock.now + timeout < at:
                self.clock.now += timeout
                return None
            self.clock.now = max(self.clock.now, at)
            self.script.pop(0)
            return data
        self.script.pop(0)
        if frame is None and timeout is not None:
            self.clock.now += timeout
        return frame

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if text:  # a recorded event, sent as the UTF-8 bytes read from the cassette
            data = bytes(data).decode("utf-8")
        self.sent.append((self.clock.now, json.loads(data) if isinstance(data, str) else data))

    async def close(self, code: int | None, reason: str) -> None:
        self.closed = (code, reason)


def cassette(tmp_path: Path) -> Path:
    path = tmp_path / "paced.jsonl"
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query="model=gpt-realtime")
        w.event(0, "server", 0, '{"type":"session.created"}')
        w.event(0, "client", 100, '{"type":"response.create"}')
        w.event(0, "server", 300, '{"type":"response.created"}')
        w.event(0, "server", 1100, '{"type":"response.done"}')
        w.close(0, 2000, 1000, "", "client")
    return path


def player(path: Path, clock: FakeClock, **options: Any) -> CassettePlayer:
    p = CassettePlayer.open(path, **options)
    p.clock, p.sleep = clock, clock.sleep
    return p


@pytest.mark.parametrize("order", ["causal", "strict"])
@pytest.mark.parametrize(("pace", "times", "sleeps"), [
    ("instant", [0, 0, 0], []),
    ("recorded", [0, 0.2, 1.0], [0.2, 0.8]),
    ("4x", [0, 0.05, 0.25], [0.05, 0.2]),
])
async def test_pacing_follows_recorded_gaps(tmp_path: Path, pace: str, times: list[float],
                                            sleeps: list[float], order: str) -> None:
    clock = FakeClock()
    p = player(cassette(tmp_path), clock, pace=pace, order=order)
    link = FakeLink(clock, ['{"type":"response.create"}', None, None, None])
    await drive(p, p.engine(p.pick("/v1/realtime", "model=gpt-realtime")), link)
    assert [e["type"] for _, e in link.sent] == ["session.created", "response.created",
                                                 "response.done"]
    assert [round(t, 6) for t, _ in link.sent] == times
    # the strict engine sleeps until a frame is due; the causal one listens meanwhile
    assert clock.sleeps == ([] if order == "causal" else sleeps)
    assert p.errors == [] and p.unplayed_events == {}
    assert Pace.parse(pace) == p.pace


async def test_recorded_pace_keeps_each_answer_at_its_delay_from_its_question(
        tmp_path: Path) -> None:
    """A client event that comes while a paced frame is still due is matched when it comes;
    its answer keeps its recorded delay from it, and the rest of the response keeps its delay
    from the `response.create` it answers (the strict engine paces from the last client
    event instead, and shifts it)."""
    path = tmp_path / "interleaved.jsonl"
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query="model=gpt-realtime")
        w.event(0, "server", 0, '{"type":"session.created"}')
        w.event(0, "client", 100, '{"type":"response.create"}')
        w.event(0, "server", 300, '{"type":"response.created"}')
        w.event(0, "client", 400, '{"type":"session.update","session":{"type":"realtime"}}')
        w.event(0, "server", 450, '{"type":"session.updated"}')
        w.event(0, "server", 1100, '{"type":"response.done"}')
        w.close(0, 2000, 1000, "", "client")
    sent = {}
    for order in ("causal", "strict"):
        clock = FakeClock()
        p = player(path, clock, pace="recorded", order=order)
        update = '{"type":"session.update","session":{"type":"realtime"}}'
        link = FakeLink(clock, [(0.0, '{"type":"response.create"}'), (0.25, update),
                                None, None, None])
        await drive(p, p.engine(p.pick("/v1/realtime", "model=gpt-realtime")), link)
        assert p.errors == []
        sent[order] = [(e["type"], round(t, 6)) for t, e in link.sent]
    assert sent["causal"] == [("session.created", 0), ("response.created", 0.2),
                              ("session.updated", 0.3), ("response.done", 1.0)]
    assert sent["strict"][-1] == ("response.done", 0.95)


async def test_a_client_event_that_never_comes_times_out_naming_it(tmp_path: Path) -> None:
    clock = FakeClock()
    p = player(cassette(tmp_path), clock, timeout=3)
    link = FakeLink(clock, [None])
    await drive(p, p.engine(p.pick("/v1/realtime", "model=gpt-realtime")), link)
    assert isinstance(p.errors[0], ReplayTimeout)
    assert "'response.create'" in str(p.errors[0]) and "3 s" in str(p.errors[0])
    assert link.closed == (4001, "invalid_request_error.replay_timeout")
    assert link.sent[-1][1]["error"]["code"] == "replay_timeout"
    assert p.unplayed_events == {0: 3}
    assert "episode 0: 3 recorded event(s) were not played: client response.create, " in p.report()
    with pytest.raises(ReplayTimeout):
        p.end()
    p.end()  # raised once; the unplayed rest follows from it and is not reported again


async def test_fully_played_episode_is_closed_after_the_idle_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    p = player(cassette(tmp_path), clock, timeout=2)
    link = FakeLink(clock, ['{"type":"response.create"}', None])
    await drive(p, p.engine(p.pick("/v1/realtime", "model=gpt-realtime")), link)
    assert link.closed == (1000, "cassette fully played")
    assert p.errors == []


async def test_bad_input_gets_api_errors_and_replay_goes_on(tmp_path: Path) -> None:
    clock = FakeClock()
    p = player(cassette(tmp_path), clock, max_message=1000)
    link = FakeLink(clock, ["not json", b"\x01", '{"type":"no.such.event"}', "x" * 2000,
                            '{"type":"response.create"}'])
    await drive(p, p.engine(p.pick("/v1/realtime", "model=gpt-realtime")), link)
    codes = [e["error"]["code"] for _, e in link.sent if e.get("type") == "error"]
    assert codes == ["invalid_json", "invalid_event", "invalid_value", "message_too_large"]
    assert [e["type"] for _, e in link.sent][-2:] == ["response.created", "response.done"]
    assert p.errors == []


async def test_unplayed_policy_and_missing_episode(tmp_path: Path) -> None:
    clock = FakeClock()
    p = player(cassette(tmp_path), clock, unplayed="fail")
    with pytest.raises(ReplayError, match="no unplayed episode"):
        p.pick("/v1/realtime", "model=other")
    p = player(cassette(tmp_path), clock, unplayed="fail")
    with pytest.raises(ReplayError, match="episodes never connected"):
        p.end()
    p = player(cassette(tmp_path), clock, unplayed="warn")
    with pytest.warns(RtkitUnplayedWarning, match=r"episodes never connected: \[0\]"):
        p.end()
    p = player(cassette(tmp_path), clock, unplayed="ignore")
    p.end()
    # secrets in the query do not matter for matching
    p = player(cassette(tmp_path), clock)
    assert p.pick("/v1/realtime/", "api_key=whatever&model=gpt-realtime").conn == 0


async def test_a_mismatch_ends_the_connection_at_once_and_is_logged(tmp_path: Path) -> None:
    clock = FakeClock()
    lines: list[str] = []
    p = player(cassette(tmp_path), clock, timeout=30, log=lines.append)
    link = FakeLink(clock, ['{"type":"response.cancel"}', '{"type":"response.create"}'])
    await drive(p, p.engine(p.pick("/v1/realtime", "model=gpt-realtime")), link, "#1")
    assert link.closed == (4000, "invalid_request_error.replay_mismatch")
    # the rest was read and discarded until the client's close: nothing more was sent
    assert link.script == [] and len(link.sent) == 2
    error = link.sent[-1][1]
    assert error["error"]["message"] == str(p.errors[0])  # the full report, for the client
    assert lines[0] == f"#1 episode 0: mismatch at client event #1:\n{p.errors[0]}"
    assert lines[1] == ("#1 episode 0: closed by rtkit (4000 invalid_request_error."
                        "replay_mismatch); 0 client / 1 server event(s) played")


async def test_bad_input_without_a_type_or_nested_too_deeply(tmp_path: Path) -> None:
    clock = FakeClock()
    p = player(cassette(tmp_path), clock)
    link = FakeLink(clock, ['{"event_id":"e1"}', '{"type":7}', "[" * 100_000,
                            '{"type":"x","a":' + "[" * 3000 + "]" * 3000 + "}",
                            '{"type":"response.create"}'])
    await drive(p, p.engine(p.pick("/v1/realtime", "model=gpt-realtime")), link)
    errors = [e["error"] for _, e in link.sent if e.get("type") == "error"]
    assert [(e["code"], e["param"], e["event_id"]) for e in errors] == [
        ("missing_required_parameter", "type", "e1"), ("invalid_value", "type", None),
        ("invalid_json", None, None), ("invalid_json", None, None)]
    assert "nested too deeply" in errors[2]["message"]
    assert [e["type"] for _, e in link.sent][-2:] == ["response.created", "response.done"]
    assert p.errors == []
