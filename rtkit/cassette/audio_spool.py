"""AudioSpool: an `AudioSink` that keeps each item's samples in a file of its own.

`read_summaries(path, audio=spool)` hands it the audio of a cassette as it reads it (output
audio delta by delta, an input item's audio whole, truncations); the samples go to raw PCM16
files in a directory, so memory does not grow with the audio, and each file's sample rate is
kept (`rate`: 8 kHz for G.711 audio, decoded). `rtkit audio` and `rtkit view` turn the
spooled files into WAV files (`copy_wav`) or read them back in blocks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rtkit.audio import SAMPLE_RATE, wav_header

__all__ = ["AudioSpool", "copy_wav", "pcm_blocks"]

_OPEN_FILES = 16  # spool files kept open at once
_COPY = 1 << 20  # bytes per read when copying


class AudioSpool:
    """An `AudioSink` writing raw PCM16 (little-endian) per `(conn, key)` into `directory`.

    `key` is an item id for what `read_summaries` gives; other keys (any string) may be used
    with `append` and `replace`. `limits` holds truncations (in samples), `samples(conn, key)`
    how many samples were written, `rate(conn, key)` at what rate.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.limits: dict[tuple[int, str], int] = {}
        self.rates: dict[tuple[int, str], int] = {}
        self._open: OrderedDict[tuple[int, str], BinaryIO] = OrderedDict()
        self._names: dict[tuple[int, str], Path] = {}
        self._sizes: dict[tuple[int, str], int] = {}
        self._made = 0  # files named so far

    def path(self, conn: int, key: str) -> Path | None:
        """The spool file of `(conn, key)` (None when nothing was written for it)."""
        return self._names.get((conn, key))

    def rate(self, conn: int, key: str) -> int:
        """The sample rate of `(conn, key)`'s samples (24000 unless written at another)."""
        return self.rates.get((conn, key), SAMPLE_RATE)

    def samples(self, conn: int, key: str) -> int:
        """How many samples were written for `(conn, key)` (before any truncation)."""
        return self._sizes.get((conn, key), 0)

    def heard(self, conn: int, key: str) -> int:
        """Samples written for `(conn, key)`, cut at its truncation if any."""
        n = self.samples(conn, key)
        limit = self.limits.get((conn, key))
        return n if limit is None else min(n, limit)

    def _file(self, key: tuple[int, str], mode: str) -> BinaryIO:
        f = self._open.pop(key, None)
        if f is not None and mode == "wb":
            f.close()
            f = None
        if f is None:
            name = self._names.get(key)
            if name is None:
                name = self._names[key] = self.dir / f"{self._made}.pcm"
                self._made += 1
            f = open(name, mode)  # noqa: SIM115 - closed when evicted or at close()
            if len(self._open) >= _OPEN_FILES:
                self._open.popitem(last=False)[1].close()
        self._open[key] = f
        return f

    def append(self, conn: int, key: str, samples: np.ndarray, rate: int = SAMPLE_RATE
               ) -> None:
        """Append samples (at `rate` Hz) to `(conn, key)`."""
        self._file((conn, key), "ab").write(samples.astype("<i2", copy=False).tobytes())
        self._sizes[conn, key] = self._sizes.get((conn, key), 0) + len(samples)
        self.rates[conn, key] = rate

    def replace(self, conn: int, key: str, samples: np.ndarray, rate: int = SAMPLE_RATE
                ) -> None:
        """Make `samples` (at `rate` Hz) the whole audio of `(conn, key)`."""
        self._file((conn, key), "wb").write(samples.astype("<i2", copy=False).tobytes())
        self._sizes[conn, key] = len(samples)
        self.rates[conn, key] = rate

    # -- AudioSink ----------------------------------------------------------------------------

    def output(self, conn: int, item_id: str, samples: np.ndarray, rate: int) -> None:
        """More output audio of an item (appended)."""
        self.append(conn, item_id, samples, rate)

    def truncate(self, conn: int, item_id: str, n_samples: int) -> None:
        """An item's output audio ends after `n_samples`."""
        key = (conn, item_id)
        self.limits[key] = min(self.limits.get(key, n_samples), n_samples)

    def input(self, conn: int, item_id: str, samples: np.ndarray, rate: int) -> None:
        """The whole input audio of an item."""
        self.replace(conn, item_id, samples, rate)

    def discard(self, conn: int) -> None:
        """Delete the spooled audio of episode `conn` (it was written out)."""
        for key in [k for k in self._names if k[0] == conn]:
            f = self._open.pop(key, None)
            if f is not None:
                f.close()
            self._names.pop(key).unlink(missing_ok=True)
            self._sizes.pop(key, None)
            self.limits.pop(key, None)
            self.rates.pop(key, None)

    def flush(self) -> None:
        """Write what is buffered, so the files can be read (they stay usable)."""
        for f in self._open.values():
            f.flush()

    def close(self) -> None:
        """Close the open files (the spooled files stay)."""
        for f in self._open.values():
            f.close()
        self._open.clear()


def pcm_blocks(spool: Path, start: int = 0, n_samples: int | None = None,
               block: int = _COPY) -> Iterator[bytes]:
    """The raw PCM16 bytes of samples `[start, start + n_samples)` of a spool file, in blocks
    of at most `block` bytes (an even number)."""
    remaining = None if n_samples is None else n_samples * 2
    block -= block % 2
    with open(spool, "rb") as src:
        src.seek(start * 2)
        while remaining is None or remaining > 0:
            data = src.read(block if remaining is None else min(block, remaining))
            data = data[: len(data) // 2 * 2]
            if not data:
                return
            if remaining is not None:
                remaining -= len(data)
            yield data


def copy_wav(path: Path, spool: Path, n_samples: int | None, rate: int = SAMPLE_RATE) -> int:
    """Write the spooled samples (at most `n_samples`) as a WAV file; returns how many."""
    available = spool.stat().st_size // 2
    n = available if n_samples is None else min(n_samples, available)
    with open(path, "wb") as out:
        out.write(wav_header(n, rate))
        for data in pcm_blocks(spool, 0, n):
            out.write(data)
    return n
