"""The `expect` API: every check passes on a matching conversation and fails readably."""

from __future__ import annotations

import base64
import json
import re

import pytest

from rtkit.assertions import (
    Conversation,
    ConversationAssertionError,
    RecordedEvent,
    rt_conversation,
    watch,
)

PCM_100MS = base64.b64encode(b"\x01\x00" * 2400).decode()


def _server(*events: dict) -> list[dict]:
    return [{"source": "server", "event": e} for e in events]


def _message(item_id: str, role: str, content: list[dict], status: str = "completed") -> dict:
    return {
        "type": "message",
        "id": item_id,
        "object": "realtime.item",
        "role": role,
        "status": status,
        "content": content,
    }


def tool_turn_events() -> list[dict]:
    """A GA tool-call round trip followed by a spoken answer (300 ms of audio)."""
    user = _message("item_u1", "user", [{"type": "input_text", "text": "Weather in Paris?"}])
    call = {
        "type": "function_call",
        "id": "item_f1",
        "object": "realtime.item",
        "status": "in_progress",
        "name": "get_weather",
        "call_id": "call_1",
        "arguments": "",
    }
    output = {
        "type": "function_call_output",
        "id": "item_o1",
        "object": "realtime.item",
        "call_id": "call_1",
        "output": json.dumps({"temp_c": 21, "sky": "sunny"}),
    }
    answer = _message("item_a1", "assistant", [], status="in_progress")
    args = json.dumps({"location": "Paris", "unit": "c"})
    return [
        {"source": "server", "event": {"type": "session.created", "session": {"id": "sess_1"}}},
        {"source": "client", "event": {"type": "conversation.item.create", "item": user}},
        *_server(
            {"type": "conversation.item.added", "previous_item_id": None, "item": user},
            {"type": "conversation.item.done", "previous_item_id": None, "item": user},
        ),
        {"source": "client", "event": {"type": "response.create"}},
        *_server(
            {"type": "response.created", "response": {"id": "resp_1", "output": []}},
            {"type": "response.output_item.added", "response_id": "resp_1", "item": call},
            {"type": "conversation.item.added", "previous_item_id": "item_u1", "item": call},
            {
                "type": "response.function_call_arguments.delta",
                "item_id": "item_f1",
                "call_id": "call_1",
                "delta": args,
                "obfuscation": "abc",
            },
            {
                "type": "response.function_call_arguments.done",
                "item_id": "item_f1",
                "call_id": "call_1",
                "arguments": args,
            },
            {
                "type": "response.output_item.done",
                "response_id": "resp_1",
                "item": {**call, "status": "completed", "arguments": args},
            },
            {"type": "response.done", "response": {"id": "resp_1", "status": "completed"}},
        ),
        {"source": "client", "event": {"type": "conversation.item.create", "item": output}},
        *_server(
            {"type": "conversation.item.added", "previous_item_id": "item_f1", "item": output}
        ),
        {"source": "client", "event": {"type": "response.create"}},
        *_server(
            {"type": "response.created", "response": {"id": "resp_2", "output": []}},
            {"type": "response.output_item.added", "response_id": "resp_2", "item": answer},
            {"type": "conversation.item.added", "previous_item_id": "item_o1", "item": answer},
            {
                "type": "response.content_part.added",
                "item_id": "item_a1",
                "content_index": 0,
                "part": {"type": "audio", "transcript": ""},
            },
            *(
                {
                    "type": "response.output_audio.delta",
                    "item_id": "item_a1",
                    "content_index": 0,
                    "delta": PCM_100MS,
                }
                for _ in range(3)
            ),
            {
                "type": "response.output_audio_transcript.delta",
                "item_id": "item_a1",
                "content_index": 0,
                "delta": "It is sunny in Paris, 21 degrees.",
            },
            {
                "type": "response.output_item.done",
                "response_id": "resp_2",
                "item": {**answer, "status": "completed"},
            },
            {"type": "response.done", "response": {"id": "resp_2", "status": "completed"}},
        ),
    ]


@pytest.fixture
def conv() -> Conversation:
    return rt_conversation(tool_turn_events())


def test_items_are_rebuilt_from_events(conv: Conversation) -> None:
    assert [i["type"] for i in conv.items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]


def test_passing_checks_chain(conv: Conversation) -> None:
    (
        conv.expect.no_errors()
        .function_call("get_weather", arguments={"location": "Paris"})
        .function_call("get_weather", arguments={"location": "Paris", "unit": "c"}, exact=True)
        .function_call_output("get_weather", output={"sky": "sunny"})
        .function_call_output(call_id="call_1", output="sunny")
        .function_call_output(output=re.compile(r"temp_c.: 2\d"))
        .assistant_said("sunny in Paris")
        .assistant_said(re.compile(r"\d+ degrees"), source="transcript")
        .user_said("weather in paris", ignore_case=True, source="text")
        .audio_duration(300, tolerance_ms=1)
    )


def test_event_cursor_next_contains_no_more(conv: Conversation) -> None:
    events = conv.expect.events
    events.next("session.created").next("conversation.item.added").contains(
        "response.done", response={"status": "completed"}
    )
    events.ignoring("*.delta").contains("response.output_item.done").next("response.done")
    events.no_more()
    assert events.last["response"]["id"] == "resp_2"
    conv.expect.client_events.next("conversation.item.create").contains("response.create")


def test_item_cursor(conv: Conversation) -> None:
    items = conv.expect.items
    items.next(role="user").next(type="function_call", name="get_weather")
    items.contains(role="assistant", status="completed").no_more()
    conv.expect.items.contains(type="function_call").no_more(role="user")


def test_matching_predicates_and_regex(conv: Conversation) -> None:
    conv.expect.events.contains("response.output_audio.delta", delta=lambda d: len(d) > 100)
    conv.expect.events.contains("response.*", response={"id": re.compile(r"resp_\d")})


def _failure(check) -> str:
    with pytest.raises(ConversationAssertionError) as info:
        check()
    return str(info.value)


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (
            lambda c: c.expect.function_call("get_weather", arguments={"location": "Berlin"}),
            'arguments.location: "Paris" != "Berlin"',
        ),
        (
            lambda c: c.expect.function_call("book_flight"),
            "functions called: get_weather",
        ),
        (
            lambda c: c.expect.function_call("get_weather", {"location": "Paris"}, exact=True),
            "arguments differ",
        ),
        (
            lambda c: c.expect.function_call_output("get_weather", output={"sky": "rain"}),
            'output.sky: "sunny" != "rain"',
        ),
        (
            lambda c: c.expect.function_call_output(call_id="call_9"),
            "expected a function call output for call_9, found none",
        ),
        (
            lambda c: c.expect.assistant_said("raining"),
            'assistant message whose transcript or text contains "raining"; 1 assistant',
        ),
        (
            lambda c: c.expect.user_said(re.compile("London")),
            "user message whose transcript or text contains /London/",
        ),
        (
            lambda c: c.expect.audio_duration(1000, tolerance_ms=100),
            "expected item item_a1 audio of 1000 ms ± 100, got 300 ms",
        ),
        (
            lambda c: c.expect.events.next("response.created"),
            "expected next server event response.created, got #0 session.created",
        ),
        (
            lambda c: c.expect.events.contains("response.done", response={"status": "failed"}),
            'closest: #9 response.done: response.status: "completed" != "failed"',
        ),
        (
            lambda c: c.expect.events.contains("response.done").no_more(),
            "expected no more server events after #10, found #10 conversation.item.added",
        ),
        (
            lambda c: c.expect.items.next(role="assistant"),
            'expected next item #0 {"role": "assistant"}: role: "user" != "assistant"',
        ),
        (
            lambda c: c.expect.items.contains(type="function_call").no_more(role="assistant"),
            'expected no more items {"role": "assistant"} after #2, found #3',
        ),
        (
            lambda c: c.expect.error("rate_limit_exceeded"),
            'expected an error event {"code": "rate_limit_exceeded"}, found none',
        ),
    ],
    ids=lambda v: None if callable(v) else v[:40],
)
def test_failure_messages(conv: Conversation, check, expected: str) -> None:
    text = _failure(lambda: check(conv))
    assert expected in text
    # the conversation so far, compactly
    assert "conversation so far" in text
    assert '#0 user      message  "Weather in Paris?"' in text
    assert 'get_weather({"location": "Paris", "unit": "c"}) call_id=call_1' in text
    assert "[audio 0.30s]" in text
    assert "response.output_audio.delta x3" in text


def test_no_errors_failure_names_the_error() -> None:
    conv = rt_conversation(
        [
            {"type": "session.created", "session": {}},
            {
                "type": "error",
                "event_id": "evt_1",
                "error": {
                    "type": "invalid_request_error",
                    "code": "input_audio_buffer_commit_empty",
                    "message": "Error committing input audio buffer: buffer too small.",
                    "param": None,
                    "event_id": None,
                },
            },
        ]
    )
    text = _failure(conv.expect.no_errors)
    assert "invalid_request_error/input_audio_buffer_commit_empty" in text
    assert "error input_audio_buffer_commit_empty: Error committing" in text
    conv.expect.error("input_audio_buffer_commit_empty", type="invalid_request_error")


def test_an_audio_response_is_one_line_whatever_is_interleaved() -> None:
    """The deltas of a response (audio and transcript alternating, as the API sends them) are
    one line where the first one is, not a line per event; other runs still collapse."""
    common = {"response_id": "resp_1", "item_id": "item_a1", "output_index": 0,
              "content_index": 0}
    events: list[dict] = [{"type": "response.created", "response": {"id": "resp_1"}}]
    for k in range(12):
        events.append({"type": "response.output_audio.delta", **common, "delta": "AAAA"})
        events.append({"type": "response.output_audio_transcript.delta", **common,
                       "delta": f"w{k} "})
        events.append({"type": "rate_limits.updated", "rate_limits": []})
    events += [{"type": "response.done", "response": {"id": "resp_1", "status": "completed"}},
               {"type": "rate_limits.updated"}, {"type": "rate_limits.updated"}]
    text = _failure(rt_conversation(events).expect.no_errors().error)
    lines = text.splitlines()
    grouped = [line for line in lines if "deltas" in line]
    assert grouped == ["       1 resp_1 deltas: response.output_audio.delta x12, "
                       "response.output_audio_transcript.delta x12"]
    assert "      37 response.done" in lines and "      38 rate_limits.updated x2" in lines
    # between a response's deltas, other events still collapse: the deltas are one line
    assert "       3 rate_limits.updated x12" in lines
    # a cursor on a delta points at its response's line
    cursor = rt_conversation(events).expect.events.next("response.created")
    with pytest.raises(ConversationAssertionError) as info:
        cursor.next("response.done")
    assert "  →    1 resp_1 deltas: " in str(info.value)
    assert info.value.source == "server"
    assert info.value.event is not None and info.value.event.event is events[1]


def test_event_cursor_marks_its_position(conv: Conversation) -> None:
    text = _failure(lambda: conv.expect.events.next("session.created").next("error"))
    assert "→    1 conversation.item.added" in text


def test_sources_client_and_recorded_events() -> None:
    class FakeConversation:
        def get_items(self) -> list[dict]:
            return [_message("i1", "assistant", [{"type": "text", "text": "hello there"}])]

    class FakeClient:
        def __init__(self) -> None:
            self.conversation = FakeConversation()
            self.handlers: list = []

        def on(self, name: str, handler) -> None:
            assert name == "realtime.event"
            self.handlers.append(handler)

    client = FakeClient()
    log = watch(client)
    assert watch(client) is log and len(client.handlers) == 1
    client.handlers[0]({"time": "t", "source": "server", "event": {"type": "session.created"}})
    conv = rt_conversation(client)
    conv.expect.assistant_said("hello", source="text").events.next("session.created").no_more()
    assert rt_conversation(conv) is conv
    assert RecordedEvent("client", {"type": "x"}).type == "x"


def test_empty_conversation_renders() -> None:
    text = _failure(lambda: rt_conversation([]).expect.assistant_said("hi"))
    assert "(no items)" in text and "server events (0)" in text
