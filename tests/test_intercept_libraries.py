"""Interception over loopback, client library by client library: every websockets entry point
and the openai SDK (tests/intercept_checks.py, also run per websockets release), aiohttp's
`ws_connect` and websocket-client; what is not the Realtime API is left alone."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rtkit.intercept import Interception, patches
from tests.intercept_checks import REALTIME, check_openai_sdk, check_websockets, servers


def test_every_websockets_client_is_redirected_and_put_back() -> None:
    check_websockets()


def test_the_openai_sdk_async_sync_and_azure_need_no_url() -> None:
    check_openai_sdk()


async def test_aiohttp_ws_connect() -> None:
    aiohttp = pytest.importorskip("aiohttp")
    original = vars(aiohttp.ClientSession)["ws_connect"]
    with servers(2) as (target, other):
        async with aiohttp.ClientSession() as http:
            with Interception(target.url):
                assert vars(aiohttp.ClientSession)["ws_connect"] is not original
                # LiveKit's call: url by keyword, its headers
                async with http.ws_connect(url=f"{REALTIME}?model=lk", ssl=True,
                                           headers={"Authorization": "Bearer placeholder",
                                                    "OpenAI-Beta": "realtime=v1"}) as ws:
                    assert (await ws.receive()).data == "hi"
                async with http.ws_connect(other.url + "?x=1") as ws:  # another host
                    assert (await ws.receive()).data == "hi"
    assert vars(aiohttp.ClientSession)["ws_connect"] is original
    assert target.paths == ["/v1/realtime?model=lk"] and other.paths == ["/v1/realtime?x=1"]
    headers = target.requests[0][1]
    assert headers["authorization"] == "Bearer placeholder"
    assert headers["openai-beta"] == "realtime=v1"


def test_websocket_client_from_a_thread() -> None:
    websocket = pytest.importorskip("websocket")
    original = vars(websocket.WebSocket)["connect"]
    with servers(1) as (target,), Interception(target.url):
        def talk(i: int) -> None:
            ws = websocket.create_connection(f"{REALTIME}?model=wsc{i}",
                                             header={"X-App": "mine"})
            assert ws.recv() == "hi"
            ws.close()

        threads = [threading.Thread(target=talk, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert vars(websocket.WebSocket)["connect"] is original
    assert sorted(target.paths) == [f"/v1/realtime?model=wsc{i}" for i in range(3)]
    assert all(headers["x-app"] == "mine" for _, headers in target.requests)


def test_nothing_is_patched_while_nothing_intercepts() -> None:
    assert not any(p.applied for p in patches.PATCHES if p.method)
    with servers(1) as (target,):
        with Interception(target.url):
            assert all(p.applied for p in patches.PATCHES
                       if p.method and p.name != "websockets.legacy.client.connect"
                       and p.owner() is not None)
        asyncio.run(asyncio.sleep(0))
    assert not any(p.applied for p in patches.PATCHES if p.method)
