"""Interception on every websockets release of the supported range: the entry points moved
between releases (the legacy client was `websockets.connect` until 14 and is deprecated since;
websockets' own proxy support arrived in 15; the sync client's `connect` is a function until
17.0 and builds a `reconnect` from 17.1, which the openai SDK then subclasses), so
tests/intercept_checks.py runs again on the newest release of each major of the declared range
(tests/test_websockets_range.py finds them) and on both sides of 17.1, each fetched from PyPI
once into a cache and put first on a child's path; the openai
SDK's checks (it picks its sync entry point by release) on the lowest and around 17.1. (The
suite's own websockets runs them all in tests/test_intercept_libraries.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from tests.test_websockets_range import install, newest_per_major

ROOT = Path(__file__).resolve().parent.parent
BOTH_SIDES_OF = ["17.0.1"]  # the last release whose sync `connect` is a plain function


def test_interception_on_each_websockets_release() -> None:
    newest = newest_per_major()
    if not newest:
        pytest.skip("the package index cannot be reached and no websockets is cached")
    releases = sorted({*newest.values(), *BOTH_SIDES_OF}, key=Version)
    # importing the SDK costs a second a child: the lowest, the newest and the 17.1 boundary
    with_sdk = {releases[0], releases[-1], *BOTH_SIDES_OF}
    targets = {version: install(version) for version in releases}
    children = {
        version: subprocess.Popen(
            [sys.executable, "-W", "error::DeprecationWarning", "-m", "tests.intercept_checks",
             *(["--sdk"] if version in with_sdk else [])],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for version, target in targets.items()}
    problems = []
    for version, child in children.items():
        out, err = child.communicate(timeout=120)
        if child.returncode != 0 or out.strip() != f"ok {version}":
            problems.append(f"websockets {version}: exit {child.returncode}\n{out}{err[-3000:]}")
    assert not problems, "\n\n".join(problems)
