"""What a doc block needs besides its own commands, named by its marker.

`<!-- doc-test: with NAME -->` on a block that starts a server: WITH[NAME](session, server)
runs once the server printed its URL (a client, a `curl`) and returns the lines the server
printed meanwhile. `<!-- doc-test: output-of NAME -->` on a block that only shows output:
OUTPUTS[NAME](session) produces that output for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tests.doc_blocks import ROOT, blocks
from tests.doc_servers import WAIT, Server

if TYPE_CHECKING:
    from tests.doc_session import DocSession

__all__ = ["OUTPUTS", "WITH", "provide"]

TEXT_TURN = "cassettes/ga/text_turn.jsonl"


def _until(server: Server, needle: str) -> list[str]:
    """Lines the server prints up to and including one that contains `needle`."""
    lines: list[str] = []
    while True:
        line = server.readline(WAIT)
        if line is None:
            raise AssertionError(f"the server exited before printing {needle!r}:\n"
                                 + "\n".join(lines))
        lines.append(line)
        if needle in line:
            return lines


def _base_url(server: Server) -> str:
    assert server.url is not None
    return server.url.removesuffix("/realtime")


def readme_app(session: DocSession, server: Server) -> list[str]:
    """The README's app.py (the official SDK: a tool call, then the answer) against it."""
    app = next(b for b in blocks("README.md") if b.mark("file") == ["app.py"])
    code, out = session.run_python(app.text, "README.md app.py",
                                   env={"REALTIME_BASE_URL": _base_url(server)})
    assert code == 0, "\n".join(out)
    return []


async def _ask(url: str, question: str) -> str:
    """rtkit's client asks `question` as the text_turn cassette's client did; the answer, or
    the exception's name."""
    from rtkit import RealtimeClient

    client = RealtimeClient(url=url)
    await client.connect()
    try:
        await client.wait_for_session_created(timeout=WAIT)
        client.update_session(modalities=["text"], instructions="Answer in one short sentence.")
        client.send_user_message_content([{"type": "input_text", "text": question}])
        async for item in client.items(timeout=WAIT):
            if item.get("role") == "assistant":
                return str(item["formatted"]["text"])
    except Exception as exc:
        return type(exc).__name__
    finally:
        await client.disconnect()
    return ""


def curl_then_italy(session: DocSession, server: Server) -> list[str]:
    """A plain HTTP GET (what `curl` sends), then a client that asks about Italy where the
    cassette has France."""
    assert server.url is not None
    http = server.url.replace("ws://", "http://", 1) + "?model=gpt-realtime"
    with contextlib.suppress(urllib.error.HTTPError), urllib.request.urlopen(http, timeout=WAIT):
        raise AssertionError("a plain GET was answered 2xx")
    lines = _until(server, "426")
    answer = asyncio.run(_ask(server.url, "What is the capital of Italy?"))
    assert answer == "CannotOverwriteExistingCassetteException", answer
    return lines + _until(server, "closed by")


def _serve(args: list[str], client: Callable[[str], object], needle: str | None) -> list[str]:
    """`rtkit serve ARGS`, one client, then Ctrl-C: what it printed after its URL."""
    server = Server(["serve", *args], ROOT, _env())
    try:
        server.start()
        assert server.url is not None
        client(server.url)
        lines = _until(server, needle) if needle else []
        code, rest = server.stop(signal.SIGINT)
        assert code == 0, "\n".join(lines + rest)
        return lines + rest
    finally:
        server.kill()


def _env() -> dict[str, str]:
    from tests.doc_servers import base_env

    return base_env()


def serve_follows_cassette(session: DocSession) -> list[str]:
    """`rtkit serve` and a client that asks what the text_turn cassette asks."""
    def client(url: str) -> None:
        answer = asyncio.run(_ask(url, "What is the capital of France?"))
        assert answer == "The capital of France is Paris.", answer

    return _serve([TEXT_TURN], client, "closed by")


def serve_unplayed(session: DocSession) -> list[str]:
    """`rtkit serve --quiet` and a client that reads `session.created` and leaves."""
    def client(url: str) -> None:
        async def main() -> None:
            from websockets.asyncio.client import connect

            async with connect(url + "?model=gpt-realtime") as ws:
                await ws.recv()

        asyncio.run(main())

    return _serve([TEXT_TURN, "--quiet"], client, None)


def serve_repeat(session: DocSession) -> list[str]:
    """`rtkit serve --repeat` and the same client twice: the second run gets the episode
    again (without --repeat, a 404)."""
    def client(url: str) -> None:
        for _ in range(2):
            answer = asyncio.run(_ask(url, "What is the capital of France?"))
            assert answer == "The capital of France is Paris.", answer

    server = Server(["serve", TEXT_TURN, "--repeat"], ROOT, _env())
    try:
        server.start()
        assert server.url is not None
        client(server.url)
        lines = _until(server, "closed by") + _until(server, "closed by")
        code, rest = server.stop(signal.SIGINT)
        assert code == 0, "\n".join(lines + rest)
        return lines + rest
    finally:
        server.kill()


def replay_mismatch(session: DocSession) -> list[str]:
    """The exception rtkit's client raises when it asks about Italy (ReplayTransport)."""
    from rtkit import CannotOverwriteExistingCassetteException, RealtimeClient, ReplayTransport

    async def main() -> str:
        client = RealtimeClient(transport=ReplayTransport(str(ROOT / TEXT_TURN)))
        await client.connect()
        client.update_session(modalities=["text"], instructions="Answer in one short sentence.")
        client.send_user_message_content(
            [{"type": "input_text", "text": "What is the capital of Italy?"}])
        try:
            await client.wait_for_next_completed_item(timeout=WAIT)
        except CannotOverwriteExistingCassetteException as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            await client.disconnect()
        raise AssertionError("no mismatch")

    return asyncio.run(main()).replace(str(ROOT) + "/", "").splitlines()


def assertion_failure(session: DocSession) -> list[str]:
    """The report of a failed `expect` check: the reference tool call replayed, then a
    check for Berlin where the model asked about Paris."""
    from rtkit import RealtimeClient, ReplayTransport
    from rtkit.assertions import ConversationAssertionError, rt_conversation, watch

    tool = {"name": "get_weather", "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"},
                                                            "unit": {"type": "string"}},
                           "required": ["location"]}}

    async def main() -> str:
        client = RealtimeClient(
            transport=ReplayTransport(str(ROOT / "cassettes/ga/tool_call.jsonl")))
        watch(client)
        await client.connect()
        client.update_session(modalities=["text"])
        client.add_tool(tool, lambda args: {"location": args["location"], "temp_c": 21,
                                            "sky": "sunny"})
        client.send_user_message_content(
            [{"type": "input_text", "text": "What's the weather in Paris?"}])
        async for item in client.items(timeout=WAIT):
            if item.get("role") == "assistant":
                break
        try:  # as a test would, while connected (disconnect() clears the conversation)
            rt_conversation(client).expect.function_call(
                "get_weather", arguments={"location": "Berlin"})
        except ConversationAssertionError as exc:
            return str(exc)
        finally:
            await client.disconnect()
        raise AssertionError("the check passed")

    return asyncio.run(main()).splitlines()


# -- inputs made at run time (`files NAME`) -----------------------------------------------------

FILES = ROOT / "tests" / "doc_files"
LEAKED_KEY = "sk-test-" + "docs-leaked-key-0000"  # built at runtime: no key-shaped literal


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def make_broken(directory: Path) -> None:
    """weather-new.jsonl with two lines spoiled: an event dated back, an unknown event type."""
    lines = _lines(FILES / "weather-new.jsonl")
    lines[19] = re.sub(r'"t":[0-9.]+', '"t":0.001', lines[19], count=1)
    lines[30] = lines[30].replace('"response.output_text.delta"', '"response.text_delta"', 1)
    (directory / "broken.jsonl").write_text("".join(lines), encoding="utf-8")


def make_leaky(directory: Path) -> None:
    """weather-new.jsonl where the user pasted a key into a message."""
    lines = _lines(FILES / "weather-new.jsonl")
    at = next(i for i, line in enumerate(lines) if "Thanks!" in line)
    lines[at] = lines[at].replace("Thanks!", f"Thanks! My key is {LEAKED_KEY}", 1)
    (directory / "leaky.jsonl").write_text("".join(lines), encoding="utf-8")


def make_leftover(directory: Path) -> None:
    """What a recorder killed with SIGKILL leaves beside session.jsonl: every line it
    recorded (here the text_turn cassette's), without the close."""
    lines = [line for line in _lines(ROOT / TEXT_TURN) if '"kind":"close"' not in line]
    (directory / ".session.jsonl.f5a69tpx.rtkit-tmp").write_text("".join(lines),
                                                                 encoding="utf-8")


MAKERS: dict[str, Callable[[Path], None]] = {
    "broken.jsonl": make_broken,
    "leaky.jsonl": make_leaky,
    ".session.jsonl.f5a69tpx.rtkit-tmp": make_leftover,
}


def provide(name: str, directory: Path) -> None:
    """Put the input `name` into `directory`: made at run time, or from tests/doc_files/."""
    if name in MAKERS:
        MAKERS[name](directory)
    else:
        shutil.copy(FILES / name, directory / name)


WITH: dict[str, Callable[[DocSession, Server], list[str]]] = {
    "readme-app": readme_app,
    "curl-then-italy": curl_then_italy,
}
OUTPUTS: dict[str, Callable[[DocSession], list[str]]] = {
    "serve-follows-cassette": serve_follows_cassette,
    "serve-unplayed": serve_unplayed,
    "serve-repeat": serve_repeat,
    "replay-mismatch": replay_mismatch,
    "assertion-failure": assertion_failure,
}
