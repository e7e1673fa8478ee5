"""`rtkit inspect` and `rtkit diff` on the reference cassettes and on broken ones (click's
runner), and the conversation summary they share, with plain data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtkit.cassette import Cassette, CassetteWriter
from rtkit.cassette.compare import compare_summaries
from rtkit.cassette.summary import summarize
from rtkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
DIALECTS = ["ga", "beta"]


def ref(dialect: str, name: str) -> Path:
    return ROOT / "cassettes" / dialect / f"{name}.jsonl"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("dialect", DIALECTS)
def test_inspect_tool_call(dialect: str) -> None:
    code, out = run("inspect", str(ref(dialect, "tool_call")))
    assert code == 0
    assert f"1 episode(s), {dialect.upper()}" in out
    assert re.search(r'user +"What\'s the weather in Paris\?"', out)
    assert 'assistant  call get_weather({"location": "Paris", "unit": "c"})' in out
    assert 'tool       output {"location": "Paris", "temp_c": 21, "sky": "sunny"}' in out
    assert 'assistant  "It is sunny in Paris, 21 degrees."' in out
    assert "2 response(s) (2 completed); 0 error(s)" in out


@pytest.mark.parametrize("dialect", DIALECTS)
def test_inspect_barge_in_audio_and_errors(dialect: str) -> None:
    code, out = run("inspect", str(ref(dialect, "vad_barge_in")))
    assert code == 0
    assert "cancelled (turn_detected)" in out
    assert re.search(r"conversation.item.truncate item_\w+ at \d+ ms", out)
    assert re.search(r"item item_\w+ truncated at \d+ ms", out)
    assert "speech started at 0 ms" in out
    assert re.search(r'assistant  \[audio 0\.80 s\] "Sure, go ahead."', out)
    # audio is summarized, never dumped: no long base64 run anywhere
    assert not re.search(r"[A-Za-z0-9+/=]{100,}", out)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_inspect_every_reference_cassette(dialect: str) -> None:
    for path in sorted((ROOT / "cassettes" / dialect).glob("*.jsonl")):
        code, out = run("inspect", str(path))
        assert code == 0, (path, out)
        assert not re.search(r"[A-Za-z0-9+/=]{100,}", out), path
    code, out = run("inspect", str(ref(dialect, "error_event")))
    assert "error invalid_request_error/input_audio_buffer_commit_empty" in out
    code, out = run("inspect", str(ref(dialect, "input_transcription")))
    assert '"What time is it?"' in out


def test_inspect_json_and_counts() -> None:
    code, out = run("inspect", str(ref("ga", "audio_turn")), "--json")
    assert code == 0
    data = json.loads(out)
    items = data["episodes"][0]["items"]
    assert [(i["who"] if "who" in i else i["role"], i["type"]) for i in items] == [
        ("user", "message"), ("assistant", "message")]
    assert items[0]["audio_ms"] == 800.0 and items[1]["audio_ms"] == 1200.0
    assert items[1]["transcript"] == "Hi! How can I help you today?"
    assert data["header"]["format"] == "rtkit-cassette"
    code, out = run("inspect", str(ref("ga", "audio_turn")), "--counts")
    assert re.search(r"\d+  server response.output_audio.delta", out)
    code, out = run("inspect", str(ref("ga", "audio_turn")), "--episode", "3")
    assert code == 2 and "has no episode 3" in out


def test_diff_same_file_and_dialects() -> None:
    code, out = run("diff", str(ref("ga", "tool_call")), str(ref("ga", "tool_call")))
    assert (code, out.strip()) == (0, "no conversation-level differences (1 episode(s))")
    # the same conversation in the other dialect: only the event names differ
    code, out = run("diff", str(ref("ga", "tool_call")), str(ref("beta", "tool_call")))
    assert code == 1
    assert not re.search(r"^  [~+-] item", out, re.M)
    assert "event types only in A: server conversation.item.added" in out


def _restream(tmp_path: Path, source: Path, streams: dict[str, str],
              replace: dict[str, str]) -> Path:
    """A copy of `source` in which each delta stream (by event type) says something else: the
    first delta carries the new text, the rest are empty (a re-recording stand-in)."""
    out, seen = [], set()
    for raw in source.read_text().splitlines():
        line = json.loads(raw)
        kind = line.get("event", {}).get("type")
        if line["kind"] == "event" and kind in streams:
            line["event"]["delta"] = "" if kind in seen else streams[kind]
            seen.add(kind)
        out.append(json.dumps(line))
    assert seen == set(streams)
    path = tmp_path / source.name
    text = "\n".join(out) + "\n"
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return path


def test_diff_names_changed_text_and_arguments(tmp_path: Path) -> None:
    a = ref("ga", "tool_call")
    b = _restream(tmp_path, a, {
        "response.output_text.delta": "It is cloudy in Paris, 12 degrees.",
        "response.function_call_arguments.delta": '{"location": "Paris", "unit": "f"}',
    }, {'\\"unit\\": \\"c\\"': '\\"unit\\": \\"f\\"',   # in the .done events
        "sunny in Paris, 21 degrees.": "cloudy in Paris, 12 degrees."})
    code, out = run("diff", str(a), str(b))
    assert code == 1
    assert "text: It is sunny in Paris, 21 degrees. -> It is cloudy in Paris, 12 degrees." in out
    assert re.search(r'arguments: \{"location": "Paris", "unit": "c"\} -> '
                     r'\{"location": "Paris", "unit": "f"\}', out)
    assert "item 1" not in out  # the user's question did not change


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    code, out = run("inspect", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "nope.jsonl: no such file" in out
    broken = tmp_path / "broken.jsonl"
    lines = ref("ga", "text_turn").read_text().splitlines()
    lines[3] = lines[3][:40]  # a truncated line
    broken.write_text("\n".join(lines) + "\n")
    for args in (["inspect", str(broken)], ["diff", str(ref("ga", "text_turn")), str(broken)]):
        code, out = run(*args)
        assert code == 2
        assert f"{broken}:4" in out
        assert "Traceback" not in out


def test_summary_with_plain_data(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CassetteWriter(path) as w:
        w.connect(0, query="model=gpt-realtime")
        w.event(0, "server", 1, json.dumps({"type": "session.created",
                                            "session": {"model": "gpt-realtime"}}))
        w.event(0, "server", 2, json.dumps({
            "type": "conversation.item.added", "previous_item_id": None,
            "item": {"id": "u1", "type": "message", "role": "user", "status": "completed",
                     "content": [{"type": "input_text", "text": "hi"}]}}))
        w.event(0, "server", 3, json.dumps({
            "type": "error", "error": {"type": "invalid_request_error", "code": "x",
                                       "message": "m"}}))
        w.close(0, 4, 1000, "", "client")
    [s] = summarize(Cassette.load(path))
    assert (s.model, s.dialect, s.errors[0]["code"]) == ("gpt-realtime", "ga", "x")
    assert [(i.who, i.text) for i in s.items] == [("user", "hi")]
    [t] = summarize(Cassette.load(ref("ga", "text_turn")))
    assert compare_summaries([s], [s]) == []
    changes = compare_summaries([s], [t])
    assert changes[0] == "episode 0 -> 0:"
    assert any(line.startswith("  + item 2: assistant message") for line in changes)


def test_summaries_hold_no_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory does not grow with a cassette's audio (inspect kept every item's samples)."""
    import tracemalloc

    from rtkit.cassette import reader

    # the reader's fixed read block (1 MiB) would dwarf this small cassette's audio
    monkeypatch.setattr(reader, "_BLOCK", 64 * 1024)

    path = tmp_path / "long.jsonl"
    chunk = "QUJD" * 1600  # 100 ms of PCM16, base64
    with CassetteWriter(path) as w:
        w.connect(0)
        t = 0.0
        for turn in range(3):
            item, resp = f"item_{turn}", f"resp_{turn}"
            common = f'"response_id":"{resp}","item_id":"{item}","output_index":0'
            w.event(0, "server", t, json.dumps({"type": "response.created", "event_id": "e",
                                                "response": {"id": resp}}))
            w.event(0, "server", t, json.dumps({
                "type": "conversation.item.added", "event_id": "e", "item": {
                    "id": item, "type": "message", "role": "assistant", "content": []}}))
            for _ in range(100):  # 10 s of output audio per turn
                t += 100
                w.event(0, "server", t, '{"type":"response.output_audio.delta","event_id":"e",'
                        f'{common},"content_index":0,"delta":"{chunk}"}}')
        w.close(0, t)
    tracemalloc.start()
    try:
        [s] = summarize(Cassette.load(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [i.audio_ms for i in s.items] == [10_000.0] * 3
    assert s.output_audio_ms == 30_000.0
    samples = 3 * 100 * 2400 * 2  # what holding the audio takes
    assert peak < samples / 4, (peak, samples)


def test_memory_does_not_grow_with_the_number_of_episodes(tmp_path: Path) -> None:
    """One episode's conversation at a time (its input audio freed at its close), and a VAD
    session trims its input audio from the session.update on, not from its first speech."""
    import tracemalloc

    chunk = "QUJD" * 16000  # 1 s of PCM16, base64
    vad = {"type": "session.update", "session": {"type": "realtime", "audio": {
        "input": {"turn_detection": {"type": "server_vad"}}}}}

    def peak(episodes: int) -> int:
        path = tmp_path / f"{episodes}.jsonl"
        with CassetteWriter(path) as w:
            for conn in range(episodes):
                w.connect(conn)
                w.event(conn, "client", 1, json.dumps(vad))
                for k in range(240):  # 4 min of input audio, no speech detected
                    w.event(conn, "client", 2 + k, '{"type":"input_audio_buffer.append",'
                            f'"audio":"{chunk}"}}')
                w.close(conn, 300)
        cassette = Cassette.load(path)
        tracemalloc.start()
        try:
            summaries = summarize(cassette)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert [s.input_audio_ms for s in summaries] == [240_000.0] * episodes

    one, four = peak(1), peak(4)
    assert one < 240 * 24000 * 2 / 2, one  # under half the episode's audio: trimmed
    assert four < 1.5 * one, (one, four)
