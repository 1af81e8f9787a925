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
