"""`rtkit record`'s memory stays flat over sequential connections (issue 21, probe 11: it grew
about 130 MB per 1,000, memory the allocator never returned: each connection's two 64 KB
receive buffers). 300 connections here, after 50 to warm up, would have grown about 40 MB;
`python benchmarks/record_rss.py` runs the 4,000 of the target (within 10 MB)."""

from __future__ import annotations

import sys

import pytest

from benchmarks.record_rss import measure


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_rss_is_flat_over_sequential_connections() -> None:
    points = await measure(300, 100, warmup=50)
    growth = points[-1][1] - points[0][1]
    assert growth < 12, points
