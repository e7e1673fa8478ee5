"""Shared test set-up: the repository root on sys.path, so tests can import
`cassettes.make_reference` (the scenarios behind the reference cassettes) and
`tests.scripted_server`; and cassetter's pytest plugin off in the pytest runs tests start."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import processes  # noqa: E402  (needs the root on the path)

# cassetter (the `bench` extra, for benchmarks/vs_cassetter.py) has a pytest plugin that
# registers --record-mode, as pytest-recording does: pytest does not start with both installed.
# pyproject.toml's addopts turn it off for this run; the pytest runs tests start (pytester,
# subprocesses) get it through PYTEST_ADDOPTS. Without cassetter, `-p no:cassetter` does nothing.
NO_CASSETTER = "-p no:cassetter"
if NO_CASSETTER not in os.environ.get("PYTEST_ADDOPTS", ""):
    os.environ["PYTEST_ADDOPTS"] = f"{os.environ.get('PYTEST_ADDOPTS', '')} {NO_CASSETTER}"


_OUTCOME = pytest.StashKey[bool]()  # whether the test's call phase passed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_OUTCOME] = report.passed


@pytest.fixture(autouse=True)
def _stops_the_processes_it_started(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every process a test starts is stopped when it ends (this teardown runs after the
    test's other function-scoped fixtures'); a test that passed but left one running fails."""
    if not processes.supported():
        yield
        return
    before = set(processes.descendants())
    yield
    started = {pid for pid in processes.descendants()
               if pid not in before and pid not in processes.OUTLIVING}
    survivors = processes.wait_gone(started, 1.0)
    if not survivors:
        return
    left = {pid: cmd for pid, cmd in processes.descendants().items() if pid in survivors}
    processes.stop(set(left))
    if left and request.node.stash.get(_OUTCOME, False):
        pytest.fail(f"the test left {len(left)} process(es) running (stopped now): "
                    + "; ".join(left.values()), pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run fails when a process it started is still running at its end."""
    if not processes.supported():
        return
    survivors = processes.wait_gone(set(processes.descendants()), 1.0)
    left = {pid: cmd for pid, cmd in processes.descendants().items() if pid in survivors}
    if not left:
        return
    processes.stop(set(left))
    session.config.pluginmanager.get_plugin("terminalreporter").write_line(
        f"rtkit tests: {len(left)} process(es) were still running at the end of the run "
        "(stopped now): " + "; ".join(left.values()), red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _pytester_without_cassetter(request: pytest.FixtureRequest) -> Iterator[None]:
    """pytester clears PYTEST_ADDOPTS for its runs: set it again after it did."""
    if "pytester" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("pytester")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_ADDOPTS", NO_CASSETTER)
        yield


_SCAN_TIME = pytest.StashKey[str]()


@pytest.fixture(scope="session", autouse=True)
def _cassettes_scan_clean(tmp_path_factory: pytest.TempPathFactory,
                          pytestconfig: pytest.Config) -> Iterator[None]:
    """At the end of the run, every cassette and HTTP cassette the tests wrote under their
    temporary directories is scanned with detect-secrets (tests/secret_scan.py) and must come
    out clean (issue 21): a secret the recorder let through fails the run, whichever test
    wrote it. One pass over the files left at the end, on two processes, its time in the
    run's summary; skipped when detect-secrets is not installed."""
    yield
    try:
        import detect_secrets  # noqa: F401
    except ImportError:
        return
    from tests.secret_scan import NO_SCAN, scan_cassettes

    if os.environ.get(NO_SCAN):
        return
    started = time.perf_counter()
    found = scan_cassettes(tmp_path_factory.getbasetemp(), workers=2)
    pytestconfig.stash[_SCAN_TIME] = (f"rtkit tests: the cassettes this run wrote were scanned "
                                      f"for secrets in {time.perf_counter() - started:.1f} s")
    if found:
        shown = "\n".join(f"  {path}:{lineno}: {kind}" for path, lineno, kind in found[:20])
        pytest.fail(f"{len(found)} secret(s) in cassettes the tests wrote:\n{shown}",
                    pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    """The secret scan's time (written here: the fixture's own output is captured)."""
    if _SCAN_TIME in config.stash:
        terminalreporter.write_line(config.stash[_SCAN_TIME])
