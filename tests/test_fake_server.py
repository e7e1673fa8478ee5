"""`FakeRealtimeAPI`, the fake Realtime API's socket shell, over real loopback connections: the
handshake (subprotocol, key, dialect), fresh state per connection, the official SDK, the sync
form and the `rt_fake_api` fixture."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rtkit import FakeRealtimeAPI as Exported
from rtkit.fake import FakeRealtimeAPI

KEY = "sk-test-" + "fake-server-key-00000"  # built at runtime: no key-shaped literal
WRONG = "sk-" + "not-the-right-one-0000"
SCRIPT = {
    "rules": [
        {"when": {"text": "weather"},
         "reply": {"function_call": {"name": "get_weather", "arguments": {"location": "Paris"}}}},
        {"when": {"response": 1}, "reply": {"text": "Hello, first answer."}},
    ],
    "default": {"text": "A later answer."},
    "delta_ms": 1,
}
TEXT_SESSION = {"type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["text"]}}


async def recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await ws.recv())


async def until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Events up to and including the next `kind`."""
    seen = []
    while True:
        event = await recv(ws)
        seen.append(event)
        if event["type"] == kind:
            return seen


async def ask(ws: ClientConnection, text: str, **response: Any) -> list[dict[str, Any]]:
    await ws.send(json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}))
    await ws.send(json.dumps({"type": "response.create", **({"response": response}
                                                            if response else {})}))
    return await until(ws, "response.done")


def said(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


async def test_urls_and_the_package_export() -> None:
    assert Exported is FakeRealtimeAPI
    async with FakeRealtimeAPI() as fake:
        assert fake.url == f"ws://127.0.0.1:{fake.port}/v1/realtime" and fake.port > 0
        assert fake.ws_base_url == f"ws://127.0.0.1:{fake.port}/v1"


@pytest.mark.parametrize(("offered", "selected"), [
    (["realtime"], "realtime"),
    (["realtime", "openai-insecure-api-key.placeholder", "openai-beta.realtime-v1"], "realtime"),
    (None, None),
])
async def test_the_realtime_subprotocol_is_selected_when_offered(
        offered: list[str] | None, selected: str | None) -> None:
    async with FakeRealtimeAPI() as fake, connect(
            fake.url, subprotocols=offered) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == selected
        assert (await recv(ws))["type"] == "session.created"
    assert fake.records[0].subprotocol == selected


@pytest.mark.parametrize("how", ["header", "subprotocol", "none"])
async def test_a_wrong_key_gets_an_error_then_close_3000(how: str) -> None:
    headers = {"Authorization": f"Bearer {WRONG}"} if how == "header" else {}
    protocols = (["realtime", f"openai-insecure-api-key.{WRONG}"]
                 if how == "subprotocol" else None)
    async with FakeRealtimeAPI(api_key=KEY) as fake, connect(
            fake.url, additional_headers=headers, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        error = await recv(ws)  # the upgrade succeeded (101), then this
        assert error["type"] == "error"
        assert (error["error"]["type"], error["error"]["code"]) == (
            "invalid_request_error", "invalid_api_key")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.protocol.close_code == 3000
        assert ws.protocol.close_reason == "invalid_request_error.invalid_api_key"
    record = fake.records[0]
    assert record.refused == "invalid_api_key" and record.close_code == 3000
    assert record.line().endswith(
        "refused (invalid_api_key), closed 3000 invalid_request_error.invalid_api_key")


async def test_the_right_key_is_served_and_no_key_configured_takes_any() -> None:
    async with FakeRealtimeAPI(api_key=KEY) as fake:
        async with connect(fake.url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            assert (await recv(ws))["type"] == "session.created"
        async with connect(fake.url, subprotocols=[  # type: ignore[list-item]
                "realtime", f"openai-insecure-api-key.{KEY}"]) as ws:
            assert (await recv(ws))["type"] == "session.created"
    async with FakeRealtimeAPI() as fake, connect(
            fake.url, additional_headers={"Authorization": "Bearer whatever"}) as ws:
        assert (await recv(ws))["type"] == "session.created"


async def test_every_connection_starts_afresh_with_its_own_ids() -> None:
    async with FakeRealtimeAPI(SCRIPT) as fake:
        answers, sessions = [], []
        for _ in range(2):
            async with connect(fake.url + "?model=gpt-realtime") as ws:
                sessions.append((await recv(ws))["session"]["id"])
                await ws.send(json.dumps(TEXT_SESSION))
                answers.append([said(await ask(ws, "hi")), said(await ask(ws, "hi"))])
        assert answers == [["Hello, first answer.", "A later answer."]] * 2  # rules not used up
        assert sessions[0] != sessions[1]
        assert fake.connections == 2
        assert [r.line() for r in fake.records] == [
            f"#{n} GA /v1/realtime?model=gpt-realtime (no key): 5 client / "
            f"{r.server_events} server events, 0 error event(s), closed 1000"
            for n, r in enumerate(fake.records, 1)]


async def test_a_restarted_fake_gives_the_same_ids() -> None:
    ids = []
    for _ in range(2):
        async with FakeRealtimeAPI(SCRIPT) as fake, connect(fake.url) as ws:
            await ws.send(json.dumps(TEXT_SESSION))
            ids.append([e["event_id"] for e in [await recv(ws), *await ask(ws, "weather")]])
    assert ids[0] == ids[1]


async def test_metadata_is_echoed_and_the_first_previous_item_id_is_null() -> None:
    async with FakeRealtimeAPI(SCRIPT) as fake, connect(fake.url) as ws:
        await recv(ws)
        await ws.send(json.dumps(TEXT_SESSION))
        events = await ask(ws, "hi", metadata={"client_event_id": "response_create_1"})
    added = next(e for e in events if e["type"] == "conversation.item.added")
    assert added["previous_item_id"] is None
    created = next(e for e in events if e["type"] == "response.created")
    assert created["response"]["metadata"] == {"client_event_id": "response_create_1"}
    assert events[-1]["response"]["metadata"] == {"client_event_id": "response_create_1"}


async def test_a_binary_frame_and_bad_json_are_errors_and_the_connection_stays() -> None:
    async with FakeRealtimeAPI(SCRIPT) as fake, connect(fake.url) as ws:
        await recv(ws)
        await ws.send(b"\x00\x01")
        assert (await recv(ws))["error"]["code"] == "invalid_event"
        await ws.send("{oops")
        assert (await recv(ws))["error"]["code"] == "invalid_json"
        await ws.send(json.dumps(TEXT_SESSION))
        assert (await recv(ws))["type"] == "session.updated"


async def test_a_beta_client_gets_beta_events() -> None:
    async with FakeRealtimeAPI(SCRIPT) as fake, connect(
            fake.url, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        assert "modalities" in (await recv(ws))["session"]
        await ws.send(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))
        await recv(ws)
        events = await ask(ws, "hi")
    assert "conversation.item.created" in [e["type"] for e in events]
    assert "".join(e["delta"] for e in events if e["type"] == "response.text.delta") == (
        "Hello, first answer.")
    assert fake.records[0].dialect == "beta"


async def test_the_official_sdk_talks_to_it() -> None:
    from openai import AsyncOpenAI

    async with FakeRealtimeAPI(SCRIPT) as fake:
        client = AsyncOpenAI(api_key="placeholder", websocket_base_url=fake.ws_base_url)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await conn.conversation.item.create(item={
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "How is the weather?"}]})
            await conn.response.create(response={"metadata": {"k": "v"}})
            async for event in conn:  # the SDK parses every event with its models
                if event.type == "response.done":
                    break
        assert event.response.metadata == {"k": "v"}
        call = event.response.output[0]
        assert (call.type, call.name, call.arguments) == (
            "function_call", "get_weather", '{"location": "Paris"}')


def test_the_sync_form_runs_on_its_own_thread() -> None:
    from websockets.sync.client import connect as sync_connect

    with FakeRealtimeAPI(SCRIPT) as fake, sync_connect(fake.url) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
    assert fake._thread is None  # stopped and joined


async def test_a_bad_script_is_refused_before_listening(tmp_path: Any) -> None:
    from rtkit.fake import FakeScriptError

    with pytest.raises(FakeScriptError, match=r"script: rules\.0\.reply: a reply is exactly "):
        FakeRealtimeAPI({"rules": [{"when": {"text": "x"}, "reply": {}}]})


FIXTURE_TESTS = '''
import json
import pytest
from websockets.sync.client import connect


def first_answer(url):
    with connect(url) as ws:
        json.loads(ws.recv())
        ws.send(json.dumps({"type": "session.update",
                            "session": {"type": "realtime", "output_modalities": ["text"]}}))
        ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message",
            "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}))
        ws.send(json.dumps({"type": "response.create"}))
        text = ""
        while True:
            event = json.loads(ws.recv())
            if event["type"] == "response.output_text.delta":
                text += event["delta"]
            if event["type"] == "rate_limits.updated":  # the last event of the response
                return text


def test_default_script(rt_fake_api):
    assert first_answer(rt_fake_api.url) == "OK."


@pytest.mark.rt_fake(script="replies.yaml")
async def test_marker_script_from_an_async_test(rt_fake_api):
    import asyncio
    assert await asyncio.to_thread(first_answer, rt_fake_api.url) == "Hi from the file."


class TestOverride:
    @pytest.fixture
    def rt_fake_script(self):
        return {"default": {"text": "From the fixture."}}

    def test_fixture_script(self, rt_fake_api):
        assert first_answer(rt_fake_api.url) == "From the fixture."
        assert rt_fake_api.ws_base_url.endswith("/v1")


@pytest.mark.rt_fake(script="replies.yaml", api_key="k")
def test_key_from_the_marker(rt_fake_api):
    with connect(rt_fake_api.url, additional_headers={"Authorization": "Bearer wrong"}) as ws:
        assert json.loads(ws.recv())["error"]["code"] == "invalid_api_key"


@pytest.mark.rt_fake(scrpit="typo.yaml")
def test_unknown_option(rt_fake_api):
    pass


@pytest.mark.rt_fake(script="missing.yaml")
def test_missing_script(rt_fake_api):
    pass
'''


def test_the_rt_fake_api_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    pytester.makefile(".yaml", replies="default: {text: Hi from the file.}\n")
    pytester.makepyfile(test_fake_fixture=FIXTURE_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines([
        "*rtkit: @pytest.mark.rt_fake: unknown option(s) scrpit (expected script, api_key, "
        "dialect, seed)*",
        "*rtkit: *missing.yaml: cannot read the script: No such file or directory*",
    ])


async def test_on_frame_sees_every_frame_as_it_crossed_the_socket() -> None:
    frames: list[tuple[int, str, str | bytes]] = []
    sent: list[str] = []
    received: list[str | bytes] = []
    fake = FakeRealtimeAPI(SCRIPT, on_frame=lambda *f: frames.append(f))
    async with fake, connect(fake.url) as ws:
        received.append(await ws.recv())
        for event in (TEXT_SESSION, {"type": "response.create"}):
            sent.append(json.dumps(event))
            await ws.send(sent[-1])
        await ws.send(b"\x00binary")
        while not (any('"invalid_event"' in str(f) for f in received)  # the binary's error
                   and '"rate_limits.updated"' in str(received[-1])):  # the response's end
            received.append(await ws.recv())
    assert [f for n, d, f in frames if d == "client"] == [*sent, b"\x00binary"]
    assert [f for n, d, f in frames if d == "server"] == received
    assert {n for n, d, f in frames} == {1}


async def test_it_tells_which_script_it_serves(tmp_path: Any) -> None:
    """`GET /rtkit/fake` (what a recording asks, to name the script in the cassette) answers
    the script's path as given, None for a script given as data; nothing is logged, no
    connection counted."""
    from rtkit.fake.info import fake_script

    path = tmp_path / "replies.yaml"
    path.write_text(json.dumps(SCRIPT))
    problems: list[str] = []
    async with FakeRealtimeAPI(str(path), on_problem=problems.append) as fake:
        assert await fake_script(fake.url) == str(path)
        async with connect(fake.url) as ws:  # the API itself is unchanged
            assert (await recv(ws))["type"] == "session.created"
    async with FakeRealtimeAPI(SCRIPT) as fake:
        assert await fake_script(fake.url) is None
    assert await fake_script(fake.url) is None  # nothing listens any more
    assert (problems, fake.connections) == ([], 0)
