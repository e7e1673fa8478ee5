"""What every client compatibility test does (issue 16), whatever the client: record a session
against the fake Realtime API through the recording proxy (`RecordingProxy`, what
`rtkit record --listen` runs), replay it from `rtkit serve` with
the fake stopped and get the same events, and see the replay refuse a changed user message with
the mismatch report.

A client is an async `converse(url, questions) -> dict` (the apps in docs/examples/clients/, or
a wrapper that runs a node script): `url` is the URL rtkit printed, the dict holds at least the
server event types the client saw (`seen`) and what was said (`said`). It must raise on the
server's `error` event, as the apps do, so a mismatch ends it at once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rtkit.cassette import Cassette
from rtkit.fake import FakeRealtimeAPI
from rtkit.server.proxy import RecordingProxy
from tests import rtkit_process
from tests.rtkit_process import start

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples" / "clients"
REPLIES = ROOT / "docs" / "examples" / "replies.yaml"
QUESTIONS = ["Hello!", "What's the weather in Paris?"]
CHANGED = ["Hello!", "What's the weather in Rome?"]
# the line of the mismatch report that names the changed text
CHANGED_TEXT = "expected \"What's the weather in Paris?\", got \"What's the weather in Rome?\""

Converse = Callable[[str, list[str]], Awaitable[dict[str, Any]]]


def load_example(name: str) -> ModuleType:
    """Import docs/examples/clients/NAME as a module (its `__main__` part does not run)."""
    spec = importlib.util.spec_from_file_location(f"rtkit_example_{Path(name).stem}",
                                                  EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def npm_packages(name: str, *specs: str) -> Path:
    """A directory whose node_modules holds the npm packages SPECS, installed from the registry
    on first use into a cache (`<RTKIT_JS_CACHE>-NAME`, beside tests/test_js_client.py's,
    default ~/.cache/rtkit-tests/js-NAME). The install goes to a temporary directory that is
    renamed into place, so concurrent runs never see half a tree. Skips the test without node
    and npm, or when the registry cannot be reached."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed")
    root = Path(os.environ.get("RTKIT_JS_CACHE", Path.home() / ".cache" / "rtkit-tests" / "js"))
    target = root.parent / f"{root.name}-{name}"
    stamp = target / "rtkit-specs.json"
    if stamp.exists() and json.loads(stamp.read_text()) == list(specs):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(work), *specs],
                       check=True, capture_output=True, timeout=180)
        (work / "rtkit-specs.json").write_text(json.dumps(list(specs)))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(work, target)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"npm could not install {' '.join(specs)} (offline?): {exc}")
    except OSError:  # another run put its copy in place first
        if not stamp.exists():
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def node_client(script: Path, js_dir: Path, *node_args: str,
                env: dict[str, str] | None = None) -> Converse:
    """A `converse` that runs `node [NODE_ARGS] SCRIPT URL QUESTION...` from `js_dir` (ESM
    resolves packages beside the script, so it is copied there) and reads the JSON line it
    prints last; a non-zero exit (the script's way to fail on an error event) raises with its
    stderr."""
    shutil.copy(script, js_dir / script.name)

    async def converse(url: str, questions: list[str]) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            "node", *node_args, str(js_dir / script.name), url, *questions, cwd=js_dir,
            env={**os.environ, **(env or {})},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        if proc.returncode != 0:
            raise RuntimeError(f"node exited {proc.returncode}: {err.decode()}")
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result

    return converse


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """Wait for a command run with --max-connections 1 to exit (SIGTERM after 20 s); return
    its exit status and stderr."""
    return await rtkit_process.finish(proc, grace=20.0, timeout=20.0)


@dataclass
class Replayed:
    """What a record-and-replay run gave."""

    cassette: Path
    recorded: dict[str, Any]
    replayed: dict[str, Any]
    mismatch: BaseException
    serve_stderr: str


async def record_and_replay(converse: Converse, tmp_path: Path, *,
                            questions: list[str] = QUESTIONS,
                            changed: list[str] = CHANGED,
                            serve_args: tuple[str, ...] = ()) -> Replayed:
    """Record `questions` from the fake through the recording proxy; replay them from `rtkit serve`
    with the fake stopped (asserting a clean exit and the same events), then `changed` from a
    second `rtkit serve` (asserting the client raised and rtkit serve reported the mismatch)."""
    cassette = tmp_path / "session.jsonl"
    # in-process: a third rtkit process would cost its start-up (~1 s) in every client's test
    async with (FakeRealtimeAPI(REPLIES) as fake,
                RecordingProxy(cassette, upstream_url=fake.url) as proxy):
        recorded = await asyncio.wait_for(converse(proxy.url, questions), 30)
    assert not proxy.failures, proxy.failures
    assert len(Cassette.load(cassette).episodes) == 1

    # the fake is stopped: two replay servers, one for the same session, one for a changed one
    started = await asyncio.gather(
        start("serve", str(cassette), "--listen", "127.0.0.1:0", "--unplayed", "fail",
              "--max-connections", "1", *serve_args),
        start("serve", str(cassette), "--listen", "127.0.0.1:0", "--max-connections", "1",
              *serve_args), return_exceptions=True)
    try:
        for result in started:
            if isinstance(result, BaseException):
                raise result
        (same, same_url), (other, other_url) = started  # type: ignore[misc]
        try:
            replayed = await asyncio.wait_for(converse(same_url, questions), 30)
        finally:
            code, err = await finish(same)
        assert code == 0, err
        assert replayed == recorded, f"recorded:\n{recorded}\nreplayed:\n{replayed}"

        mismatch: BaseException | None = None
        try:
            await asyncio.wait_for(converse(other_url, changed), 30)
        except Exception as exc:  # the client's own way of failing on the error event
            mismatch = exc
        finally:
            code, err = await finish(other)
        assert mismatch is not None, "the changed session replayed without an error"
        assert code == 1, err
        assert "Replay mismatch" in err and CHANGED_TEXT in err, err
        return Replayed(cassette, recorded, replayed, mismatch, err)
    finally:  # whatever failed, no rtkit serve is left behind
        for proc in started:
            if isinstance(proc, tuple) and proc[0].returncode is None:
                proc[0].kill()
                await proc[0].wait()
