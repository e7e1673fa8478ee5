"""The soak's clients: each runs the same two-turn session (a text turn, then a tool call round
trip) and reports every frame it sent and received, exactly as they crossed its socket.

- `sdk`: the official `openai` SDK (`AsyncOpenAI().realtime.connect`), as its README shows.
- `rtkit`: rtkit's `RealtimeClient`, the tool answered by its own tool handling.
- `raw` / `raw-one-write` / `raw-crossing`: a bare `websockets` client; `raw-one-write` writes
  all events of a turn in one `write` the moment the last frame of the previous response is
  read; `raw-crossing` does so on `response.done`, while the response's last frame
  (`rate_limits.updated`) is still on its way, so frames cross in both directions.
- `node` / `node-one-write` / `node-crossing`: a node `ws` client (tests/js/soak_sessions.mjs;
  the reference client's transport), the same three ways (one corked write).

Every client sends the next turn as soon as it reads the response's last frame
(`rate_limits.updated`; the crossing ones `response.done`), and stops after the third
response's last frame. Session `name` connects to
`URL?model=gpt-realtime&session=NAME`, so its episode and its upstream connection can be found.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.client import ClientConnection, connect

from rtkit.transport.base import Close, ConnectRequest, Frame
from rtkit.transport.websocket import WebSocketTransport, loopback_kwargs

__all__ = ["CLIENTS", "TIMEOUT", "Session", "node_dir", "session_name", "session_url"]

TIMEOUT = 20.0  # seconds a session may wait for its next frame before it counts as lost
NODE_SCRIPT = Path(__file__).resolve().parent.parent / "js" / "soak_sessions.mjs"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]},
}
TOOL_RESULT: dict[str, Any] = {"location": "Paris", "temp_c": 21, "sky": "sunny"}
QUESTIONS = ("hello", "What's the weather in Paris?")


@dataclass
class Session:
    """One session as its client saw it: the frames it sent and received, in order."""

    name: str
    sent: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    error: str | None = None


def session_url(url: str, name: str) -> str:
    """The URL session `name` connects to."""
    return f"{url}?model=gpt-realtime&session={name}"


def session_name(target: str) -> str | None:
    """The session name in a request target or URL (`...?session=NAME`)."""
    return (parse_qs(urlsplit(target).query).get("session") or [None])[0]


def _text(data: str | bytes) -> str:
    return data if isinstance(data, str) else data.decode()


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


# -- the official SDK -------------------------------------------------------------------------


def _tap(ws: ClientConnection, session: Session) -> None:
    """Keep what `ws` sends and receives: the SDK writes and reads through it."""
    send, recv = ws.send, ws.recv

    async def tapped_send(message: Any, *args: Any, **kwargs: Any) -> None:
        session.sent.append(_text(message))
        await send(message, *args, **kwargs)

    async def tapped_recv(*args: Any, **kwargs: Any) -> Any:
        message = await recv(*args, **kwargs)
        session.received.append(_text(message))
        return message

    ws.send, ws.recv = tapped_send, tapped_recv  # type: ignore[method-assign]


async def sdk_session(url: str, session: Session) -> None:
    from openai import AsyncOpenAI

    name = session.name
    client = AsyncOpenAI(api_key="placeholder", websocket_base_url=url.removesuffix("/realtime"))
    async with client.realtime.connect(model="gpt-realtime", extra_query={"session": name},
                                       max_retries=0) as conn:
        _tap(conn._connection, session)  # type: ignore[arg-type]  # the SDK's websockets link
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                           "tools": [WEATHER_TOOL]})  # type: ignore[list-item]
        await conn.conversation.item.create(item=_user(QUESTIONS[0]))  # type: ignore[arg-type]
        await conn.response.create()
        responses, output = 0, None
        while True:
            event = conn.parse_event(await asyncio.wait_for(conn.recv_bytes(), TIMEOUT))
            if event.type == "response.done":
                output = event.response.output
            elif event.type == "rate_limits.updated":
                responses += 1
                if responses == 1:
                    await conn.conversation.item.create(item=_user(QUESTIONS[1]))  # type: ignore[arg-type]
                elif responses == 2:
                    call = output[0] if output else None
                    assert call is not None and call.type == "function_call", output
                    await conn.conversation.item.create(item={
                        "type": "function_call_output", "call_id": call.call_id,
                        "output": json.dumps(TOOL_RESULT)})
                else:
                    break
                await conn.response.create()


# -- rtkit's client ---------------------------------------------------------------------------


class _TapTransport:
    """A `Transport` keeping the frames the live one carries."""

    def __init__(self, session: Session) -> None:
        self.inner = WebSocketTransport()
        self.session = session

    @property
    def is_connected(self) -> bool:
        return self.inner.is_connected

    async def connect(self, request: ConnectRequest) -> None:
        await self.inner.connect(request)

    async def send(self, text: str) -> None:
        self.session.sent.append(text)
        await self.inner.send(text)

    async def recv(self) -> Frame:
        frame = await self.inner.recv()
        if not isinstance(frame, Close):
            self.session.received.append(_text(frame))
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.close(code, reason)


async def rtkit_session(url: str, session: Session) -> None:
    from rtkit import RealtimeClient

    client = RealtimeClient(url=session_url(url, session.name),
                            transport=_TapTransport(session))
    ends: asyncio.Queue[None] = asyncio.Queue()
    client.realtime.on("server.rate_limits.updated", lambda event: ends.put_nowait(None))
    client.update_session(modalities=["text"])
    client.add_tool(WEATHER_TOOL, lambda args: TOOL_RESULT)  # answered by the client itself
    await client.connect()
    try:
        client.send_user_message_content([{"type": "input_text", "text": QUESTIONS[0]}])
        await asyncio.wait_for(ends.get(), TIMEOUT)
        client.send_user_message_content([{"type": "input_text", "text": QUESTIONS[1]}])
        for _ in range(2):  # the function call's response, then the answer's
            await asyncio.wait_for(ends.get(), TIMEOUT)
    finally:
        await client.disconnect()


# -- a bare websockets client -----------------------------------------------------------------


def turn_events(name: str, responses: int, last_done: dict[str, Any] | None) -> list[str]:
    """The events a raw client sends after `responses` responses (the last one's
    `response.done` is `last_done`); [] when the session is over."""
    def event(k: int, kind: str, **fields: Any) -> str:
        return json.dumps({"type": kind, "event_id": f"evt_{name}_{responses}_{k}", **fields})

    if responses == 0:
        return [event(0, "session.update", session={
                    "type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}),
                event(1, "conversation.item.create", item=_user(QUESTIONS[0])),
                event(2, "response.create")]
    if responses == 1:
        return [event(0, "conversation.item.create", item=_user(QUESTIONS[1])),
                event(1, "response.create")]
    if responses == 2:
        assert last_done is not None
        call = last_done["response"]["output"][0]
        assert call["type"] == "function_call", call
        return [event(0, "conversation.item.create", item={
                    "type": "function_call_output", "call_id": call["call_id"],
                    "output": json.dumps(TOOL_RESULT)}),
                event(1, "response.create")]
    return []


async def raw_session(url: str, session: Session, one_write: bool = False,
                      crossing: bool = False) -> None:
    """`crossing`: send the next turn (in one write) on `response.done`, while the response's
    last frame (`rate_limits.updated`) is still on its way: frames cross in both directions."""
    name = session.name
    turn_on = "response.done" if crossing else "rate_limits.updated"
    async with connect(session_url(url, name), subprotocols=["realtime"],  # type: ignore[list-item]
                       max_size=None, compression=None, **loopback_kwargs(url)) as ws:
        responses, done, limits = 0, None, 0
        while True:
            frame = _text(await asyncio.wait_for(ws.recv(), TIMEOUT))
            session.received.append(frame)
            kind = json.loads(frame)["type"]
            if kind == "response.done":
                done = json.loads(frame)
            limits += kind == "rate_limits.updated"
            if limits == 3:  # the last response's last frame: the session is over
                break
            if kind not in ("session.created", turn_on):
                continue
            if kind == turn_on:
                responses += 1
            frames = turn_events(name, responses, done)
            session.sent += frames
            if one_write or crossing:  # every event of the turn in one write, at once
                for text in frames:
                    ws.protocol.send_text(text.encode())
                ws.transport.write(b"".join(ws.protocol.data_to_send()))
            else:
                for text in frames:
                    await ws.send(text)


# -- a node `ws` client -----------------------------------------------------------------------


def node_dir() -> Path | str:
    """Where the node client runs (with the `ws` package installed beside it), or why it
    cannot: node or npm missing, or npm could not install the package (offline)."""
    import pytest

    from tests.test_js_client import _js_dir

    try:
        return _js_dir()  # installs openai-realtime-api (which brings `ws`) into a cache
    except pytest.skip.Exception as exc:
        return f"no node client: {exc}"


async def node_sessions(url: str, names: list[str], mode: str = "each") -> list[Session]:
    """All the sessions in one node process (one JSON line each)."""
    js = node_dir()
    if isinstance(js, str):
        return [Session(name, error=js) for name in names]
    shutil.copy(NODE_SCRIPT, js / NODE_SCRIPT.name)
    proc = await asyncio.create_subprocess_exec(
        "node", str(js / NODE_SCRIPT.name), url, ",".join(names),
        mode, cwd=js, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "SOAK_TIMEOUT_MS": str(
            int(TIMEOUT * 1000))})
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60 + TIMEOUT * len(names))
    results = {r["name"]: r for r in map(json.loads, stdout.decode().splitlines())}
    sessions = []
    for name in names:
        r = results.get(name)
        if r is None:
            sessions.append(Session(name, error=f"node printed nothing for it (exit "
                                                f"{proc.returncode}): {stderr.decode()[-500:]}"))
        else:
            sessions.append(Session(name, r["sent"], r["received"], r.get("error")))
    return sessions


# -- one interface for all ----------------------------------------------------------------------

Runner = Callable[[str, list[str]], Awaitable[list[Session]]]


def _one_by_one(run: Callable[[str, Session], Awaitable[None]]) -> Runner:
    async def sessions(url: str, names: list[str]) -> list[Session]:
        out = []
        for name in names:
            out.append(session := Session(name))
            try:
                await run(url, session)
            except Exception as exc:  # a lost frame shows as a timeout here
                session.error = f"{type(exc).__name__}: {exc}"
        return out
    return sessions


async def _raw_one_write(url: str, session: Session) -> None:
    await raw_session(url, session, one_write=True)


async def _raw_crossing(url: str, session: Session) -> None:
    await raw_session(url, session, crossing=True)


async def _node_one_write(url: str, names: list[str]) -> list[Session]:
    return await node_sessions(url, names, "one-write")


async def _node_crossing(url: str, names: list[str]) -> list[Session]:
    return await node_sessions(url, names, "crossing")


CLIENTS: dict[str, Runner] = {
    "sdk": _one_by_one(sdk_session),
    "rtkit": _one_by_one(rtkit_session),
    "raw": _one_by_one(raw_session),
    "raw-one-write": _one_by_one(_raw_one_write),
    "raw-crossing": _one_by_one(_raw_crossing),
    "node": node_sessions,
    "node-one-write": _node_one_write,
    "node-crossing": _node_crossing,
}
