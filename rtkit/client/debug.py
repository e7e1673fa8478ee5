"""`debug=True` output: every event sent and received, visible without configuring logging."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

__all__ = ["debug_line", "debug_log"]

debug_log = logging.getLogger("rtkit.debug")
"""Where debug lines go when the app has configured logging (records at level DEBUG)."""


def debug_line(direction: str, text: str, limit: int = 400) -> None:
    """Show one event for `debug=True`: on stderr, or through the `rtkit.debug` logger
    (level DEBUG) when the app has configured logging."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")[11:23]
    shown = text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"
    line = f"[rtkit {stamp}] {direction}: {shown}"
    if debug_log.hasHandlers():
        if debug_log.level == logging.NOTSET:
            debug_log.setLevel(logging.DEBUG)
        debug_log.debug(line)
    else:
        print(line, file=sys.stderr, flush=True)
