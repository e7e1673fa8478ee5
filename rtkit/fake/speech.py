"""What the fake model "says": generated tones, and text split the way the API streams it."""

from __future__ import annotations

import numpy as np

from rtkit.audio import SAMPLE_RATE

__all__ = ["MS_PER_WORD", "pieces", "tone", "words"]

MS_PER_WORD = 300  # spoken length of a reply without audio_ms / audio_wav: ~200 words a minute


def tone(ms: int, freq: float = 220.0, amplitude: int = 6000) -> np.ndarray:
    """A deterministic PCM16 sine tone, 24 kHz mono, `ms` long (the fake's voice, and test
    speech that the fake's voice detector hears)."""
    n = SAMPLE_RATE * ms // 1000
    t = np.arange(n) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2")


def words(text: str) -> list[str]:
    """Split like the API streams text: each word with its leading space."""
    out = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    return [w for w in out if w]


def pieces(text: str, size: int) -> list[str]:
    """`text` in chunks of `size` characters (streamed function call arguments)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
