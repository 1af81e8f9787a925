"""Per-video feature cache: network outputs keyed by (content sha256, feature preset hash).

Re-evaluating a run, or a new run against the same ground truth, reads features of videos seen
before instead of recomputing them. Files live at
`$TTM_BENCH_CACHE/features/<feature_hash>/<sha[:2]>/<sha>.npy` and are written atomically, so a
killed run leaves no half-written entry. The feature hash pins the network and its
preprocessing, so entries of different presets never mix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ttm_bench.atomic import atomic_path
from ttm_bench.weights import cache_dir


def array_sha256(array: np.ndarray) -> str:
    """sha256 over an array's dtype, shape and bytes (for inputs without a file hash)."""
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


class FeatureCache:
    """Feature arrays on disk; `root=None` disables caching."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls) -> FeatureCache:
        return cls(cache_dir() / "features")

    def path(self, content_sha256: str, feature_hash: str) -> Path:
        assert self.root is not None
        return self.root / feature_hash / content_sha256[:2] / f"{content_sha256}.npy"

    def get(self, content_sha256: str, feature_hash: str) -> np.ndarray | None:
        """The cached array, or None (also when caching is disabled)."""
        if self.root is None:
            return None
        path = self.path(content_sha256, feature_hash)
        if not path.is_file():
            self.misses += 1
            return None
        self.hits += 1
        return np.load(path)

    def put(self, content_sha256: str, feature_hash: str, features: np.ndarray) -> None:
        """Store `features` (atomically); a no-op when caching is disabled."""
        if self.root is None:
            return
        with atomic_path(self.path(content_sha256, feature_hash)) as tmp:
            np.save(tmp, features)

    def get_or_compute(self, content_sha256: str, feature_hash: str,
                       compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array, or `compute()` stored for next time."""
        features = self.get(content_sha256, feature_hash)
        if features is None:
            features = compute()
            self.put(content_sha256, feature_hash, features)
        return features
