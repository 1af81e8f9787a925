"""Deterministic per-sample seeds.

A seed depends only on (benchmark name, sample id, repetition), never on order, sharding or the
machine, so any subset of a run can be regenerated bit-for-bit by a deterministic model.
"""

from __future__ import annotations

import hashlib

SEED_POLICY = "sha256(benchmark/sample_id/repetition) mod 2**31"


def derive_seed(benchmark: str, sample_id: str, repetition: int = 0) -> int:
    """An int in [0, 2**31) from the first 8 bytes of sha256 of `benchmark/sample_id/repetition`."""
    digest = hashlib.sha256(f"{benchmark}/{sample_id}/{repetition}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31)
