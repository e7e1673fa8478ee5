"""`rtkit validate`, `rtkit scrub` and `rtkit audio` through click's runner, on the reference
cassettes and on broken copies of them."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtkit.cassette import Cassette
from rtkit.cassette.validate import validate_lines
from rtkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = sorted((ROOT / "cassettes").glob("*/*.jsonl"))
KEY = "sk-test-" + "scrubme" * 5  # built at runtime: no key-shaped literal in the repo


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def lines_of(name: str, dialect: str = "ga") -> list[str]:
    return (ROOT / "cassettes" / dialect / f"{name}.jsonl").read_text().splitlines()


def write(tmp_path: Path, lines: list[str], name: str = "c.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def edit_event(line: str, **changes: object) -> str:
    obj = json.loads(line)
    for key, value in changes.items():
        if value is None:
            obj["event"].pop(key)
        else:
            obj["event"][key] = value
    return json.dumps(obj)


def find(lines: list[str], event_type: str) -> int:
    return next(i for i, text in enumerate(lines) if f'"type": "{event_type}"' in text
                or f'"type":"{event_type}"' in text)


# ----------------------------------------------------------------------------------- validate


def test_validate_accepts_every_reference_cassette() -> None:
    assert len(REFERENCE) == 12
    code, out = run("validate", *map(str, REFERENCE))
    assert code == 0, out
    assert out.count(": OK (1 episode(s)") == 12


def test_validate_reports_each_problem_with_file_and_line(tmp_path: Path) -> None:
    lines = lines_of("text_turn")
    delta = find(lines, "response.output_text.delta")
    done = find(lines, "response.done")
    lines[delta] = edit_event(lines[delta], type="response.txt.delta")          # unknown type
    lines[delta + 1] = edit_event(lines[delta + 1], item_id=None)               # missing field
    lines[delta + 2] = edit_event(lines[delta + 2], item_id="item_nobody")      # unknown item
    obj = json.loads(lines[done])
    obj["t"] = 0.001                                                           # time backwards
    lines[done] = json.dumps(obj)
    lines.insert(3, "{not json")                                               # garbage
    path = write(tmp_path, lines)
    code, out = run("validate", str(path))
    assert code == 1
    n = lambda i: i + 1 + (1 if i >= 3 else 0)  # noqa: E731 - line numbers after the insert
    assert f"{path}:4:2: not valid JSON" in out
    assert (f"{path}:{n(delta)}: unknown server event type 'response.txt.delta' "
            "for the GA dialect") in out
    assert (f"{path}:{n(delta + 1)}: 'response.output_text.delta' is missing required "
            "field(s): item_id") in out
    assert (f"{path}:{n(delta + 2)}: 'response.output_text.delta' names item 'item_nobody' "
            "before it exists") in out
    assert f"{path}:{n(done)}: time goes backwards in episode 0: t=0.001" in out
    assert "1 of 1 cassette(s) have problems" in out


def test_validate_dialect_and_structure(tmp_path: Path) -> None:
    beta = lines_of("text_turn", "beta")
    i = find(beta, "response.text.delta")
    beta[i] = edit_event(beta[i], type="response.output_text.delta")  # a GA name in beta
    problems = validate_lines(beta, "b.jsonl")
    assert [str(p) for p in problems] == [
        f"b.jsonl:{i + 1}: unknown server event type 'response.output_text.delta' "
        "for the BETA dialect"]
    ga = lines_of("text_turn")
    assert str(validate_lines(ga[1:], "x")[0]) == (
        "x:1: the first line must be the header ({\"kind\": \"header\", ...})")
    after_close = [*ga, ga[5]]
    assert validate_lines(after_close, "x")[0].message == (
        "episode 0 continues after its close line")
    empty = "x: not a cassette: no header line (the file is empty or blank)"
    assert str(validate_lines([], "x")[0]) == empty


def test_validate_missing_file(tmp_path: Path) -> None:
    code, out = run("validate", str(ROOT / "cassettes/ga/text_turn.jsonl"), str(tmp_path / "no"))
    assert code == 2 and f"{tmp_path / 'no'}: no such file" in out


# -------------------------------------------------------------------------------------- scrub


def planted(tmp_path: Path) -> Path:
    lines = lines_of("tool_call")
    connect = json.loads(lines[1])
    connect["headers"]["authorization"] = f"Bearer {KEY}"
    connect["subprotocols"] = ["realtime", f"openai-insecure-api-key.{KEY}"]
    connect["query"] = f"model=gpt-realtime&api_key={KEY}"
    lines[1] = json.dumps(connect)
    i = find(lines, "conversation.item.create")
    lines[i] = lines[i].replace("What's the weather in Paris?",
                                f"my key is {KEY}, account acct_12345")
    return write(tmp_path, lines)


def test_scrub_replaces_secrets_atomically_and_never_prints_them(tmp_path: Path) -> None:
    path = planted(tmp_path)
    code, out = run("scrub", "--check", str(path))
    assert code == 1
    assert KEY not in out
    assert (f"{path}:2: authorization-header, insecure-api-key-subprotocol, "
            "key-query-params") in out
    assert "sk-keys" in out
    assert KEY in path.read_text()  # --check writes nothing

    code, out = run("scrub", str(path), "--pattern", r"acct_\d+")
    assert code == 0, out
    assert "scrubbed 2 line(s) in 1 of 1 cassette(s)" in out
    text = path.read_text()
    assert KEY not in text and "acct_12345" not in text and "acct_REDACTED" not in text
    assert "my key is sk-REDACTED, account REDACTED" in text
    cassette = Cassette.load(path)  # still a valid cassette
    assert "user-patterns" in cassette.header.redactions  # the header says what was done
    assert [p.name for p in tmp_path.iterdir()] == ["c.jsonl"]  # no temp file left
    code, out = run("scrub", "--check", str(path), "--pattern", r"acct_\d+")
    assert (code, out.strip()) == (0, "would scrub 0 line(s) in 0 of 1 cassette(s)")


def test_scrub_leaves_a_file_it_cannot_scrub_untouched(tmp_path: Path) -> None:
    path = planted(tmp_path)
    before = path.read_bytes()
    code, out = run("scrub", str(path), "--pattern", '"type"')  # would break the JSON
    assert code == 2 and "would break the JSON" in out
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.jsonl"]
    code, out = run("scrub", str(path), "--pattern", "(")
    assert code == 2 and "bad --pattern" in out
    broken = write(tmp_path, ["{oops"], "broken.jsonl")
    code, out = run("scrub", str(broken))
    assert code == 2 and f"{broken}:1:2: not valid JSON" in out


def test_reference_cassettes_have_nothing_to_scrub() -> None:
    code, out = run("scrub", "--check", *map(str, REFERENCE))
    assert code == 0 and "would scrub 0 line(s) in 0 of 12" in out


# -------------------------------------------------------------------------------------- audio


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24_000)
        return w.getnframes() / w.getframerate()


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_audio_writes_each_items_audio(tmp_path: Path, dialect: str) -> None:
    source = ROOT / "cassettes" / dialect / "audio_turn.jsonl"
    code, out = run("audio", str(source), "-o", str(tmp_path / "wav"))
    assert code == 0, out
    files = sorted((tmp_path / "wav").iterdir())
    assert [f.name.split("-")[0] + "-" + f.name.split("-")[1] + "-" + f.name.rsplit("-", 1)[1]
            for f in files] == ["ep0-01-input.wav", "ep0-02-output.wav"]
    assert wav_seconds(files[0]) == pytest.approx(0.8)
    assert wav_seconds(files[1]) == pytest.approx(1.2)
    assert 'assistant "Hi! How can I help you today?"' in out
    # the written samples are the recorded ones
    cassette = Cassette.load(source)
    with wave.open(str(files[1])) as w:
        assert w.readframes(w.getnframes()) == cassette.output_audio(0).tobytes()


def test_audio_barge_in_and_no_audio(tmp_path: Path) -> None:
    code, out = run("audio", str(ROOT / "cassettes/ga/vad_barge_in.jsonl"), "-o", str(tmp_path))
    assert code == 0
    assert len(list(tmp_path.glob("ep0-*-input.wav"))) == 2
    assert len(list(tmp_path.glob("ep0-*-output.wav"))) == 2
    code, out = run("audio", str(ROOT / "cassettes/ga/text_turn.jsonl"), "-o", str(tmp_path / "t"))
    assert code == 0 and "no audio in this cassette" in out
    code, out = run("audio", str(tmp_path / "none.jsonl"), "-o", str(tmp_path))
    assert code == 2 and "none.jsonl: no such file" in out
