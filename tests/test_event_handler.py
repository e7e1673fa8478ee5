"""RealtimeEventHandler: on/off/on_next/off_next, waits, sync and async handlers, failures."""

from __future__ import annotations

import asyncio

import pytest

from rtkit.client.event_handler import RealtimeEventHandler


def test_on_off_and_dispatch_order() -> None:
    h = RealtimeEventHandler()
    seen: list[tuple[str, object]] = []

    def a(p: object) -> None:
        seen.append(("a", p))

    def b(p: object) -> None:
        seen.append(("b", p))

    h.on("x", a)
    h.on("x", b)
    h.dispatch("x", 1)
    h.off("x", a)
    h.dispatch("x", 2)
    h.off("x")
    h.dispatch("x", 3)
    assert seen == [("a", 1), ("b", 1), ("b", 2)]
    with pytest.raises(ValueError, match="not registered"):
        h.off("x", a)


def test_on_next_fires_once_and_off_next_removes() -> None:
    h = RealtimeEventHandler()
    seen: list[object] = []
    h.on_next("x", seen.append)
    h.dispatch("x", 1)
    h.dispatch("x", 2)
    h.on_next("x", seen.append)
    h.off_next("x", seen.append)
    h.dispatch("x", 3)
    assert seen == [1]


async def test_wait_for_next_returns_payload_and_cleans_up_on_timeout() -> None:
    h = RealtimeEventHandler()
    asyncio.get_running_loop().call_later(0.01, h.dispatch, "x", {"v": 1})
    assert await h.wait_for_next("x", timeout=2) == {"v": 1}
    assert await h.wait_for_next("y", timeout=0.01) is None
    assert h._next_handlers.get("y", []) == []  # listener removed on timeout (SEED fix 5)


async def test_async_handlers_run_and_their_failures_are_reported() -> None:
    h = RealtimeEventHandler()
    errors: list[dict] = []
    done: list[int] = []
    h.on("error", errors.append)

    async def ok(p: int) -> None:
        await asyncio.sleep(0)
        done.append(p)

    async def bad(p: int) -> None:
        raise RuntimeError("boom")

    def bad_sync(p: int) -> None:
        raise ValueError("sync boom")

    h.on("x", bad_sync)
    h.on("x", ok)
    h.on("x", bad)
    h.dispatch("x", 7)
    await h.drain()
    assert done == [7]  # a failing handler does not stop the others
    messages = sorted(e["message"] for e in errors)
    assert any("sync boom" in m for m in messages) and any("boom" in m for m in messages)
    assert all(e["event"] == "x" for e in errors)


def test_failing_error_handler_does_not_recurse() -> None:
    h = RealtimeEventHandler()

    def bad(p: object) -> None:
        raise RuntimeError("in error handler")

    h.on("error", bad)
    h.dispatch("error", {"x": 1})  # logged, no infinite recursion
