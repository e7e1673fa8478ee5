"""Seeded ids in the live API's shape: `event_`, `item_`, `resp_`, `sess_`, `conv_` + 21
characters, `call_` + 16, and the `obfuscation` padding GA puts on delta events."""

from __future__ import annotations

import random
import string

__all__ = ["IdSource"]

_ALPHABET = string.ascii_letters + string.digits


class IdSource:
    """Ids drawn from one seeded generator: the same seed and the same traffic give the same
    ids, so re-recording a fake session gives the same cassette."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)

    def make(self, prefix: str, length: int = 21) -> str:
        """`prefix` followed by `length` random letters and digits (e.g. `item_` + 21)."""
        return prefix + "".join(self._rng.choice(_ALPHABET) for _ in range(length))

    def call_id(self) -> str:
        """A function call id, `call_` + 16 characters."""
        return self.make("call_", 16)

    def obfuscation(self) -> str:
        """The random padding string the live API adds to GA delta events."""
        return "".join(self._rng.choice(_ALPHABET) for _ in range(self._rng.randint(4, 14)))
