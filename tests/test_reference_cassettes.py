"""The reference cassettes replay: the scenario code that recorded each one (in
cassettes/make_reference.py) runs again against a `ReplayServer` on loopback, in both dialects,
with no mismatch and nothing left unplayed."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest

from cassettes.make_reference import MODELS, SCENARIOS
from rtkit import RealtimeClient
from rtkit.cassette import Cassette
from rtkit.errors import CannotOverwriteExistingCassetteException
from rtkit.server.replay_server import ReplayServer

ROOT = Path(__file__).resolve().parent.parent
CASES = [(name, dialect) for name in SCENARIOS for dialect in ("ga", "beta")]


@pytest.mark.parametrize(("name", "dialect"), CASES, ids=[f"{d}-{n}" for n, d in CASES])
async def test_reference_cassette_replays(name: str, dialect: str) -> None:
    path = ROOT / "cassettes" / dialect / f"{name}.jsonl"
    drive, _setup = SCENARIOS[name]
    async with ReplayServer(path, unplayed="fail", timeout=5) as server:
        client = RealtimeClient(url=server.url, api_key="sk-rtkit-replay",
                                model=MODELS[dialect], dialect=dialect)
        await client.connect()
        try:
            await asyncio.wait_for(drive(client), 20)
        finally:
            await client.disconnect()
        # the recorded close follows the last client event: wait for the engine to finish
        for _ in range(200):
            if server.player.completed:
                break
            await asyncio.sleep(0.01)
    server.check()
    assert server.player.played == [0]
    assert server.player.unplayed_events == {}


def test_every_reference_cassette_is_where_the_readme_says() -> None:
    table = (ROOT / "cassettes" / "README.md").read_text()
    listed = set(re.findall(r"^\| `(\w+)\.jsonl` \|", table, re.M))
    assert listed == set(SCENARIOS)
    for name, dialect in CASES:
        cassette = Cassette.load(ROOT / "cassettes" / dialect / f"{name}.jsonl")
        assert len(cassette.episodes) == 1, (name, dialect)


def test_no_key_shaped_string_in_tracked_files() -> None:
    try:
        files = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (installed from an sdist)")
    key = re.compile(rb"\b(sk-(?:proj-)?[A-Za-z0-9_-]{20,}|ek_[A-Za-z0-9]{20,})")
    found = []
    for name in files:
        data = (ROOT / name).read_bytes() if (ROOT / name).is_file() else b""
        found += [f"{name}: {m.group(0)[:12]!r}..." for m in key.finditer(data)]
    assert found == []


async def test_a_mismatch_fails_the_clients_wait_and_the_server_raises_the_full_report() -> None:
    path = ROOT / "cassettes" / "ga" / "text_turn.jsonl"
    with pytest.raises(CannotOverwriteExistingCassetteException) as info:
        async with ReplayServer(path, timeout=5) as server:
            client = RealtimeClient(url=server.url)
            await client.connect()
            client.update_session(modalities=["text"], instructions="Answer in one short sentence.")
            client.send_user_message_content(
                [{"type": "input_text", "text": "What is the capital of Italy?"}])
            await client.wait_for_next_completed_item(timeout=30)  # fails at once, no timeout
    # the client's wait raised the server's `replay_mismatch` error event; the server's block
    # re-raises its own, full report from it
    assert isinstance(info.value.__cause__, CannotOverwriteExistingCassetteException)
    assert "item.content[0].text: expected 'What is the capital of France?'" in str(info.value)
    server.player.end()  # raised once: not again
