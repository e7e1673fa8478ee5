"""Which URLs interception takes and where it sends them (rtkit.intercept.routes, no I/O)."""

from __future__ import annotations

import pytest

from rtkit.intercept.routes import HostPattern, is_realtime_url, parse_hosts, redirect_url
from rtkit.pytest.options import options_from_kwargs


@pytest.mark.parametrize("url", [
    "wss://api.openai.com/v1/realtime?model=gpt-realtime",
    "wss://API.OpenAI.com/v1/realtime/",
    "wss://api.openai.com/v1/realtime?call_id=rtc_1",
    "https://api.openai.com/v1/realtime",  # aiohttp's ws_connect takes http(s) URLs too
    "wss://my-res.openai.azure.com/openai/realtime?api-version=2025-04-01&deployment=rt",
    "wss://my-res.openai.azure.com/openai/v1/realtime?model=gpt-realtime",
])
def test_the_realtime_api_is_intercepted(url: str) -> None:
    assert is_realtime_url(url)


@pytest.mark.parametrize("url", [
    "wss://api.openai.com/v1/responses",  # another WebSocket API of the same host
    "https://api.openai.com/v1/chat/completions",
    "wss://my-res.openai.azure.com/other/realtime",
    "wss://openai.azure.com.evil.example/openai/realtime",
    "wss://api.openai.com.evil.example/v1/realtime",
    "ws://127.0.0.1:8765/v1/realtime",  # rtkit's own servers, a local fake
    "wss://relay.example.com/v1/realtime",
    "ftp://api.openai.com/v1/realtime",
    "not a url",
    "wss://[::1/v1/realtime",  # unparseable: left to the library to refuse
])
def test_everything_else_is_left_alone(url: str) -> None:
    assert not is_realtime_url(url)


def test_intercept_hosts_add_every_path_of_a_host() -> None:
    hosts = parse_hosts(["relay.example.com", "*.corp.example", "127.0.0.1:9000", "[::1]:9001"])
    assert is_realtime_url("wss://relay.example.com/anything?x=1", hosts)
    assert is_realtime_url("ws://voice.corp.example:8080/rt", hosts)
    assert is_realtime_url("ws://127.0.0.1:9000/v1/realtime", hosts)
    assert is_realtime_url("ws://[::1]:9001/v1/realtime", hosts)
    assert not is_realtime_url("ws://127.0.0.1:9002/v1/realtime", hosts)
    assert not is_realtime_url("wss://corp.example/rt", hosts)  # *.x does not match x itself
    assert parse_hosts("relay.example.com") == (HostPattern("relay.example.com"),)
    assert parse_hosts(["wss://Relay.Example.com:8443/v1/realtime"]) == (
        HostPattern("relay.example.com", 8443),)


@pytest.mark.parametrize(("entry", "problem"), [
    ("relay.example.com:https", "the port is not a number"), (":8080", "names no host")])
def test_a_bad_intercept_host_is_named(entry: str, problem: str) -> None:
    with pytest.raises(ValueError, match=f"intercept_hosts: '{entry}'.*{problem}"):
        parse_hosts([entry])
    with pytest.raises(ValueError, match=problem):  # as an option, before the test runs
        options_from_kwargs({"intercept_hosts": [entry]})


def test_the_redirect_keeps_the_apps_path_and_query() -> None:
    target = "ws://127.0.0.1:4321/v1/realtime"
    assert redirect_url("wss://api.openai.com/v1/realtime?model=gpt-realtime", target) == (
        "ws://127.0.0.1:4321/v1/realtime?model=gpt-realtime")
    assert redirect_url(
        "wss://res.openai.azure.com/openai/realtime?api-version=2025-04-01&deployment=rt",
        target) == "ws://127.0.0.1:4321/openai/realtime?api-version=2025-04-01&deployment=rt"
    assert redirect_url("wss://relay.example.com", target) == "ws://127.0.0.1:4321/"
