"""The fake's server VAD: an energy detector over 20 ms frames."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from rtkit.audio import SAMPLE_RATE

__all__ = ["LOUD_RMS", "EnergyVad"]

LOUD_RMS = 500.0  # a 20 ms frame louder than this (PCM16 RMS) is speech


class EnergyVad:
    """Speech starts on the first loud frame and stops after the session's
    `silence_duration_ms` of quiet frames."""

    def __init__(self) -> None:
        self.speaking = False
        self.silence = 0  # quiet samples since the last loud frame

    def feed(self, samples: np.ndarray, position: int, config: dict[str, Any],
             rate: int = SAMPLE_RATE) -> list[tuple[Literal["started", "stopped"], int]]:
        """Detect in `samples` (at `rate` Hz), which start `position` samples into the input
        audio; return `("started" | "stopped", at_ms)` for each change, in order."""
        needed = rate * int(config.get("silence_duration_ms") or 200) // 1000
        size = rate // 50  # 20 ms frames
        out: list[tuple[Literal["started", "stopped"], int]] = []
        for start in range(0, len(samples), size):
            frame = samples[start : start + size].astype(np.float64)
            loud = bool(len(frame)) and float(np.sqrt(np.mean(frame**2))) > LOUD_RMS
            at_ms = (position + start) * 1000 // rate
            if loud and not self.speaking:
                self.speaking, self.silence = True, 0
                out.append(("started", at_ms))
            elif self.speaking:
                self.silence = 0 if loud else self.silence + len(frame)
                if self.silence >= needed:  # at the end of this frame
                    self.speaking = False
                    out.append(("stopped", (position + start + len(frame)) * 1000 // rate))
        return out
