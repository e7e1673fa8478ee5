"""`rtkit serve --repeat` (issue 20, item 6): an app run twice against one `rtkit serve` gets
its episode again; without it the second run's 404 says how to get that."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from rtkit.transport.websocket import loopback_kwargs
from tests.serve_helpers import QUERY, Serve, good_session, write_sessions


async def test_without_repeat_the_second_run_is_a_404_naming_repeat(tmp_path: Path) -> None:
    server = Serve(write_sessions(tmp_path / "one.jsonl", 1))
    try:
        url = f"{server.url}?{QUERY}"
        await good_session(url, 0)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, **loopback_kwargs(url)):  # type: ignore[arg-type]
                pass
    finally:
        code, err = server.stop()
    body = (refused.value.response.body or b"").decode()
    assert refused.value.response.status_code == 404
    assert "no unplayed episode" in body and "(conn 0, played)" in body
    assert "rtkit serve --repeat" in body, body
    assert "answered HTTP 404" in err and code == 1


async def test_with_repeat_every_run_gets_the_episodes_again(tmp_path: Path) -> None:
    server = Serve(write_sessions(tmp_path / "two.jsonl", 2), "--repeat", "--unplayed", "fail",
                   "--max-connections", "5")
    try:
        url = f"{server.url}?{QUERY}"
        for k in (0, 1, 0, 1, 0):  # episode 0, 1, then from the start again
            await good_session(url, k)
        code, err = await server.wait(30)
    finally:
        server.stop()
    assert code == 0, err
    assert err.count("starting over with episode 0 (repeat, round ") == 2, err
    assert "round 3" in err and "404" not in err
