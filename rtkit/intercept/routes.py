"""Which WebSocket URLs are the Realtime API's, and where an intercepted one goes (no I/O).

The Realtime API is `api.openai.com` (a path ending in `/realtime`) and Azure OpenAI
(`*.openai.azure.com`, a path under `/openai/` ending in `/realtime`); more hosts can be added
as patterns (`relay.example.com`, `*.example.com`, `relay.example.com:8443`), every path of
which is intercepted. A redirected URL keeps the app's path and query and takes the scheme,
host and port of the server it goes to.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REALTIME_HOSTS", "HostPattern", "is_realtime_url", "parse_hosts", "redirect_url"]

REALTIME_HOSTS = ("api.openai.com", "*.openai.azure.com")
_SCHEMES = frozenset({"ws", "wss", "http", "https"})  # aiohttp's ws_connect takes http(s) too


@dataclass(frozen=True)
class HostPattern:
    """A host pattern (`fnmatch`, any case) and an optional port."""

    host: str
    port: int | None = None

    def matches(self, host: str, port: int | None) -> bool:
        """True when `host` (and `port`, if the pattern names one) match."""
        if self.port is not None and port != self.port:
            return False
        return fnmatch.fnmatchcase(host.lower(), self.host)

    @classmethod
    def parse(cls, entry: str) -> HostPattern:
        """`host`, `*.domain` or `host:port` (a URL is taken for its host and port)."""
        text = str(entry).strip()
        if "://" in text:
            text = urlsplit(text).netloc
        text = text.rsplit("@", 1)[-1].split("/", 1)[0]
        host, port = text, None
        if text.startswith("["):  # [::1]:8080
            host, _, rest = text[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        elif text.count(":") == 1:
            name, _, digits = text.partition(":")
            if not digits.isdigit():
                raise ValueError(f"intercept_hosts: {entry!r}: the port is not a number")
            host, port = name, int(digits)
        if not host:
            raise ValueError(f"intercept_hosts: {entry!r} names no host")
        return cls(host.lower(), port)


def parse_hosts(entries: Iterable[str] | str | None) -> tuple[HostPattern, ...]:
    """`intercept_hosts` as patterns (a single string is one host); a bad entry raises
    `ValueError` naming it."""
    if not entries:
        return ()
    if isinstance(entries, str):
        entries = [entries]
    return tuple(HostPattern.parse(entry) for entry in entries)


def is_realtime_url(url: str, extra: Iterable[HostPattern] = ()) -> bool:
    """True when `url` is a Realtime API WebSocket URL rtkit intercepts: the OpenAI API's or
    Azure OpenAI's realtime endpoint, or any URL on a host of `extra`."""
    try:
        parts = urlsplit(str(url))
        host, port = parts.hostname, parts.port
    except ValueError:  # not a URL rtkit could redirect: leave it to the library to refuse
        return False
    if parts.scheme.lower() not in _SCHEMES or not host:
        return False
    host = host.lower()
    path = parts.path.rstrip("/")
    if host == "api.openai.com":
        return path.endswith("/realtime")
    if fnmatch.fnmatchcase(host, "*.openai.azure.com"):
        return path.startswith("/openai/") and path.endswith("/realtime")
    return any(pattern.matches(host, port) for pattern in extra)


def redirect_url(url: str, target: str) -> str:
    """`url` sent to `target` (`ws://127.0.0.1:PORT/...`): the target's scheme, host and port,
    the app's path and query."""
    parts, to = urlsplit(str(url)), urlsplit(target)
    return urlunsplit((to.scheme, to.netloc, parts.path or "/", parts.query, ""))
