"""The sans-I/O replay engine and pacing, driven with plain lists (no sockets, no clock)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rtkit.cassette import CloseLine, Event, Frame
from rtkit.errors import CannotOverwriteExistingCassetteException
from rtkit.replay.engine import ReplayEngine, SendClose, SendError, SendFrame
from rtkit.replay.matching import MatchPolicy
from rtkit.replay.pacing import Pace


def ev(direction: str, t: float, event: dict[str, Any]) -> Event:
    raw = json.dumps(event, separators=(",", ":"))
    return Event(conn=0, dir=direction, t=t, raw=raw, event=event)  # type: ignore[arg-type]


def c(t: float, **event: Any) -> Event:
    return ev("client", t, event)


def s(t: float, **event: Any) -> Event:
    return ev("server", t, event)


def sent_types(outputs: list[Any]) -> list[str]:
    return [json.loads(o.data)["type"] for o in outputs if isinstance(o, SendFrame)]


TEXT_TURN = [
    s(1, type="session.created", session={"id": "sess_1"}),
    c(5, type="session.update", event_id="evt_AAA", session={"instructions": "hi"}),
    s(20, type="session.updated", session={"id": "sess_1"}),
    c(30, type="conversation.item.create", event_id="evt_BBB",
      item={"id": "item_client1", "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "Hello"}]}),
    c(31, type="response.create", event_id="evt_CCC"),
    s(40, type="conversation.item.added", previous_item_id=None,
      item={"id": "item_client1", "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_text", "text": "Hello"}]}),
    s(50, type="response.created", response={"id": "resp_1"}),
    s(60, type="response.done", response={"id": "resp_1", "status": "completed"}),
    CloseLine(conn=0, t=100, code=1000, reason="", by="client"),
]


def test_gating_releases_server_events_only_after_their_client_events() -> None:
    engine = ReplayEngine(TEXT_TURN)
    assert sent_types(engine.start()) == ["session.created"]
    assert engine.expected is not None and engine.expected.type == "session.update"
    out = engine.receive(json.dumps({"type": "session.update", "session": {"instructions": "hi"}}))
    assert sent_types(out) == ["session.updated"]
    out = engine.receive(json.dumps(TEXT_TURN[3].event))
    assert out == []  # response.create still expected before the server answered
    out = engine.receive('{"type":"response.create"}')
    assert sent_types(out) == ["conversation.item.added", "response.created", "response.done"]
    assert engine.finished and engine.failure is None and engine.position == 3


def test_unchanged_frames_are_sent_byte_for_byte() -> None:
    raw = '{"type":"session.created",  "extra" : [1, 2], "obfuscation":"x"}'
    line = Event(conn=0, dir="server", t=0, raw=raw, event=json.loads(raw))
    out = ReplayEngine([line]).start()
    assert out == [SendFrame(raw, 0)]


def test_client_ids_are_rebound_into_later_server_events() -> None:
    engine = ReplayEngine(TEXT_TURN)
    engine.start()
    engine.receive(json.dumps(TEXT_TURN[1].event))
    item = dict(TEXT_TURN[3].event)
    item["item"] = {**item["item"], "id": "item_fresh_from_client"}
    item["event_id"] = "evt_different"
    assert engine.receive(json.dumps(item)) == []
    out = engine.receive(json.dumps({"type": "response.create", "event_id": "evt_new"}))
    added = json.loads(out[0].data)
    assert added["item"]["id"] == "item_fresh_from_client"
    assert engine.bindings == {"item_client1": "item_fresh_from_client"}
    assert out[1].data == TEXT_TURN[6].raw  # frames without rebound ids stay verbatim


def test_a_rebound_id_must_be_used_consistently() -> None:
    lines = [
        c(1, type="conversation.item.create", item={"id": "rec_1", "type": "message"}),
        c(2, type="conversation.item.delete", item_id="rec_1"),
    ]
    engine = ReplayEngine(lines)
    engine.start()
    engine.receive(json.dumps({"type": "conversation.item.create",
                               "item": {"id": "mine_1", "type": "message"}}))
    out = engine.receive(json.dumps({"type": "conversation.item.delete", "item_id": "other"}))
    assert isinstance(out[0], SendError)
    assert "item_id" in str(engine.failure) and "mine_1" in str(engine.failure)


@pytest.mark.parametrize(
    ("sent", "needle"),
    [
        ({"type": "response.cancel"}, "type: expected 'response.create', got 'response.cancel'"),
        ({"type": "response.create", "response": {"instructions": "x"}}, "response:"),
    ],
)
def test_mismatch_kinds_are_explained(sent: dict[str, Any], needle: str) -> None:
    engine = ReplayEngine([c(1, type="response.create")], cassette_path="cass.jsonl",
                          record_mode="none")
    engine.start()
    out = engine.receive(json.dumps(sent))
    error = json.loads(out[0].data)
    assert error["type"] == "error" and error["error"]["code"] == "replay_mismatch"
    message = str(engine.failure)
    assert isinstance(engine.failure, CannotOverwriteExistingCassetteException)
    for part in ("cass.jsonl", "client event #1", "record mode: none", "How to fix", needle):
        assert part in message
    # after a mismatch nothing more is released; every frame gets an error
    assert isinstance(engine.receive('{"type":"response.create"}')[0], SendError)


def test_extra_client_event_and_non_json_frame_are_mismatches() -> None:
    engine = ReplayEngine([c(1, type="response.create")])
    engine.start()
    engine.receive('{"type":"response.create"}')
    engine.receive('{"type":"response.create"}')
    assert "after the last client event" in str(engine.failure)
    engine = ReplayEngine([c(1, type="response.create")])
    engine.start()
    engine.receive("not json")
    assert "a JSON event" in str(engine.failure)


@pytest.mark.parametrize(("policy", "other", "ok"), [
    ("any", "AAAA" * 10, True),
    ("length", "BBBB" * 4, True),
    ("length", "BBBB" * 5, False),
    ("exact", "AAAA" * 4, True),
    ("exact", "BBBB" * 4, False),
])
def test_audio_match_policies(policy: str, other: str, ok: bool) -> None:
    engine = ReplayEngine([c(1, type="input_audio_buffer.append", audio="AAAA" * 4)],
                          policy=MatchPolicy(audio=policy))  # type: ignore[arg-type]
    engine.start()
    engine.receive(json.dumps({"type": "input_audio_buffer.append", "audio": other}))
    assert (engine.failure is None) is ok


def test_ignore_paths_and_user_matchers() -> None:
    recorded = c(1, type="session.update", session={"instructions": "v1", "voice": "alloy"})
    sent = json.dumps({"type": "session.update", "session": {"instructions": "v2",
                                                             "voice": "alloy"}})
    engine = ReplayEngine([recorded], policy=MatchPolicy(ignore_paths=("session.instructions",)))
    engine.start()
    engine.receive(sent)
    assert engine.failure is None

    def same_voice(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
        return expected["session"]["voice"] == actual["session"]["voice"]

    def never(expected: dict[str, Any], actual: dict[str, Any]) -> str:
        return "voices differ"

    engine = ReplayEngine([recorded], policy=MatchPolicy(match_on=("type",),
                                                         matchers=(same_voice,)))
    engine.start()
    engine.receive(sent)
    assert engine.failure is None
    engine = ReplayEngine([recorded], policy=MatchPolicy(match_on=("type",), matchers=(never,)))
    engine.start()
    engine.receive(sent)
    assert "voices differ" in str(engine.failure)
    with pytest.raises(ValueError, match="audio_match"):
        MatchPolicy(audio="loose")  # type: ignore[arg-type]


def test_recorded_server_close_and_frames() -> None:
    lines = [
        s(1, type="error", error={"code": "invalid_api_key"}),
        CloseLine(conn=0, t=2, code=3000, reason="invalid_request_error.invalid_api_key",
                  by="server"),
    ]
    out = ReplayEngine(lines).start()
    assert sent_types(out) == ["error"]
    assert out[1] == SendClose(3000, "invalid_request_error.invalid_api_key", 2)
    lines = [Frame(conn=0, dir="client", t=1, text="oops"),
             Frame(conn=0, dir="server", t=2, binary=b"\x00")]
    engine = ReplayEngine(lines)
    engine.start()
    assert engine.receive("oops") == [SendFrame(b"\x00", 2)]


def test_unplayed_counts_what_was_never_reached() -> None:
    engine = ReplayEngine(TEXT_TURN)
    engine.start()
    assert engine.describe_expected().startswith("client event 'session.update'")
    sample: list[str] = []
    assert engine.count_unplayed(sample, limit=2) == 7  # 3 client + 4 server (not close lines)
    assert sample == ["client session.update", "server session.updated"]


def test_pace() -> None:
    assert Pace.parse("instant").due(500, 0, 10.0) == 10.0
    assert Pace.parse("recorded").due(500, 100, 10.0) == pytest.approx(10.4)
    assert Pace.parse("4x").due(500, 100, 10.0) == pytest.approx(10.1)
    assert Pace.parse(2).due(100, 500, 10.0) == 10.0  # never before the anchor
    assert str(Pace.parse("0.5x")) == "0.5x"
    with pytest.raises(ValueError, match="pace"):
        Pace.parse("fast")
    with pytest.raises(ValueError, match="positive"):
        Pace.parse("0")


def test_a_client_event_nested_at_the_edge_of_the_recursion_limit_is_a_mismatch() -> None:
    # json.loads takes it; comparing and reporting it must not crash the connection
    for depth in range(900, 1000, 5):
        frame = '{"type":"response.create","response":' + "[" * depth + "]" * depth + "}"
        try:
            json.loads(frame)
        except RecursionError:
            break
        engine = ReplayEngine([c(1, type="response.create")])
        engine.start()
        out = engine.receive(frame)
        assert isinstance(out[0], SendError) and engine.failure is not None
        # at the edge, whether the engine's own parse (a few frames deeper) still takes it
        # depends on the caller's stack: either way a readable mismatch, not a crash
        report = str(engine.failure)
        assert "does not match the recorded 'response.create'" in report
        assert "response: expected (missing), got" in report or "<frame>: expected" in report
