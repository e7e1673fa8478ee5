"""The causal engine with plain event lists (no sockets, no clock): each recorded server event
waits only for the client event it answers, a client event matches any unplayed recorded one
whose causes were played, and an answer never outruns its question. The orders below are the
ones real clients produced (issue 20): openai-agents' tracing `session.update`, sent from its
receive loop, before, between or after the app's events; @openai/agents-realtime's two
`session.update`s in either order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtkit.cassette import CassetteWriter, CloseLine, Event
from rtkit.protocol.events import ALL_SERVER_EVENTS
from rtkit.replay.causal import CausalEngine
from rtkit.replay.causes import ANSWERS, AUDIO_AT, ON_THEIR_OWN, CausalTable
from rtkit.replay.engine import SendClose, SendError, SendFrame, SendRun
from rtkit.replay.player import CassettePlayer
from tests.test_replay_core import c, s

ROOT = Path(__file__).resolve().parent.parent


def types(outputs: list[Any]) -> list[str]:
    out = []
    for o in outputs:
        if isinstance(o, SendRun):
            out += [json.loads(bytes(p))["type"] for p in o.payloads]
        elif isinstance(o, SendFrame):
            out.append(json.loads(o.data)["type"])
        elif isinstance(o, SendError):
            out.append("error")
        elif isinstance(o, SendClose):
            out.append("close")
    return out


def send(engine: CausalEngine, line: Event, now: float = 0.0, **changes: Any) -> list[str]:
    return types(engine.receive(json.dumps({**line.event, **changes}), now))


USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
CONFIG = {"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."}
TRACING = {"type": "realtime", "tracing": "auto"}

# openai-agents against a fast upstream: the server answered the app's config between it and
# the tracing update, which the SDK sends from its receive loop
C_CONFIG = c(3, type="session.update", event_id="a_config", session=CONFIG)
C_TRACING = c(9, type="session.update", event_id="a_tracing", session=TRACING)
C_USER = c(9, type="conversation.item.create", event_id="a_item", item=USER)
C_CREATE = c(10, type="response.create", event_id="agents_py_response_create_1")
AGENTS = [
    s(1, type="session.created", session={"id": "sess_1"}),
    C_CONFIG,
    s(8, type="session.updated", session={"id": "sess_1", **CONFIG}),
    C_TRACING,
    C_USER,
    C_CREATE,
    s(12, type="session.updated", session={"id": "sess_1", "tracing": "auto"}),
    s(13, type="conversation.item.added", item={"id": "item_1", **USER}),
    s(13, type="conversation.item.done", item={"id": "item_1", **USER}),
    s(14, type="response.created", response={"id": "resp_1"}),
    s(15, type="response.output_item.added", item={"id": "item_2", "role": "assistant"}),
    s(15, type="conversation.item.added", item={"id": "item_2", "role": "assistant"}),
    s(16, type="response.output_text.delta", item_id="item_2", delta="Hello"),
    s(17, type="response.done", response={"id": "resp_1", "status": "completed"}),
    s(17, type="rate_limits.updated", rate_limits=[]),
    CloseLine(conn=0, t=30, code=1000, reason="", by="client"),
]
RESPONSE = ["response.created", "response.output_item.added", "conversation.item.added",
            "response.output_text.delta", "response.done", "rate_limits.updated"]


@pytest.mark.parametrize("order", [
    [C_CONFIG, C_TRACING, C_USER, C_CREATE],  # as recorded
    [C_CONFIG, C_USER, C_TRACING, C_CREATE],  # the tracing update after the app's item
    [C_TRACING, C_CONFIG, C_USER, C_CREATE],  # before the app's config
    [C_CONFIG, C_USER, C_CREATE, C_TRACING],  # after the app's response.create
], ids=["recorded", "after-item", "first", "last"])
def test_the_agents_tracing_update_may_come_anywhere(order: list[Event]) -> None:
    engine = CausalEngine(iter(AGENTS))  # a lazy episode, as rtkit serve streams it
    assert types(engine.start()) == ["session.created"]
    released: list[str] = []
    for line in order:
        released += send(engine, line)
        assert engine.failure is None
        if line is C_CONFIG:  # answered at once, whatever came before
            assert released.count("session.updated") >= 1
        if line is not C_CREATE and C_CREATE not in order[:order.index(line)]:
            assert "response.created" not in released  # never before its question
    assert released == ["session.updated", "session.updated", "conversation.item.added",
                        "conversation.item.done", *RESPONSE]
    assert engine.finished and engine.position == 4 and engine.count_unplayed() == 0


def test_the_server_events_keep_their_recorded_order() -> None:
    """The answer to the tracing update was recorded before the item's and the response's:
    until the tracing update comes, they wait (a server never reorders its own events)."""
    engine = CausalEngine(AGENTS)
    engine.start()
    assert send(engine, C_CONFIG) == ["session.updated"]
    assert send(engine, C_USER) == []
    assert send(engine, C_CREATE) == []
    assert engine.describe_expected().startswith("client event 'session.update' (recorded at "
                                                 "9 ms, the episode's client event #2)")
    assert send(engine, C_TRACING) == ["session.updated", "conversation.item.added",
                                       "conversation.item.done", *RESPONSE]


# @openai/agents-realtime: two session.updates (tracing, the agent's config) in either order
C_A = c(2, type="session.update", session=TRACING)
C_B = c(2, type="session.update", session=CONFIG)
TWO_UPDATES = [
    s(1, type="session.created", session={"id": "sess_1"}),
    C_A, C_B,
    s(5, type="session.updated", session={"n": 1}),
    s(6, type="session.updated", session={"n": 2}),
    c(7, type="conversation.item.create", item=USER),
    c(7, type="response.create"),
    s(8, type="conversation.item.added", item={"id": "item_1", **USER}),
    s(9, type="response.created", response={"id": "resp_1"}),
    s(10, type="response.done", response={"id": "resp_1"}),
]


@pytest.mark.parametrize("first", [C_A, C_B], ids=["recorded", "swapped"])
def test_two_session_updates_in_either_order(first: Event) -> None:
    engine = CausalEngine(TWO_UPDATES)
    engine.start()
    second = C_B if first is C_A else C_A
    assert send(engine, first) == (["session.updated"] if first is C_A else [])
    assert send(engine, second) == (["session.updated"] if first is C_A else
                                    ["session.updated", "session.updated"])
    assert send(engine, TWO_UPDATES[5]) == ["conversation.item.added"]
    assert send(engine, TWO_UPDATES[6]) == ["response.created", "response.done"]
    assert engine.failure is None and engine.finished


def test_each_is_still_compared_in_full() -> None:
    engine = CausalEngine(TWO_UPDATES)
    engine.start()
    assert send(engine, C_B, session={**CONFIG, "instructions": "Be long."}) == ["error"]
    report = str(engine.failure)
    assert "client event #1 does not match the recorded 'session.update' (the episode's " \
        "client event #2)" in report
    assert "session.instructions: expected 'Be brief.', got 'Be long.'" in report


def test_a_response_create_before_the_message_it_answers_is_refused_at_once() -> None:
    engine = CausalEngine(TWO_UPDATES)
    engine.start()
    send(engine, C_A)
    send(engine, C_B)
    assert send(engine, TWO_UPDATES[6]) == ["error"]
    assert "client event #3 came too early: the recorded 'response.create' it matches comes " \
        "only after the recorded 'conversation.item.create' (client event #3)" \
        in str(engine.failure)
    assert engine.played_server == 3  # nothing of the response went out


def test_a_missing_or_extra_event_is_a_mismatch_at_once() -> None:
    engine = CausalEngine(TWO_UPDATES)
    engine.start()
    assert types(engine.receive('{"type":"response.cancel"}')) == ["error"]
    report = str(engine.failure)
    assert "type: expected 'session.update', got 'response.cancel'" in report
    engine = CausalEngine([c(1, type="response.create")])
    engine.start()
    engine.receive('{"type":"response.create"}')
    engine.receive('{"type":"response.create"}')
    assert "after the last client event recorded" in str(engine.failure)


TOOL = [
    s(1, type="session.created", session={"id": "sess_1"}),
    c(2, type="conversation.item.create", item=USER),
    c(2, type="response.create"),
    s(3, type="conversation.item.added", item={"id": "item_1", **USER}),
    s(4, type="response.created", response={"id": "resp_1"}),
    s(5, type="response.output_item.added",
      item={"id": "item_fc", "type": "function_call", "call_id": "call_1"}),
    s(6, type="response.function_call_arguments.done", item_id="item_fc", call_id="call_1",
      arguments='{"location":"Paris"}'),
    s(7, type="response.done", response={"id": "resp_1"}),
    c(20, type="conversation.item.create",
      item={"type": "function_call_output", "call_id": "call_1", "output": "sunny"}),
    c(20, type="response.create"),
    s(21, type="conversation.item.added", item={"id": "item_out", "type": "function_call_output",
                                                "call_id": "call_1", "output": "sunny"}),
    s(22, type="response.created", response={"id": "resp_2"}),
    s(23, type="response.done", response={"id": "resp_2"}),
]


def test_a_tool_output_waits_for_the_call_it_answers() -> None:
    """The output names the server's call_id: it can only come once the call was sent; and
    the second response.create matches the second recorded one, after the output."""
    engine = CausalEngine(TOOL)
    engine.start()
    assert send(engine, TOOL[1]) == ["conversation.item.added"]
    assert send(engine, TOOL[8]) == ["error"]  # the output before the call was sent
    assert "came too early" in str(engine.failure) and "server event" in str(engine.failure)

    engine = CausalEngine(TOOL)
    engine.start()
    send(engine, TOOL[1])
    assert send(engine, TOOL[2]) == ["response.created", "response.output_item.added",
                                     "response.function_call_arguments.done", "response.done"]
    assert send(engine, TOOL[9]) == ["error"]  # response.create before the tool's output
    engine = CausalEngine(TOOL)
    engine.start()
    for line in (TOOL[1], TOOL[2]):
        send(engine, line)
    assert send(engine, TOOL[8]) == ["conversation.item.added"]
    assert send(engine, TOOL[9]) == ["response.created", "response.done"]
    assert engine.failure is None and engine.finished


def test_an_answer_waits_for_its_question_even_when_recorded_before_an_unrelated_event() -> None:
    """A server event recorded after a client event it does not answer does not wait for it
    (a strict engine would): `session.updated` answers the config, not the user's message."""
    lines = [
        c(1, type="conversation.item.create", item=USER),
        c(1, type="session.update", session=CONFIG),
        s(2, type="session.updated", session={"id": "sess_1"}),
        s(3, type="conversation.item.added", item={"id": "item_1", **USER}),
    ]
    engine = CausalEngine(lines)
    engine.start()
    assert send(engine, lines[2 - 1]) == ["session.updated"]
    assert send(engine, lines[0]) == ["conversation.item.added"]


def test_an_error_answers_the_event_it_names() -> None:
    lines = [
        c(1, type="session.update", event_id="u1", session={"type": "realtime", "x": 1}),
        c(1, type="conversation.item.create", event_id="i1", item=USER),
        s(2, type="error", error={"code": "unknown_parameter", "event_id": "u1"}),
        s(3, type="conversation.item.added", item={"id": "item_1", **USER}),
    ]
    engine = CausalEngine(lines)
    engine.start()
    assert send(engine, lines[0], event_id="mine") == ["error"]
    assert engine.failure is None  # the recorded error, with the client's event_id in it
    assert send(engine, lines[1]) == ["conversation.item.added"]


def test_every_server_event_type_has_a_rule() -> None:
    """The table in docs/replay.md names every server event of both dialects; each one is
    either answered, released by audio, sent on its own, or part of what the server started
    (the response.* events and transcription): none falls back to waiting for everything."""
    table = (ROOT / "docs" / "replay.md").read_text(encoding="utf-8")
    followers = {t for t in ALL_SERVER_EVENTS
                 if t.startswith(("response.", "conversation.item.input_audio_transcription."))
                 or t in ("error", "conversation.item.done")}
    assert set(ANSWERS) | set(AUDIO_AT) | ON_THEIR_OWN | followers >= ALL_SERVER_EVENTS
    for name in set(ANSWERS) | set(AUDIO_AT) | ON_THEIR_OWN:
        assert f"`{name}`" in table, name
    for prefix in ("response.*", "conversation.item.input_audio_transcription.*", "`error`"):
        assert prefix in table, prefix
    # and the table knows which client event each answer pairs with
    fed = CausalTable()

    class Entry:
        def __init__(self, kind: str) -> None:
            self.kind = kind

    created = Entry("response.create")
    fed.client(created, {"type": "response.create"})
    assert fed.server("response.created", {"type": "response.created"}).answers is created


def test_a_long_difference_is_shown_around_its_first_differing_character(
        tmp_path: Path) -> None:
    """Both sides of a long string are cut around where they differ, not at the same prefix;
    the report names the recorded event's line in the cassette (lines from 1, as `rtkit
    validate` and editors count them)."""
    head = "You are a weather assistant. " * 8
    path = tmp_path / "long.jsonl"
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query="model=gpt-realtime")
        w.event(0, "server", 1, '{"type":"session.created"}')
        w.event(0, "client", 2, json.dumps({"type": "session.update", "session": {
            "type": "realtime", "instructions": head + "Use the tool for forecasts in Paris."}}))
        w.event(0, "server", 3, '{"type":"session.updated"}')
        w.close(0, 4, 1000, "", "client")
    player = CassettePlayer.open(path)
    engine = player.engine(player.pick("/v1/realtime", "model=gpt-realtime"))
    engine.start()
    engine.receive(json.dumps({"type": "session.update", "session": {
        "type": "realtime", "instructions": head + "Use the tool for forecasts in Rome."}}))
    report = str(engine.failure)
    at = len(head) + len("Use the tool for forecasts in ") + 1
    assert f"session.instructions, from character {at}: expected …'e tool for forecasts in " \
        "Paris.', got …'e tool for forecasts in Rome.'" in report
    assert '"instructions": "…or forecasts in Paris."}}' in report  # the expected line
    assert f"(the episode's client event #1, {path}:4)" in report  # header, connect, event
    assert (path.read_text().splitlines()[3]).startswith('{"kind":"event","conn":0,'
                                                         '"dir":"client"')
    shown = report.replace(str(path), "long.jsonl").splitlines()  # short lines, paths aside
    assert all(len(line) <= 250 for line in shown[1:-1]), report
