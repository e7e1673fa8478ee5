"""RealtimeConversation, fed plain event dicts of both dialects (no sockets)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from rtkit.audio import int16_to_base64
from rtkit.client.conversation import RealtimeConversation
from rtkit.errors import ConversationError
from rtkit.protocol.events import BETA_TO_GA_SERVER_EVENTS

GA_TO_BETA = {ga: beta for beta, ga in BETA_TO_GA_SERVER_EVENTS.items()}
DIALECTS = ["ga", "beta"]


class Wire:
    """Builds realistic server events of one dialect, shaped like the openai models."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.n = 0
        self.sent: list[dict[str, Any]] = []

    def ev(self, ga_type: str, **fields: Any) -> dict[str, Any]:
        self.n += 1
        name = ga_type if self.dialect == "ga" else GA_TO_BETA.get(ga_type, ga_type)
        event = {"event_id": f"event_{self.n:04d}", "type": name, **fields}
        self.sent.append(event)
        return event

    @property
    def ga(self) -> bool:
        return self.dialect == "ga"

    def part_type(self, kind: str) -> str:  # kind: "text" | "audio"
        return f"output_{kind}" if self.ga else kind

    def response(self, rid: str, status: str = "in_progress", output: Any = None) -> dict:
        r: dict[str, Any] = {
            "id": rid,
            "object": "realtime.response",
            "status": status,
            "status_details": None,
            "output": output or [],
            "usage": None,
            "metadata": None,
        }
        if self.ga:
            r["conversation_id"] = "conv_1"
            r["output_modalities"] = ["audio"]
        else:
            r["modalities"] = ["text", "audio"]
        return r

    def usage(self) -> dict:
        return {
            "total_tokens": 30,
            "input_tokens": 10,
            "output_tokens": 20,
            "input_token_details": {"cached_tokens": 0, "text_tokens": 10, "audio_tokens": 0},
            "output_token_details": {"text_tokens": 5, "audio_tokens": 15},
        }

    def item_added(self, item: dict, previous_item_id: str | None = None) -> dict:
        name = "conversation.item.added"
        return self.ev(name, previous_item_id=previous_item_id, item=item)

    def assistant(self, iid: str, status: str = "in_progress", content: Any = None) -> dict:
        return {
            "id": iid,
            "object": "realtime.item",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content or [],
        }

    def user_audio(self, iid: str, transcript: str | None = None) -> dict:
        return {
            "id": iid,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": transcript}],
        }

    def response_start(self, rid: str, item: dict, prev: str | None = None) -> list[dict]:
        return [
            self.ev("response.created", response=self.response(rid)),
            self.ev("response.output_item.added", response_id=rid, output_index=0, item=item),
            self.item_added(item, prev),
        ]

    def response_end(self, rid: str, final_item: dict, status: str = "completed") -> list[dict]:
        out = [
            self.ev(
                "response.output_item.done", response_id=rid, output_index=0, item=final_item
            )
        ]
        if self.ga:
            out.append(self.ev("conversation.item.done", previous_item_id=None, item=final_item))
        done = self.response(rid, status, output=[final_item])
        done["usage"] = self.usage()
        if status == "cancelled":
            done["status_details"] = {"type": "cancelled", "reason": "turn_detected"}
        out.append(self.ev("response.done", response=done))
        return out


def tone(n: int, start: int = 0) -> np.ndarray:
    return ((np.arange(start, start + n) * 37) % 2000 - 1000).astype(np.int16)


def feed(conv: RealtimeConversation, events: list[dict]) -> list[tuple[Any, Any]]:
    return [conv.process_event(e) for e in events]


def text_response(w: Wire, rid: str = "resp_1", iid: str = "item_a1") -> list[dict]:
    ev = w.response_start(rid, w.assistant(iid))
    part = {"type": "text", "text": ""}
    ev.append(
        w.ev("response.content_part.added", response_id=rid, item_id=iid, output_index=0,
             content_index=0, part=part)
    )
    for d in ["Hel", "lo", " there"]:
        ev.append(
            w.ev("response.output_text.delta", response_id=rid, item_id=iid, output_index=0,
                 content_index=0, delta=d, obfuscation="x1y2")
        )
    ev.append(
        w.ev("response.output_text.done", response_id=rid, item_id=iid, output_index=0,
             content_index=0, text="Hello there")
    )
    final = w.assistant(
        iid, "completed", [{"type": w.part_type("text"), "text": "Hello there"}]
    )
    ev += w.response_end(rid, final)
    return ev


def audio_response(
    w: Wire, rid: str, iid: str, chunks: int = 3, chunk: int = 2400, prev: str | None = None,
    end: bool = True,
) -> list[dict]:
    ev = w.response_start(rid, w.assistant(iid), prev)
    ev.append(
        w.ev("response.content_part.added", response_id=rid, item_id=iid, output_index=0,
             content_index=0, part={"type": "audio", "transcript": ""})
    )
    words = ["Sure", ", I", " can", " help", "."]
    for k in range(chunks):
        ev.append(
            w.ev("response.output_audio.delta", response_id=rid, item_id=iid, output_index=0,
                 content_index=0, delta=int16_to_base64(tone(chunk, k * chunk)),
                 obfuscation="abc")
        )
        ev.append(
            w.ev("response.output_audio_transcript.delta", response_id=rid, item_id=iid,
                 output_index=0, content_index=0, delta=words[k % len(words)])
        )
    if end:
        ev.append(w.ev("response.output_audio.done", response_id=rid, item_id=iid,
                       output_index=0, content_index=0))
        said = "".join(words[k % len(words)] for k in range(chunks))
        final = w.assistant(iid, "completed",
                            [{"type": w.part_type("audio"), "transcript": said}])
        ev += w.response_end(rid, final)
    return ev


# --------------------------------------------------------------- shape check


@pytest.mark.parametrize("dialect", DIALECTS)
def test_fixture_events_match_openai_models(dialect: str) -> None:
    """The hand-written events validate against the openai package's server event union."""
    if dialect == "ga":
        from openai.types.realtime import RealtimeServerEvent
    else:
        from openai.types.beta.realtime import RealtimeServerEvent
    adapter: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
    w = Wire(dialect)
    text_response(w)
    audio_response(w, "resp_2", "item_a2", prev="item_a1")
    function_call_events(w)
    vad_turn_events(w)
    for event in w.sent:
        model = adapter.validate_python(event)
        assert model.type == event["type"]


# ------------------------------------------------------------------ scenarios


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_response(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation()
    events = text_response(w)
    snapshot = copy.deepcopy(events)
    results = feed(conv, events)
    assert events == snapshot, "process_event must not mutate the events passed in"
    deltas = [d for _, d in results if d]
    assert deltas == [{"text": "Hel"}, {"text": "lo"}, {"text": " there"}]
    (item,) = conv.get_items()
    assert item["id"] == "item_a1"
    assert item["formatted"]["text"] == "Hello there"
    assert item["content"][0]["text"] == "Hello there"
    assert item["status"] == "completed"
    assert len(item["formatted"]["audio"]) == 0
    resp = conv.get_response("resp_1")
    assert resp is not None
    assert resp["status"] == "completed"
    assert resp["usage"]["total_tokens"] == 30
    assert resp["output"] == ["item_a1"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_audio_response_with_transcript(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation()
    results = feed(conv, audio_response(w, "resp_1", "item_a1", chunks=4))
    audio_deltas = [d["audio"] for _, d in results if d and "audio" in d]
    assert [len(a) for a in audio_deltas] == [2400] * 4
    for _, d in results:
        assert d is None or len(d) == 1
    item = conv.get_item("item_a1")
    assert item is not None
    np.testing.assert_array_equal(item["formatted"]["audio"], tone(9600))
    assert item["formatted"]["audio"].dtype == np.int16
    assert item["formatted"]["transcript"] == "Sure, I can help"
    assert item["content"][0]["transcript"] == "Sure, I can help"
    assert item["status"] == "completed"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_audio_view_taken_earlier_keeps_its_samples(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation()
    events = audio_response(w, "resp_1", "item_a1", chunks=3, end=False)
    feed(conv, events[:6])  # created, item added, part, first audio + transcript deltas
    first = conv.get_item("item_a1")["formatted"]["audio"]  # type: ignore[index]
    assert len(first) == 2400
    feed(conv, events[6:])
    np.testing.assert_array_equal(first, tone(2400))
    assert len(conv.get_item("item_a1")["formatted"]["audio"]) == 7200  # type: ignore[index]


def function_call_events(w: Wire, rid: str = "resp_f", status: str = "completed") -> list[dict]:
    call = {
        "id": "item_fc",
        "object": "realtime.item",
        "type": "function_call",
        "status": "in_progress",
        "name": "get_weather",
        "call_id": "call_123",
        "arguments": "",
    }
    ev = w.response_start(rid, call)
    for d in ['{"lat":', ' 43.6', ', "lng": -79.4}']:
        ev.append(
            w.ev("response.function_call_arguments.delta", response_id=rid, item_id="item_fc",
                 output_index=0, call_id="call_123", delta=d, obfuscation="zz")
        )
    args = '{"lat": 43.6, "lng": -79.4}'
    ev.append(
        w.ev("response.function_call_arguments.done", response_id=rid, item_id="item_fc",
             output_index=0, call_id="call_123", name="get_weather", arguments=args)
    )
    final = dict(call, status=status, arguments=args)
    ev += w.response_end(rid, final, "completed" if status == "completed" else "cancelled")
    return ev


@pytest.mark.parametrize("dialect", DIALECTS)
def test_function_call_with_streamed_arguments(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation()
    results = feed(conv, function_call_events(w))
    assert [d for _, d in results if d] == [
        {"arguments": '{"lat":'},
        {"arguments": " 43.6"},
        {"arguments": ', "lng": -79.4}'},
    ]
    item = conv.get_item("item_fc")
    assert item is not None
    assert item["status"] == "completed"
    assert item["arguments"] == '{"lat": 43.6, "lng": -79.4}'
    assert item["formatted"]["tool"] == {
        "type": "function",
        "name": "get_weather",
        "call_id": "call_123",
        "arguments": '{"lat": 43.6, "lng": -79.4}',
    }
    # The app answers; the server echoes the function_call_output item.
    output = {
        "id": "item_out",
        "object": "realtime.item",
        "type": "function_call_output",
        "call_id": "call_123",
        "output": '{"temp": 21}',
        "status": "completed",
    }
    item2, delta = conv.process_event(w.item_added(output, "item_fc"))
    assert delta is None
    assert item2 is not None
    assert item2["formatted"]["output"] == '{"temp": 21}'
    assert item2["status"] == "completed"
    assert [i["id"] for i in conv.get_items()] == ["item_fc", "item_out"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_incomplete_function_call_keeps_status(dialect: str) -> None:
    """SEED fix 7: a cancelled call ends `incomplete`, so the client can skip its handler."""
    w = Wire(dialect)
    conv = RealtimeConversation()
    results = feed(conv, function_call_events(w, status="incomplete"))
    item = conv.get_item("item_fc")
    assert item is not None
    assert item["status"] == "incomplete"
    assert results[-1] == (None, None)
    assert conv.get_response("resp_f")["status"] == "cancelled"  # type: ignore[index]


def vad_turn_events(w: Wire) -> list[dict]:
    """User speaks 0.5 s..1.5 s, assistant answers, user interrupts at 2.0 s."""
    ev = [
        w.ev("input_audio_buffer.speech_started", audio_start_ms=500, item_id="item_u1"),
        w.ev("input_audio_buffer.speech_stopped", audio_end_ms=1500, item_id="item_u1"),
        w.ev("input_audio_buffer.committed", previous_item_id=None, item_id="item_u1"),
        w.item_added(w.user_audio("item_u1"), None),
    ]
    if w.ga:
        ev.append(w.ev("conversation.item.done", previous_item_id=None,
                       item=w.user_audio("item_u1")))
    ev += audio_response(w, "resp_1", "item_a1", chunks=3, prev="item_u1", end=False)
    ev.append(w.ev("input_audio_buffer.speech_started", audio_start_ms=2000, item_id="item_u2"))
    # The client cancels and sends conversation.item.truncate at 150 ms; the server confirms:
    ev.append(w.ev("conversation.item.truncated", item_id="item_a1", content_index=0,
                   audio_end_ms=150))
    final = w.assistant("item_a1", "incomplete",
                        [{"type": w.part_type("audio"), "transcript": ""}])
    ev += w.response_end("resp_1", final, "cancelled")
    return ev


@pytest.mark.parametrize("dialect", DIALECTS)
def test_server_vad_turn_with_interruption_and_truncation(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation(server_vad=True)
    mic = tone(24000 * 3)  # 3 s of input audio, appended in 100 ms chunks
    for k in range(0, 48000, 2400):  # the first 2 s arrive before the events
        conv.append_input_audio(mic[k : k + 2400])
    feed(conv, vad_turn_events(w))
    user = conv.get_item("item_u1")
    assert user is not None
    np.testing.assert_array_equal(user["formatted"]["audio"], mic[12000:36000])
    assistant = conv.get_item("item_a1")
    assert assistant is not None
    np.testing.assert_array_equal(assistant["formatted"]["audio"], tone(3600))
    assert assistant["formatted"]["transcript"] == ""
    assert assistant["status"] == "incomplete"
    assert [i["id"] for i in conv.get_items()] == ["item_u1", "item_a1"]
    assert conv.get_response("resp_1")["status"] == "cancelled"  # type: ignore[index]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_truncation_then_more_audio_does_not_resurrect(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation()
    events = audio_response(w, "resp_1", "item_a1", chunks=2, end=False)
    feed(conv, events)
    before = conv.get_item("item_a1")["formatted"]["audio"]  # type: ignore[index]
    conv.process_event(w.ev("conversation.item.truncated", item_id="item_a1", content_index=0,
                            audio_end_ms=50))
    conv.process_event(w.ev("response.output_audio.delta", response_id="resp_1",
                            item_id="item_a1", output_index=0, content_index=0,
                            delta=int16_to_base64(np.full(10, 7, np.int16))))
    audio = conv.get_item("item_a1")["formatted"]["audio"]  # type: ignore[index]
    assert len(audio) == 1200 + 10
    np.testing.assert_array_equal(audio[:1200], tone(1200))
    np.testing.assert_array_equal(before, tone(4800))  # earlier views keep their samples


@pytest.mark.parametrize("dialect", DIALECTS)
def test_input_audio_transcription(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation()
    conv.process_event(w.item_added(w.user_audio("item_u1")))
    r1 = conv.process_event(w.ev("conversation.item.input_audio_transcription.delta",
                                 item_id="item_u1", content_index=0, delta="Hello",
                                 obfuscation="q"))
    r2 = conv.process_event(w.ev("conversation.item.input_audio_transcription.delta",
                                 item_id="item_u1", content_index=0, delta=" world"))
    assert r1[1] == {"transcript": "Hello"}
    assert r2[1] == {"transcript": " world"}
    item, delta = conv.process_event(
        w.ev("conversation.item.input_audio_transcription.completed", item_id="item_u1",
             content_index=0, transcript="Hello world.",
             usage={"type": "duration", "seconds": 1.2})
    )
    assert delta == {"transcript": "Hello world."}
    assert item is not None
    assert item["formatted"]["transcript"] == "Hello world."
    assert item["content"][0]["transcript"] == "Hello world."


@pytest.mark.parametrize("dialect", DIALECTS)
def test_empty_input_transcription_is_a_space(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation()
    conv.process_event(w.item_added(w.user_audio("item_u1")))
    item, _ = conv.process_event(
        w.ev("conversation.item.input_audio_transcription.completed", item_id="item_u1",
             content_index=0, transcript="", usage={"type": "duration", "seconds": 0.1})
    )
    assert item is not None
    assert item["formatted"]["transcript"] == " "


@pytest.mark.parametrize("dialect", DIALECTS)
def test_transcript_before_item_is_applied_when_item_appears(dialect: str) -> None:
    """SEED fix 2: the seed set `undefined`; rtkit applies the queued transcript."""
    w = Wire(dialect)
    conv = RealtimeConversation()
    assert conv.process_event(
        w.ev("conversation.item.input_audio_transcription.completed", item_id="item_u1",
             content_index=0, transcript="Early bird", usage={"type": "duration", "seconds": 1})
    ) == (None, None)
    item, _ = conv.process_event(w.item_added(w.user_audio("item_u1")))
    assert item is not None
    assert item["formatted"]["transcript"] == "Early bird"
    assert item["content"][0]["transcript"] == "Early bird"
    # deltas before the item, too
    conv.process_event(w.ev("conversation.item.input_audio_transcription.delta",
                            item_id="item_u2", content_index=0, delta="Par"))
    conv.process_event(w.ev("conversation.item.input_audio_transcription.delta",
                            item_id="item_u2", content_index=0, delta="tial"))
    item2, _ = conv.process_event(w.item_added(w.user_audio("item_u2"), "item_u1"))
    assert item2 is not None
    assert item2["formatted"]["transcript"] == "Partial"
    # an empty early transcript is " "
    conv.process_event(
        w.ev("conversation.item.input_audio_transcription.completed", item_id="item_u3",
             content_index=0, transcript="", usage={"type": "duration", "seconds": 0})
    )
    item3, _ = conv.process_event(w.item_added(w.user_audio("item_u3"), "item_u2"))
    assert item3["formatted"]["transcript"] == " "  # type: ignore[index]


# ----------------------------------------------------------------- seed fixes


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("ga_type", "fields", "needle"),
    [
        ("response.output_audio.delta", {"item_id": "nope", "delta": "AAAA"}, "'nope'"),
        ("response.output_text.delta", {"item_id": "nope", "delta": "x"}, "'nope'"),
        ("response.output_audio_transcript.delta", {"item_id": "nope", "delta": "x"}, "'nope'"),
        ("response.function_call_arguments.delta", {"item_id": "nope", "delta": "{"}, "'nope'"),
        ("response.content_part.added", {"item_id": "nope", "part": {"type": "text"}}, "'nope'"),
        ("conversation.item.truncated", {"item_id": "nope", "audio_end_ms": 1}, "'nope'"),
        ("conversation.item.deleted", {"item_id": "nope"}, "'nope'"),
        ("response.output_item.done", {"item": {"id": "nope"}}, "'nope'"),
        ("response.output_item.added", {"response_id": "r_x", "item": {"id": "i"}}, "'r_x'"),
        ("response.done", {"response": {"id": "r_x", "status": "completed"}}, "'r_x'"),
    ],
)
def test_unknown_item_or_response_raises_conversation_error(
    dialect: str, ga_type: str, fields: dict, needle: str
) -> None:
    """SEED fix 3: a readable ConversationError (the client turns it into an `error` event)."""
    w = Wire(dialect)
    conv = RealtimeConversation()
    feed(conv, text_response(w))
    before = [copy.deepcopy({k: v for k, v in i.items() if k != "formatted"})
              for i in conv.get_items()]
    event = w.ev(ga_type, **fields)
    with pytest.raises(ConversationError) as info:
        conv.process_event(event)
    assert event["type"] in str(info.value)
    assert needle in str(info.value)
    after = [{k: v for k, v in i.items() if k != "formatted"} for i in conv.get_items()]
    assert after == before
    # and the conversation keeps working
    feed(conv, audio_response(w, "resp_2", "item_a2", prev="item_a1"))
    assert [i["id"] for i in conv.get_items()] == ["item_a1", "item_a2"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_previous_item_id_orders_items(dialect: str) -> None:
    """SEED fix 12: an item inserted after a known predecessor goes there, not last."""
    w = Wire(dialect)
    conv = RealtimeConversation()
    conv.process_event(w.item_added(w.user_audio("a"), None))
    conv.process_event(w.item_added(w.user_audio("c"), "a"))
    conv.process_event(w.item_added(w.user_audio("b"), "a"))  # inserted between a and c
    conv.process_event(w.item_added(w.user_audio("d"), "unknown_prev"))  # unknown: last
    conv.process_event(w.item_added(w.user_audio("e"), None))  # null: last
    assert [i["id"] for i in conv.get_items()] == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_response_done_updates_response(dialect: str) -> None:
    """SEED fix 12: response.done updates status and usage of the stored response."""
    w = Wire(dialect)
    conv = RealtimeConversation()
    feed(conv, w.response_start("resp_1", w.assistant("item_a1")))
    assert conv.get_response("resp_1")["status"] == "in_progress"  # type: ignore[index]
    feed(conv, w.response_end("resp_1", w.assistant("item_a1", "completed")))
    resp = conv.get_response("resp_1")
    assert resp is not None
    assert resp["status"] == "completed"
    assert resp["usage"]["output_tokens"] == 20
    assert conv.get_responses() == [resp]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_deleted_item_is_removed(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation()
    feed(conv, audio_response(w, "resp_1", "item_a1"))
    item, _ = conv.process_event(w.ev("conversation.item.deleted", item_id="item_a1"))
    assert item is not None and item["id"] == "item_a1"
    assert conv.get_items() == []
    assert conv.get_item("item_a1") is None


def test_ga_item_done_without_added_creates_item_and_null_previous_id() -> None:
    w = Wire("ga")
    conv = RealtimeConversation()
    conv.process_event(w.item_added(w.user_audio("u0")))
    item, _ = conv.process_event(
        w.ev("conversation.item.done", previous_item_id=None, item=w.assistant("late", "completed"))
    )
    assert item is not None and item["status"] == "completed"
    assert [i["id"] for i in conv.get_items()] == ["u0", "late"]


def test_unhandled_events_return_none() -> None:
    conv = RealtimeConversation()
    for t in ["session.created", "rate_limits.updated", "error", "response.audio.done",
              "output_audio_buffer.started", "something.new"]:
        assert conv.process_event({"event_id": "e", "type": t}) == (None, None)
    with pytest.raises(ConversationError):
        conv.process_event({"event_id": "e"})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_manual_mode_commit_hands_audio_to_committed_item(dialect: str) -> None:
    w = Wire(dialect)
    conv = RealtimeConversation(server_vad=False)
    conv.append_input_audio(tone(1000))
    conv.append_input_audio(tone(500, 1000))
    assert conv.pending_input_samples == 1500
    committed = conv.commit_input_audio()
    np.testing.assert_array_equal(committed, tone(1500))
    assert conv.pending_input_samples == 0
    assert conv.retained_input_samples == 0
    # a text message created meanwhile does not steal the audio
    text_user = {"id": "t1", "object": "realtime.item", "type": "message", "status": "completed",
                 "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    conv.process_event(w.ev("input_audio_buffer.committed", previous_item_id=None,
                            item_id="item_u1"))
    t_item, _ = conv.process_event(w.item_added(text_user))
    assert t_item is not None and len(t_item["formatted"]["audio"]) == 0
    assert t_item["formatted"]["text"] == "hi"
    item, _ = conv.process_event(w.item_added(w.user_audio("item_u1"), "t1"))
    assert item is not None
    np.testing.assert_array_equal(item["formatted"]["audio"], tone(1500))
    assert item["status"] == "completed"


def test_manual_commit_without_committed_event_goes_to_next_audio_item() -> None:
    conv = RealtimeConversation()
    conv.append_input_audio(tone(100))
    conv.commit_input_audio()
    item, _ = conv.process_event(
        {"event_id": "e1", "type": "conversation.item.created", "previous_item_id": None,
         "item": Wire("beta").user_audio("u1")}
    )
    np.testing.assert_array_equal(item["formatted"]["audio"], tone(100))  # type: ignore[index]
    assert len(conv.commit_input_audio()) == 0


def test_server_vad_input_memory_stays_bounded() -> None:
    """SEED fix 11: one hour of microphone input in server-VAD mode keeps ~the window only."""
    conv = RealtimeConversation(server_vad=True, vad_retain_ms=5000)
    chunk = np.ones(2400, dtype=np.int16)
    peak = 0
    for k in range(36000):  # 1 hour of 100 ms chunks
        conv.append_input_audio(chunk)
        peak = max(peak, conv.retained_input_samples)
        if k % 300 == 250:  # a 2 s utterance every 30 s, announced 0.5 s late
            start_ms = (k - 25) * 100
            conv.process_event({"event_id": "e", "type": "input_audio_buffer.speech_started",
                                "audio_start_ms": start_ms, "item_id": f"u{k}"})
        if k % 300 == 270:
            start_ms = (k - 45) * 100
            conv.process_event({"event_id": "e", "type": "input_audio_buffer.speech_stopped",
                                "audio_end_ms": start_ms + 2000, "item_id": f"u{k - 20}"})
    assert peak <= 2 * 24000 * 5 + 2400
    # segments still get their audio, at the right absolute offsets
    item, _ = conv.process_event(
        {"event_id": "e", "type": "conversation.item.created", "previous_item_id": None,
         "item": Wire("beta").user_audio("u35950")}
    )
    assert item is not None and len(item["formatted"]["audio"]) == 48000


def test_server_vad_slices_by_absolute_offset_after_trimming() -> None:
    conv = RealtimeConversation(server_vad=True, vad_retain_ms=1000)
    mic = tone(24000 * 20)
    for k in range(0, len(mic), 2400):
        conv.append_input_audio(mic[k : k + 2400])
    conv.process_event({"event_id": "e", "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": 19200, "item_id": "u"})
    conv.process_event({"event_id": "e", "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": 19900, "item_id": "u"})
    item, _ = conv.process_event(
        {"event_id": "e", "type": "conversation.item.added", "previous_item_id": None,
         "item": Wire("ga").user_audio("u")}
    )
    np.testing.assert_array_equal(item["formatted"]["audio"],  # type: ignore[index]
                                  mic[19200 * 24 : 19900 * 24])


def test_clear_forgets_everything() -> None:
    w = Wire("ga")
    conv = RealtimeConversation()
    feed(conv, text_response(w))
    conv.append_input_audio(tone(10))
    conv.clear()
    assert conv.get_items() == [] and conv.get_responses() == []
    assert conv.pending_input_samples == 0
