"""Audio helpers: base64 <-> int16, float <-> int16, G.711, WAV files, durations, AudioBuffer.

The Realtime API carries audio as base64 of little-endian signed 16-bit mono PCM at 24 kHz
(100 ms = 2,400 samples = 4,800 bytes), or in a phone session as G.711 μ-law / A-law at 8 kHz
(one byte a sample; :class:`AudioFormat`, :func:`audio_format`). Samples are numpy ``int16``
arrays throughout rtkit; every function that takes samples accepts ``int16`` arrays as they
are, float arrays in [-1, 1] (scaled and clipped, as the seed's ``floatTo16BitPCM``) and
PCM16 bytes, and raises ``TypeError`` naming the dtype for anything else.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import sys
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from rtkit.g711 import G711_RATE, alaw_to_int16, int16_to_alaw, int16_to_ulaw, ulaw_to_int16

__all__ = [
    "FAST_BASE64",
    "G711_ALAW",
    "G711_RATE",
    "G711_ULAW",
    "PCM16",
    "SAMPLE_RATE",
    "AudioBuffer",
    "AudioFormat",
    "SessionFormats",
    "alaw_to_int16",
    "audio_format",
    "base64_sample_count",
    "base64_to_int16",
    "decode_base64",
    "encode_base64",
    "float32_to_int16",
    "int16_to_alaw",
    "int16_to_base64",
    "int16_to_float32",
    "int16_to_ulaw",
    "merge_int16_arrays",
    "ms_to_samples",
    "read_wav",
    "samples_to_ms",
    "to_int16",
    "ulaw_to_int16",
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


def decode_base64(b64: str | bytes) -> bytes:
    """The bytes of base64 text (lenient like the stdlib: characters outside the alphabet are
    skipped); raises ``ValueError`` (``binascii.Error``) when it cannot be decoded."""
    return _b64decode(b64)


def encode_base64(raw: bytes | bytearray | memoryview) -> str:
    """Base64 text of raw bytes (wire audio in any format)."""
    return _b64encode(bytes(raw))


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


def to_int16(samples: SamplesLike) -> np.ndarray:
    """``samples`` as ``int16``: an int16 array as it is, floats in [-1, 1] converted with
    :func:`float32_to_int16`, bytes-like as little-endian PCM16, a list of ints checked for
    range. A one-channel ``(frames, 1)`` array (sounddevice's shape) is flattened.

    Raises ``TypeError`` naming the dtype for any other array (``int32``, ``uint8``, ``bool``:
    convert it yourself, rtkit cannot know its scale), ``ValueError`` for more than one
    channel, odd-length bytes or ints outside the int16 range.
    """
    if isinstance(samples, (bytes, bytearray, memoryview)):
        raw = memoryview(samples).cast("B")
        if len(raw) % 2:
            raise ValueError(f"PCM16 bytes must have an even length, got {len(raw)}")
        return np.frombuffer(raw, dtype=_LE_INT16)
    given_array = isinstance(samples, np.ndarray)
    arr = np.asarray(samples)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim > 1:
        raise ValueError(f"expected mono audio, got an array of shape {arr.shape} "
                         "(mix or pick one channel first)")
    if arr.dtype.kind == "f":
        return float32_to_int16(arr)
    if arr.dtype.kind == "i" and arr.dtype.itemsize == 2:
        return arr  # int16 in either byte order
    if given_array or arr.dtype.kind not in "iu":
        raise TypeError(
            f"audio samples must be int16, or float in [-1, 1], or PCM16 bytes; got "
            f"{'an array' if given_array else 'values'} of dtype {arr.dtype} (convert it "
            "first, e.g. float32_to_int16(x / 2**31) for int32 PCM)")
    if arr.size and (arr.min() < -32768 or arr.max() > 32767):
        raise ValueError("integer samples out of int16 range")
    return arr.astype(np.int16)



def merge_int16_arrays(left: SamplesLike, right: SamplesLike) -> np.ndarray:
    """A new ``int16`` array: ``left`` then ``right`` (the seed's ``mergeInt16Arrays``)."""
    return np.concatenate([to_int16(left).astype(np.int16), to_int16(right).astype(np.int16)])


def int16_to_base64(samples: SamplesLike) -> str:
    """Encode samples as base64 PCM16 (little-endian).

    Only the bytes of exactly the given samples are encoded: a slice or view of a larger
    array never leaks its neighbours (the seed encoded a typed array's whole backing buffer).
    ``bytes``-like input is taken as raw PCM16; float arrays are converted with
    :func:`float32_to_int16`.
    """
    arr = to_int16(samples)
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
    return to_int16(x).astype(np.float32) / np.float32(32768.0)


def write_wav(path: PathLike, samples: SamplesLike, rate: int = SAMPLE_RATE) -> None:
    """Write mono PCM16 samples to a WAV file."""
    arr = to_int16(samples)
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
            arr = to_int16(samples).reshape(-1)
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
        return self.append_pcm16(_b64decode(b64))

    def append_pcm16(self, raw: bytes | bytearray | memoryview) -> np.ndarray:
        """Append little-endian PCM16 bytes; return the new samples (a read-only view). An odd
        trailing byte is ignored."""
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


@dataclass(frozen=True)
class AudioFormat:
    """One of the Realtime API's audio formats: its beta ``name`` (``pcm16``, ``g711_ulaw``,
    ``g711_alaw``), sample ``rate`` and bytes a sample on the wire.

    :meth:`decode` / :meth:`encode` convert between wire bytes and ``int16`` samples at the
    format's own rate (rtkit never resamples: G.711 samples are 8 kHz samples).
    """

    name: str
    rate: int
    sample_width: int

    @property
    def ga(self) -> dict[str, Any]:
        """The GA format object (``{"type": "audio/pcm", "rate": 24000}``, ...)."""
        if self.name == "pcm16":
            return {"type": "audio/pcm", "rate": self.rate}
        return {"type": "audio/pcmu" if self.name == "g711_ulaw" else "audio/pcma"}

    def decode(self, raw: bytes | bytearray | memoryview) -> np.ndarray:
        """Wire bytes as ``int16`` samples (a new array; PCM16 ignores an odd last byte)."""
        if self.name == "g711_ulaw":
            return ulaw_to_int16(raw)
        if self.name == "g711_alaw":
            return alaw_to_int16(raw)
        return np.frombuffer(raw, dtype=_LE_INT16, count=len(raw) // 2).astype(np.int16)

    def encode(self, samples: SamplesLike) -> bytes:
        """Samples (anything :func:`to_int16` takes) as wire bytes; ``bytes`` are taken as
        PCM16 samples like everywhere in rtkit."""
        arr = to_int16(samples)
        if self.name == "g711_ulaw":
            return int16_to_ulaw(arr)
        if self.name == "g711_alaw":
            return int16_to_alaw(arr)
        return np.ascontiguousarray(arr, dtype=_LE_INT16).tobytes()

    def decode_base64(self, b64: str | bytes) -> np.ndarray:
        """Base64 wire audio as ``int16`` samples; ``ValueError`` when it is not base64."""
        return self.decode(_b64decode(b64))

    def encode_base64(self, samples: SamplesLike) -> str:
        """Samples as base64 wire audio."""
        return _b64encode(self.encode(samples))

    def base64_sample_count(self, b64: str) -> int:
        """How many samples base64 wire audio holds, from its length alone (never decoded:
        :func:`base64_sample_count` for PCM16, one byte a sample for G.711)."""
        n = len(b64)
        pad = 2 if b64.endswith("==") else 1 if b64.endswith("=") else 0
        return (n * 3 // 4 - pad) // self.sample_width

    def samples_to_ms(self, n: int) -> int:
        """Whole milliseconds in ``n`` samples, rounded down (``audio_end_ms``)."""
        return int(n * 1000 // self.rate)

    def ms_to_samples(self, ms: float) -> int:
        """Samples in ``ms`` milliseconds, rounded down."""
        return int((ms * self.rate) // 1000)


PCM16 = AudioFormat("pcm16", SAMPLE_RATE, 2)
"""PCM16, 24 kHz mono little-endian: the default (GA ``{"type": "audio/pcm", "rate": 24000}``)."""
G711_ULAW = AudioFormat("g711_ulaw", G711_RATE, 1)
"""G.711 μ-law at 8 kHz (GA ``{"type": "audio/pcmu"}``): Twilio media streams, US phones."""
G711_ALAW = AudioFormat("g711_alaw", G711_RATE, 1)
"""G.711 A-law at 8 kHz (GA ``{"type": "audio/pcma"}``): European phone networks."""

_FORMATS = {f.name: f for f in (PCM16, G711_ULAW, G711_ALAW)}
_GA_TYPES = {"audio/pcm": PCM16, "audio/pcmu": G711_ULAW, "audio/pcma": G711_ALAW}


def audio_format(value: str | Mapping[str, Any] | AudioFormat | None) -> AudioFormat:
    """The :class:`AudioFormat` a session or response names: a beta name (``"g711_ulaw"``),
    a GA object (``{"type": "audio/pcmu"}``), an ``AudioFormat``, or None (PCM16).

    Raises ``ValueError`` naming the value for anything else (the API's PCM is 24 kHz only).
    """
    if value is None:
        return PCM16
    if isinstance(value, AudioFormat):
        return value
    if isinstance(value, str) and value in _FORMATS:
        return _FORMATS[value]
    if isinstance(value, Mapping) and value.get("type") in _GA_TYPES:
        found = _GA_TYPES[str(value["type"])]
        rate = value.get("rate")
        if rate is None or rate == found.rate:
            return found
    raise ValueError(f"unknown audio format {value!r}; expected one of "
                     f"{', '.join(_FORMATS)} or a GA format object "
                     "({'type': 'audio/pcm', 'rate': 24000}, {'type': 'audio/pcmu'}, "
                     "{'type': 'audio/pcma'})")


_CLIENT_SESSION_EVENTS = frozenset({"session.update", "transcription_session.update"})
_SERVER_SESSION_EVENTS = frozenset({"session.created", "session.updated",
                                    "transcription_session.created",
                                    "transcription_session.updated"})


class SessionFormats:
    """The input and output audio formats of a session, followed through its events in order
    (sans-I/O), for reading a recording as rtkit's client saw it.

    A client ``session.update`` sets the formats it names at once (the client encodes and
    decodes audio by its own config); the server's ``session.created`` / ``session.updated``
    (GA ``audio.<direction>.format`` or beta ``<direction>_audio_format``) counts once the
    server has answered every ``session.update`` sent before it (an ``error`` naming the
    update's ``event_id`` answers it too). A session that names no format keeps the current
    one; a format rtkit does not know counts as PCM16, as the client does.
    """

    __slots__ = ("_pending", "input", "output")

    EVENTS: frozenset[str] = _CLIENT_SESSION_EVENTS | _SERVER_SESSION_EVENTS | {"error"}
    """The event types it follows (any other leaves the formats as they are)."""

    def __init__(self, input: AudioFormat = PCM16, output: AudioFormat = PCM16) -> None:
        self.input: AudioFormat = input
        """The format of the audio the client sends."""
        self.output: AudioFormat = output
        """The format of the audio the server sends."""
        self._pending: list[Any] = []  # event ids of session updates not answered yet

    def client_event(self, event: Mapping[str, Any]) -> bool:
        """Follow one client event (any JSON object); returns whether a format changed."""
        kind = event.get("type")
        if kind.__class__ is not str or kind not in _CLIENT_SESSION_EVENTS:
            return False
        self._pending.append(event.get("event_id"))
        return self._apply(event.get("session"))

    def server_event(self, event: Mapping[str, Any]) -> bool:
        """Follow one server event (any JSON object); returns whether a format changed."""
        kind = event.get("type")
        if kind.__class__ is not str:
            return False
        if kind == "error":
            error = event.get("error")
            answered = error.get("event_id") if isinstance(error, Mapping) else None
            if answered is not None and answered in self._pending:
                self._pending.remove(answered)
            return False
        if kind not in _SERVER_SESSION_EVENTS:
            return False
        if self._pending and not kind.endswith(".created"):
            self._pending.pop(0)
        return False if self._pending else self._apply(event.get("session"))

    def _apply(self, session: Any) -> bool:
        if not isinstance(session, Mapping):
            return False
        from rtkit.protocol.session import audio_format_of  # rtkit.protocol imports this module

        found = []
        for direction in ("input", "output"):
            value = audio_format_of(session, direction)
            if value is None:
                found.append(getattr(self, direction))
                continue
            try:
                found.append(audio_format(value))
            except (ValueError, TypeError):  # a format rtkit does not know
                found.append(PCM16)
        changed = (self.input, self.output) != tuple(found)
        self.input, self.output = found
        return changed
