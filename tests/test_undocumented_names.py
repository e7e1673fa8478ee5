"""Names of other libraries that rtkit uses though their API references do not list them, for
want of a public way to do the same. When a release moves one, the test here says which name
and what to change, where otherwise a vcr=True test or a fail-fast test would fail obscurely.

- vcrpy: `FilesystemPersister.load_cassette(cassette_path, serializer)` and
  `vcr.serialize.serialize(cassette_dict, serializer)`, which rtkit's persister uses
  (`rtkit.pytest.http.vcr_persistence`); vcrpy's docs show that persister as the example of
  the persister interface.
- pytest: `item.obj`, settable, is what pytest and the async plugins call as the test function
  (`rtkit.pytest.call` puts a wrapper there while an async test runs). The API reference lists
  `Function.function` (read-only), not `obj`; only the deprecation notes show `item.obj` set.
"""

from __future__ import annotations

import http.server
import importlib.metadata
import inspect
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import vcr

from rtkit.cassette.redact import Redactor
from rtkit.pytest.http import HttpRedaction, vcr_persistence

VCRPY = f"vcrpy {importlib.metadata.version('vcrpy')}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_vcrpy_persister_names_and_signatures() -> None:
    persister, serialize = vcr_persistence()  # an RtkitError naming both when they moved
    where = (f"{VCRPY} changed a name rtkit.pytest.http.HttpRedaction relies on, outside "
             "vcrpy's API reference")
    assert list(inspect.signature(persister.load_cassette).parameters) == [
        "cassette_path", "serializer"], f"{where}: FilesystemPersister.load_cassette"
    assert list(inspect.signature(serialize).parameters)[:2] == [
        "cassette_dict", "serializer"], f"{where}: vcr.serialize.serialize"


def _recorder(fresh: bool = False) -> vcr.VCR:
    """A vcrpy VCR with rtkit's persister (`fresh`: as rewrite mode has it)."""
    recorder = vcr.VCR()
    recorder.register_persister(HttpRedaction(Redactor(), fresh=fresh))
    return recorder


def test_rtkit_persister_records_and_replays_with_this_vcrpy(
    tmp_path: Path, http_url: str
) -> None:
    path = tmp_path / "http.yaml"
    recorder = _recorder()
    with recorder.use_cassette(str(path), record_mode="once"):
        recorded = urllib.request.urlopen(f"{http_url}/v1/things", timeout=5).read()
    assert json.loads(recorded) == {"path": "/v1/things"}
    assert path.stat().st_mode & 0o777 == 0o600
    with recorder.use_cassette(str(path), record_mode="none") as cassette:
        replayed = urllib.request.urlopen(f"{http_url}/v1/things", timeout=5).read()
    assert (replayed, cassette.play_count) == (recorded, 1), (
        f"{VCRPY} no longer plays back what rtkit's persister loaded through "
        "FilesystemPersister.load_cassette")


def test_a_fresh_persister_is_an_absent_cassette_to_this_vcrpy(
    tmp_path: Path, http_url: str
) -> None:
    """Rewrite mode loads nothing by raising vcrpy's CassetteNotFoundError (its persister docs)."""
    path = tmp_path / "http.yaml"
    with _recorder().use_cassette(str(path), record_mode="once"):
        urllib.request.urlopen(f"{http_url}/v1/old", timeout=5).read()
    with _recorder(fresh=True).use_cassette(str(path), record_mode="once") as cassette:
        assert len(cassette) == 0, f"{VCRPY} loaded a cassette the persister said was absent"
        urllib.request.urlopen(f"{http_url}/v1/new", timeout=5).read()
    assert "/v1/new" in path.read_text() and "/v1/old" not in path.read_text()


CONFTEST = '''
import functools
import inspect

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    original = item.obj
    ran = item.config.rootpath / "ran.txt"

    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def replaced(*args, **kwargs):
            with ran.open("a") as f:
                f.write(item.name + "\\n")
            return await original(*args, **kwargs)
    else:
        @functools.wraps(original)
        def replaced(*args, **kwargs):
            with ran.open("a") as f:
                f.write(item.name + "\\n")
            return original(*args, **kwargs)

    item.obj = replaced
    try:
        return (yield)
    finally:
        item.obj = original
'''


def test_pytest_calls_the_test_function_set_on_item_obj(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import asyncio

        import pytest


        @pytest.fixture
        def value():
            return 3


        def test_sync(value):
            assert value == 3


        @pytest.mark.asyncio
        async def test_async(value):
            await asyncio.sleep(0)
            assert value == 3
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=2)
    ran = pytester.path / "ran.txt"
    versions = ", ".join(f"{d} {importlib.metadata.version(d)}"
                         for d in ("pytest", "pytest-asyncio"))
    assert (ran.read_text().split() if ran.exists() else []) == ["test_sync", "test_async"], (
        f"with {versions} a test function set on item.obj in pytest_runtest_call (an "
        "undocumented attribute) is no longer what runs; rtkit.pytest.call.guard_call wraps "
        "async tests that way for fail-fast and its loop check: rework it")
