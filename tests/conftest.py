"""Shared fixtures: small benchmarks and runs built by the tests themselves (nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.synthetic import SyntheticConfig, build_synthetic

SMALL = SyntheticConfig(samples=4, seed=7, frames=8, height=64, width=64, fps=8.0)


@pytest.fixture(scope="session")
def small_bench(tmp_path_factory: pytest.TempPathFactory) -> Benchmark:
    """A 4-sample synthetic benchmark (2 single, 2 multi), 8 frames of 64x64. Read-only."""
    return build_synthetic(tmp_path_factory.mktemp("bench") / "small", SMALL, progress=False)


@pytest.fixture(scope="session")
def default_bench(tmp_path_factory: pytest.TempPathFactory) -> Benchmark:
    """The default synthetic benchmark (16 samples, 16 frames, 128x128). Read-only."""
    return build_synthetic(tmp_path_factory.mktemp("bench") / "default", progress=False)


@pytest.fixture
def bench_copy(small_bench: Benchmark, tmp_path: Path) -> Path:
    """A writable copy of the small benchmark, for tests that corrupt it."""
    import shutil

    dst = tmp_path / "bench"
    shutil.copytree(small_bench.root, dst)
    return dst
