"""A pytest plugin for the child run of test_dependency_floors.py: each process of it (the main
one and every xdist worker) writes which of the given distributions it imported, at which
versions and from which files, so the parent can tell that the tests really ran on them.

Loaded with `-p tests.dependency_probe`; `RTKIT_PROBE_DIR` names the directory for the reports
and `RTKIT_PROBE_MODULES` the distributions, as `dist=module` pairs separated by commas. It
looks after every test, before its fixtures are torn down: pytester's in-process runs drop
from `sys.modules` what they imported when their fixture ends.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
from pathlib import Path

import pytest

_seen: dict[str, set[tuple[str, str]]] = {}


def _look() -> None:
    for pair in filter(None, os.environ.get("RTKIT_PROBE_MODULES", "").split(",")):
        dist, _, module_name = pair.partition("=")
        module = sys.modules.get(module_name)
        if module is not None:
            _seen.setdefault(dist, set()).add(
                (importlib.metadata.version(dist), str(getattr(module, "__file__", ""))))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _look()


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("RTKIT_PROBE_DIR")
    if not out:
        return
    _look()
    name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    report = {dist: sorted(found) for dist, found in _seen.items()}
    Path(out, f"{name}.json").write_text(json.dumps(report), encoding="utf-8")
