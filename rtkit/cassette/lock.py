"""One writer per cassette: an exclusive lock held while a cassette is written.

Two processes recording to one path would each write their own temporary file and the last
`os.replace` would silently win, losing the other's episodes (two `rtkit record` runs, or
pytest-xdist workers whose tests share a cassette). So every writer of a cassette (recording,
`rtkit scrub`, `rtkit recover`) first takes this lock, and a second writer fails at once with
`CassetteLockedError` naming the cassette and the holder's pid; nobody waits.

The lock is `flock` on a sidecar file beside the cassette, `.<name>.rtkit-lock`, holding the
holder's pid and the name of its temporary file as JSON. The kernel releases it when the
holder exits, even on SIGKILL; a holder that ends normally removes the file. `flock` locks
belong to an open file, so two writers in one process exclude each other too. Where there is no
`fcntl` (Windows) the lock is `msvcrt.locking` on the same file's first byte, which works the
same way, except that the file stays behind after release (Windows cannot remove an open file).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from types import TracebackType

from rtkit.errors import CassetteLockedError

__all__ = ["CassetteLock", "LockInfo", "lock_path", "probe"]

if sys.platform == "win32":  # pragma: no cover - not run in CI
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    _REMOVE_ON_RELEASE = False
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    _REMOVE_ON_RELEASE = True


def lock_path(cassette: str | os.PathLike[str]) -> Path:
    """The lock file of a cassette: `.<name>.rtkit-lock` beside it."""
    path = Path(cassette)
    return path.with_name(f".{path.name}.rtkit-lock")


class LockInfo:
    """What a lock file says about its holder: `pid` and `tmp` (its temporary file's name)."""

    def __init__(self, pid: int | None, tmp: str | None) -> None:
        self.pid, self.tmp = pid, tmp

    @classmethod
    def read(cls, fd: int) -> LockInfo:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        try:
            obj = json.loads(data)
        except ValueError:  # being written this very moment, or not ours
            return cls(None, None)
        if not isinstance(obj, dict):
            return cls(None, None)
        pid, tmp = obj.get("pid"), obj.get("tmp")
        return cls(pid if type(pid) is int else None, tmp if isinstance(tmp, str) else None)


class CassetteLock:
    """The exclusive lock on writing `cassette`; `acquire` fails at once if it is held.

    Use it as a context manager, or `acquire` / `release`. `note_tmp` records the holder's
    temporary file in the lock file, so `rtkit recover` can tell a live recording from a
    leftover.
    """

    def __init__(self, cassette: str | os.PathLike[str]) -> None:
        self.cassette = Path(cassette)
        self.path = lock_path(self.cassette)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> CassetteLock:
        """Take the lock, or raise `CassetteLockedError` naming the holder."""
        if self._fd is not None:
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if not _try_lock(fd):
                info = LockInfo.read(fd)
                os.close(fd)
                raise CassetteLockedError(_locked_message(self.cassette, info), holder=info.pid)
            if _REMOVE_ON_RELEASE:
                # the previous holder removes the file as it releases: if ours was removed
                # after we opened it, our lock guards nothing; take the new file's
                try:
                    current = os.stat(self.path)
                except FileNotFoundError:
                    os.close(fd)
                    continue
                if not os.path.samestat(current, os.fstat(fd)):
                    os.close(fd)
                    continue
            self._fd = fd
            self._note(None)
            return self

    def note_tmp(self, tmp: str | os.PathLike[str]) -> None:
        """Record the holder's temporary file (its name) in the lock file."""
        self._note(Path(tmp).name)

    def _note(self, tmp: str | None) -> None:
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "tmp": tmp}).encode()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)

    def release(self) -> None:
        """Let the next writer in (and remove the lock file)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _REMOVE_ON_RELEASE:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> CassetteLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def probe(cassette: str | os.PathLike[str]) -> LockInfo | None:
    """Who holds the lock on writing `cassette` (None when nobody does).

    It tries the lock and lets it go at once; a writer starting in that instant fails with
    `CassetteLockedError` as it would for any other holder."""
    path = lock_path(cassette)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        return LockInfo.read(fd)
    finally:
        os.close(fd)


def _locked_message(cassette: Path, info: LockInfo) -> str:
    who = f"pid {info.pid}" if info.pid is not None else "a process whose pid is not known yet"
    if info.pid == os.getpid():
        who += ", this process"
    return (f"{cassette}: another writer ({who}) is recording to this cassette; two writers "
            "would lose one's episodes. Wait for it to finish, or give each writer its own "
            "cassette (under pytest-xdist: one cassette per test, the default names)")
