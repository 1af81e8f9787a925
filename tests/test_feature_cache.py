"""Per-video feature cache: keys, hits, misses, and what changes a key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ttm_bench.metrics.feature_cache import FeatureCache, array_sha256


def test_get_or_compute_stores_once_and_reads_back(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(6, dtype=np.float64).reshape(2, 3)

    first = cache.get_or_compute("ab" * 32, "f" * 16, compute)
    second = cache.get_or_compute("ab" * 32, "f" * 16, compute)
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float64 and len(calls) == 1
    assert (cache.hits, cache.misses) == (1, 1)
    assert cache.path("ab" * 32, "f" * 16) == tmp_path / ("f" * 16) / "ab" / f"{'ab' * 32}.npy"
    assert [p.name for p in (tmp_path / ("f" * 16) / "ab").iterdir()] == [f"{'ab' * 32}.npy"]
    cache.get_or_compute("ab" * 32, "e" * 16, compute)  # another feature preset: recomputed
    assert len(calls) == 2


def test_failed_computation_leaves_no_entry(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)

    def broken() -> np.ndarray:
        raise RuntimeError("network failed")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("cd" * 32, "f" * 16, broken)
    assert not cache.path("cd" * 32, "f" * 16).exists()


def test_disabled_cache_always_computes() -> None:
    cache = FeatureCache(None)
    values = iter([np.zeros(1), np.ones(1)])
    assert cache.get_or_compute("x", "y", lambda: next(values))[0] == 0
    assert cache.get_or_compute("x", "y", lambda: next(values))[0] == 1


def test_array_sha256_sees_content_shape_and_dtype() -> None:
    a = np.zeros((2, 3), np.uint8)
    assert array_sha256(a) == array_sha256(a.copy())
    assert array_sha256(a) != array_sha256(a.reshape(3, 2))
    assert array_sha256(a) != array_sha256(a.astype(np.int8))
    b = a.copy()
    b[1, 2] = 1
    assert array_sha256(a) != array_sha256(b)
    assert array_sha256(np.asfortranarray(b)) == array_sha256(b)
