"""Client-side ids in the seed's style: a prefix plus base58 characters, 21 in all."""

from __future__ import annotations

import secrets

__all__ = ["generate_id"]

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def generate_id(prefix: str, length: int = 21) -> str:
    """`prefix` followed by random base58 characters, `length` characters in total."""
    return prefix + "".join(secrets.choice(_BASE58) for _ in range(max(length - len(prefix), 0)))
