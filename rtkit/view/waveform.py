"""Waveforms drawn from the samples: a min/max envelope per pixel column, read from a spool
file in blocks (numpy), and the SVG path that draws it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["envelope", "envelope_path"]

_BLOCK = 1 << 20  # samples read at once


def envelope(spool: Path, start: int, n_samples: int, columns: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest sample (as floats in [-1, 1]) of each of `columns` equal parts of
    samples `[start, start + n_samples)` of a raw PCM16 spool file. Fewer columns when there
    are fewer samples than columns; memory is one block whatever the length."""
    columns = max(0, min(columns, n_samples))
    lows = np.zeros(columns, dtype=np.float32)
    highs = np.zeros(columns, dtype=np.float32)
    if not columns:
        return lows, highs
    edges = np.linspace(0, n_samples, columns + 1).astype(np.int64)
    with open(spool, "rb") as f:
        col = 0
        while col < columns:
            # as many whole columns as fit in a block (at least one)
            last = int(np.searchsorted(edges, edges[col] + _BLOCK, side="right")) - 1
            last = min(max(last, col + 1), columns)
            f.seek((start + int(edges[col])) * 2)
            count = int(edges[last] - edges[col])
            samples = np.fromfile(f, dtype="<i2", count=count)
            if len(samples) < count:  # a short file: the rest is silence
                samples = np.concatenate([samples, np.zeros(count - len(samples), "<i2")])
            cuts = edges[col:last] - edges[col]
            lows[col:last] = np.minimum.reduceat(samples, cuts) / 32768.0
            highs[col:last] = np.maximum.reduceat(samples, cuts) / 32768.0
            col = last
    return lows, highs


def envelope_path(lows: np.ndarray, highs: np.ndarray, x0: float, width: float, mid: float,
                  half: float) -> str:
    """An SVG path filling the envelope: columns spread over `width` px from `x0`, around the
    line `y = mid`, `half` px for full scale. A column of silence is still a hairline."""
    n = len(lows)
    if not n:
        return ""
    xs = x0 + (np.arange(n) + 0.5) * (width / n)
    top = mid - np.maximum(highs, 0.004) * half
    bottom = mid - np.minimum(lows, -0.004) * half
    points = [f"{x:.1f},{y:.1f}" for x, y in zip(xs, top, strict=True)]
    points += [f"{x:.1f},{y:.1f}" for x, y in zip(xs[::-1], bottom[::-1], strict=True)]
    return "M" + "L".join(points) + "Z"
