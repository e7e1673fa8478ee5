"""Interception on every websockets release of the supported range: the entry points moved
between releases (the legacy client was `websockets.connect` until 14 and is deprecated since;
websockets' own proxy support arrived in 15; the sync client's `connect` is a function until
17.0 and builds a `reconnect` from 17.1, which the openai SDK then subclasses), so
tests/intercept_checks.py runs again on the last release of each line and on both sides of
17.1, each fetched from PyPI once into a cache and put first on a child's path; the openai
SDK's checks (it picks its sync entry point by release) on the lowest and around 17.1. (The
suite's own websockets runs them all in tests/test_intercept_libraries.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_websockets_lowest import cached_websockets

ROOT = Path(__file__).resolve().parent.parent
RELEASES = ["13.1", "14.2", "15.0.1", "17.0.1", "17.4"]
WITH_SDK = {"13.1", "17.0.1", "17.4"}  # importing the SDK costs a second a child


def test_interception_on_each_websockets_release() -> None:
    targets = {version: cached_websockets(version) for version in RELEASES}
    children = {
        version: subprocess.Popen(
            [sys.executable, "-W", "error::DeprecationWarning", "-m", "tests.intercept_checks",
             *(["--sdk"] if version in WITH_SDK else [])],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for version, target in targets.items()}
    problems = []
    for version, child in children.items():
        out, err = child.communicate(timeout=120)
        if child.returncode != 0 or out.strip() != f"ok {version}":
            problems.append(f"websockets {version}: exit {child.returncode}\n{out}{err[-3000:]}")
    assert not problems, "\n\n".join(problems)
