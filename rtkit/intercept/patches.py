"""The entry points rtkit wraps, one per client library, and how each call is rewritten.

Each wrapper asks `registry.route` where the call's URL goes; with no interception in force,
or for a host rtkit does not intercept, it calls the library with the arguments it was given.
Redirected, the call gets the new URL (the app's path and query) and loses what only made
sense for the original host: TLS settings, a proxy, a socket or address of its own.

- websockets, asyncio client: `websockets.asyncio.client.connect.__init__` (the openai SDK's
  async client subclasses it; pipecat, openai-agents' `websockets.connect` on 14+ and rtkit's
  own client call it);
- websockets, sync client from 17.1: `websockets.sync.client.reconnect.__init__`
  (`websockets.sync.client.connect` builds one; the openai SDK's sync client subclasses it);
- websockets, sync client before 17.1: the module attribute `websockets.sync.client.connect`
  (a plain function there);
- websockets, legacy client: `websockets.legacy.client.Connect.__init__` (`websockets.connect`
  on 13, `websockets.client.connect`); imported for it on 13 only (14+ warns on its import),
  else wrapped when the app has imported it;
- aiohttp: `aiohttp.ClientSession.ws_connect` (LiveKit's OpenAI plugin);
- websocket-client: `websocket.WebSocket.connect` (`websocket.create_connection`,
  `WebSocketApp`).

Classes are patched in place (their constructor or method), so a reference or subclass taken
before is redirected too. A function can only be replaced in its module: a reference taken
before the replacement calls the library directly (the openai SDK takes one when it first
connects), so the pytest plugin holds `MODULE_PATCHES` for its whole session; the wrapper passes
every call through while nothing intercepts.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rtkit.intercept.registry import route

__all__ = ["MODULE_PATCHES", "PATCHES", "Patch", "Rewrite", "install", "uninstall"]

_lock = threading.RLock()
Call = tuple[tuple[Any, ...], dict[str, Any]]  # positional and keyword arguments
Rewriter = Callable[[tuple[Any, ...], dict[str, Any]], Call]


@dataclass(frozen=True)
class Rewrite:
    """How one entry point's call is redirected: the URL parameter (first positional or by
    name), the options dropped, the options set when the original names them as parameters
    (`set_if_accepted`: websockets' `proxy` exists from 15 on) and those always set."""

    url: str
    drop: tuple[str, ...] = ()
    set_if_accepted: Mapping[str, Any] = field(default_factory=dict)
    always_set: Mapping[str, Any] = field(default_factory=dict)
    skip_when: tuple[str, ...] = ("unix",)  # a Unix socket: the URL's host is not used

    def bind(self, original: Callable[..., Any]) -> Rewriter:
        """The argument rewriter for `original` (its signature says which options it takes)."""
        try:
            accepted = set(inspect.signature(original).parameters)
        except (TypeError, ValueError):  # pragma: no cover - a builtin
            accepted = set()
        extra = {**{k: v for k, v in self.set_if_accepted.items() if k in accepted},
                 **self.always_set}

        def rewrite(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
            url = args[0] if args else kwargs.get(self.url)
            if url is None or any(kwargs.get(k) for k in self.skip_when):
                return args, kwargs
            new = route(str(url))
            if new is None:
                return args, kwargs
            kwargs = {k: v for k, v in kwargs.items() if k not in self.drop}
            if args:
                args = (new, *args[1:])
            else:
                kwargs[self.url] = new
            kwargs.update(extra)
            return args, kwargs

        return rewrite


class Patch:
    """One entry point (`owner.attr`), replaced by a wrapper while held.

    Held by a count (`acquire` / `release`, thread-safe): applied at the first hold, the
    original put back at the last release, unless something replaced the wrapper since (it
    is then left, passing every call through, rather than undo the other patch).
    `owner()` finds the class or module (None: the library is not installed or not loaded).
    """

    def __init__(self, name: str, owner: Callable[[], Any], attr: str, rewrite: Rewrite,
                 *, method: bool = True) -> None:
        self.name = name
        self.owner = owner
        self.attr = attr
        self.rewrite = rewrite
        self.method = method
        self._holds = 0
        self._applied: tuple[Any, Any, Any] | None = None  # owner, original, wrapper

    @property
    def applied(self) -> bool:
        """True while the wrapper is in place."""
        return self._applied is not None

    def acquire(self) -> None:
        """Hold the patch (apply it if this is the first hold)."""
        with _lock:
            self._holds += 1
            if self._applied is None:
                self._apply()

    def release(self) -> None:
        """Let go of one hold (restore the original at the last)."""
        with _lock:
            if self._holds == 0:
                return
            self._holds -= 1
            if self._holds == 0:
                self._restore()

    def _current(self, owner: Any) -> Any:
        if inspect.isclass(owner):
            return vars(owner).get(self.attr)
        return getattr(owner, self.attr, None)

    def _apply(self) -> None:
        owner = self.owner()
        if owner is None:
            return
        original = self._current(owner)
        if original is None:
            return
        wrapper = _wrap(original, self.rewrite.bind(original), self.method)
        setattr(owner, self.attr, wrapper)
        self._applied = (owner, original, wrapper)

    def _restore(self) -> None:
        if self._applied is None:
            return
        owner, original, wrapper = self._applied
        self._applied = None
        if self._current(owner) is wrapper:
            setattr(owner, self.attr, original)


def _wrap(original: Callable[..., Any], rewrite: Callable[..., Any], method: bool
          ) -> Callable[..., Any]:
    if method:
        @functools.wraps(original)
        def wrapped_method(self: Any, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = rewrite(args, kwargs)
            return original(self, *args, **kwargs)

        return wrapped_method

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = rewrite(args, kwargs)
        return original(*args, **kwargs)

    return wrapped


# -- where each entry point lives ------------------------------------------------------------

def _websockets_major() -> int:
    from importlib.metadata import version

    return int(version("websockets").split(".", 1)[0])


def _asyncio_connect() -> Any:
    from websockets.asyncio import client

    return client.connect


def _legacy_connect() -> Any:
    module = sys.modules.get("websockets.legacy.client")
    if module is None and _websockets_major() < 14:  # 13: the default API, imports silently
        module = importlib.import_module("websockets.legacy.client")
    return getattr(module, "Connect", None)


def _sync_reconnect() -> Any:
    from websockets.sync import client

    return getattr(client, "reconnect", None)  # 17.1+: connect() builds one


def _sync_module() -> Any:
    from websockets.sync import client

    return None if hasattr(client, "reconnect") else client  # < 17.1: a plain function


def _installed(module: str, attr: str) -> Any:
    """`module.attr` when the library is installed (imported now if it is not yet)."""
    if module not in sys.modules and importlib.util.find_spec(module) is None:
        return None
    return getattr(importlib.import_module(module), attr, None)


def _websocket_client() -> Any:
    cls = _installed("websocket", "WebSocket")  # websocket-client's package is `websocket`
    return cls if callable(getattr(cls, "connect", None)) else None


_TLS = ("ssl", "server_hostname", "sock", "host", "port")
_NO_PROXY = {"proxy": None}

PATCHES: tuple[Patch, ...] = (
    Patch("websockets.asyncio.client.connect", _asyncio_connect, "__init__",
          Rewrite("uri", _TLS, _NO_PROXY)),
    Patch("websockets.legacy.client.connect", _legacy_connect, "__init__",
          Rewrite("uri", _TLS)),
    Patch("websockets.sync.client.reconnect", _sync_reconnect, "__init__",
          Rewrite("uri", (*_TLS, "address", "proxy_ssl", "proxy_server_hostname"), _NO_PROXY)),
    Patch("websockets.sync.client.connect", _sync_module, "connect",
          Rewrite("uri", (*_TLS, "address", "proxy_ssl", "proxy_server_hostname"), _NO_PROXY),
          method=False),
    Patch("aiohttp.ClientSession.ws_connect", lambda: _installed("aiohttp", "ClientSession"),
          "ws_connect",
          Rewrite("url", ("ssl", "verify_ssl", "fingerprint", "ssl_context", "server_hostname",
                          "proxy", "proxy_auth", "proxy_headers"))),
    Patch("websocket.WebSocket.connect", _websocket_client, "connect",
          Rewrite("url", ("socket", "http_proxy_host", "http_proxy_port", "http_proxy_auth",
                          "proxy_type", "http_proxy_timeout"),
                  always_set={"http_no_proxy": ["127.0.0.1", "localhost", "::1"]})),
)
# replaced in their module, not patched in place: references taken before miss them
MODULE_PATCHES: tuple[Patch, ...] = tuple(p for p in PATCHES if not p.method)


def install(patches: tuple[Patch, ...] = PATCHES) -> None:
    """Hold `patches` (every library's by default)."""
    with _lock:
        for patch in patches:
            patch.acquire()


def uninstall(patches: tuple[Patch, ...] = PATCHES) -> None:
    """Let go of one hold of `patches`; the last release restores the originals."""
    with _lock:
        for patch in patches:
            patch.release()
