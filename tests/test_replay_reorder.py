"""A `session.update` may come earlier or later than recorded within its run of client events
(recorded back to back, no server event between them): clients send it from tasks of their
own (openai-agents' tracing `session.update`, sent when `session.created` arrives, races the
app's first message), so its place changes from run to run. Everything else about matching
stays: it is compared in full, `session.update`s keep their order, nothing overtakes a server
event, and any other event out of place (a missing or an extra one) is a mismatch at once."""

from __future__ import annotations

import json
from typing import Any

from rtkit.cassette import CloseLine, Event
from rtkit.replay.engine import ReplayEngine, SendFrame
from tests.test_replay_core import c, s


def sent(outputs: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(o.data) for o in outputs if isinstance(o, SendFrame)]


USER = {"id": "item_app1", "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Hello!"}]}
TRACING = {"type": "realtime", "tracing": "auto"}
# as openai-agents was recorded: its tracing update landed between the app's two events
AGENTS = [
    s(1, type="session.created", session={"id": "sess_1"}),
    c(140, type="session.update", session={"type": "realtime", "output_modalities": ["text"]}),
    c(141, type="conversation.item.create", event_id="evt_a", item=USER),
    c(141, type="session.update", session=TRACING),
    c(141, type="response.create", event_id="agents_py_response_create_1"),
    s(150, type="session.updated", session={"id": "sess_1"}),
    s(151, type="conversation.item.added", item={**USER, "status": "completed"}),
    s(160, type="response.created", response={"id": "resp_1"}),
    s(170, type="response.done", response={"id": "resp_1", "status": "completed"}),
    CloseLine(conn=0, t=200, code=1000, reason="", by="client"),
]


def client(line: Event, **changes: Any) -> str:
    return json.dumps({**line.event, **changes})


def test_a_session_update_may_come_later_within_its_run() -> None:
    engine = ReplayEngine(iter(AGENTS))  # a lazy episode, as ReplayServer streams it
    assert [e["type"] for e in sent(engine.start())] == ["session.created"]
    assert sent(engine.receive(client(AGENTS[1]))) == []
    assert sent(engine.receive(client(AGENTS[2], event_id="evt_b"))) == []
    assert sent(engine.receive(client(AGENTS[4]))) == []  # before the tracing update
    assert engine.failure is None and engine.position == 3
    assert engine.expected is AGENTS[3]  # what is still owed
    out = sent(engine.receive(client(AGENTS[3])))
    assert [e["type"] for e in out] == ["session.updated", "conversation.item.added",
                                        "response.created", "response.done"]
    assert engine.failure is None and engine.position == 4 and engine.finished


def test_the_recorded_order_still_plays() -> None:
    engine = ReplayEngine(AGENTS)
    engine.start()
    for line in AGENTS[1:4]:
        assert sent(engine.receive(client(line))) == []
    assert len(sent(engine.receive(client(AGENTS[4])))) == 4
    assert engine.failure is None and engine.finished


def test_an_event_taken_out_of_order_is_still_compared_in_full() -> None:
    engine = ReplayEngine(AGENTS)
    engine.start()
    engine.receive(client(AGENTS[1]))
    engine.receive(client(AGENTS[2]))
    out = engine.receive(client(AGENTS[4], response={"instructions": "other"}))
    assert out and engine.failure is not None
    report = str(engine.failure)
    assert "client event #3 does not match the recorded 'session.update'" in report


def test_events_of_one_type_keep_their_order() -> None:
    first = {**USER, "content": [{"type": "input_text", "text": "first"}]}
    second = {**USER, "id": "item_app2", "content": [{"type": "input_text", "text": "second"}]}
    lines = [c(1, type="conversation.item.create", item=first),
             c(1, type="conversation.item.create", item=second),
             s(2, type="conversation.item.added", item=first)]
    engine = ReplayEngine(lines)
    engine.start()
    engine.receive(client(lines[1]))
    assert engine.failure is not None
    assert "text: expected 'first', got 'second'" in str(engine.failure)


def test_no_client_event_overtakes_a_server_event() -> None:
    lines = [c(1, type="session.update", session=TRACING),
             s(2, type="session.updated", session={"id": "sess_1"}),
             c(3, type="response.create")]
    engine = ReplayEngine(lines)
    engine.start()
    engine.receive('{"type":"response.create"}')
    assert engine.failure is not None
    assert "does not match the recorded 'session.update'" in str(engine.failure)


def test_ids_bound_out_of_order_are_rewritten_and_not_left_unplayed() -> None:
    lines = [c(1, type="session.update", session=TRACING),
             c(1, type="conversation.item.create", item=USER),
             s(2, type="conversation.item.added", item={**USER, "status": "completed"})]
    engine = ReplayEngine(lines)
    engine.start()
    assert engine.receive(client(lines[1], item={**USER, "id": "item_new"})) == []
    # the early one counts as played; the owed one and what it gated were not
    assert engine.unplayed() == [lines[0], lines[2]]

    engine = ReplayEngine(lines)
    engine.start()
    engine.receive(client(lines[1], item={**USER, "id": "item_new"}))
    (added,) = sent(engine.receive(client(lines[0])))
    assert added["item"]["id"] == "item_new" and engine.finished


def test_a_session_update_may_come_earlier_within_its_run() -> None:
    lines = [c(1, type="conversation.item.create", item=USER),
             c(1, type="response.create"),
             c(1, type="session.update", session=TRACING),
             s(2, type="response.created", response={"id": "resp_1"})]
    engine = ReplayEngine(lines)
    engine.start()
    assert engine.receive(client(lines[2])) == []
    assert engine.receive(client(lines[0])) == []
    assert [e["type"] for e in sent(engine.receive(client(lines[1])))] == ["response.created"]
    assert engine.failure is None and engine.finished


def test_any_other_event_out_of_place_is_a_mismatch_at_once() -> None:
    """A client that skips its user message (or sends an extra event) is refused on the spot,
    not after a timeout: only a session.update moves."""
    lines = [c(1, type="session.update", session=TRACING),
             c(1, type="conversation.item.create", item=USER),
             c(1, type="response.create"),
             s(2, type="response.created", response={"id": "resp_1"})]
    engine = ReplayEngine(lines)
    engine.start()
    engine.receive('{"type":"response.create"}')  # overtakes the session.update and the item
    assert engine.failure is not None
    assert "does not match the recorded 'session.update'" in str(engine.failure)

    engine = ReplayEngine(lines)
    engine.start()
    engine.receive(client(lines[0]))
    engine.receive('{"type":"response.create"}')  # the user message is missing
    assert engine.failure is not None
    assert "does not match the recorded 'conversation.item.create'" in str(engine.failure)
