"""Shared fixtures built by the tests themselves (nothing downloaded): small benchmarks, and tiny
random-weight networks of the metrics' architectures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres_server import PostgresServer, missing_requirement, running_postgres
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.synthetic import SyntheticConfig, build_synthetic

SMALL = SyntheticConfig(samples=4, seed=7, frames=8, height=64, width=64, fps=8.0)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`$TTM_BENCH_CACHE` in a temporary folder, so tests never read or fill the user's cache
    (tests that need an empty cache of their own set it again)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TTM_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


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


# The networks import torch on demand: most tests do not need it.


@pytest.fixture(scope="session")
def scripted_i3d() -> Any:
    """The FVD stand-in detector as TorchScript, the form of the released I3D."""
    import torch

    from tests.test_fvd import StandInI3D

    return torch.jit.script(StandInI3D())


#: open_clip configuration of `tiny_clip`, registered as "ttm-tiny-clip".
TINY_CLIP = {"embed_dim": 32, "quick_gelu": True,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 1,
                          "layers": 1}}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """open_clip's "ttm-tiny-clip" (`TINY_CLIP`: 32 px images), seeded random weights."""
    import torch

    open_clip = pytest.importorskip("open_clip")
    config_dir = tmp_path_factory.mktemp("clip_configs")
    (config_dir / "ttm-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config_dir)
    torch.manual_seed(0)
    return open_clip.create_model("ttm-tiny-clip", pretrained=None).eval()


@pytest.fixture(scope="session")
def tiny_viclip() -> Any:
    """A ViCLIP of 4 frames at 28 px with the golden test's weights (`tests.test_viclip`)."""
    from tests.test_viclip import TINY, tiny_state_dict
    from ttm_bench.metrics.viclip.model import ViCLIP

    model = ViCLIP(TINY)
    model.load_state_dict(tiny_state_dict())
    return model.eval()
