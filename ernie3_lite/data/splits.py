"""The stable hash every corpus splits by (news, reviews, the graph's pairs, poems).

A module of its own so that each corpus module can split the same way without importing the
build (which imports them). `bucket` must never change: every shipped split depends on it.
"""

from __future__ import annotations

import hashlib


def bucket(key: str) -> int:
    """A stable 0..99 bucket for `key` (unlike hash(), the same in every process)."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") % 100


def split_of(key: str, *, held_out_pct: int) -> str:
    b = bucket(key)
    return "valid" if b < held_out_pct else ("test" if b < 2 * held_out_pct else "train")
