"""Pacing: when a released server frame is due (instant, recorded gaps, or scaled)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pace"]


@dataclass(frozen=True)
class Pace:
    """`speed` is None for instant replay, else a factor (1.0 = recorded timing)."""

    speed: float | None = None

    @classmethod
    def parse(cls, value: str | float | int | Pace | None) -> Pace:
        """`"instant"`, `"recorded"`, `"4x"`, `"0.5"`, a number, or a Pace."""
        if isinstance(value, Pace):
            return value
        if value is None or value == "instant":
            return cls(None)
        if value == "recorded":
            return cls(1.0)
        text = str(value).strip().lower().removesuffix("x")
        try:
            speed = float(text)
        except ValueError:
            raise ValueError(
                f"pace must be 'instant', 'recorded' or a speed factor like '4x', not {value!r}"
            ) from None
        if speed <= 0:
            raise ValueError(f"pace factor must be positive, not {value!r}")
        return cls(speed)

    def due(self, t: float, anchor_t: float, anchor_real: float) -> float:
        """The real time (s) at which a frame recorded at `t` ms is due, given that the frame
        recorded at `anchor_t` ms was seen at real time `anchor_real` (s)."""
        if self.speed is None:
            return anchor_real
        return anchor_real + max(t - anchor_t, 0.0) / 1000.0 / self.speed

    def __str__(self) -> str:
        if self.speed is None:
            return "instant"
        return "recorded" if self.speed == 1.0 else f"{self.speed:g}x"
