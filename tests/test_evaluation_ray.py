"""Distributed evaluation gives exactly the local results."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.evaluation_ray import RayFeatureExecutor
from ttm_bench.generation.runner import generate_run
from ttm_bench.metrics.base import EvalItem, Metric


@pytest.mark.slow  # starts a Ray instance (~15 s)
def test_ray_feature_extraction_matches_local(small_bench: Benchmark, tmp_path: Path):
    ray = pytest.importorskip("ray")
    from ttm_bench.ray_cluster import connect

    generate_run(small_bench.root, "ken-burns", tmp_path / "run", progress=False)
    inputs = inputs_from_run(tmp_path / "run", small_bench.root)
    local = evaluate(inputs, tmp_path / "local", ["ad"], n_boot=200, progress=False)
    connect(None, num_cpus=2)
    try:
        remote = evaluate(inputs, tmp_path / "ray", ["ad"], n_boot=200, progress=False,
                          executor=RayFeatureExecutor(num_workers=2, chunk_size=1))
    finally:
        ray.shutdown()
    for name in ("per_sample.parquet", "aggregate.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / name),
                                      pd.read_parquet(tmp_path / "ray" / name))
    assert remote["aggregate"] == local["aggregate"]
    assert min(r["value"] for r in local["aggregate"]) > 0  # ken-burns moves: a real check
    saved = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert saved["complete"] and saved["invalid_samples"] == {}


@pytest.mark.slow  # starts a Ray instance (~15 s)
def test_ray_workers_read_the_runs_trajectories(small_bench: Benchmark, tmp_path: Path):
    ray = pytest.importorskip("ray")
    from ttm_bench.ray_cluster import connect

    generate_run(small_bench.root, "tests.trajectory_models:OracleWithTrajectory",
                 tmp_path / "run", overrides={"shift_px": 3}, progress=False)
    inputs = inputs_from_run(tmp_path / "run", small_bench.root)
    options = {"trajectory_miou": {"target": "trajectory"}}
    local = evaluate(inputs, tmp_path / "local", ["trajectory_miou"], metric_options=options,
                     n_boot=50, progress=False)
    connect(None, num_cpus=2)
    try:
        remote = evaluate(inputs, tmp_path / "ray", ["trajectory_miou"], metric_options=options,
                          n_boot=50, progress=False,
                          executor=RayFeatureExecutor(num_workers=2, chunk_size=1))
    finally:
        ray.shutdown()
    assert remote["aggregate"] == local["aggregate"]
    assert remote["presets"] == local["presets"]
    assert local["presets"]["trajectory_miou"]["params"]["target"] == "trajectory"
    assert remote["invalid_samples"] == {} and remote["complete"]


@pytest.mark.slow  # a Ray instance, and three networks on 16 videos in each of two evaluations
@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_model_metrics_on_ray_match_local_to_the_bit(
        default_bench: Benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        scripted_i3d, tiny_clip, tiny_viclip):
    ray = pytest.importorskip("ray")
    import torch

    from ttm_bench.ray_cluster import connect

    generate_run(default_bench.root, "ken-burns", tmp_path / "run", progress=False)
    inputs = inputs_from_run(tmp_path / "run", default_bench.root)
    # injected models (TorchScript included) must reach the workers; 40-frame CLIP batches
    # leave frames queued at the end of each 5-video chunk
    options = {"fvd16": {"model": scripted_i3d},
               "clipframe": {"model": tiny_clip, "image_size": 32, "batch_size": 40},
               "viclip_t": {"model": tiny_viclip, "num_frames": 4, "size": 28}}
    names = list(options)

    def run(where: str, executor: RayFeatureExecutor | None) -> dict:
        monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / where / "cache"))  # no sharing
        return evaluate(inputs, tmp_path / where / "out", names, metric_options=options,
                        n_boot=200, progress=False, executor=executor)

    # The workers (1 CPU each) run torch on 1 thread; some CPU kernels (FVD's bilinear resize)
    # round differently with another thread count, so the local run uses 1 thread too.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run("local", None)
    finally:
        torch.set_num_threads(threads)
    connect(None, num_cpus=2)
    try:
        remote = run("ray", RayFeatureExecutor(num_workers=2, chunk_size=5))
    finally:
        ray.shutdown()
    for name in ("per_sample.parquet", "aggregate.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / "out" / name),
                                      pd.read_parquet(tmp_path / "ray" / "out" / name),
                                      check_exact=True)
    assert remote["aggregate"] == local["aggregate"]
    assert remote["warnings"] == local["warnings"] and "fvd16" in local["warnings"]
    assert remote["presets"] == local["presets"]
    assert {r["metric"] for r in local["aggregate"]} == set(names)
    assert all(r["n"] == 16 and r["ci_low"] < r["ci_high"] for r in local["aggregate"]
               if r["split"] == "all")
    # the workers computed every feature themselves, into the driver's cache
    caches = [sorted(p.relative_to(tmp_path / where / "cache") for p in
                     (tmp_path / where / "cache").rglob("*.npy")) for where in ("local", "ray")]
    assert caches[0] == caches[1] and len(caches[0]) >= 16 * 4


class Unmergeable(Metric):
    """A metric with state only in this process (no `state()`)."""

    name = "unmergeable"
    label = "U"
    higher_is_better = None

    def reset(self) -> None:
        self.seen: list[str] = []

    def update(self, item: EvalItem) -> None:
        self.seen.append(item.sample_id)

    def compute_on(self, sample_ids: Sequence[str]) -> float:
        return float(len(sample_ids))

    @property
    def sample_ids(self) -> list[str]:
        return list(self.seen)


def test_metric_without_state_is_refused_before_any_work(small_bench, tmp_path):
    generate_run(small_bench.root, "static", tmp_path / "run", progress=False)
    inputs = inputs_from_run(tmp_path / "run", small_bench.root)
    with pytest.raises(TTMBenchError, match="'unmergeable' cannot be evaluated distributed"):
        RayFeatureExecutor().extract(inputs, [Unmergeable()], "cpu", progress=False)
