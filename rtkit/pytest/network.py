"""Loopback checks and the network allowance for pytest-recording's `--block-network`."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["NetworkAllowance", "is_loopback_host", "is_loopback_url"]

_REAL_CONNECT = socket.socket.connect
_REAL_CONNECT_EX = socket.socket.connect_ex


def is_loopback_host(host: Any) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1), as str or bytes."""
    if isinstance(host, (bytes, bytearray)):
        host = host.decode(errors="replace")
    host = str(host).strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True when `url`'s host is a loopback host (`ws://127.0.0.1:8765/v1/realtime`)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and is_loopback_host(host)


class NetworkAllowance:
    """Lets rtkit's own connections through a socket-level network blocker.

    When something (pytest-recording's `--block-network`) has replaced `socket.socket.connect`,
    this wraps it so that loopback connections to `ports` and every connection made from
    rtkit's IO thread (the recording proxy's upstream) use the real `connect`; everything else
    still goes through the blocker. A no-op when nothing blocks.
    """

    def __init__(self, ports: Iterable[int], io_thread_id: int | None) -> None:
        self.ports = set(ports)
        self.io_thread_id = io_thread_id
        self._saved: tuple[Any, Any] | None = None
        self._wrappers: tuple[Any, Any] | None = None

    def _allowed(self, sock: socket.socket, address: Any) -> bool:
        if self.io_thread_id is not None and threading.get_ident() == self.io_thread_id:
            return True
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            return is_loopback_host(address[0]) and address[1] in self.ports
        return False

    def __enter__(self) -> NetworkAllowance:
        current, current_ex = socket.socket.connect, socket.socket.connect_ex
        if current is _REAL_CONNECT and current_ex is _REAL_CONNECT_EX:
            return self
        allowed = self._allowed

        def connect(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
            if allowed(sock, address):
                return _REAL_CONNECT(sock, address, *args, **kwargs)
            return current(sock, address, *args, **kwargs)

        def connect_ex(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
            if allowed(sock, address):
                return _REAL_CONNECT_EX(sock, address, *args, **kwargs)
            return current_ex(sock, address, *args, **kwargs)

        self._saved = (current, current_ex)
        self._wrappers = (connect, connect_ex)
        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is None or self._wrappers is None:
            return
        if socket.socket.connect is self._wrappers[0]:
            socket.socket.connect = self._saved[0]  # type: ignore[method-assign]
        if socket.socket.connect_ex is self._wrappers[1]:
            socket.socket.connect_ex = self._saved[1]  # type: ignore[method-assign]
        self._saved = self._wrappers = None
