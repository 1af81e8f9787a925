"""Metrics undefined on some samples (motion locality of a static video): NaN kept per sample,
left out of means and intervals, counted as `n_undefined` in the aggregate, shown by the
leaderboard, and dropped (and counted) from paired comparisons."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from tests.test_leaderboard import full, write_results
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError, ValidationError
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.generation.runner import generate_run
from ttm_bench.metrics.base import EvalItem, PerSampleMetric
from ttm_bench.report.compare import build_comparison
from ttm_bench.report.compare_tables import UNDEFINED_TITLE, render_csv
from ttm_bench.report.compare_tables import render_markdown as compare_markdown
from ttm_bench.report.latex import render_comparison
from ttm_bench.report.leaderboard import build_leaderboard, render_markdown
from ttm_bench.report.numbers import format_metric_value
from ttm_bench.report.results import load_results
from ttm_bench.report.run_samples import load_run_samples


class FrameCount(PerSampleMetric):
    """Toy metric: the frame count, undefined below `min_frames`."""

    name = "frame_count"
    higher_is_better = None
    default_params: ClassVar[dict[str, int]] = {"min_frames": 3}
    undefined_when = "videos shorter than {min_frames} frames"

    def score(self, item: EvalItem) -> float:
        frames = len(item.video)
        return float(frames) if frames >= self.params["min_frames"] else math.nan


class AlwaysDefined(FrameCount):
    name = "always_defined"
    undefined_when = None


def item(sample_id: str, frames: int) -> EvalItem:
    return EvalItem(sample_id, "all", np.zeros((frames, 2, 2, 3), np.uint8), 8.0)


def test_undefined_values_are_kept_left_out_of_the_mean_and_named() -> None:
    metric = FrameCount()
    for sid, frames in (("a", 4), ("b", 2), ("c", 6)):
        metric.update(item(sid, frames))
    assert np.isnan(metric.per_sample()["b"]) and metric.undefined_ids == ["b"]
    assert metric.compute() == 5.0 and metric.compute_on(["a", "b", "a"]) == 4.0
    assert np.isnan(metric.compute_on(["b"]))
    assert metric.warnings == ["undefined for 1 of the run's 3 sample(s), left out of its "
                               "means: videos shorter than 3 frames: b"]
    copy = FrameCount()
    copy.merge_state(metric.state())  # distributed evaluation: the warning travels too
    assert copy.warnings == metric.warnings and copy.compute() == 5.0
    with pytest.raises(TTMBenchError, match="gave nan"):
        AlwaysDefined().update(item("b", 2))


def test_counts_are_written_beside_the_value() -> None:
    assert format_metric_value("motion_locality", 0.42149, 16, 2) == "0.421 [n=14, 2 undefined]"
    assert format_metric_value("motion_locality", 0.42149, 16) == "0.421"
    assert format_metric_value("fvd16", 45.123, 64) == "45.12 [n=64]"


def test_results_reader_checks_the_undefined_counts(tmp_path: Path) -> None:
    out = write_results(tmp_path, "ttm", full(10.0, 0.5, 1.0))
    data = json.loads((out / "results.json").read_text())
    data["aggregate"][0]["n_undefined"] = 99
    data["aggregate"][1]["n_undefined"] = 1  # clipframe cannot be undefined
    (out / "results.json").write_text(json.dumps(data))
    with pytest.raises(ValidationError) as info:
        load_results(out)
    messages = {p.field: p.message for p in info.value.problems}
    assert "more than the 8 evaluated" in messages["aggregate[0].n_undefined"]
    assert "cannot be undefined" in messages["aggregate[1].n_undefined"]


@pytest.fixture(scope="module")
def mixed_results(small_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Path, Path, list[str]]:
    """Evaluated motion locality of the ground-truth run and of a copy whose first single- and
    first multi-object videos are replaced by static ones (sidecars and all)."""
    root = tmp_path_factory.mktemp("undefined")
    for model in ("ground-truth", "static"):
        generate_run(small_bench.root, model, root / model, progress=False)
    shutil.copytree(root / "ground-truth", root / "mixed")
    stilled = [next(s.id for s in small_bench.samples if s.split == split)
               for split in ("single", "multi")]
    for sid in stilled:
        for suffix in (".mp4", ".json"):
            shutil.copy(root / "static" / "videos" / f"{sid}{suffix}",
                        root / "mixed" / "videos" / f"{sid}{suffix}")
    for run in ("ground-truth", "mixed"):
        evaluate(inputs_from_run(root / run, small_bench.root), root / f"out-{run}",
                 ["motion_locality", "ad_object"], n_boot=50, progress=False)
    return root / "out-ground-truth", root / "out-mixed", stilled


def test_aggregate_counts_undefined_samples(mixed_results: tuple[Path, Path, list[str]]
                                           ) -> None:
    _, mixed, stilled = mixed_results
    results = json.loads((mixed / "results.json").read_text())
    assert results["metrics"]["motion_locality"]["can_be_undefined"] is True
    assert results["metrics"]["ad_object"]["can_be_undefined"] is False
    rows = {(r["split"], r["metric"]): r for r in results["aggregate"]}
    assert (rows["all", "motion_locality"]["n"], rows["all", "motion_locality"]["n_undefined"]) \
        == (4, 2)
    assert rows["single", "motion_locality"]["n_undefined"] == 1
    assert rows["all", "ad_object"]["n_undefined"] == 0
    assert results["complete"] is True  # undefined is not missing
    per_sample = pd.read_parquet(mixed / "per_sample.parquet").set_index(["metric", "sample_id"])
    locality = per_sample.loc["motion_locality", "value"]
    assert locality[stilled].isna().all()
    assert rows["all", "motion_locality"]["value"] == pytest.approx(locality.dropna().mean())
    low, high = rows["all", "motion_locality"]["ci_low"], rows["all", "motion_locality"]["ci_high"]
    assert locality.dropna().min() <= low <= high <= locality.dropna().max()
    loaded = load_results(mixed).row("all", "motion_locality")
    assert (loaded.n, loaded.n_undefined, loaded.n_defined) == (4, 2, 2)


def test_leaderboard_shows_the_count(mixed_results: tuple[Path, Path, list[str]]) -> None:
    truth, mixed, _ = mixed_results
    board = build_leaderboard([load_results(truth), load_results(mixed)])
    text = render_markdown(board)
    assert "[n=1, 1 undefined]" in text  # per split: one static video each
    assert "static videos" in text  # the note names them
    cells = {c.metric: cell for c, cell in zip(board.objects.columns,
                                                board.objects.rows[0].cells, strict=True)}
    assert "undefined" not in cells["motion_locality"].value  # the ground truth: all defined


def test_compare_drops_and_counts_pairs_undefined_on_either_side(
        mixed_results: tuple[Path, Path, list[str]]) -> None:
    truth, mixed, _ = mixed_results
    comparison = build_comparison([load_run_samples(truth), load_run_samples(mixed)],
                                  "ground-truth", splits=["all"], n_boot=50)
    cell = comparison.cell("mixed", "motion_locality", "all")
    assert (cell.n_paired, cell.n_undefined) == (2, 2)
    assert math.isfinite(cell.delta) and math.isfinite(cell.p_value)
    assert abs(cell.delta) < 1e-9  # the two defined pairs are the same videos
    assert math.isfinite(comparison.baseline_values["motion_locality", "all"])
    assert comparison.cell("mixed", "ad_object", "all").n_undefined == 0
    text = compare_markdown(comparison)
    assert "| 2 (2 undefined) |" in text and UNDEFINED_TITLE in text
    assert "Motion locality (all samples): 2 pair(s) left out" in text
    assert "n_undefined" in render_csv(comparison).splitlines()[0]
    assert "2 pair(s) left out" in render_comparison(comparison)
