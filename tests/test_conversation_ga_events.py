"""RealtimeConversation and the GA events it used to ignore (issue 13, point 4), as plain data:
MCP, conversation.item.retrieved, input_audio_buffer.cleared, transcription segments,
session.created/updated, rate_limits.updated and the *.done events. Every event here validates
against the openai package's GA server event union."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from rtkit.audio import int16_to_base64
from rtkit.client.conversation import RealtimeConversation
from tests.test_conversation import Wire, text_response, tone

Events = list[dict[str, Any]]


@pytest.fixture
def w() -> Wire:
    return Wire("ga")


@functools.cache
def _ga_adapter() -> TypeAdapter[Any]:
    from openai.types.realtime import RealtimeServerEvent

    return TypeAdapter(RealtimeServerEvent)


@pytest.fixture(autouse=True)
def _events_are_ga_shaped(w: Wire) -> Any:
    yield
    adapter = _ga_adapter()
    for event in w.sent:
        assert adapter.validate_python(event).type == event["type"]


def feed(conv: RealtimeConversation, events: Events) -> list[tuple[Any, Any]]:
    return [conv.process_event(e) for e in events]


def user_audio(w: Wire, iid: str = "item_u1", transcript: str | None = None) -> dict[str, Any]:
    return w.item_added(w.user_audio(iid, transcript))


# -------------------------------------------------------------------------------- MCP


def mcp_call_item(**extra: Any) -> dict[str, Any]:
    return {"id": "mcp_1", "type": "mcp_call", "server_label": "docs", "name": "search",
            "arguments": "", **extra}


def test_mcp_list_tools_item_completes(w: Wire) -> None:
    conv = RealtimeConversation()
    listing = {"id": "mcpl_1", "type": "mcp_list_tools", "server_label": "docs", "tools": []}
    item, _ = conv.process_event(w.item_added(listing))
    assert item["status"] == "in_progress"  # MCP items carry no status: in progress until done
    assert conv.process_event(w.ev("mcp_list_tools.in_progress", item_id="mcpl_1")) == (
        None, None)
    item, delta = conv.process_event(w.ev("mcp_list_tools.completed", item_id="mcpl_1"))
    assert (item["id"], item["status"], delta) == ("mcpl_1", "completed", None)
    tools = [{"name": "search", "input_schema": {"type": "object"}}]
    item, _ = conv.process_event(w.ev("conversation.item.done", previous_item_id=None,
                                      item={**listing, "tools": tools}))
    assert item["tools"] == tools and item["status"] == "completed"


def test_mcp_list_tools_failure_ends_incomplete_even_before_its_item(w: Wire) -> None:
    conv = RealtimeConversation()
    assert conv.process_event(w.ev("mcp_list_tools.failed", item_id="mcpl_2")) == (None, None)
    listing = {"id": "mcpl_2", "type": "mcp_list_tools", "server_label": "docs", "tools": []}
    item, _ = conv.process_event(w.item_added(listing))
    assert item["status"] == "incomplete"


def test_mcp_call_streams_arguments_and_completes_with_its_output(w: Wire) -> None:
    conv = RealtimeConversation()
    feed(conv, w.response_start("resp_1", mcp_call_item()))
    out = feed(conv, [
        w.ev("response.mcp_call_arguments.delta", item_id="mcp_1", output_index=0,
             response_id="resp_1", delta='{"q": '),
        w.ev("response.mcp_call_arguments.delta", item_id="mcp_1", output_index=0,
             response_id="resp_1", delta='"rtkit"}'),
    ])
    assert [d for _, d in out] == [{"arguments": '{"q": '}, {"arguments": '"rtkit"}'}]
    item = conv.get_item("mcp_1")
    assert item["arguments"] == '{"q": "rtkit"}' and item["status"] == "in_progress"
    assert "tool" not in item["formatted"]  # not a function call: the client never runs it
    # the final arguments replace what the deltas built
    item, _ = conv.process_event(w.ev("response.mcp_call_arguments.done", item_id="mcp_1",
                                      output_index=0, response_id="resp_1",
                                      arguments='{"q": "rtkit", "n": 3}'))
    assert item["arguments"] == '{"q": "rtkit", "n": 3}'
    conv.process_event(w.ev("response.mcp_call.in_progress", item_id="mcp_1", output_index=0))
    item, _ = conv.process_event(w.ev("response.mcp_call.completed", item_id="mcp_1",
                                      output_index=0))
    assert item["status"] == "completed"
    final = mcp_call_item(arguments='{"q": "rtkit", "n": 3}', output="3 results")
    feed(conv, w.response_end("resp_1", final))
    assert item["output"] == "3 results" and item["status"] == "completed"


def test_mcp_call_failure_ends_incomplete_with_the_error(w: Wire) -> None:
    conv = RealtimeConversation()
    feed(conv, w.response_start("resp_1", mcp_call_item()))
    item, _ = conv.process_event(w.ev("response.mcp_call.failed", item_id="mcp_1",
                                      output_index=0))
    assert item["status"] == "incomplete"
    error = {"type": "tool_execution_error", "message": "server unreachable"}
    feed(conv, w.response_end("resp_1", mcp_call_item(error=error)))
    assert item["error"] == error and item["status"] == "incomplete"


def test_an_mcp_call_done_without_status_events_completes(w: Wire) -> None:
    conv = RealtimeConversation()
    feed(conv, w.response_start("resp_1", mcp_call_item()))
    feed(conv, w.response_end("resp_1", mcp_call_item(output="ok")))
    assert conv.get_item("mcp_1")["status"] == "completed"


# ------------------------------------------------------------ conversation.item.retrieved


def test_retrieved_refreshes_a_known_item(w: Wire) -> None:
    conv = RealtimeConversation()
    conv.process_event(user_audio(w, "item_u1"))
    assert conv.get_item("item_u1")["formatted"]["transcript"] == ""
    audio = tone(2400)
    retrieved = w.ev("conversation.item.retrieved", item={
        **w.user_audio("item_u1"),
        "content": [{"type": "input_audio", "transcript": "What time is it?",
                     "audio": int16_to_base64(audio)}]})
    item, delta = conv.process_event(retrieved)
    assert item is conv.get_item("item_u1") and delta is None
    assert item["formatted"]["transcript"] == "What time is it?"
    np.testing.assert_array_equal(item["formatted"]["audio"], audio)
    assert "audio" not in item["content"][0]  # kept once, as samples
    assert conv.get_items() == [item]


def test_retrieved_creates_an_item_never_announced(w: Wire) -> None:
    conv = RealtimeConversation()
    src = w.assistant("item_a9", "completed", [{"type": "output_text", "text": "Earlier."}])
    item, _ = conv.process_event(w.ev("conversation.item.retrieved", item=src))
    assert item["status"] == "completed" and item["formatted"]["text"] == "Earlier."


# ----------------------------------------------------------- input_audio_buffer.cleared


def test_cleared_drops_the_buffered_input_audio(w: Wire) -> None:
    conv = RealtimeConversation(server_vad=False)
    conv.append_input_audio(tone(4800))
    assert conv.pending_input_samples == 4800
    assert conv.process_event(w.ev("input_audio_buffer.cleared")) == (None, None)
    assert conv.pending_input_samples == 0 and conv.retained_input_samples == 0
    assert len(conv.commit_input_audio()) == 0  # nothing left to hand to the next item


def test_clear_input_audio_then_the_servers_cleared_keeps_later_audio(w: Wire) -> None:
    conv = RealtimeConversation(server_vad=False)
    conv.append_input_audio(tone(4800))
    conv.clear_input_audio()  # the client sent input_audio_buffer.clear
    assert conv.pending_input_samples == 0
    conv.append_input_audio(tone(2400, 4800))  # appended before the server's answer arrives
    conv.process_event(w.ev("input_audio_buffer.cleared"))
    np.testing.assert_array_equal(conv.commit_input_audio(), tone(2400, 4800))


# ------------------------------------------------------------- transcription segments


def test_transcription_segments_collect_on_the_item(w: Wire) -> None:
    conv = RealtimeConversation()
    seg = {"id": "seg_1", "speaker": "A", "start": 0.0, "end": 0.8, "text": "Hello"}
    # a segment before its item (VAD) is applied when the item appears
    ev = w.ev("conversation.item.input_audio_transcription.segment", item_id="item_u1",
              content_index=0, **seg)
    assert conv.process_event(ev) == (None, None)
    conv.process_event(user_audio(w, "item_u1"))
    seg2 = {"id": "seg_2", "speaker": "B", "start": 0.9, "end": 1.5, "text": "Hi"}
    item, delta = conv.process_event(
        w.ev("conversation.item.input_audio_transcription.segment", item_id="item_u1",
             content_index=0, **seg2))
    assert delta is None
    assert item["formatted"]["segments"] == [seg, seg2]


# ------------------------------------------------------ session and rate limits tracking


def test_session_created_and_updated_track_the_effective_session(w: Wire) -> None:
    conv = RealtimeConversation()
    assert conv.session is None
    session = {"type": "realtime", "id": "sess_1", "object": "realtime.session",
               "output_modalities": ["audio"], "instructions": "Be kind."}
    assert conv.process_event(w.ev("session.created", session=session)) == (None, None)
    assert conv.session == session
    updated = {**session, "instructions": "Be brief.", "output_modalities": ["text"]}
    conv.process_event(w.ev("session.updated", session=updated))
    assert conv.session == updated and conv.session is not updated
    conv.clear()
    assert conv.session is None


def test_rate_limits_updated_is_kept(w: Wire) -> None:
    conv = RealtimeConversation()
    limits = [{"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06},
              {"name": "tokens", "limit": 50000, "remaining": 49000, "reset_seconds": 1.2}]
    assert conv.process_event(w.ev("rate_limits.updated", rate_limits=limits)) == (None, None)
    assert conv.rate_limits == limits


# -------------------------------------------------------------------- the *.done events


def test_done_events_that_agree_with_the_deltas_change_nothing(w: Wire) -> None:
    conv = RealtimeConversation()
    events = text_response(w)
    results = dict(zip([e["type"] for e in events], feed(conv, events), strict=True))
    assert results["response.output_text.done"] == (None, None)
    assert conv.get_item("item_a1")["formatted"]["text"] == "Hello there"


def test_text_done_merges_the_final_text(w: Wire) -> None:
    conv = RealtimeConversation()
    feed(conv, w.response_start("resp_1", w.assistant("item_a1")))
    conv.process_event(w.ev("response.content_part.added", response_id="resp_1",
                            item_id="item_a1", output_index=0, content_index=0,
                            part={"type": "text", "text": ""}))
    conv.process_event(w.ev("response.output_text.delta", response_id="resp_1",
                            item_id="item_a1", output_index=0, content_index=0, delta="Hel"))
    # a delta was lost: the done event carries the whole text
    item, delta = conv.process_event(w.ev(
        "response.output_text.done", response_id="resp_1", item_id="item_a1", output_index=0,
        content_index=0, text="Hello there"))
    assert delta is None
    assert item["formatted"]["text"] == "Hello there"
    assert item["content"][0]["text"] == "Hello there"


def test_audio_transcript_and_audio_done(w: Wire) -> None:
    conv = RealtimeConversation()
    feed(conv, w.response_start("resp_1", w.assistant("item_a1")))
    conv.process_event(w.ev("response.content_part.added", response_id="resp_1",
                            item_id="item_a1", output_index=0, content_index=0,
                            part={"type": "audio", "transcript": ""}))
    conv.process_event(w.ev("response.output_audio.delta", response_id="resp_1",
                            item_id="item_a1", output_index=0, content_index=0,
                            delta=int16_to_base64(tone(2400))))
    ids = {"response_id": "resp_1", "item_id": "item_a1", "output_index": 0, "content_index": 0}
    # output_audio.done carries no content: nothing to merge
    assert conv.process_event(w.ev("response.output_audio.done", **ids)) == (None, None)
    item, _ = conv.process_event(w.ev("response.output_audio_transcript.done",
                                      transcript="Sure, I can help.", **ids))
    assert item["formatted"]["transcript"] == "Sure, I can help."
    assert len(item["formatted"]["audio"]) == 2400


def test_a_truncated_items_transcript_stays_cleared(w: Wire) -> None:
    conv = RealtimeConversation()
    feed(conv, w.response_start("resp_1", w.assistant("item_a1")))
    conv.process_event(w.ev("response.content_part.added", response_id="resp_1",
                            item_id="item_a1", output_index=0, content_index=0,
                            part={"type": "audio", "transcript": ""}))
    conv.process_event(w.ev("conversation.item.truncated", item_id="item_a1", content_index=0,
                            audio_end_ms=0))
    ids = {"response_id": "resp_1", "item_id": "item_a1", "output_index": 0, "content_index": 0}
    assert conv.process_event(w.ev("response.output_audio_transcript.done",
                                   transcript="Never heard.", **ids)) == (None, None)
    assert conv.get_item("item_a1")["formatted"]["transcript"] == ""


def test_content_part_done_merges_the_final_part(w: Wire) -> None:
    conv = RealtimeConversation()
    feed(conv, w.response_start("resp_1", w.assistant("item_a1")))
    # no content_part.added and no deltas seen: the part arrives whole
    item, _ = conv.process_event(w.ev(
        "response.content_part.done", response_id="resp_1", item_id="item_a1", output_index=0,
        content_index=0, part={"type": "text", "text": "All of it."}))
    assert item["content"] == [{"type": "text", "text": "All of it."}]
    assert item["formatted"]["text"] == "All of it."


def test_function_call_arguments_done_sets_the_final_arguments(w: Wire) -> None:
    conv = RealtimeConversation()
    call = {"id": "item_f1", "object": "realtime.item", "type": "function_call",
            "status": "in_progress", "name": "get_weather", "call_id": "call_1", "arguments": ""}
    feed(conv, w.response_start("resp_1", call))
    conv.process_event(w.ev("response.function_call_arguments.delta", response_id="resp_1",
                            item_id="item_f1", output_index=0, call_id="call_1",
                            delta='{"location": '))
    item, _ = conv.process_event(w.ev(
        "response.function_call_arguments.done", response_id="resp_1", item_id="item_f1",
        output_index=0, call_id="call_1", name="get_weather",
        arguments='{"location": "Paris"}'))
    assert item["arguments"] == '{"location": "Paris"}'
    assert item["formatted"]["tool"]["arguments"] == '{"location": "Paris"}'


def test_item_done_merges_the_final_content(w: Wire) -> None:
    conv = RealtimeConversation()
    conv.process_event(user_audio(w, "item_u1"))
    final = w.user_audio("item_u1", transcript="Hello?")
    item, _ = conv.process_event(w.ev("conversation.item.done", previous_item_id=None,
                                      item=final))
    assert item["formatted"]["transcript"] == "Hello?"
    # a later done without the transcript (null) keeps it
    conv.process_event(w.ev("conversation.item.done", previous_item_id=None,
                            item=w.user_audio("item_u1")))
    assert item["formatted"]["transcript"] == "Hello?"
    assert item["content"][0]["transcript"] == "Hello?"
