"""rtkit supports every websockets release with the `websockets.asyncio` API (13 and later),
because `openai[realtime]` and `openai-agents` pin different ranges. The suite runs on the
newest; this runs the tests of the socket shells again on the lowest (13.1, fetched from PyPI
once into a cache and put first on the path of a child pytest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LOWEST = "13.1"
ROOT = Path(__file__).resolve().parent.parent
SHELL_TESTS = ["tests/test_record_replay_e2e.py", "tests/test_proxy_relay.py",
               "tests/test_replay_driver.py", "tests/test_client_e2e.py",
               "tests/test_plugin_replay.py", "tests/test_fake_server.py",
               "tests/test_replay_server_shell.py"]


def cached_websockets(version: str) -> Path:
    """A directory holding websockets `version` (to put first on a child's path), fetched
    from PyPI once into a cache; skips the test when PyPI cannot be reached."""
    cache = Path(os.environ.get("RTKIT_TEST_CACHE", Path.home() / ".cache" / "rtkit-tests"))
    target = cache / f"websockets-{version}"
    if not (target / "websockets" / "version.py").exists():
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                               "--target", str(target), f"websockets=={version}"],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            pytest.skip(f"cannot install websockets=={version} from the package index: "
                        f"{done.stderr.strip().splitlines()[-1:]}")
    return target


def lowest_websockets() -> Path:
    return cached_websockets(LOWEST)


def test_the_socket_shells_pass_on_the_lowest_websockets() -> None:
    target = lowest_websockets()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    code = "import websockets; print(websockets.__version__)"
    version = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
    assert version == LOWEST
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", "2", *SHELL_TESTS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
