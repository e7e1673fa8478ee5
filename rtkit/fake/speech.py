"""What the fake model "says": generated tones, and text split the way the API streams it."""

from __future__ import annotations

import numpy as np

from rtkit.audio import SAMPLE_RATE

__all__ = ["MS_PER_WORD", "at_rate", "pieces", "tone", "words"]

MS_PER_WORD = 300  # spoken length of a reply without audio_ms / audio_wav: ~200 words a minute


def tone(ms: int, freq: float = 220.0, amplitude: int = 6000,
         rate: int = SAMPLE_RATE) -> np.ndarray:
    """A deterministic PCM16 sine tone, mono at `rate` (24 kHz), `ms` long (the fake's voice,
    and test speech that the fake's voice detector hears)."""
    n = rate * ms // 1000
    t = np.arange(n) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2")


def words(text: str) -> list[str]:
    """Split like the API streams text: each word with its leading space."""
    out = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    return [w for w in out if w]


def pieces(text: str, size: int) -> list[str]:
    """`text` in chunks of `size` characters (streamed function call arguments)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def at_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    """24 kHz samples at `rate` (a whole divisor: 8 kHz for G.711), each output sample the mean
    of the input samples it stands for (a crude low-pass; the fake's voice is a tone)."""
    if rate == SAMPLE_RATE:
        return samples
    step = SAMPLE_RATE // rate
    if step * rate != SAMPLE_RATE:
        raise ValueError(f"cannot resample {SAMPLE_RATE} Hz to {rate} Hz")
    whole = len(samples) // step * step
    return samples[:whole].reshape(-1, step).mean(axis=1).astype("<i2")
