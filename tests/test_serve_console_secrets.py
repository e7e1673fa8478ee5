"""`rtkit serve`'s console never shows a client's secret (issue 21, probe 9: it printed a
client's `?api-key=`, `sk-` keys and an MCP tool's authorization from mismatch reports and
connection lines). What the client sends is compared after the recording's filters, so an
MCP credential the recording holds as `REDACTED` matches, and the report of what does differ
shows the secret redacted."""

from __future__ import annotations

import json
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from rtkit.cassette import CassetteWriter
from tests.rtkit_process import finish, start

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
GH = "ghp_" + (ALNUM * 2)[2:38]
PROJ = "sk-" + "proj-" + (ALNUM * 2)[9:41]
MCP = "mcp-" + "opaque-" + "Z9x8C7v6B5n4M3"
AZURE = "f" + "0123456789abcdef" * 2


def _update(instructions: str) -> str:
    tool = {"type": "mcp", "server_label": "gh", "server_url": "https://mcp.example.com",
            "authorization": MCP, "headers": {"X-Team-Key": MCP}}
    return json.dumps({"type": "session.update", "session": {
        "type": "realtime", "tools": [tool], "instructions": instructions}})


async def test_reports_and_connection_lines_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "mcp.jsonl"
    with CassetteWriter(path) as w:  # recorded as the recorder writes it: redacted
        w.connect(0, query=f"model=gpt-realtime&api-key={AZURE}")
        w.event(0, "server", 0, '{"type":"session.created","event_id":"e1","session":{}}')
        w.event(0, "client", 1, _update("be brief"))
        w.event(0, "server", 2, '{"type":"session.updated","event_id":"e2","session":{}}')
        w.close(0, 3, 1000, "", "client")
    assert MCP not in path.read_text() and AZURE not in path.read_text()
    proc, url = await start("serve", str(path))
    try:
        async with connect(f"{url}?model=gpt-realtime&api-key={AZURE}") as ws:
            await ws.recv()
            await ws.send(_update(f"be brief, token {GH}, key {PROJ}"))
            error = json.loads(await ws.recv())
        assert error["error"]["code"] == "replay_mismatch"
        try:
            async with connect(f"{url}?model=other&api-key={AZURE}"):
                pass
        except InvalidStatus:
            pass
    finally:
        code, err = await finish(proc)
    assert code == 1
    for secret in (MCP, AZURE, GH, PROJ):
        assert secret not in err, secret
    assert "session.instructions" in err and "ghp_REDACTED" in err  # what differs, redacted
    assert "session.tools" not in err  # the MCP credential matched its recording
    assert "api-key=REDACTED" in err
