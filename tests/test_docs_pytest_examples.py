"""The pytest examples of README.md and docs/pytest.md run as written: the configuration they
show gives no warning, the rt_client test replays the reference tool-call cassette unchanged,
and the official-SDK test records keylessly from a local server, then replays."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cassettes"))

from scripted_upstream import FakeRealtime, Reply  # noqa: E402

import rtkit.client.client  # noqa: E402
import rtkit.server.proxy  # noqa: E402
import rtkit.server.replay_server  # noqa: E402

assert rtkit.client.client and rtkit.server.proxy and rtkit.server.replay_server  # kept loaded

DOCS = [ROOT / "README.md", ROOT / "docs" / "pytest.md"]


def _block(text: str, lang: str, needle: str) -> str:
    for match in re.finditer(rf"```{lang}\n(.*?)```", text, re.S):
        if needle in match.group(1):
            return match.group(1)
    raise AssertionError(f"no ```{lang} block with {needle!r}")


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtime]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)  # type: ignore[arg-type]

    fake = FakeRealtime([], seed="docs", delta_delay=0.0,
                        default_reply=Reply(text="The capital of France is Paris."))
    run(fake.__aenter__())
    monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    try:
        yield fake
    finally:
        run(fake.__aexit__(None, None, None))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_pytest_example_runs_as_written(
    doc: Path, pytester: pytest.Pytester, upstream: FakeRealtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai  # kept loaded across the in-process runs

    assert openai
    text = doc.read_text()
    pytester.makepyprojecttoml(_block(text, "toml", "asyncio_mode"))
    pytester.makepyfile(test_example=_block(text, "python", "async def test_weather_tool"))
    cassettes = pytester.path / "cassettes" / "test_example"
    cassettes.mkdir(parents=True)
    reference = ROOT / "cassettes" / "ga" / "tool_call.jsonl"
    shutil.copy(reference, cassettes / "test_weather_tool.jsonl")
    strict = ("-W", "error::pytest.PytestDeprecationWarning", "-W", "error::RuntimeWarning")
    result = pytester.runpytest("--rt-record-mode=once", *strict)
    result.assert_outcomes(passed=2)
    assert upstream.connections == 1  # the SDK test recorded; the tool test replayed
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    result = pytester.runpytest(*strict)
    result.assert_outcomes(passed=2)
    assert upstream.connections == 1
