"""One writer per cassette: a second writer (another process, another `rtkit record`, another
pytest-xdist worker) fails at once naming the cassette and the holder, instead of one commit
silently replacing the other's episodes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rtkit.cassette import Cassette, CassetteWriter
from rtkit.cassette.lock import CassetteLock, lock_path, probe
from rtkit.errors import CassetteLockedError, RtkitLeftoverWarning

# A writer in its own process: records one episode, says "ready", commits when told to.
HOLDER = """
import sys
from rtkit.cassette import CassetteWriter
w = CassetteWriter(sys.argv[1])
w.connect(0)
w.event(0, "client", 1, '{"type":"response.create"}')
w.close(0, 2)
print("ready", flush=True)
sys.stdin.readline()
w.commit()
print("committed", flush=True)
"""

# A second writer on the same path: exit 0 if it could write, 3 with the error if refused.
CONTENDER = """
import sys
from rtkit.cassette import CassetteWriter
from rtkit.errors import CassetteLockedError, RtkitLeftoverWarning
try:
    with CassetteWriter(sys.argv[1], append=True) as w:
        w.connect(0)
        w.close(0, 1)
except CassetteLockedError as exc:
    print(exc, flush=True)
    sys.exit(3)
"""


def python(code: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], text=True,  # type: ignore[call-overload]
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_a_second_process_is_refused_while_the_first_records(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    holder = python(HOLDER, str(path), stdin=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready"
        contender = python(CONTENDER, str(path))
        out, err = contender.communicate(timeout=60)
        assert contender.returncode == 3, out + err
        assert out.startswith(f"{path}: another writer (pid {holder.pid}) is recording to this "
                              "cassette"), out
        assert "give each writer its own cassette" in out
        assert probe(path) is not None and probe(path).pid == holder.pid  # type: ignore[union-attr]
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "committed"
    finally:
        holder.kill()
        holder.wait(60)
    assert not lock_path(path).exists()  # the holder removed its lock file
    with CassetteWriter(path, append=True) as w:  # now a second writer may: after the first
        w.connect(0)
    assert [e.conn for e in Cassette.load(path).episodes] == [0, 1]  # nothing lost


def test_a_killed_holder_leaves_no_lock(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    holder = python(HOLDER, str(path), stdin=subprocess.PIPE)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "ready"
    holder.send_signal(signal.SIGKILL)
    holder.wait(60)
    assert lock_path(path).exists()  # it could not remove the file, but the kernel freed it
    assert probe(path) is None
    left = (r"1 temporary file\(s\) beside it are left over from a recording that was killed "
            r"\(\.c\.jsonl\.\w+\.rtkit-tmp\); `rtkit recover .*c\.jsonl`")
    # the next writer may write, and says what was left
    with pytest.warns(RtkitLeftoverWarning, match=left), CassetteWriter(path) as w:
        w.connect(0)
    assert not lock_path(path).exists()


def test_two_writers_in_one_process_and_the_lock_is_released_on_every_path(
        tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    first = CassetteWriter(path)
    with pytest.raises(CassetteLockedError, match=rf"pid {os.getpid()}, this process"):
        CassetteWriter(path)
    first.abort()
    second = CassetteWriter(path)  # free again after abort
    second.commit()
    with CassetteWriter(path, append=True):
        pass  # and after commit / the context manager
    path.write_text("{broken\n")
    with pytest.raises(Exception, match="not valid JSON"):
        CassetteWriter(path, append=True)  # a failed start lets go too
    with CassetteLock(path) as lock:
        assert lock.held and json.loads(lock_path(path).read_text())["pid"] == os.getpid()
    assert not lock_path(path).exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_two_rtkit_record_processes_on_one_path(tmp_path: Path) -> None:
    """The second `rtkit record` exits 2 with `rtkit: error:` naming the first's pid; the first
    still writes its cassette."""
    path = tmp_path / "session.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-" + "lock" * 6}
    cmd = [sys.executable, "-c", "from rtkit.cli import main; main()", "record", "--listen",
           "127.0.0.1:0", "-o",
           str(path), "--upstream", "ws://127.0.0.1:9/v1/realtime"]
    first = subprocess.Popen(cmd, env=env, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert first.stdout is not None
        assert first.stdout.readline().startswith("ws://127.0.0.1:")  # listening, writer open
        second = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=60)
        assert second.returncode == 2, second.stdout + second.stderr
        assert second.stderr.startswith(f"rtkit: error: {path}: another writer (pid "
                                        f"{first.pid}) is recording to this cassette"), \
            second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 0
    assert Cassette.load(path).episodes == []


XDIST_TESTS = """
import time
from pathlib import Path

import pytest

FLAG = Path(__file__).parent / "refused"


@pytest.mark.rtkit("shared")
@pytest.mark.parametrize("n", [1, 2])
def test_record(rt_server, n):
    # the test that got the cassette holds it until the other worker was refused
    deadline = time.monotonic() + 20
    while not FLAG.exists():
        assert time.monotonic() < deadline, "the other worker was never refused"
        time.sleep(0.01)
"""

XDIST_CONFTEST = """
from pathlib import Path


def pytest_runtest_logreport(report):
    if report.when == "setup" and report.failed:
        (Path(__file__).parent / "refused").touch()
"""


def test_xdist_workers_sharing_a_cassette_fail_loudly(pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two xdist workers record one shared cassette at once: one records, the other errors
    with the lock message (before: both passed, and one's episodes were lost)."""
    pytest.importorskip("xdist")
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(XDIST_CONFTEST)
    pytester.makepyfile(test_shared=XDIST_TESTS)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + "xdist" * 5)
    monkeypatch.setenv("RTKIT_UPSTREAM_URL", "ws://127.0.0.1:9/v1/realtime")  # never dialled
    result = pytester.runpytest_subprocess("-n", "2", "--rt-record-mode=all", "-p",
                                           "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*CassetteLockedError*another writer (pid *) is recording to "
                                 "this cassette*"])
    assert (pytester.path / "cassettes" / "test_shared" / "shared.jsonl").exists()
