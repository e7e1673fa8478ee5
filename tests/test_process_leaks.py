"""No test leaves a process running (issue 19, item 6): what a test started is stopped when it
ends, a test that passed but left a process running fails, and a process that survives to the
end of the run (a wider-scoped fixture that never stopped it) fails the run. Checked on a run of
probe tests that leak on purpose, with this suite's conftest as their plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import processes

ROOT = Path(__file__).resolve().parent.parent
# this suite's conftest as the only plugin that matters here (the others only cost time)
LEAN = ["-p", "tests.conftest", "-p", "no:cacheprovider", "-p", "no:rtkit", "-p", "no:asyncio",
        "-p", "no:recording", "-p", "no:xdist", "-p", "no:anyio"]

PROBES = '''
import subprocess, sys

import pytest

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)  # rtkit-leak-probe"]


@pytest.fixture(scope="module")
def server():
    yield subprocess.Popen(SLEEP)  # never stopped: survives every test of the module


def test_passes_but_leaks():
    subprocess.Popen(SLEEP)


def test_fails_and_leaks():
    subprocess.Popen(SLEEP)
    assert False, "a failure of its own"


def test_clean():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_uses_the_module_server(server):
    assert server.poll() is None
'''


@pytest.mark.skipif(not processes.supported(), reason="needs Linux /proc")
def test_leaked_processes_are_stopped_and_reported(pytester: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_probes=PROBES)
    result = pytester.runpytest_subprocess(*LEAN)
    result.assert_outcomes(passed=3, failed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_passes_but_leaks*",
        "*the test left 1 process(es) running (stopped now): *rtkit-leak-probe*",
    ])
    assert "E       AssertionError: a failure of its own" in result.stdout.str()
    # only the module's leak, with every test passing: the run fails all the same
    result = pytester.runpytest_subprocess(*LEAN, "-k", "clean or module_server")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*rtkit tests: 1 process(es) were still running at the end "
                                 "of the run (stopped now): *rtkit-leak-probe*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not [cmd for cmd in processes.descendants().values() if "rtkit-leak-probe" in cmd]
