"""Starting rtkit's background threads (the plugin's server loop, a fake API run with `with`)
so that they never build a Python AST.

Under pytest, rtkit is a plugin, so pytest rewrites the asserts of every rtkit module as it is
imported, which means parsing its source into an AST (`ast.parse`). CPython up to 3.11.7 and
3.12.1 keeps one AST recursion counter per interpreter (CPython gh-106905, fixed in 3.11.8 and
3.12.2): two threads building ASTs at once corrupt it, and pytest, formatting a failure on the
main thread, then dies with `INTERNALERROR ... SystemError: AST constructor recursion depth
mismatch`, so the rest of the run never happens. A module imported lazily on a background
thread is exactly that. So before a thread of rtkit's starts, every rtkit module such a thread
can run is imported on the calling thread: the thread itself never imports, never parses.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["preload", "report_loop_errors", "start_thread"]

# what no background thread runs: the command line (click) and its commands
_NOT_IN_THREADS = ("rtkit.cli", "rtkit.commands")
_loaded = False
_lock = threading.Lock()


def preload() -> None:
    """Import every rtkit module a background thread may run (once per process), when
    running under pytest (whose import hook parses each module it rewrites)."""
    global _loaded
    if _loaded or "_pytest" not in sys.modules:
        return
    with _lock:
        if _loaded:
            return
        import rtkit

        for module in pkgutil.walk_packages(rtkit.__path__, "rtkit."):
            if not module.name.startswith(_NOT_IN_THREADS):
                importlib.import_module(module.name)
        _loaded = True


def start_thread(target: Callable[[], object], name: str) -> threading.Thread:
    """Start a daemon thread running `target`, after `preload()` on the calling thread."""
    preload()
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def report_loop_errors(loop: asyncio.AbstractEventLoop, report: Callable[[str], None]) -> None:
    """Have `loop` report what asyncio would log with a traceback (an exception in a callback,
    a task's exception nobody retrieved) as one line to `report`."""

    def handle(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message") or "unexpected error in the event loop")
        report(f"{message}: {type(exc).__name__}: {exc}" if exc is not None else message)

    loop.set_exception_handler(handle)
