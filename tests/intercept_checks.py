"""Interception of each `websockets` entry point and of the openai SDK, over loopback, as
plain functions that raise AssertionError: tests/test_intercept_libraries.py runs them in
its process, tests/test_intercept_websockets_versions.py in a child per websockets release
(`python -m tests.intercept_checks [--sdk]` prints `ok <version>`)."""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rtkit.intercept import Interception, patches, registry

ROOT = Path(__file__).resolve().parent.parent
REALTIME = "wss://api.openai.com/v1/realtime"


class Echo:
    """A WebSocket server on a thread of its own (websockets' sync server): notes each
    request's path and headers, sends `hi`, closes."""

    def __init__(self) -> None:
        from websockets.sync.server import serve

        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = serve(self._handle, "127.0.0.1", 0, process_request=self._note)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/v1/realtime"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _note(self, ws: Any, request: Any) -> None:
        """Before the handshake's answer: noted by the time the client is connected."""
        with self._lock:
            self.requests.append((request.path, {k.lower(): v for k, v in
                                                 request.headers.raw_items()}))

    def _handle(self, ws: Any) -> None:
        ws.send("hi")

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return [path for path, _ in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@contextmanager
def servers(n: int) -> Iterator[list[Echo]]:
    made = [Echo() for _ in range(n)]
    try:
        yield made
    finally:
        for server in made:
            server.close()


def _entry_points() -> dict[str, Any]:
    """What interception replaces, as found now (to see them put back)."""
    from websockets.asyncio import client as aio
    from websockets.sync import client as sync

    found = {"asyncio": vars(aio.connect)["__init__"], "sync": sync.connect}
    if hasattr(sync, "reconnect"):
        found["reconnect"] = vars(sync.reconnect)["__init__"]
    return found


async def _asyncio_clients(target: Echo) -> None:
    import websockets
    from websockets.asyncio.client import connect

    tls = ssl.create_default_context()  # meant for the real host: dropped when redirected
    async with connect(f"{REALTIME}?model=a", ssl=tls,
                       additional_headers={"Authorization": "Bearer placeholder"}) as ws:
        assert await ws.recv() == "hi"
    async with connect(uri=f"{REALTIME}?model=b") as ws:
        assert await ws.recv() == "hi"
    async with websockets.connect(f"{REALTIME}?model=c") as ws:  # legacy on 13, asyncio on 14+
        assert await ws.recv() == "hi"
    with warnings.catch_warnings():  # 14+ deprecates the legacy client: import it as apps do
        warnings.simplefilter("ignore", DeprecationWarning)
        from websockets.legacy.client import connect as legacy_connect
    with Interception(target.url):  # a client imported while intercepting is seen too
        async with legacy_connect(f"{REALTIME}?model=d") as ws:
            assert await ws.recv() == "hi"
    assert target.paths[-4:] == [f"/v1/realtime?model={m}" for m in "abcd"], target.paths
    assert target.requests[-4][1]["authorization"] == "Bearer placeholder"


def _sync_client(query: str) -> None:
    from websockets.sync.client import connect

    with connect(f"{REALTIME}?{query}") as ws:
        assert ws.recv() == "hi"


def check_websockets() -> None:
    """Every websockets client entry point is redirected with its path, query and headers,
    from threads too; other hosts are untouched; everything is put back after."""
    before = _entry_points()
    with servers(3) as (target, other, inner):
        with Interception(target.url, hosts=[f"127.0.0.1:{other.port}"]) as interception:
            asyncio.run(_asyncio_clients(target))
            from websockets.sync.client import connect as taken_while_intercepting

            # sync clients on threads, while another thread keeps taking and letting go of
            # the patches (as other interceptions do): they must stay in place for this one
            stop = threading.Event()

            def churn() -> None:
                while not stop.wait(0.0005):
                    patches.install()
                    patches.uninstall()

            churner = threading.Thread(target=churn)
            churner.start()
            threads = [threading.Thread(target=_sync_client, args=(f"n={i}",)) for i in range(8)]
            try:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(10)
            finally:
                stop.set()
                churner.join(10)
            assert sorted(p for p in target.paths if "n=" in p) == sorted(
                f"/v1/realtime?n={i}" for i in range(8)), target.paths
            # a host of intercept_hosts goes to the target; on an exempt thread it does not
            with taken_while_intercepting(other.url + "?via=target") as ws:
                assert ws.recv() == "hi"
            assert target.paths[-1] == "/v1/realtime?via=target"
            interception.exempt_threads = frozenset({threading.get_ident()})
            try:
                with taken_while_intercepting(other.url + "?exempt") as ws:
                    assert ws.recv() == "hi"
            finally:
                interception.exempt_threads = frozenset()
            assert other.paths == ["/v1/realtime?exempt"], other.paths
            # the innermost interception wins; a target that refuses raises to the app
            with Interception(inner.url):
                _sync_client("inner")
            assert inner.paths == ["/v1/realtime?inner"], inner.paths

            def refuse() -> str:
                raise LookupError("no cassette here")

            with Interception(refuse):
                try:
                    _sync_client("refused")
                except LookupError as exc:
                    assert "no cassette here" in str(exc)
                else:
                    raise AssertionError("the refusing target did not refuse")
        assert len(interception.connections) == 12, interception.connections  # d: inner
        assert interception.connections[0] == (f"{REALTIME}?model=a",
                                               f"{target.url}?model=a")
        assert not registry.active()
        # put back (the pytest plugin holds the sync function's wrapper for its session: it
        # is the same object before and after), and a reference taken meanwhile passes through
        assert _entry_points() == before
        assert not any(p.applied for p in patches.PATCHES if p.method)
        seen = len(target.requests)
        with taken_while_intercepting(other.url + "?after") as ws:
            assert ws.recv() == "hi"
        assert other.paths[-1] == "/v1/realtime?after"
        assert len(target.requests) == seen


def check_openai_sdk() -> None:
    """The openai SDK, async, sync and Azure-configured, reaches the fake with no URL of
    rtkit's: only a placeholder key (and an Azure endpoint)."""
    from openai import AsyncAzureOpenAI, AsyncOpenAI, OpenAI

    from rtkit.fake import FakeRealtimeAPI

    async def talk_async(client: Any) -> str:
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime",
                                               "output_modalities": ["text"]})
            async for event in conn:
                if event.type == "session.updated":
                    return str(event.type)
        raise AssertionError("no session.updated")

    def talk_sync() -> str:
        with OpenAI(api_key="placeholder").realtime.connect(model="gpt-realtime") as conn:
            conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            for event in conn:
                if event.type == "session.updated":
                    return str(event.type)
        raise AssertionError("no session.updated")

    azure = AsyncAzureOpenAI(azure_endpoint="https://my-res.openai.azure.com",
                             api_key="placeholder", api_version="2025-04-01-preview")
    with FakeRealtimeAPI() as fake, Interception(fake.url) as interception:
        assert asyncio.run(talk_async(AsyncOpenAI(api_key="placeholder"))) == "session.updated"
        assert talk_sync() == "session.updated"
        assert asyncio.run(talk_async(azure)) == "session.updated"
    targets = [record.target for record in fake.records]
    assert targets == ["/v1/realtime?model=gpt-realtime"] * 2 + [
        "/openai/realtime?api-version=2025-04-01-preview&deployment=gpt-realtime"], targets
    assert [url.split("?")[0] for url, _ in interception.connections] == [
        REALTIME, REALTIME, "wss://my-res.openai.azure.com/openai/realtime"]


if __name__ == "__main__":
    import websockets

    check_websockets()
    if "--sdk" in sys.argv:
        check_openai_sdk()
    sys.stdout.write(f"ok {websockets.__version__}\n")
