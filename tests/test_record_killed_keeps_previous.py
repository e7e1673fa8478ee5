"""`rtkit record --listen` killed with SIGKILL mid-session over an existing cassette (issue
12's probe): the previous cassette is left byte for byte as it was, and what the killed
recorder relayed is in its leftover file, which `rtkit recover` finds and restores. (SIGINT and
SIGTERM commit everything: tests/test_cli_record_faults.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect

from rtkit.cassette import Cassette
from rtkit.cli import main
from tests.proxy_upstream import TurnUpstream
from tests.serve_helpers import write_sessions

KEY = "sk-test-" + "killed-previous-" + "q" * 18  # built at runtime: no key-shaped literal


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_sigkill_mid_session_leaves_the_previous_cassette_intact(tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "session.jsonl", 2)
    before = path.read_bytes()
    async with TurnUpstream() as up:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from rtkit.cli import main; main()", "record", "--listen",
            "127.0.0.1:0", "-o", str(path), "--upstream", up.url,
            env={**os.environ, "OPENAI_API_KEY": KEY}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            assert proc.stdout is not None
            url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
            async with connect(url) as ws:
                await ws.recv()
                await ws.send('{"type":"response.create"}')
                while json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] != \
                        "rate_limits.updated":
                    pass
                # one more round trip: the recorder's loop has turned since it recorded the
                # response, so that is in its file (it writes once per event-loop turn)
                await ws.send('{"type":"note"}')
                assert json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] == "ack"
                proc.send_signal(signal.SIGKILL)  # the session still open
                await asyncio.wait_for(proc.wait(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert path.read_bytes() == before  # the previous cassette, untouched

    result = CliRunner().invoke(main, ["recover", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 leftover recording(s) beside it" in result.output
    result = CliRunner().invoke(main, ["recover", str(path), "-o", str(tmp_path / "new.jsonl")])
    assert result.exit_code == 0, result.output
    recovered = Cassette.load(tmp_path / "new.jsonl")
    assert recovered.header.meta["recovered"]["incomplete"] is True
    assert [e.type for e in recovered.iter_events(0)][:8] == [
        "session.created", "response.create", "response.created", "response.text.delta",
        "response.text.delta", "response.text.delta", "response.done", "rate_limits.updated"]
    assert path.read_bytes() == before  # recovering elsewhere left it alone too
