"""Which script a running fake serves: it answers `GET /rtkit/fake` (a plain HTTP request, not
a WebSocket upgrade) with `{"script": PATH}`, the path as it was given (None for a script
given as data), so that a recording made from it can say which script to start again."""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import urlsplit

__all__ = ["INFO_PATH", "fake_script"]

INFO_PATH = "/rtkit/fake"


async def fake_script(url: str, timeout: float = 1.0) -> str | None:
    """The script of the rtkit fake at `url` (a `ws://` URL), or None: not a fake, a script
    given as data, or no answer within `timeout`."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or not parts.hostname or not parts.port:
        return None
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port), timeout)
        writer.write(f"GET {INFO_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     "Connection: close\r\n\r\n".encode("ascii"))
        answer = await asyncio.wait_for(reader.read(1 << 16), timeout)
    except (TimeoutError, OSError, RuntimeError):  # RuntimeError: a network blocker
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None
    try:
        script = json.loads(body).get("script")
    except (ValueError, AttributeError):
        return None
    return script if isinstance(script, str) else None
