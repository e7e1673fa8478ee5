"""rtkit's pytest plugin: options, the `rtkit` marker and the `rt_*` fixtures.

Registered through the `pytest11` entry point. Only wiring lives here; the logic is in
`rtkit.pytest` (one module per concern), `rtkit.record_mode` and `rtkit.assertions`.
See docs/pytest.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import pytest

from rtkit.assertions import watch
from rtkit.errors import RtkitError
from rtkit.intercept import patches
from rtkit.pytest.call import guard_call
from rtkit.pytest.cassette import RtCassette, make_cassette, refused_cassette
from rtkit.pytest.failfast import restore_signal
from rtkit.pytest.ioloop import io_loop
from rtkit.pytest.naming import cassette_path, default_cassette_name
from rtkit.pytest.options import RtOptions, resolve_options
from rtkit.pytest.session import RtSession
from rtkit.record_mode import RECORD_MODES, MissingCassetteError, RecordMode

try:  # async fixtures work in pytest-asyncio's strict mode too
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - rt_client then needs another async plugin
    _async_fixture = pytest.fixture

__all__ = [
    "rt_cassette",
    "rt_cassette_dir",
    "rt_cassette_name",
    "rt_client",
    "rt_config",
    "rt_fake_api",
    "rt_fake_script",
    "rt_options",
    "rt_record_mode",
    "rt_server",
]

_SESSION_KEY = pytest.StashKey[RtSession]()
_CLIENT_LOOP_KEY = pytest.StashKey[asyncio.AbstractEventLoop]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rtkit", "rtkit: record / replay of Realtime API WebSocket sessions")
    group.addoption(
        "--rt-record-mode",
        action="store",
        default=None,
        choices=RECORD_MODES,
        help="rtkit record mode for WebSocket cassettes (default: none = replay only).",
    )
    group.addoption(
        "--rt-pace",
        action="store",
        default=None,
        help="rtkit replay timing: instant (default), recorded, or a speed factor such as 2.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "rtkit(cassette=None, record_mode=None, pace=None, vcr=False, upstream_url=None, "
        "intercept=True, ...): record / replay this test's Realtime WebSocket traffic (see "
        "docs/pytest.md).",
    )
    config.addinivalue_line(
        "markers",
        "rt_fake(script=None, api_key=None, dialect=None, seed=None): configure this test's "
        "rt_fake_api, the scripted fake Realtime API (see docs/fake.md).",
    )
    # references to websockets' sync connect() taken during the session see its wrapper
    patches.install(patches.MODULE_PATCHES)


def pytest_unconfigure(config: pytest.Config) -> None:
    patches.uninstall(patches.MODULE_PATCHES)
    io_loop.close()
    restore_signal()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Fail the test at once on a replay mismatch, and report the mismatch (it explains more
    than the client's timeout)."""
    __tracebackhide__ = True
    session = item.stash.get(_SESSION_KEY, None)
    if session is None:
        return (yield)
    return (yield from guard_call(item, session, item.stash.get(_CLIENT_LOOP_KEY, None)))


@pytest.fixture
def rt_config() -> dict[str, Any]:
    """Options for every rtkit test in scope; override per module or class (like vcr_config)."""
    return {}


@pytest.fixture(scope="module")
def rt_cassette_dir(request: pytest.FixtureRequest) -> str:
    """`cassettes/<test module>` beside the test file."""
    path = request.node.path
    return os.path.join(path.parent, "cassettes", path.stem)


@pytest.fixture
def rt_options(request: pytest.FixtureRequest, rt_config: dict[str, Any]) -> RtOptions:
    """The merged options: command line over `@pytest.mark.rtkit` over `rt_config`."""
    try:
        return resolve_options(
            rt_config,
            request.node.iter_markers(name="rtkit"),
            cli_record_mode=request.config.getoption("--rt-record-mode"),
            cli_pace=request.config.getoption("--rt-pace"),
        )
    except ValueError as exc:
        problem = f"rtkit: {exc}"
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def rt_cassette_name(request: pytest.FixtureRequest, rt_options: RtOptions) -> str:
    """The marker's `cassette=` or `[Class.]test_name[params]`, sanitised like pytest-recording."""
    if rt_options.cassette:
        return rt_options.cassette
    return default_cassette_name(request.cls, request.node.name)


@pytest.fixture
def rt_record_mode(rt_options: RtOptions) -> RecordMode:
    """The effective record mode (a `str` enum: "none", "once", ...)."""
    return rt_options.record_mode


@pytest.fixture
def rt_cassette(
    request: pytest.FixtureRequest, rt_cassette_dir: str, rt_cassette_name: str,
    rt_options: RtOptions,
) -> RtCassette:
    """The test's cassette: `.path`, `.mode`, `.plan`, and `.played` / `.unplayed` in replay."""
    intercepted = request.node.stash.get(_SESSION_KEY, None)
    if intercepted is not None and intercepted.refusal is None:
        return intercepted.cassette  # the one the test's interception records or replays
    path = cassette_path(rt_cassette_dir, rt_cassette_name)
    try:
        return make_cassette(path, rt_options, _test_id(request))
    except MissingCassetteError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def rt_server(request: pytest.FixtureRequest, rt_cassette: RtCassette) -> Iterator[Any]:
    """A replay server (replay) or recording proxy (record modes) on 127.0.0.1.

    `.ws_base_url` is what `AsyncOpenAI(websocket_base_url=...)` takes; `.url` the full
    realtime URL.
    """
    __tracebackhide__ = True
    intercept = rt_cassette.options.intercept and _marked(request)
    session = RtSession(rt_cassette, search_dirs=[request.config.rootpath, os.getcwd()],
                        intercept=intercept)
    problem = session.precheck()
    if problem:
        pytest.fail(problem, pytrace=False)
    request.node.stash[_SESSION_KEY] = session
    with session:
        yield session.server


@pytest.fixture(autouse=True)
def _rt_intercept(request: pytest.FixtureRequest) -> Iterator[None]:
    """In a test marked `rtkit` that takes no `rt_server` (which intercepts itself): intercept
    its Realtime API connections, starting the replay server or recording proxy at the first
    one (a test that never connects records nothing). `intercept=False` turns it off."""
    if not _marked(request) or "rt_server" in request.fixturenames:
        yield
        return
    options: RtOptions = request.getfixturevalue("rt_options")
    if not options.intercept:
        yield
        return
    path = cassette_path(request.getfixturevalue("rt_cassette_dir"),
                         request.getfixturevalue("rt_cassette_name"))
    refusal: MissingCassetteError | None = None
    try:
        cassette = make_cassette(path, options, _test_id(request))
    except MissingCassetteError as exc:  # raised to the app's first connection
        cassette, refusal = refused_cassette(path, options), exc
    session = RtSession(cassette, search_dirs=[request.config.rootpath, os.getcwd()],
                        intercept=True, lazy=True, refusal=refusal)
    request.node.stash[_SESSION_KEY] = session
    with session:
        yield


def _test_id(request: pytest.FixtureRequest) -> str:
    """The test's node id as typed where pytest was run (the id is relative to the rootdir,
    which is not the current directory when the tests have a pytest config of their own)."""
    nodeid = request.node.nodeid
    _, sep, rest = nodeid.partition("::")
    try:
        where = os.path.relpath(request.node.path, request.config.invocation_params.dir)
    except ValueError:  # another drive (Windows)
        return nodeid
    return nodeid if where.startswith("..") else f"{where}{sep}{rest}"


def _marked(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("rtkit") is not None


@_async_fixture
async def rt_client(
    request: pytest.FixtureRequest, rt_server: Any, rt_cassette: RtCassette
) -> AsyncIterator[Any]:
    """A connected `rtkit.RealtimeClient` talking to `rt_server` (live-recorded or replayed)."""
    __tracebackhide__ = True
    client = RtSession.make_client(rt_server, rt_cassette)
    watch(client)
    request.node.stash[_CLIENT_LOOP_KEY] = asyncio.get_running_loop()
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


@pytest.fixture
def rt_fake_script() -> Any:
    """The script `rt_fake_api` serves: a path, a mapping or a `FakeScript` (None: every answer
    is "OK."). Override it, or use `@pytest.mark.rt_fake(script=...)`."""
    return None


@pytest.fixture
def rt_fake_api(request: pytest.FixtureRequest, rt_fake_script: Any) -> Iterator[Any]:
    """A running `rtkit.fake.FakeRealtimeAPI` on 127.0.0.1 (its own thread: sync and async
    tests alike), fresh for each test; `.url`, `.ws_base_url`, `.records`."""
    from rtkit.fake.fixture import fake_for_test

    try:
        fake = fake_for_test(request.node, rt_fake_script)
    except (ValueError, RtkitError) as exc:
        problem = f"rtkit: {exc}"
    else:
        with fake:
            yield fake
        return
    pytest.fail(problem, pytrace=False)
