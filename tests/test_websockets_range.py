"""rtkit supports every websockets release its users' stacks resolve to: the range declared in
pyproject.toml (`openai[realtime]` and `openai-agents` allow different ones). The suite runs
on whatever this environment has; this runs the tests of the socket shells again on the lowest
and the newest release of every major of the declared range (the lowest of the first major is
the declared floor), found on the package index when the test runs (so next month's patch
release is tested the day it appears), each installed once into a cache and put first on the
path of a child pytest run. Widening the range is one line in
pyproject.toml: the majors tested follow from it.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import websockets
from packaging.requirements import Requirement
from packaging.version import Version

from tests.secret_scan import NO_SCAN

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RTKIT_TEST_CACHE", Path.home() / ".cache" / "rtkit-tests"))
SHELL_TESTS = ["tests/test_wsserver.py", "tests/test_replay_server_shell.py",
               "tests/test_proxy_relay.py", "tests/test_fake_server.py",
               "tests/test_record_replay_e2e.py", "tests/test_client_e2e.py",
               "tests/test_serve_client_drop.py"]
LEAN = ["-p", "no:cacheprovider", "-p", "no:recording", "-p", "no:anyio"]


def declared() -> Requirement:
    """websockets' requirement in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return next(r for r in map(Requirement, project["dependencies"]) if r.name == "websockets")


def majors(requirement: Requirement) -> list[int]:
    """The majors the declared range spans (from its lower bound to under its cap)."""
    spec = requirement.specifier
    low = next(Version(s.version) for s in spec if s.operator == ">=")
    cap = next(Version(s.version) for s in spec if s.operator == "<")
    return list(range(low.major, cap.major if cap.minor == cap.micro == 0 else cap.major + 1))


def test_the_range_is_capped_below_the_next_major() -> None:
    """An unreleased major cannot reach users untested: the range has an upper bound, and it
    is a major boundary."""
    spec = declared().specifier
    caps = [Version(s.version) for s in spec if s.operator == "<"]
    assert len(caps) == 1 and caps[0].minor == caps[0].micro == 0, str(spec)
    assert Version(websockets.__version__) in spec, "this environment is outside the range"


def releases_per_major() -> dict[int, list[str]]:
    """The lowest and the newest release of each major of the range, from the package index
    (or, when it cannot be reached, those already in the cache)."""
    wanted = majors(declared())
    done = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "websockets"],
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Available versions: (.*)", done.stdout)
    if found:
        versions = [Version(v) for v in found.group(1).split(", ")]
    else:
        versions = [Version(p.name.split("-", 1)[1]) for p in CACHE.glob("websockets-*")
                    if (p / "websockets" / "version.py").exists()]
    releases: dict[int, list[str]] = {}
    for version in sorted(v for v in versions if not v.is_prerelease and v in declared().specifier):
        if version.major in wanted:
            ends = releases.setdefault(version.major, [str(version)])
            ends[1:] = [str(version)] if str(version) != ends[0] else []
    return releases


def newest_per_major() -> dict[int, str]:
    """The newest release of each major of the range (see `releases_per_major`)."""
    return {major: ends[-1] for major, ends in releases_per_major().items()}


def install(version: str) -> Path:
    target = CACHE / f"websockets-{version}"
    if not (target / "websockets" / "version.py").exists():
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                               "--target", str(target), f"websockets=={version}"],
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            pytest.skip(f"cannot install websockets=={version} from the package index: "
                        f"{done.stderr.strip().splitlines()[-1:]}")
    return target


def test_the_socket_shells_pass_on_the_lowest_and_newest_release_of_every_major() -> None:
    releases = releases_per_major()
    if not releases:
        pytest.skip("the package index cannot be reached and no websockets is cached")
    assert set(releases) == set(majors(declared())), f"no release for some majors: {releases}"
    others = [v for ends in releases.values() for v in ends if v != websockets.__version__]
    paths = {version: install(version) for version in others}

    def run(version: str) -> str | None:
        """The child run's output when it failed, else None."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(paths[version]), str(ROOT)]),
               NO_SCAN: "1"}
        code = (f"import websockets; assert websockets.__version__ == {version!r}, "
                "websockets.__version__")
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", *LEAN, *SHELL_TESTS],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)
        ok = done.returncode == 0 and " passed" in done.stdout
        return None if ok else f"--- websockets {version}:\n{done.stdout[-3000:]}"

    # a few at a time: the children mostly wait on sockets, and the machine has two cores
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        failed = [out for out in pool.map(run, others) if out is not None]
    assert not failed, "\n".join(failed)
