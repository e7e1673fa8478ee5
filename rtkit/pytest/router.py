"""`new_episodes` with a cassette: one front that replays old connections and records new ones."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["EpisodeRouter"]

_FORWARDED_HEADERS = {"authorization", "openai-beta", "api-key", "openai-organization"}


class EpisodeRouter:
    """`new_episodes` with a cassette: replay the recorded connections, record the new ones.

    A WebSocket front on 127.0.0.1 that bridges connection *k* to `replay` (a started replay
    server) while *k* < `recorded`, and to `record` (a started recording proxy) after that,
    forwarding path, query, the dialect header and subprotocols, frames both ways and the close.
    """

    def __init__(self, replay: Any, record: Any, recorded: int) -> None:
        self.replay = replay
        self.record = record
        self.recorded = recorded
        self.connections = 0
        self._server: Any = None
        self.url = ""
        self.ws_base_url = ""

    @property
    def played(self) -> list[Any]:
        """Events the replay server played."""
        return list(getattr(self.replay, "played", None) or [])

    @property
    def unplayed(self) -> list[Any]:
        """Recorded events the replay server did not play."""
        return list(getattr(self.replay, "unplayed", None) or [])

    @property
    def errors(self) -> list[BaseException]:
        """Replay mismatches."""
        return list(getattr(self.replay, "errors", None) or [])

    async def __aenter__(self) -> EpisodeRouter:
        from websockets.asyncio.server import serve

        self._server = await serve(self._bridge, "127.0.0.1", 0, select_subprotocol=_first_offered)
        port = self._server.sockets[0].getsockname()[1]
        self.ws_base_url = f"ws://127.0.0.1:{port}/v1"
        self.url = f"{self.ws_base_url}/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _bridge(self, downstream: Any) -> None:
        from urllib.parse import urlsplit

        from websockets.asyncio.client import connect

        from rtkit.transport.websocket import loopback_kwargs

        index, self.connections = self.connections, self.connections + 1
        target = self.replay if index < self.recorded else self.record
        base = urlsplit(str(target.url))
        path = downstream.request.path if downstream.request else "/v1/realtime"
        url = f"{base.scheme}://{base.netloc}{path}"
        headers = downstream.request.headers if downstream.request else {}
        extra = {k: v for k, v in headers.items() if k.lower() in _FORWARDED_HEADERS}
        offered = [
            p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()
        ]
        async with connect(
            url,
            additional_headers=extra,
            subprotocols=offered or None,  # type: ignore[arg-type]
            max_size=None,
            compression=None,
            **loopback_kwargs(url),
        ) as upstream:
            await _pump_both(downstream, upstream)


def _first_offered(connection: Any, subprotocols: Any) -> Any:
    return subprotocols[0] if subprotocols else None


async def _pump_both(a: Any, b: Any) -> None:
    """Forward frames a -> b and b -> a until either side closes, then close the other."""
    from rtkit.transport.websocket import close_like

    async def pump(src: Any, dst: Any) -> None:
        try:
            async for message in src:
                await dst.send(message)
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                await close_like(dst, src.close_code, src.close_reason or "")

    tasks = [asyncio.ensure_future(pump(a, b)), asyncio.ensure_future(pump(b, a))]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.wait(tasks, timeout=5)
    for task in tasks:
        task.cancel()
