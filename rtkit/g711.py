"""G.711 μ-law and A-law (ITU-T G.711) <-> int16, with numpy lookup tables.

The Realtime API's phone formats (`g711_ulaw` / `g711_alaw` in beta, `audio/pcmu` /
`audio/pcma` in GA; Twilio media streams send μ-law) carry one byte per sample at 8 kHz.
Decoding is a 256-entry table; encoding a 65,536-entry table indexed by the int16 sample, both
built once on first use from the reference algorithm (the Sun/CCITT `g711.c`).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

__all__ = ["G711_RATE", "alaw_to_int16", "int16_to_alaw", "int16_to_ulaw", "ulaw_to_int16"]

G711_RATE = 8000
"""Sample rate of G.711 audio, in Hz (one byte per sample)."""

_SEG_ENDS_ULAW = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_SEG_ENDS_ALAW = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


@functools.cache
def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = ((((u & 0x0F) << 3) + 0x84) << exponent) - 0x84
    table = np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)
    table.flags.writeable = False
    return table


@functools.cache
def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(segment == 0, t + 8, t + 0x108)
    t = np.where(segment > 1, t << np.maximum(segment - 1, 0), t)
    table = np.where(a & 0x80, t, -t).astype(np.int16)
    table.flags.writeable = False
    return table


def _all_int16() -> np.ndarray:
    """Every int16 value, ordered by its bit pattern (the encode tables' index)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


@functools.cache
def _ulaw_encode_table() -> np.ndarray:
    pcm = _all_int16() >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + 0x21
    segment = np.searchsorted(_SEG_ENDS_ULAW, magnitude)  # first end >= magnitude
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    table = (code ^ mask).astype(np.uint8)
    table.flags.writeable = False
    return table


@functools.cache
def _alaw_encode_table() -> np.ndarray:
    pcm = _all_int16() >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_SEG_ENDS_ALAW, magnitude)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    table = (code ^ mask).astype(np.uint8)
    table.flags.writeable = False
    return table


def _codes(data: bytes | bytearray | memoryview | npt.ArrayLike) -> np.ndarray:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8)


def _pattern(samples: np.ndarray) -> np.ndarray:
    """int16 samples as their bit patterns (the encode tables' index)."""
    return np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)


def ulaw_to_int16(data: bytes | bytearray | memoryview | npt.ArrayLike) -> np.ndarray:
    """Decode μ-law bytes (one per sample) to int16 samples (a new array)."""
    return _ulaw_decode_table()[_codes(data)]


def alaw_to_int16(data: bytes | bytearray | memoryview | npt.ArrayLike) -> np.ndarray:
    """Decode A-law bytes (one per sample) to int16 samples (a new array)."""
    return _alaw_decode_table()[_codes(data)]


def int16_to_ulaw(samples: np.ndarray) -> bytes:
    """Encode int16 samples as μ-law bytes (one per sample)."""
    return _ulaw_encode_table()[_pattern(samples)].tobytes()


def int16_to_alaw(samples: np.ndarray) -> bytes:
    """Encode int16 samples as A-law bytes (one per sample)."""
    return _alaw_encode_table()[_pattern(samples)].tobytes()
