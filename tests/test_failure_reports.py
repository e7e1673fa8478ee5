"""A failing test is reported, never an INTERNALERROR (issue 19, item 4).

On CPython up to 3.11.7 / 3.12.1, two threads building Python ASTs at once corrupt the
interpreter's one AST recursion counter (CPython gh-106905), and pytest, which parses source to
format a failure, dies with `INTERNALERROR ... SystemError: AST constructor recursion depth
mismatch`. The other thread was rtkit's own: the plugin's server loop imported rtkit modules
lazily, and pytest rewrites (parses) every module of a plugin as it is imported. rtkit's threads
now import nothing, and nothing rtkit runs there formats a traceback (Python 3.11 parses source
for a traceback's carets), see rtkit.threads. This runs failing tests of each kind the suite has
(one over sockets through the plugin, one with pytester, one with a subprocess) in a pytest
process of their own that records every `ast.parse` made off the main thread: none may be, and
each failure gets its normal report. rtkit's modules are marked for rewriting there, as pytest
marks those of a plugin installed from a wheel, and logging is at DEBUG.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtkit.fake import FakeRealtimeAPI

ROOT = Path(__file__).resolve().parent.parent

SPY = '''
import ast, threading, traceback

import pytest

OFF_MAIN = []
_parse = ast.parse


def _spying_parse(*args, **kwargs):
    if threading.current_thread() is not threading.main_thread():
        OFF_MAIN.append(threading.current_thread().name + "\\n"
                        + "".join(traceback.format_stack(limit=6)))
    return _parse(*args, **kwargs)


ast.parse = _spying_parse
pytest.register_assert_rewrite("rtkit")  # as for a plugin installed from a wheel


def pytest_sessionfinish(session):
    (session.config.rootpath / "off-main.txt").write_text("\\n".join(OFF_MAIN))
'''

FAILING = '''
import subprocess
import sys

import pytest
from openai import AsyncOpenAI

pytest_plugins = ["pytester"]


def broken_filter(event):
    raise ValueError("a filter that breaks on the server loop")


@pytest.fixture
def rt_config():
    return {"before_record_event": broken_filter}


@pytest.mark.rtkit
async def test_socket(rt_server):
    client = AsyncOpenAI(api_key="placeholder", websocket_base_url=rt_server.ws_base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                break
    assert {"said": event.response.status} == {"said": "something else"}


def test_pytester(pytester):
    pytester.makepyfile(test_inner="def test_inner():\\n    assert 1 == 2\\n")
    result = pytester.runpytest()
    assert result.ret == 0, "the inner run failed, as it should"


def test_subprocess():
    done = subprocess.run([sys.executable, "-m", "rtkit.cli", "--version"],
                          capture_output=True, text=True)
    assert done.stdout == "no such version"
'''


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtimeAPI]:
    with FakeRealtimeAPI(ROOT / "docs" / "examples" / "replies.yaml") as api:
        monkeypatch.setenv("RTKIT_UPSTREAM_URL", api.url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield api


def test_failures_of_each_kind_get_their_report_and_no_thread_of_rtkit_parses(
        pytester: pytest.Pytester, fake: FakeRealtimeAPI) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(SPY)
    pytester.makepyfile(test_failing=FAILING)
    result = pytester.runpytest_subprocess("--rt-record-mode=once", "-p", "no:cacheprovider",
                                           "--log-level=DEBUG")
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output, output[-3000:]
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "*def test_socket(rt_server):*",
        "*AssertionError: assert {'said': 'completed'} == {'said': 'something else'}*",
        "*def test_pytester(pytester):*",
        "*AssertionError: the inner run failed, as it should*",
        "*def test_subprocess():*",
        "*AssertionError: assert * == 'no such version'*",
    ])
    assert fake.connections == 1  # the socket test really talked through the plugin
    off_main = (pytester.path / "off-main.txt").read_text()
    assert off_main == "", f"ast.parse ran off the main thread:\n{off_main}"
