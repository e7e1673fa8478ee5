"""The interceptions in force in this process, and where a new connection goes.

One process-wide stack, not a thread- or context-local one: synchronous clients connect from
threads of their own, and an asyncio app's tasks do not inherit a context set in a fixture.
The innermost interception whose hosts match a URL takes the connection; a connection made on
an exempt thread (rtkit's own servers') is never redirected.
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = ["Router", "active", "pop", "push", "route"]


class Router(Protocol):
    """What the stack holds: something that redirects a URL, or declines (None)."""

    exempt_threads: frozenset[int]

    def redirect(self, url: str) -> str | None:
        """The URL to connect to instead of `url`, or None to leave it alone."""
        ...


_lock = threading.Lock()
_stack: tuple[Router, ...] = ()  # replaced whole under the lock: readers need no lock


def push(router: Router) -> None:
    """Make `router` the innermost interception."""
    global _stack
    with _lock:
        _stack = (*_stack, router)


def pop(router: Router) -> None:
    """Remove `router` (wherever it is: interceptions may end in any order across threads)."""
    global _stack
    with _lock:
        _stack = tuple(r for r in _stack if r is not router)


def active() -> tuple[Router, ...]:
    """The interceptions in force, outermost first."""
    return _stack


def route(url: str) -> str | None:
    """Where a connection to `url` made now, on this thread, goes: a URL, or None (as asked).

    A router may raise to refuse the connection (e.g. its cassette is missing): the error
    reaches the app as its connect call's."""
    stack = _stack
    if not stack:
        return None
    ident = threading.get_ident()
    if any(ident in router.exempt_threads for router in stack):
        return None
    for router in reversed(stack):
        new = router.redirect(url)
        if new is not None:
            return new
    return None
