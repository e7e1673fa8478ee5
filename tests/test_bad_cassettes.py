"""Bad cassettes are refused by every tool with one message at one position (FILE:LINE:COLUMN
of the same character), never a traceback: not UTF-8, blank, not JSON, impossible values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rtkit.cassette import Cassette, read_lines
from rtkit.cassette.validate import validate_path
from rtkit.cli import main
from rtkit.errors import CassetteError

ROOT = Path(__file__).resolve().parent.parent
TEXT_TURN = ROOT / "cassettes" / "ga" / "text_turn.jsonl"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def broken(tmp_path: Path, lineno: int, edit: object, name: str = "bad.jsonl") -> Path:
    """text_turn with line `lineno` (1-based) replaced by edit(old line) (bytes allowed)."""
    lines = TEXT_TURN.read_bytes().splitlines()
    lines[lineno - 1] = edit(lines[lineno - 1])  # type: ignore[operator]
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def every_tool(path: Path, tmp_path: Path) -> dict[str, tuple[int, str]]:
    """What each tool prints for `path`: the CLI commands and the library's readers."""
    out = {
        "validate": run("validate", str(path)),
        "inspect": run("inspect", str(path)),
        "diff": run("diff", str(TEXT_TURN), str(path)),
        "audio": run("audio", str(path), "-o", str(tmp_path / "wav")),
        "scrub": run("scrub", "--check", str(path)),
        "view": run("view", str(path), "-o", str(tmp_path / "report.html")),
    }
    for name, read in (("Cassette.load", Cassette.load), ("read_lines", lambda p: list(
            read_lines(p)))):
        with pytest.raises(CassetteError) as info:
            read(path)
        out[name] = (2, str(info.value))
    return out


# each corruption and the position every tool must name (line 4 is an event line)
CORRUPT = [
    ("truncated", lambda b: b[:40], 41),            # ends too early: one past its last char
    ("garbage inside", lambda b: b.replace(b'"type"', b'"type" x', 1), None),
    ("extra data", lambda b: b + b"}", None),
    ("not UTF-8", lambda b: b.replace(b'"type":"', b'"type":"\xff', 1), None),
]


@pytest.mark.parametrize("name,edit,column", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_one_position_for_a_corrupt_line_everywhere(tmp_path: Path, name: str, edit: object,
                                                    column: int | None) -> None:
    path = broken(tmp_path, 4, edit)
    line = path.read_bytes().splitlines()[3]
    if column is None:  # the character the problem is at, counted by hand
        if name == "not UTF-8":
            column = len(line[:line.index(b"\xff")].decode()) + 1
        elif name == "garbage inside":
            column = line.decode().index(" x") + 2  # the x, where a ':' was expected
        else:
            column = len(line.decode())  # the stray last '}'
    results = every_tool(path, tmp_path)
    positions = {tool: re.findall(rf"{re.escape(str(path))}:(\d+):(\d+): ", text)
                 for tool, (_, text) in results.items()}
    assert all(found == [("4", str(column))] for found in positions.values()), positions
    reason = "not UTF-8 text (byte 0xff)" if name == "not UTF-8" else "not valid JSON ("
    assert all(reason in text for _, text in results.values()), results
    assert results["validate"][0] == 1  # a problem found
    assert all(results[tool][0] == 2 for tool in ("inspect", "diff", "audio", "scrub", "view"))
    assert all(text.startswith("rtkit: error: ") for tool, (_, text) in results.items()
               if tool in ("inspect", "diff", "audio", "scrub", "view")), results
    assert not (tmp_path / "report.html").exists()


def test_a_file_of_blank_lines_is_not_a_cassette(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text("\n\n   \n")
    message = f"{path}: not a cassette: no header line (the file is empty or blank)"
    results = every_tool(path, tmp_path)
    for tool, (code, text) in results.items():
        assert message in text, (tool, text)
        assert code == (1 if tool == "validate" else 2), tool
    path.write_text("")
    assert [str(p) for p in validate_path(path)] == [message]


@pytest.mark.parametrize("field,value,why", [
    ("status", 999, "status: 999 is not an HTTP status"),
    ("status", 42, "status: 42 is not an HTTP status"),
])
def test_an_impossible_handshake_status_is_refused(tmp_path: Path, field: str, value: int,
                                                   why: str) -> None:
    def edit(b: bytes) -> bytes:
        obj = json.loads(b)
        obj[field] = value
        return json.dumps(obj).encode()

    path = broken(tmp_path, 2, edit)
    for tool, (_, text) in every_tool(path, tmp_path).items():
        assert f"{path}:2: invalid connect line: {why}" in text, (tool, text)


def test_an_impossible_close_code_is_refused(tmp_path: Path) -> None:
    lines = TEXT_TURN.read_text().splitlines()
    last = len(lines)
    assert json.loads(lines[-1])["kind"] == "close"

    def edit(b: bytes) -> bytes:
        obj = json.loads(b)
        obj["code"] = 5
        return json.dumps(obj).encode()

    path = broken(tmp_path, last, edit)
    for tool, (_, text) in every_tool(path, tmp_path).items():
        assert f"{path}:{last}: invalid close line: code:" in text, (tool, text)
    # a dropped connection (no code) and a refused handshake (status 0, 401) are fine
    for b in (lambda b: b.replace(b'"code":1000', b'"code":null'),):
        assert Cassette.load(broken(tmp_path, last, b, "ok.jsonl")).episodes[0].close.code is None
    for status in (0, 401):
        ok = broken(tmp_path, 2, lambda b, s=status: b.replace(b'"status":101',
                                                               f'"status":{s}'.encode()),
                    "ok.jsonl")
        assert Cassette.load(ok).episodes[0].connect.status == status


def test_a_blank_first_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("\n" + TEXT_TURN.read_text())
    code, out = run("validate", str(path))
    assert code == 1
    assert out.splitlines()[0] == f"{path}:1: the first line is blank; it must be the header"


def _moved(lines: list[str], what: str) -> list[str]:
    out = list(lines)
    if what == "connected twice":
        out.insert(3, out[1])
    elif what == "no connect":
        out.insert(3, out[3].replace('"conn":0', '"conn":5', 1))
    elif what == "after close":
        out.append(out[3])
    elif what == "time backwards":
        obj = json.loads(out[5])
        obj["t"] = 0.0
        out[5] = json.dumps(obj)
    elif what == "second header":
        out.insert(4, out[0])
    elif what == "no header first":
        out = out[1:]
    elif what == "odd event keys":
        out[3] = out[3].replace('"conn":', '"conx":', 1)
    return out


@pytest.mark.parametrize("what", ["connected twice", "no connect", "after close",
                                  "time backwards", "second header", "no header first",
                                  "odd event keys"])
def test_inspect_refuses_what_the_reader_refuses_with_its_words(tmp_path: Path,
                                                               what: str) -> None:
    """inspect reads a cassette in one pass of its own: its messages are the reader's."""
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(_moved(TEXT_TURN.read_text().splitlines(), what)) + "\n")
    with pytest.raises(CassetteError) as info:
        Cassette.load(path)
    code, out = run("inspect", str(path))
    assert (code, out) == (2, f"rtkit: error: {info.value}\n")


@pytest.mark.parametrize("args", [
    ["inspect", "{f}"], ["validate", "{f}"], ["diff", str(TEXT_TURN), "{f}"],
    ["audio", "{f}", "-o", "{tmp}/wav"], ["scrub", "{f}"], ["recover", "{f}.rtkit-tmp"],
    ["view", "{f}", "-o", "{tmp}/r.html"],
    ["diff", str(TEXT_TURN), "{f}", "--html", "{tmp}/d.html"],
], ids=lambda a: "-".join(a[:1] + [w for w in a if w.startswith("--")]))
def test_one_error_style_for_a_missing_file_or_a_directory(tmp_path: Path,
                                                          args: list[str]) -> None:
    """`rtkit: error: FILE: ...`, exit 2, never a traceback (docs/cli.md's exit codes)."""
    for target, why in ((tmp_path / "nope.jsonl", "no such file"),
                        (tmp_path, "is a directory")):
        if args[0] == "recover" and target == tmp_path:
            continue
        code, out = run(*[a.format(f=target, tmp=tmp_path) for a in args])
        assert code == 2, out
        assert out.startswith(f"rtkit: error: {target}"), out
        assert why in out or "not a recording's temporary file" in out, out


def test_audio_that_is_not_base64_is_named_by_its_line(tmp_path: Path) -> None:
    """A tool that decodes audio names the line of a delta that is not base64 (it was a
    traceback from the base64 decoder)."""
    source = ROOT / "cassettes" / "ga" / "audio_turn.jsonl"
    lines = source.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if '"response.output_audio.delta"' in line)
    obj = json.loads(lines[at])
    obj["event"]["delta"] = "abc!"
    lines[at] = json.dumps(obj)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    for args in (["audio", str(path), "-o", str(tmp_path / "wav")],
                 ["view", str(path), "-o", str(tmp_path / "r.html")],
                 ["diff", str(source), str(path), "--html", str(tmp_path / "d.html")]):
        code, out = run(*args)
        error = f"rtkit: error: {path}:{at + 1}: the event's audio is not valid base64\n"
        # diff prints its text diff (it only counts the audio), then fails making the page
        assert code == 2 and (out == error or (args[0] == "diff" and out.endswith(error))), args
    assert run("inspect", str(path))[0] == 0  # inspect only counts: the length is enough
