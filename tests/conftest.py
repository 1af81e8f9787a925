"""Shared fixtures: small benchmarks and runs built by the tests themselves (nothing downloaded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, missing_requirement, running_postgres
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the session (skips when none can run here)."""
    reason = missing_requirement()
    if reason is not None:
        pytest.skip(reason)
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a new empty database on the throwaway server, dropped afterwards."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def votes_database(request: pytest.FixtureRequest) -> str | None:
    """A study's `database` spec field: None (SQLite in the study directory) or the URL of a
    new PostgreSQL database."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
