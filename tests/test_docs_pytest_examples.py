"""The pytest examples of README.md and docs/pytest.md run as written: the configuration they
show gives no warning, both tests record without a key from `rtkit fake` with the replies the
docs use, then replay; and the rt_client test replays the reference tool-call cassette as is."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import rtkit.client.client
import rtkit.server.proxy
import rtkit.server.replay_server
from rtkit.fake import FakeRealtimeAPI

ROOT = Path(__file__).resolve().parent.parent

assert rtkit.client.client and rtkit.server.proxy and rtkit.server.replay_server  # kept loaded

DOCS = [ROOT / "README.md", ROOT / "docs" / "pytest.md"]


def _block(text: str, lang: str, needle: str) -> str:
    for match in re.finditer(rf"```{lang}\n(.*?)```", text, re.S):
        if needle in match.group(1):
            return match.group(1)
    raise AssertionError(f"no ```{lang} block with {needle!r}")


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtimeAPI]:
    with FakeRealtimeAPI(ROOT / "docs" / "examples" / "replies.yaml") as fake:
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", fake.url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield fake


def _example(doc: Path) -> tuple[str, str]:
    text = doc.read_text()
    return _block(text, "toml", "asyncio_mode"), _block(text, "python", "def test_weather_tool")


def test_readme_and_docs_show_the_same_example() -> None:
    (readme_toml, readme), (docs_toml, docs) = (_example(doc) for doc in DOCS)
    assert readme == docs

    def settings(toml: str) -> list[str]:
        return [line.split("#")[0].strip() for line in toml.splitlines()]

    assert settings(readme_toml) == settings(docs_toml)


def test_the_pytest_example_runs_as_written(
    pytester: pytest.Pytester, upstream: FakeRealtimeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai  # kept loaded across the in-process runs

    assert openai
    toml, example = _example(DOCS[1])
    pytester.makepyprojecttoml(toml)
    pytester.makepyfile(test_example=example)
    strict = ("-W", "error::pytest.PytestDeprecationWarning", "-W", "error::RuntimeWarning")
    result = pytester.runpytest("--rt-record-mode=once", *strict)
    result.assert_outcomes(passed=2)
    assert upstream.connections == 2  # both recorded from the fake
    monkeypatch.delenv("RTKIT_UPSTREAM_URL")
    result = pytester.runpytest(*strict)
    result.assert_outcomes(passed=2)
    assert upstream.connections == 2
    # the rt_client test replays the reference cassette too
    reference = ROOT / "cassettes" / "ga" / "tool_call.jsonl"
    shutil.copy(reference, pytester.path / "cassettes" / "test_example" / "test_weather_tool.jsonl")
    pytester.runpytest("-k", "weather", *strict).assert_outcomes(passed=1)
