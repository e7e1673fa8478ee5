"""`rtkit record`'s memory stays flat over sequential connections (issue 21, probe 11: it grew
about 130 MB per 1,000). Two causes: each connection's two 64 KB receive buffers, memory the
allocator never returned; and each ended connection kept alive, its sockets, transports and
relay, by the abort a close schedules LINGER (5) seconds ahead, never cancelled: at a few
hundred connections a second, a thousand ended connections were held at any time. 300
connections here; `python benchmarks/record_rss.py` runs the 4,000 of the target (within
10 MB)."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import pytest

from benchmarks.record_rss import _session, measure
from rtkit.server.proxy import RecordingProxy
from rtkit.server.relay import Relay, Side
from tests.proxy_upstream import TurnUpstream
from tests.test_proxy_half_close import _half_close


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_rss_is_flat_over_sequential_connections() -> None:
    points = await measure(300, 100, warmup=50)
    growth = points[-1][1] - points[0][1]
    assert growth < 5, points


async def test_an_ended_connection_keeps_nothing_alive(tmp_path: Path) -> None:
    """Closed both ways, half-closed by the client: once its episode is recorded, no side
    or relay of it is left (they were held LINGER seconds, whatever the close)."""
    async with TurnUpstream() as up, RecordingProxy(tmp_path / "c.jsonl", upstream_url=up.url,
                                                    api_key="") as proxy:
        for _ in range(5):
            await _session(proxy.url)
            assert await _half_close(proxy.port) is not None
        for _ in range(100):
            if proxy.status.episodes == 10 and proxy.status.open == 0:
                break
            await asyncio.sleep(0.02)
        assert proxy.status.episodes == 10
        await asyncio.sleep(0.05)  # the transports' own last callbacks
        gc.collect()
        left = [o for o in gc.get_objects() if isinstance(o, Side | Relay)]
        assert not left, left
