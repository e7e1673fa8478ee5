"""`Interception`: while it is in force, the process's Realtime API WebSocket connections go to
one server (a replay server, a recording proxy) instead of the API."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from rtkit.intercept import patches, registry
from rtkit.intercept.routes import HostPattern, is_realtime_url, parse_hosts, redirect_url

__all__ = ["Interception"]


class Interception:
    """While entered, a WebSocket connection from this process to the Realtime API goes to
    `target` instead, with the path, query and headers the app gave it.

    ```python
    with Interception(server.url):
        app.main()   # AsyncOpenAI().realtime.connect(...) reaches `server`
    ```

    `target` is a URL (`ws://127.0.0.1:PORT/...`: its scheme, host and port are used) or a
    function returning one, called at the first intercepted connection (it may raise to refuse
    connections: the app's connect call raises that error). `hosts` adds host patterns to the
    Realtime API's (`api.openai.com`, `*.openai.azure.com`): see `rtkit.intercept.routes`.
    Connections made on `exempt_threads` are left alone (rtkit's own servers' thread).
    Interceptions nest (the innermost wins) and may be entered from any thread; it is a plain
    context manager, for sync and async code alike. `connections` lists `(original URL,
    redirected URL)` for each connection it took.
    """

    def __init__(self, target: str | Callable[[], str], *,
                 hosts: Iterable[str | HostPattern] | str | None = None,
                 exempt_threads: Iterable[int | None] = ()) -> None:
        self.target = target
        if isinstance(hosts, str):
            hosts = [hosts]
        self.hosts: tuple[HostPattern, ...] = tuple(
            h if isinstance(h, HostPattern) else parse_hosts([h])[0] for h in hosts or ())
        self.exempt_threads = frozenset(t for t in exempt_threads if t is not None)
        self.connections: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._entered = False

    def redirect(self, url: str) -> str | None:
        """Where a connection to `url` goes (None: not the Realtime API, left alone)."""
        if not is_realtime_url(url, self.hosts):
            return None
        target = self.target() if callable(self.target) else self.target
        new = redirect_url(url, target)
        with self._lock:
            self.connections.append((url, new))
        return new

    def __enter__(self) -> Interception:
        if self._entered:
            raise RuntimeError("this Interception is already in force")
        patches.install()
        self._entered = True
        registry.push(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._entered:
            return
        self._entered = False
        registry.pop(self)
        patches.uninstall()
