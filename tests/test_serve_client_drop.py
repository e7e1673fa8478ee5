"""`rtkit serve` and a client that drops its TCP connection in the middle of a frame (issue
12's probe, the proxy's twin is in tests/test_proxy_faults.py): the server says how the
connection ended, serves the next client its own episode, and stays up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.serve_helpers import (
    QUERY,
    RawClient,
    Serve,
    frame_bytes,
    good_session,
    user_text,
    write_sessions,
)


async def test_a_client_that_drops_tcp_mid_frame_is_logged_and_others_are_served(
        tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "two.jsonl", 2, per_episode_query=True)
    server = Serve(path, "--max-connections", "2", "--timeout", "5")
    try:
        client = await RawClient.upgrade(server.port, f"/v1/realtime?{QUERY}&n=0")
        await asyncio.wait_for(client.read_frame(), 10)  # session.created
        frame = frame_bytes(user_text(0).encode())
        client.writer.write(frame[: len(frame) // 2])  # half a frame, then gone
        await client.writer.drain()
        client.close()
        await good_session(f"{server.url}?{QUERY}&n=1", 1)  # the next client: its own episode
        code, err = await server.wait(30)
    finally:
        server.stop()
    assert "Traceback" not in err
    assert "#1 episode 0: dropped by the client (no close frame); 0 client / 1 server" in err
    assert "#2 episode 1: closed by the client (1000); 2 client / 6 server" in err
    # what the dropped client never reached is reported, not an error (--unplayed warn)
    assert "episode 0: 7 recorded event(s) were not played" in err and code == 0, err
