"""`rtkit record --listen` and `rtkit serve` as a user runs them: real subprocesses, real
signals, real loopback sockets (the upstream is the scripted server, in this process)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest

from cassettes.make_reference import MODELS, text_turn
from rtkit import RealtimeClient
from rtkit.cassette import Cassette
from rtkit.fake import FakeRealtimeAPI
from tests.rtkit_process import RTKIT, finish, no_key_env, run, start

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-test-" + "cli-record-serve-000"  # built at runtime: no key-shaped literal


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_serve_replays_and_exits_0_on_sigterm(dialect: str) -> None:
    server, url = await start("serve", str(ROOT / "cassettes" / dialect / "text_turn.jsonl"),
                              "--listen", "127.0.0.1:0", "--unplayed", "fail")
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/v1/realtime")
    client = RealtimeClient(url=url, model=MODELS[dialect], dialect=dialect)
    await client.connect()
    await asyncio.wait_for(text_turn(client), 10)
    assert client.conversation.get_items()[-1]["formatted"]["text"] == (
        "The capital of France is Paris.")
    await client.disconnect()
    await asyncio.sleep(0.2)  # the recorded close ends the episode
    code, err = await finish(server)
    assert code == 0, err
    opened, closed = err.splitlines()  # the console log: one line per connection event
    assert re.fullmatch(r"rtkit serve: #1 connected from 127\.0\.0\.1:\d+: GET "
                        r"/v1/realtime\?model=\S+ -> episode 0", opened), err
    assert re.fullmatch(r"rtkit serve: #1 episode 0: closed by the client \(1000\); "
                        r"\d+ client / \d+ server event\(s\) played", closed), err


async def test_serve_mismatch_exits_1_and_the_client_gets_an_error_event() -> None:
    server, url = await start("serve", str(ROOT / "cassettes/ga/text_turn.jsonl"),
                              "--listen", "127.0.0.1:0", "--timeout", "2")
    client = RealtimeClient(url=url)
    await client.connect()
    client.update_session(modalities=["text"], instructions="Answer in one short sentence.")
    client.send_user_message_content([{"type": "input_text", "text": "And Italy?"}])
    error = await client.wait_for_next("error", timeout=5)
    assert error["error"]["code"] == "replay_mismatch"
    await client.disconnect()
    code, err = await finish(server)
    assert code == 1
    assert "does not match the recorded 'conversation.item.create'" in err
    assert "item.content[0].text: expected 'What is the capital of France?', got 'And Italy?'" \
        in err
    assert "Traceback" not in err


async def test_serve_refuses_missing_and_corrupt_cassettes(tmp_path: Path) -> None:
    code, out, err = await run("serve", str(tmp_path / "nope.jsonl"))
    assert (code, out) == (2, "")
    assert f"{tmp_path / 'nope.jsonl'}: no such cassette" in err
    bad = tmp_path / "bad.jsonl"
    lines = (ROOT / "cassettes/ga/text_turn.jsonl").read_text().splitlines()
    bad.write_text("\n".join([*lines[:5], "{broken", *lines[5:]]) + "\n")
    code, out, err = await run("serve", str(bad))
    assert code == 2 and f"{bad}:6:2: not valid JSON" in err and "Traceback" not in err
    assert err.count("not valid JSON") == 1, err
    code, out, err = await run("serve", "--help")
    assert code == 0 and "rtkit serve cassettes/ga/text_turn.jsonl --listen 127.0.0.1:0" in out


async def talk(url: str) -> str:
    client = RealtimeClient(url=url, api_key="placeholder")
    await client.connect()
    client.update_session(modalities=["text"])
    client.send_user_message_content([{"type": "input_text", "text": "Hello?"}])
    while True:
        item = (await client.wait_for_next_completed_item(timeout=5))["item"]
        if item.get("role") == "assistant":
            break
    await client.disconnect()
    return str(item["formatted"]["text"])


async def test_record_proxy_writes_a_complete_cassette_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "proxy.jsonl"
    async with FakeRealtimeAPI({"default": {"text": "Hi there."}}) as upstream:
        proc, url = await start("record", "--listen", "127.0.0.1:0", "-o", str(out),
                                "--upstream", upstream.url, env=no_key_env(OPENAI_API_KEY=KEY))
        assert await talk(url) == "Hi there."
        assert await talk(url) == "Hi there."
        code, err = await finish(proc)
    assert code == 0, err
    assert f"rtkit: wrote {out}: 2 episode(s)" in err
    cassette = Cassette.load(out)
    assert [e.conn for e in cassette.episodes] == [0, 1]
    assert all(e.close is not None and e.close.code == 1000 for e in cassette.episodes)
    assert KEY.encode() not in out.read_bytes()
    code, stdout, _ = await run("record", "--help")
    assert code == 0 and "rtkit record --listen 127.0.0.1:8765 -o session.jsonl" in stdout


async def test_record_killed_mid_session_leaves_the_previous_cassette(tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    previous = (ROOT / "cassettes/ga/text_turn.jsonl").read_bytes()
    out.write_bytes(previous)
    async with FakeRealtimeAPI({"default": {"text": "Hi there."}}) as upstream:
        proc, url = await start("record", "--listen", "127.0.0.1:0", "-o", str(out),
                                "--upstream", upstream.url, env=no_key_env(OPENAI_API_KEY=KEY))
        client = RealtimeClient(url=url, api_key="placeholder")
        await client.connect()
        client.send_user_message_content([{"type": "input_text", "text": "Hello?"}])
        await client.wait_for_next_completed_item(timeout=5)
        code, _ = await finish(proc, signal.SIGKILL)
        await client.disconnect()
    assert code == -signal.SIGKILL
    assert out.read_bytes() == previous


async def test_record_refuses_a_live_upstream_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = await asyncio.create_subprocess_exec(
        *RTKIT, "record", "--listen", "127.0.0.1:0", "-o", str(tmp_path / "x.jsonl"),
        "--upstream", "wss://api.openai.com/v1/realtime", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2 and b"OPENAI_API_KEY is not set" in err
    assert not (tmp_path / "x.jsonl").exists()
