"""Every CLI failure is reported one way: `rtkit: error: <message>` on stderr, exit 2 for usage
errors (click's own included: a missing argument, an unknown option or command)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from rtkit.cli import main

CASSETTE = "cassettes/ga/text_turn.jsonl"


def _runner_with_stderr() -> CliRunner:
    """A runner that keeps stderr apart: click 8.2 and later always do; 8.1 (rtkit's lowest)
    when asked, with an argument 8.2 removed."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect"], "Missing argument 'CASSETTE'"),
        (["inspect", "--episode", "3"], "Missing argument 'CASSETTE'"),
        # click's own words: "No such option: --x" before 8.4, "No such option '--x'." since
        (["inspect", CASSETTE, "--no-such-option"], "No such option:? '?--no-such-option'?"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["serve", CASSETTE, "--listen", "nowhere"], "expected HOST:PORT"),
    ],
)
def test_usage_errors_in_rtkit_style(args: list[str], message: str) -> None:
    result = _runner_with_stderr().invoke(main, args, prog_name="rtkit")
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("rtkit: error: "), result.stderr
    assert re.search(message, lines[-1]), lines[-1]
    assert not any(line.startswith("Error:") for line in lines), result.stderr
    assert "Usage: rtkit" in result.stderr  # the usage line still helps


def test_usage_error_from_the_installed_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from rtkit.cli import main; main()", "inspect"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == "rtkit: error: Missing argument 'CASSETTE'."
    assert proc.stdout == ""


def test_help_and_version_still_exit_zero() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["--help"]).exit_code == 0
    assert runner.invoke(main, ["inspect", "--help"]).exit_code == 0
    version = runner.invoke(main, ["--version"], prog_name="rtkit")
    assert version.exit_code == 0 and "rtkit" in version.output
