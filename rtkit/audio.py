"""PCM16 audio helpers: base64 <-> int16, float <-> int16, WAV files, durations, AudioBuffer.

The Realtime API carries audio as base64 of little-endian signed 16-bit mono PCM at 24 kHz
(100 ms = 2,400 samples = 4,800 bytes). Samples are numpy ``int16`` arrays throughout rtkit.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import sys
import wave
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "FAST_BASE64",
    "SAMPLE_RATE",
    "AudioBuffer",
    "base64_sample_count",
    "base64_to_int16",
    "float32_to_int16",
    "int16_to_base64",
    "int16_to_float32",
    "ms_to_samples",
    "read_wav",
    "samples_to_ms",
    "wav_header",
    "write_wav",
]

SAMPLE_RATE = 24000
"""Sample rate of the Realtime API's PCM16 audio, in Hz."""

_LE_INT16 = np.dtype("<i2")
_NATIVE_LE = sys.byteorder == "little"  # int16 storage holds wire bytes as they are

SamplesLike: TypeAlias = "npt.ArrayLike | bytes | bytearray | memoryview"
PathLike: TypeAlias = "str | os.PathLike[str]"


try:  # optional SIMD base64 (about 15x faster than binascii on 100 ms audio chunks)
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - depends on the environment
    _pybase64 = None

FAST_BASE64: bool = _pybase64 is not None
"""Whether the optional ``pybase64`` package is used for base64 (the stdlib otherwise)."""


def _b64decode(b64: str | bytes) -> bytes:
    if _pybase64 is not None:
        try:
            return _pybase64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return _pybase64.b64decode(b64)  # lenient, like the stdlib default
    return binascii.a2b_base64(b64)


def _b64encode(raw: bytes) -> str:
    if _pybase64 is not None:
        return _pybase64.b64encode_as_string(raw)
    return base64.b64encode(raw).decode("ascii")


def base64_to_int16(b64: str | bytes, *, copy: bool = True) -> np.ndarray:
    """Decode base64 PCM16 (little-endian) into an ``int16`` array.

    With ``copy=True`` (default) the array is a new writable one; ``copy=False`` returns a
    read-only array over the decoded bytes (no extra copy). An odd trailing byte is ignored.
    """
    raw = _b64decode(b64)
    arr = np.frombuffer(raw, dtype=_LE_INT16, count=len(raw) // 2)
    return arr.astype(np.int16) if copy else arr


def base64_sample_count(b64: str) -> int:
    """How many samples base64 PCM16 holds, from its length alone (never decoded: exact for
    padded and unpadded base64, an estimate for a damaged string)."""
    n = len(b64)
    pad = 2 if b64.endswith("==") else 1 if b64.endswith("=") else 0
    return (n * 3 // 4 - pad) // 2


def _as_int16(samples: SamplesLike) -> np.ndarray:
    if isinstance(samples, (bytes, bytearray, memoryview)):
        raw = memoryview(samples).cast("B")
        if len(raw) % 2:
            raise ValueError(f"PCM16 bytes must have an even length, got {len(raw)}")
        return np.frombuffer(raw, dtype=_LE_INT16)
    arr = np.asarray(samples)
    if arr.dtype.kind == "f":
        return float32_to_int16(arr)
    if arr.dtype != np.int16 and arr.dtype != _LE_INT16:
        if arr.size and (arr.min() < -32768 or arr.max() > 32767):
            raise ValueError("integer samples out of int16 range")
        arr = arr.astype(np.int16)
    return arr


def int16_to_base64(samples: SamplesLike) -> str:
    """Encode samples as base64 PCM16 (little-endian).

    Only the bytes of exactly the given samples are encoded: a slice or view of a larger
    array never leaks its neighbours (the seed encoded a typed array's whole backing buffer).
    ``bytes``-like input is taken as raw PCM16; float arrays are converted with
    :func:`float32_to_int16`.
    """
    arr = _as_int16(samples)
    return _b64encode(np.ascontiguousarray(arr, dtype=_LE_INT16).tobytes())


def float32_to_int16(x: npt.ArrayLike) -> np.ndarray:
    """Convert float samples in [-1, 1] to ``int16`` like the seed's ``floatTo16BitPCM``.

    Values are clamped to [-1, 1], scaled by 0x8000 (negative) or 0x7FFF (positive), and
    truncated toward zero.
    """
    a = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    scaled = np.where(a < 0, a * 0x8000, a * 0x7FFF)
    return np.trunc(scaled).astype(np.int16)


def int16_to_float32(x: SamplesLike) -> np.ndarray:
    """Convert ``int16`` samples to ``float32`` in [-1, 1) (divides by 32768)."""
    return _as_int16(x).astype(np.float32) / np.float32(32768.0)


def write_wav(path: PathLike, samples: SamplesLike, rate: int = SAMPLE_RATE) -> None:
    """Write mono PCM16 samples to a WAV file."""
    arr = _as_int16(samples)
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(arr, dtype=_LE_INT16).tobytes())


def wav_header(n_samples: int, rate: int = SAMPLE_RATE) -> bytes:
    """The 44-byte header of a mono PCM16 WAV file holding `n_samples` samples (what
    :func:`write_wav` writes before the samples), for writing one in pieces."""
    data = n_samples * 2
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, 1,
                       rate, rate * 2, 2, 16, b"data", data)


def read_wav(path: PathLike) -> tuple[np.ndarray, int]:
    """Read a mono PCM16 WAV file; return ``(samples, rate)``.

    Raises ``ValueError`` naming the file for anything else (stereo, 8/24/32-bit, compressed).
    """
    p = os.fspath(path)
    try:
        with wave.open(p, "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            if channels != 1 or width != 2:
                raise ValueError(
                    f"{p}: expected mono 16-bit PCM WAV, got {channels} channel(s) of "
                    f"{width * 8}-bit samples"
                )
            frames = w.readframes(w.getnframes())
    except wave.Error as exc:
        raise ValueError(f"{p}: not a PCM WAV file ({exc})") from exc
    return np.frombuffer(frames, dtype=_LE_INT16).astype(np.int16), rate


def samples_to_ms(n: int, rate: int = SAMPLE_RATE) -> float:
    """Duration of ``n`` samples in milliseconds."""
    return n * 1000.0 / rate


def ms_to_samples(ms: float, rate: int = SAMPLE_RATE) -> int:
    """Number of samples in ``ms`` milliseconds, rounded down (as the seed's truncation)."""
    return int((ms * rate) // 1000)


class AudioBuffer:
    """A growable ``int16`` buffer with amortised O(1) appends (geometric capacity growth).

    :meth:`view` returns a read-only view of the filled part without copying; a view keeps its
    values after later appends (growth allocates new storage, appends only write past the end
    of earlier views) and after :meth:`truncate`. Capacity grows by ``growth`` (default 2);
    capacity never touched stays virtual memory, so resident memory follows the samples held.
    """

    __slots__ = ("_bytes", "_data", "_growth", "_len", "_ro")

    def __init__(
        self, initial: SamplesLike | None = None, capacity: int = 0, growth: float = 2.0
    ) -> None:
        if growth <= 1:
            raise ValueError("growth must be > 1")
        self._growth = growth
        self._len = 0
        self._set_storage(np.empty(max(int(capacity), 0), dtype=np.int16))
        if initial is not None:
            self.append(initial)

    def _set_storage(self, data: np.ndarray) -> None:
        self._data = data
        self._bytes = memoryview(data).cast("B")  # byte-level writes: cheaper than numpy's
        ro = data[:]
        ro.flags.writeable = False
        self._ro = ro

    def append(self, samples: SamplesLike) -> None:
        """Append samples (int16 array, PCM16 bytes, or floats in [-1, 1])."""
        if type(samples) is np.ndarray and samples.dtype == np.int16 and samples.ndim == 1:
            arr = samples  # fast path: the common case, no checks to run
        else:
            arr = _as_int16(samples).reshape(-1)
        n = arr.shape[0]
        if not n:
            return
        length = self._len
        need = length + n
        data = self._data
        if need > data.shape[0]:
            self._grow(need)
            data = self._data
        data[length:need] = arr
        self._len = need

    def append_base64(self, b64: str | bytes) -> np.ndarray:
        """Decode base64 PCM16 and append it; return the new samples (a read-only view).

        The fast path for streamed audio deltas: one decode, one copy into the buffer (as
        bytes, little-endian on the wire and in memory), and the returned samples are a view of
        the buffer, not another array. An odd trailing byte is ignored.
        """
        raw = _b64decode(b64)
        if not _NATIVE_LE:  # pragma: no cover - big-endian machines
            samples = np.frombuffer(raw, dtype=_LE_INT16, count=len(raw) // 2)
            self.append(samples.astype(np.int16))
            return samples
        n = len(raw) >> 1
        length = self._len
        need = length + n
        if need > self._data.shape[0]:
            self._grow(need)
        self._bytes[length << 1 : need << 1] = raw if not len(raw) & 1 else memoryview(raw)[:-1]
        self._len = need
        return self._ro[length:need]

    def _grow(self, need: int) -> None:
        data = self._data
        cap = max(need, int(self._growth * data.shape[0]), 4096)
        new = np.empty(cap, dtype=np.int16)
        new[: self._len] = data[: self._len]
        self._set_storage(new)

    def view(self) -> np.ndarray:
        """A read-only view of the filled samples (no copy)."""
        return self._ro[: self._len]

    def truncate(self, n_samples: int) -> None:
        """Keep only the first ``n_samples`` samples (no-op if already shorter).

        Views taken before the truncation keep the samples they showed: the kept part moves
        to new storage, so later appends never overwrite them.
        """
        if n_samples < 0:
            raise ValueError("n_samples must be >= 0")
        if n_samples < self._len:
            new = np.empty(max(self._data.shape[0], 1), dtype=np.int16)
            new[:n_samples] = self._data[:n_samples]
            self._set_storage(new)
            self._len = n_samples

    def clear(self) -> None:
        """Drop all samples."""
        self._set_storage(np.empty(0, dtype=np.int16))
        self._len = 0

    @property
    def capacity(self) -> int:
        """Samples the current storage can hold before it grows."""
        return int(self._data.shape[0])

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"AudioBuffer({self._len} samples)"
