"""`rtkit record --script` shows its progress on a terminal as one status line, redrawn at most
about four times a second (as the proxy's is), not once per event (issue 11)."""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path

import pytest

from rtkit.commands import record
from rtkit.commands._common import STATUS_INTERVAL, status_printer
from rtkit.fake import FakeRealtimeAPI

REDRAW = "\r\033[K"


class FakeTerminal(io.StringIO):
    """stderr as a terminal: the status line is drawn."""

    def isatty(self) -> bool:
        return True


def test_a_script_of_many_events_redraws_a_few_times(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "talk.yaml"
    script.write_text("session: {modalities: [text], turn_detection: null}\n"
                      "steps:\n  - say: tell me a long story\n")
    words = "once upon a time " * 100  # 400 text deltas, streamed without pauses
    terminal = FakeTerminal()
    with FakeRealtimeAPI({"delta_ms": 0, "default": {"text": words}}) as fake:
        monkeypatch.setattr(sys, "stderr", terminal)
        started = time.monotonic()
        with pytest.raises(SystemExit) as exit_:
            record.command.main(["--script", str(script), "-o", str(tmp_path / "s.jsonl"),
                                 "--upstream", fake.url])
        elapsed = time.monotonic() - started
    assert exit_.value.code == 0
    summary = capsys.readouterr().out
    events = sum(map(int, re.findall(r"(\d+) (?:client|server)", summary)))
    assert events > 400, summary
    redraws = terminal.getvalue().count(REDRAW)
    # the first line, one per interval at most, and the final clear
    assert 2 <= redraws <= elapsed / STATUS_INTERVAL + 2, (redraws, elapsed, events)
    assert terminal.getvalue().endswith(REDRAW)  # the line is cleared before the summary


def test_the_printer_drops_lines_within_the_interval_but_always_clears(
        monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    clock = iter([0.0, 0.1, 0.2, 0.3, 0.31, 0.32])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    show = status_printer(True, 0.25)
    for line in ("a", "b", "c", "d", "e"):
        show(line)
    show("")
    assert terminal.getvalue() == f"{REDRAW}a{REDRAW}d{REDRAW}"


def test_no_status_line_when_stderr_is_not_a_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    status_printer(True, 0.25)("x")
    assert stream.getvalue() == ""
