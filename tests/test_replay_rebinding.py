"""Id rebinding, sans-I/O, in both engines (strict and causal order): values the client
invents (ids under `id` / `*_id` keys at any depth, its own `event_id`) are bound and
rewritten into later server events wherever they sit; anything else that differs, and an id
the server had announced, stays a mismatch. Plain events, no sockets; the last tests replay
the same from a cassette file (server events in runs, as `rtkit serve` reads them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtkit.cassette import CassetteWriter, Event
from rtkit.replay.causal import CausalEngine
from rtkit.replay.engine import ReplayEngine, SendError, SendFrame, SendRun
from rtkit.replay.player import CassettePlayer, Engine

ENGINES: dict[str, Any] = {"strict": ReplayEngine, "causal": CausalEngine}


@pytest.fixture(params=["strict", "causal"])
def order(request: pytest.FixtureRequest) -> str:
    """Both engines bind and rewrite ids the same way."""
    return str(request.param)


def c(t: float, **event: Any) -> Event:
    return Event(conn=0, dir="client", t=t, raw=json.dumps(event), event=event)


def s(t: float, **event: Any) -> Event:
    return Event(conn=0, dir="server", t=t, raw=json.dumps(event), event=event)


def sent(outputs: list[Any]) -> list[dict[str, Any]]:
    events = []
    for out in outputs:
        if isinstance(out, SendRun):
            events += [json.loads(bytes(p)) for p in out.payloads]
        elif isinstance(out, SendFrame | SendError):
            data = out.data
            events.append(json.loads(bytes(data) if not isinstance(data, str) else data))
    return events


# What livekit-plugins-openai does: a random client_event_id in the response's metadata, and
# it waits for the response.created that echoes it.
LIVEKIT = [
    s(1, type="session.created", event_id="event_S1", session={"id": "sess_1"}),
    c(5, type="response.create", event_id="response_create_1866aa",
      response={"metadata": {"client_event_id": "response_create_1866aa"}}),
    s(20, type="response.created", event_id="event_S2",
      response={"id": "resp_1", "metadata": {"client_event_id": "response_create_1866aa"}}),
    s(30, type="response.done", event_id="event_S3",
      response={"id": "resp_1", "status": "completed",
                "metadata": {"client_event_id": "response_create_1866aa"}}),
]


def test_a_client_event_id_in_metadata_is_bound_and_echoed_back(order: str) -> None:
    engine = ENGINES[order](LIVEKIT)
    engine.start()
    mine = "response_create_9e7e42"
    out = sent(engine.receive(json.dumps({
        "type": "response.create", "event_id": mine,
        "response": {"metadata": {"client_event_id": mine}}})))
    assert engine.failure is None
    assert [e["type"] for e in out] == ["response.created", "response.done"]
    assert [e["response"]["metadata"]["client_event_id"] for e in out] == [mine, mine]
    assert out[0]["response"]["id"] == "resp_1"  # what the server invented stays as recorded
    assert engine.bindings == {"response_create_1866aa": mine}


def test_the_clients_event_id_is_echoed_in_error_event_id(order: str) -> None:
    lines = [
        c(1, type="conversation.item.delete", event_id="evt_recorded", item_id="item_gone"),
        s(2, type="error", event_id="event_E1",
          error={"type": "invalid_request_error", "code": "item_not_found",
                 "message": "Item 'item_gone' not found.", "event_id": "evt_recorded"}),
        s(3, type="rate_limits.updated", event_id="event_E2", note="evt_recorded"),
    ]
    engine = ENGINES[order](lines)
    engine.start()
    out = sent(engine.receive(json.dumps({"type": "conversation.item.delete",
                                          "event_id": "evt_mine", "item_id": "item_gone"})))
    assert engine.failure is None
    assert out[0]["error"]["event_id"] == "evt_mine"
    assert out[1]["note"] == "evt_recorded"  # an event_id is echoed in error events only


def test_a_custom_id_field_is_rewritten_wherever_the_server_echoes_it(order: str) -> None:
    lines = [
        c(1, type="response.create", response={"metadata": {"topic_id": "topic_rec_0001"}},
          request_id="req_rec_77"),
        s(2, type="response.created", response={"id": "resp_1", "metadata": {
            "topic_id": "topic_rec_0001"}}, x_trace=["req_rec_77", {"deep": "topic_rec_0001"}]),
    ]
    engine = ENGINES[order](lines)
    engine.start()
    (out,) = sent(engine.receive(json.dumps({
        "type": "response.create", "response": {"metadata": {"topic_id": "topic_new_9999"}},
        "request_id": "req_new_11"})))
    assert out["response"]["metadata"]["topic_id"] == "topic_new_9999"
    assert out["x_trace"] == ["req_new_11", {"deep": "topic_new_9999"}]


TOOL_TURN = [
    s(1, type="session.created", session={"id": "sess_1"}),
    c(2, type="session.update", session={"instructions": "Be brief.", "voice": "alloy"}),
    s(3, type="session.updated", session={"id": "sess_1", "instructions": "Be brief."}),
    c(4, type="conversation.item.create", item={"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Weather in Paris?"}]}),
    s(5, type="conversation.item.added", item={"id": "item_srv_user", "type": "message",
                                               "content": [{"type": "input_text",
                                                            "text": "Weather in Paris?"}]}),
    c(6, type="response.create"),
    s(7, type="response.output_item.added", item={"id": "item_srv_call",
                                                  "type": "function_call",
                                                  "call_id": "call_srv_1"}),
    s(8, type="response.function_call_arguments.delta", item_id="item_srv_call",
      call_id="call_srv_1", delta="{}"),
    c(9, type="conversation.item.create", item={"type": "function_call_output",
                                               "call_id": "call_srv_1", "output": "sunny"}),
    c(10, type="conversation.item.truncate", item_id="item_srv_user", content_index=0,
      audio_end_ms=0),
]


def play_tool_turn(order: str, change: Any = None, at: int = -1) -> Engine:
    """Send TOOL_TURN's client events; `change(event)` alters client event number `at`."""
    engine = ENGINES[order](TOOL_TURN)
    engine.start()
    client = [line for line in TOOL_TURN if line.dir == "client"]
    for k, line in enumerate(client):
        event = json.loads(json.dumps(line.event))
        if k == at:
            change(event)
        engine.receive(json.dumps(event))
        if engine.failure is not None:
            break
    return engine


def test_the_unchanged_tool_turn_matches(order: str) -> None:
    engine = play_tool_turn(order)
    assert engine.failure is None and engine.finished


def _text(event: dict[str, Any]) -> None:
    event["item"]["content"][0]["text"] = "Weather in Rome?"


def _output(event: dict[str, Any]) -> None:
    event["item"]["output"] = "rainy"


def _instructions(event: dict[str, Any]) -> None:
    event["session"]["instructions"] = "Be long."


def _voice(event: dict[str, Any]) -> None:
    event["session"]["voice"] = "verse"


@pytest.mark.parametrize(("change", "at", "needle"), [
    (_text, 1, "item.content[0].text: expected 'Weather in Paris?', got 'Weather in Rome?'"),
    (_output, 3, "item.output: expected 'sunny', got 'rainy'"),
    (_instructions, 0, "session.instructions: expected 'Be brief.', got 'Be long.'"),
    (_voice, 0, "session.voice: expected 'alloy', got 'verse'"),
])
def test_user_text_tool_output_and_session_fields_are_still_mismatches(
        order: str, change: Any, at: int, needle: str) -> None:
    # the user's text is echoed by the server later, yet it is not an id: no binding
    engine = play_tool_turn(order, change, at)
    assert engine.failure is not None and needle in str(engine.failure)
    assert engine.bindings == {}


@pytest.mark.parametrize(("event_type", "field", "value"), [
    ("conversation.item.create", "call_id", "call_made_up"),
    ("conversation.item.truncate", "item_id", "item_made_up"),
])
def test_an_id_the_server_announced_must_come_back_exactly(order: str, event_type: str, field: str,
                                                           value: str) -> None:
    engine = ENGINES[order](TOOL_TURN)
    engine.start()
    for line in TOOL_TURN:
        if line.dir != "client":
            continue
        event = json.loads(json.dumps(line.event))
        target = event["item"] if event_type == "conversation.item.create" and \
            event.get("item", {}).get("type") == "function_call_output" else event
        if line.type == event_type and field in target:
            target[field] = value
        engine.receive(json.dumps(event))
        if engine.failure is not None:
            break
    assert engine.failure is not None
    assert f"{field}: expected '" in str(engine.failure)
    assert "(an id the server sent earlier)" in str(engine.failure)
    assert engine.bindings == {}


def test_two_recorded_ids_cannot_share_one_new_id(order: str) -> None:
    lines = [c(1, type="conversation.item.create", item={"id": "rec_a", "type": "message"}),
             c(2, type="conversation.item.create", item={"id": "rec_b", "type": "message"})]
    engine = ENGINES[order](lines)
    engine.start()
    engine.receive(json.dumps({"type": "conversation.item.create",
                               "item": {"id": "mine", "type": "message"}}))
    engine.receive(json.dumps({"type": "conversation.item.create",
                               "item": {"id": "mine", "type": "message"}}))
    assert "already stands for the recorded 'rec_a'" in str(engine.failure)


def test_the_mismatch_error_event_carries_the_full_report(order: str) -> None:
    engine = ENGINES[order](TOOL_TURN, cassette_path="tool.jsonl")
    engine.start()
    (error,) = sent(engine.receive(json.dumps({"type": "session.update", "event_id": "e9",
                                               "session": {"instructions": "x"}})))
    assert error["error"]["code"] == "replay_mismatch"
    assert error["error"]["event_id"] == "e9"
    assert error["error"]["message"] == str(engine.failure)
    assert "How to fix" in error["error"]["message"] and "differences:" in error["error"]["message"]


# -- the same from a cassette file: server events come in runs --------------------------------

def livekit_cassette(path: Path) -> Path:
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query="model=gpt-realtime")
        for line in LIVEKIT:
            w.event(0, line.dir, line.t, line.raw)
        for k in range(300):  # a long run after it, with the id in the middle of it
            w.event(0, "server", 40 + k, json.dumps({"type": "response.output_audio.delta",
                                                     "response_id": "resp_1",
                                                     "delta": "AAAA" * 200}))
            if k == 150:
                w.event(0, "server", 40 + k, json.dumps({
                    "type": "response.output_item.added", "response_id": "resp_1",
                    "item": {"id": "item_x", "metadata": {
                        "client_event_id": "response_create_1866aa"}}}))
        w.close(0, 500, 1000, "", "client")
    return path


def test_from_a_cassette_runs_are_rewritten_only_where_the_id_sits(order: str,
                                                                   tmp_path: Path) -> None:
    player = CassettePlayer.open(livekit_cassette(tmp_path / "lk.jsonl"), order=order)
    engine = player.engine(player.pick("/v1/realtime", "model=gpt-realtime"))
    start = engine.start()
    assert [type(o) for o in start] == [SendRun]
    out = engine.receive(json.dumps({"type": "response.create", "event_id": "rc_new",
                                     "response": {"metadata": {"client_event_id": "rc_new"}}}))
    assert engine.failure is None
    events = sent(out)
    assert len(events) == 2 + 301
    assert [e["response"]["metadata"]["client_event_id"] for e in events[:2]] == ["rc_new"] * 2
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert added[0]["item"]["metadata"]["client_event_id"] == "rc_new"
    # every other event went out as the exact recorded bytes (views into the file's block)
    runs = [o for o in out if isinstance(o, SendRun)]
    untouched = [p for run in runs for p in run.payloads if isinstance(p, memoryview)]
    assert len(untouched) == 300


def test_runs_and_single_events_give_the_same_bytes(order: str, tmp_path: Path) -> None:
    path = livekit_cassette(tmp_path / "lk.jsonl")
    streams = []
    for pace in ("instant", "recorded"):
        player = CassettePlayer.open(path, pace=pace, order=order)
        engine = player.engine(player.pick("/v1/realtime", "model=gpt-realtime"))
        outputs = engine.start() + engine.receive(json.dumps(LIVEKIT[1].event))
        frames: list[bytes] = []
        for out in outputs:
            if isinstance(out, SendRun):
                frames += [bytes(p) for p in out.payloads]
            elif isinstance(out, SendFrame):
                frames.append(bytes(out.data) if not isinstance(out.data, str)
                              else out.data.encode())
        streams.append(frames)
    assert streams[0] == streams[1] and len(streams[0]) == 304


def test_an_id_beside_long_audio_is_found_before_or_after_it(order: str, tmp_path: Path) -> None:
    path = tmp_path / "audio.jsonl"
    audio = "QUJD" * 2000
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query="model=gpt-realtime")
        w.event(0, "client", 1, json.dumps({"type": "conversation.item.create",
                                            "item": {"id": "item_rec_01", "type": "message"}}))
        w.event(0, "server", 2, json.dumps({"type": "response.output_audio.delta",
                                            "item_id": "item_rec_01", "delta": audio}))
        w.event(0, "server", 3, json.dumps({"type": "response.output_audio.delta",
                                            "delta": audio, "item_id": "item_rec_01"}))
        w.event(0, "server", 4, json.dumps({"type": "response.output_audio.delta",
                                            "item_id": "item_other", "delta": audio}))
        w.close(0, 5, 1000, "", "client")
    player = CassettePlayer.open(path, order=order)
    engine = player.engine(player.pick("/v1/realtime", "model=gpt-realtime"))
    engine.start()
    out = sent(engine.receive(json.dumps({"type": "conversation.item.create",
                                          "item": {"id": "item_mine", "type": "message"}})))
    assert [e["item_id"] for e in out] == ["item_mine", "item_mine", "item_other"]
    assert all(e["delta"] == audio for e in out)
