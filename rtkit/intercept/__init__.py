"""Test the app as it is: its Realtime API WebSocket connections, made with any of the client
libraries the ecosystem uses, are redirected to rtkit's replay server or recording proxy, so
the app needs no URL of rtkit's (as vcrpy does for HTTP). See docs/pytest.md#interception.

- `routes`: which URLs are the Realtime API's and the redirected URL (no I/O),
- `registry`: the interceptions in force and where a connection goes,
- `patches`: the wrapped entry points of websockets, aiohttp and websocket-client,
- `interception`: `Interception`, the context manager that puts one in force.

The pytest plugin intercepts in every test marked `rtkit`; `rtkit.use_cassette` does the same
outside pytest.
"""

from __future__ import annotations

from rtkit.intercept.interception import Interception
from rtkit.intercept.routes import REALTIME_HOSTS, HostPattern, is_realtime_url, redirect_url

__all__ = ["REALTIME_HOSTS", "HostPattern", "Interception", "is_realtime_url", "redirect_url"]
