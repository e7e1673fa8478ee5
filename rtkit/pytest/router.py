"""`new_episodes` with a cassette: one front that replays old connections and records new ones."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
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
        self._sides: set[Any] = set()
        self._tasks: set[asyncio.Task[None]] = set()
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
        from rtkit.server.relay import Side

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Side("client", on_connect=self._accepted), "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.ws_base_url = f"ws://127.0.0.1:{port}/v1"
        self.url = f"{self.ws_base_url}/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for side in list(self._sides):
            side.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    def _accepted(self, side: Any) -> None:
        task = asyncio.ensure_future(self._bridge(side))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bridge(self, down: Any) -> None:
        """Take the client's handshake, open the same one on the target, then relay bytes:
        both ends are rtkit's own loopback servers, which negotiate no extension, so frames
        are valid on both links unchanged (as in the recording proxy)."""
        from urllib.parse import urlsplit

        from websockets.server import ServerProtocol

        from rtkit.server.relay import Relay
        from rtkit.server.upstream import MAX_HEAD, Refused, open_upstream

        self._sides.add(down)
        up = None
        try:
            head = await asyncio.wait_for(down.read_until(b"\r\n\r\n", MAX_HEAD), 10)
            chosen: list[str | None] = [None]
            server = ServerProtocol(max_size=None, select_subprotocol=lambda _p, offered:
                                    chosen[0] if chosen[0] in offered else None)  # type: ignore[arg-type,return-value]
            server.receive_data(head or b"")
            events = server.events_received()
            request = events[0] if events else None
            check = server.accept(request) if request is not None else None  # type: ignore[arg-type]
            if check is None or check.status_code != 101:
                if check is not None:
                    server.send_response(check)
                    down.write(b"".join(server.data_to_send()))
                down.close()
                return
            index, self.connections = self.connections, self.connections + 1
            target = self.replay if index < self.recorded else self.record
            base = urlsplit(str(target.url))
            headers = {k: v for k, v in request.headers.raw_items()  # type: ignore[union-attr]
                       if k.lower() in _FORWARDED_HEADERS}
            offered = [p.strip() for v in request.headers.get_all("Sec-WebSocket-Protocol")  # type: ignore[union-attr]
                       for p in v.split(",") if p.strip()]
            try:
                up, chosen[0] = await open_upstream(
                    f"{base.scheme}://{base.netloc}{request.path}", headers, offered)  # type: ignore[union-attr]
            except Refused as exc:
                try:
                    status = HTTPStatus(exc.status)
                except ValueError:
                    status = HTTPStatus.BAD_GATEWAY
                server.send_response(server.reject(status, exc.body or str(exc)))
                down.write(b"".join(server.data_to_send()))
                down.close()
                return
            self._sides.add(up)
            server.send_response(server.accept(request))  # type: ignore[arg-type]
            down.write(b"".join(server.data_to_send()))
            relay = Relay(down, up, lambda direction, data: None, lambda direction, exc: None)
            relay.start()
            await relay.done
        except (TimeoutError, OSError):
            down.abort()
        finally:
            self._sides.discard(down)
            self._sides.discard(up)
