"""Each lower bound pyproject.toml declares works: every direct dependency but websockets (its
whole range has its own test) is installed at exactly its lower bound, read from
pyproject.toml so that the two cannot drift, and the tests that use it run on it in a child
pytest, which reports what it really imported.

The floors come from wheels only (a floor without a wheel for this Python is one a user cannot
install either), into a cache (RTKIT_TEST_CACHE, else ~/.cache/rtkit-tests) once, with the dev
extra's pytest plugins the child loads. pip resolves everything else (the floors' own
dependencies, those plugins) to the newest compatible release, as `uv pip install
--resolution lowest-direct` does: on pytest 7.4 that is pytest-asyncio 0.23.x (0.24 needs
pytest 8.2). The rest (websockets, the openai SDK some tests drive) is this environment's.
The test is skipped only when the package index cannot be reached.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.secret_scan import NO_SCAN

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
OWN_RANGE_TEST = {"websockets"}  # tests/test_websockets_range.py: lowest and newest per major
# the module each direct dependency is imported as
MODULES = {"numpy": "numpy", "pydantic": "pydantic", "click": "click", "vcrpy": "vcr",
           "pytest": "pytest", "pluggy": "pluggy", "pyyaml": "yaml", "pybase64": "pybase64"}
# the dev extra's pytest plugins that the child run (one process: half the CPU of two
# workers) and its pytester runs load
PLUGINS = ("pytest-asyncio", "pytest-xdist", "pytest-recording")
# the tests that use them: numpy and pybase64 (audio), pydantic (cassette, protocol and script
# models), click (the CLI), pyyaml (fake API and runner scripts, vcrpy's cassettes), pytest and
# pluggy (the plugin, through pytester), vcrpy (the HTTP side), and the undocumented names
CHILD_TESTS = [
    "tests/test_audio.py",
    "tests/test_cassette.py", "tests/test_bad_cassettes.py", "tests/test_protocol.py",
    "tests/test_cli_errors.py", "tests/test_cli_validate_scrub_audio.py",
    "tests/test_cli_inspect_diff.py",
    "tests/test_fake_core.py", "tests/test_script_runner.py",
    "tests/test_plugin_options.py", "tests/test_plugin_replay.py",
    "tests/test_plugin_redaction.py",
    "tests/test_undocumented_names.py",
]
DESELECT = {
    # pytest in subprocesses, for what no floor does (xdist's workers, pytest-recording's
    # network blocker) or what this file's in-process runs show too (the options parse): 25 s
    "tests/test_plugin_replay.py::test_xdist",
    "tests/test_plugin_replay.py::test_block_network_coexistence",
    "tests/test_plugin_options.py::test_registered_options_and_marker",
    # its ini sets asyncio_default_fixture_loop_scope, an option of pytest-asyncio 0.24 and
    # later: 0.23 warns that it is unknown, and the test's -W error makes that an error
    "tests/test_plugin_options.py::test_strict_markers_and_no_warnings",
}
# what pip says when it cannot reach the index (the only case that skips)
UNREACHABLE = re.compile(
    r"NewConnectionError|ConnectTimeoutError|ReadTimeoutError|ProxyError|Max retries exceeded"
    r"|Temporary failure in name resolution|Network is unreachable|No route to host")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def declared_floors() -> dict[str, Version]:
    """The lower bound of each direct dependency (websockets aside), by canonical name."""
    floors = {}
    for text in _project()["dependencies"]:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name in OWN_RANGE_TEST:
            continue
        lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"pyproject.toml: {text!r} declares no lower bound (>=)"
        floors[name] = lows[0]
    return floors


def requirements() -> list[str]:
    """What the child's environment is installed from: each floor pinned, the plugins as the
    dev extra declares them."""
    plugins = [text for text in _project()["optional-dependencies"]["dev"]
               if canonicalize_name(Requirement(text).name) in PLUGINS]
    assert len(plugins) == len(PLUGINS), f"the dev extra no longer lists all of {PLUGINS}"
    return [f"{name}=={version}" for name, version in declared_floors().items()] + plugins


def install(reqs: list[str]) -> Path:
    """A directory holding `reqs` (installed once per Python and requirement list)."""
    cache = Path(os.environ.get("RTKIT_TEST_CACHE", Path.home() / ".cache" / "rtkit-tests"))
    key = hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:12]
    target = cache / f"floors-py{sys.version_info[0]}{sys.version_info[1]}-{key}"
    done_marker = target / "rtkit-requirements.txt"  # written last: the install is complete
    if done_marker.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-input", "--only-binary=:all:", "--timeout", "30", "--retries", "2",
             "--target", str(tmp), *reqs],
            capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            said = (done.stderr + done.stdout).strip()
            unreachable = UNREACHABLE.search(said)
            if unreachable:
                line = said[:unreachable.end()].rsplit("\n", 1)[-1]
                pytest.skip(f"the package index cannot be reached ({line.strip()[-200:]})")
            pytest.fail(f"pip cannot install the declared lower bounds from wheels for Python "
                        f"{sys.version.split()[0]} ({' '.join(reqs)}): raise the failing bound "
                        f"in pyproject.toml to the lowest release that installs and works.\n"
                        f"{said[-3000:]}", pytrace=False)
        (tmp / done_marker.name).write_text("\n".join(reqs) + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)  # an install that never completed
        try:
            tmp.rename(target)
        except OSError:  # another run finished the same install first
            if not done_marker.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def test_every_direct_dependency_has_a_floor_and_a_module() -> None:
    floors = declared_floors()
    assert sorted(floors) == sorted(MODULES), (
        "pyproject.toml's dependencies and MODULES differ: give each new dependency its "
        "module here, and a test of CHILD_TESTS that imports it")


def test_the_tests_pass_on_the_declared_lower_bounds(tmp_path: Path) -> None:
    floors = declared_floors()
    target = install(requirements())
    reports = tmp_path / "reports"
    reports.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)]),
           "RTKIT_PROBE_DIR": str(reports), NO_SCAN: "1",
           "RTKIT_PROBE_MODULES": ",".join(f"{d}={m}" for d, m in MODULES.items())}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "tests.dependency_probe", *CHILD_TESTS,
         *(f"--deselect={test}" for test in sorted(DESELECT))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    seen: dict[str, set[tuple[str, str]]] = {}
    for report in reports.glob("*.json"):
        for dist, found in json.loads(report.read_text(encoding="utf-8")).items():
            seen.setdefault(dist, set()).update(map(tuple, found))
    for dist, module in MODULES.items():
        assert seen.get(dist), f"no test of the child run imported {module} ({dist})"
        for version, file in sorted(seen[dist]):
            assert Version(version) == floors[dist] and Path(file).is_relative_to(target), (
                f"the child run imported {module} {version} from {file}, not the declared "
                f"lower bound {floors[dist]} from {target}")
