"""A replayed test that fails on a mismatch or a conversation assertion gets an HTML report
(the recording and this run side by side, the differing event highlighted in both, both
audios playable), and the failure prints its path; a passing test gets none."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest

import rtkit.commands.audio
import rtkit.server.replay_server
import rtkit.view  # noqa: F401  (these stay loaded across in-process pytester runs: numpy too)

ROOT = Path(__file__).resolve().parent.parent
AUDIO_TURN = ROOT / "cassettes" / "ga" / "audio_turn.jsonl"
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

# a raw client sending the recorded client events of audio_turn (the last one replaced by
# LAST when it is given), then reading until response.done
TESTS = """
import json
import pytest
from websockets.sync.client import connect
from rtkit.assertions import rt_conversation

pytestmark = pytest.mark.rtkit(cassette="audio_turn")
RECORDED = [json.loads(line)["event"] for line in open(CASSETTE)
            if json.loads(line).get("dir") == "client"]


def turn(rt_server, last=None):
    events = RECORDED[:-1] + [last or RECORDED[-1]]
    with connect(rt_server.url + "?model=gpt-realtime") as ws:
        for event in events:
            ws.send(json.dumps(event))
        while json.loads(ws.recv())["type"] != "response.done":
            pass


def test_mismatch(rt_server):
    turn(rt_server, {"type": "response.create", "response": {"instructions": "Be brief."}})


def test_assertion(rt_server):
    turn(rt_server)
    rt_conversation(rt_server).expect.events.next("session.created").next("response.done")


def test_item_assertion(rt_server):
    turn(rt_server)
    rt_conversation(rt_server).expect.assistant_said("goodbye")


def test_passes(rt_server):
    turn(rt_server)
    rt_conversation(rt_server).expect.assistant_said("help")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    (pytester.path / "cassettes" / "test_app").mkdir(parents=True)
    shutil.copy(AUDIO_TURN, pytester.path / "cassettes" / "test_app" / "audio_turn.jsonl")
    pytester.makepyfile(test_app=TESTS.replace("CASSETTE", repr(str(AUDIO_TURN))))
    return pytester


def _reports(result: pytest.RunResult) -> dict[str, Path]:
    found = re.findall(r"rtkit: HTML report of this failure: (\S+)", result.stdout.str())
    return {Path(p).name.split("--")[-1].removesuffix(".html"): Path(p) for p in found}


def _audio_seconds(page: str) -> list[float]:
    """The duration of each inline WAV of a page, from its header."""
    out = []
    for b64 in re.findall(r'src="data:audio/wav;base64,([^"]+)"', page):
        wav = base64.b64decode(b64)
        assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
        out.append(int.from_bytes(wav[40:44], "little") / 2 / 24000)
    return out


def test_each_failure_prints_its_report_and_a_pass_writes_none(project: pytest.Pytester,
                                                               tmp_path: Path) -> None:
    reports_dir = tmp_path / "reports"
    result = project.runpytest("--rt-report-dir", str(reports_dir))
    result.assert_outcomes(failed=3, passed=1)
    reports = _reports(result)
    assert set(reports) == {"test_mismatch", "test_assertion", "test_item_assertion"}
    assert sorted(p.name for p in reports_dir.iterdir()) == sorted(p.name for p in
                                                                 reports.values())
    # the text report stays as it was, the path follows it under the error
    result.stdout.fnmatch_lines(["E*CannotOverwriteExistingCassetteException: Replay mismatch*",
                                 "*", "E*rtkit: HTML report of this failure: *test_mismatch.html"])

    page = reports["test_mismatch"].read_text()
    # the failure, and the differing event (the 5th client event) as recorded and as sent
    assert "Failure at episode 0, client event #5" in page
    assert "Replay mismatch in cassette" in page and "Be brief." in page
    # highlighted in both timelines: the recorded response.create and the one this run sent
    lit = re.findall(r'<rect class="mark [a-z]+ hl"[^>]*data-lane="client"[^>]*'
                     r'data-hl="([^"]+)"', page)
    assert lit == ["response.create", "response.create"], lit
    # both sides' audio plays: the recording's question and answer and its input as sent;
    # this run's input as sent and as the item the server made of it (the commit was
    # answered before the response.create that differs: replay is causal)
    question, answer = json.loads(_item_durations(AUDIO_TURN))
    assert sorted(_audio_seconds(page)) == pytest.approx(
        sorted([question, answer, question, question, question]), abs=1e-3)
    assert "<th>recorded: audio_turn.jsonl</th><th>this run</th>" in page

    page = reports["test_assertion"].read_text()
    assert "expected next server event response.done, got #1 session.updated" in page
    lit = re.findall(r'class="mark [a-z]+ hl"[^>]*data-lane="server"[^>]*data-hl="([^"]+)"',
                     page)
    assert lit == ["session.updated", "session.updated"], lit
    assert len(_audio_seconds(page)) == 6  # the whole turn, both sides
    page = reports["test_item_assertion"].read_text()
    assert "goodbye" in page and " hl" not in page  # a check on items: no event to point at


def _item_durations(path: Path) -> str:
    """The seconds of each item's audio as `rtkit audio` writes them (the oracle)."""
    import tempfile
    import wave

    from click.testing import CliRunner

    from rtkit.cli import main

    with tempfile.TemporaryDirectory() as out:
        result = CliRunner().invoke(main, ["audio", str(path), "-o", out])
        assert result.exit_code == 0, result.output
        seconds = []
        for wav in sorted(Path(out).glob("*.wav")):
            with wave.open(str(wav)) as w:
                seconds.append(w.getnframes() / w.getframerate())
    return json.dumps(seconds)


def test_the_default_place_is_beside_pytests_temporary_directory(
        project: pytest.Pytester) -> None:
    result = project.runpytest("-k", "item_assertion")
    result.assert_outcomes(failed=1, deselected=3)
    (path,) = _reports(result).values()
    # pytester runs with --basetemp=<its dir>/basetemp: the reports go beside it
    assert path.parent == (project.path.parent / "rtkit-reports").resolve()
    assert path.exists()
