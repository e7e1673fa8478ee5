"""LineSink: appends text lines to a file, with the write system calls in a background thread
until `flush` writes what is pending in the caller's thread.

Recording a realtime session writes about as many bytes to disk as the client receives (100 ms
of audio is 6.4 KB of base64). Copying them into the page cache is kernel time the recording
proxy would otherwise spend inline, between forwarding one chunk and the next: measured, it
is most of what recording costs the proxy. `os.write` releases the GIL, so a thread lets that
copy overlap with forwarding. A line is given as parts (so a large payload is not copied to
build it); lines are joined into blocks of about 1 MB, and at most a few blocks wait for the
thread (backpressure, so memory stays bounded).
"""

from __future__ import annotations

import os
import queue
import threading

from rtkit.threads import start_thread

__all__ = ["LineSink"]

BLOCK = 1 << 20  # bytes gathered before a block is handed to the thread
MAX_QUEUED = 8  # blocks waiting for the thread at most
_WRITEV = hasattr(os, "writev")  # not on Windows


class LineSink:
    """Append-only line writer on an open file descriptor (owned: `close` closes it)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False
        self._parts: list[bytes | memoryview] = []
        self._size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def write_line(self, *parts: bytes | memoryview) -> None:
        """Append a line made of `parts` (UTF-8, no newline in them) and a newline."""
        size = self._size + 1
        for part in parts:
            size += len(part)
        self._parts.extend(parts)
        self._parts.append(b"\n")
        self._size = size
        if self._size >= BLOCK:
            self._hand_off()

    def _hand_off(self) -> None:
        if not self._parts:
            return
        data = b"".join(self._parts)
        self._parts, self._size = [], 0
        if self._error is not None:
            raise self._error
        if self._queue is None:
            self._queue = queue.Queue(MAX_QUEUED)
            self._thread = start_thread(self._run, "rtkit-cassette-writer")
        self._queue.put(data)

    def _run(self) -> None:
        assert self._queue is not None
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    _write_all(self.fd, data)
                except OSError as exc:  # raised to the caller at its next block or at close
                    self._error = exc

    @property
    def error(self) -> OSError | None:
        """The write error that stopped this sink, if one did (kept: later writes raise it)."""
        return self._error

    @property
    def pending(self) -> int:
        """Bytes given but not handed to the thread or written yet."""
        return self._size

    def flush(self) -> None:
        """Write every line given so far to the file now, in this thread (after what the
        thread still has), so a process killed at any later moment leaves them on disk.
        A write error is kept: this and every later write, and `close`, raise it."""
        if self.closed or (not self._parts and self._queue is None):
            return
        self._drain()
        if self._error is not None:
            raise self._error
        if self._parts:
            parts, total = self._parts, self._size
            self._parts, self._size = [], 0
            try:
                _write_parts(self.fd, parts, total)
            except OSError as exc:
                self._error = exc
                raise

    def _drain(self) -> None:
        """Write everything handed over so far and stop the thread."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue, self._thread = None, None

    def close(self) -> None:
        """Write what is pending, fsync and close the file."""
        if self.closed:
            return
        try:
            self._drain()
            if self._error is not None:
                raise self._error
            if self._parts:
                _write_all(self.fd, b"".join(self._parts))
                self._parts = []
            os.fsync(self.fd)
        finally:
            self.closed = True
            os.close(self.fd)

    def discard(self) -> None:
        """Stop and close without writing what is pending."""
        if self.closed:
            return
        self._parts = []
        self._drain()
        self.closed = True
        os.close(self.fd)


def _write_parts(fd: int, parts: list[bytes | memoryview], total: int) -> None:
    """Write `parts` (`total` bytes) in one system call where possible, without joining them."""
    if len(parts) <= 64 and _WRITEV:
        written = os.writev(fd, parts)
        if written == total:
            return
        _write_all(fd, b"".join(parts)[written:])
    else:
        _write_all(fd, b"".join(parts))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
