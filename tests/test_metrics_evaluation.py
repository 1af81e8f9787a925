"""Model metrics through `ttm_bench.evaluation`: weights found in TTM_BENCH_WEIGHTS_DIR, results
with presets, CIs, n and warnings, the leaderboard, and a cached re-evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.test_fvd import StandInI3D
from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.generation.runner import generate_run

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")


@pytest.fixture(scope="module")
def runs(default_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for model in ("ground-truth", "static"):
        generate_run(default_bench.root, model, root / model, progress=False)
    return root


@pytest.fixture
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.jit.script(StandInI3D()).save(str(folder / "i3d_torchscript.pt"))
    monkeypatch.setenv("TTM_BENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    return folder


def fvd_row(results: dict, split: str = "all") -> dict:
    return next(r for r in results["aggregate"] if r["metric"] == "fvd16" and r["split"] == split)


def test_fvd16_through_the_evaluation_and_leaderboard(
        default_bench: Benchmark, runs: Path, weights_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    truth = evaluate(inputs_from_run(runs / "ground-truth", default_bench.root),
                     tmp_path / "gt", ["fvd16"], n_boot=20, progress=False)
    static = evaluate(inputs_from_run(runs / "static", default_bench.root),
                      tmp_path / "static", ["fvd16"], n_boot=20, progress=False)
    gt_row, static_row = fvd_row(truth), fvd_row(static)
    assert gt_row["n"] == gt_row["n_expected"] == len(default_bench.samples)
    assert gt_row["value"] < 0.05 * static_row["value"]
    assert static_row["ci_low"] <= static_row["value"] <= static_row["ci_high"]
    assert static_row["preset_hash"] == static["presets"]["fvd16"]["hash"]
    assert any("fewer videos than the 400" in w for w in static["warnings"]["fvd16"])
    cache = tmp_path / "cache" / "features"
    entries = sorted(cache.rglob("*.npy"))
    # the ground-truth clips' features are computed once and shared; each run adds its videos
    assert len(entries) == 3 * len(default_bench.samples)
    assert main(["leaderboard", str(tmp_path / "gt"), str(tmp_path / "static")]) == 0
    board = capsys.readouterr().out
    assert "FVD" in board and static["presets"]["fvd16"]["hash"] in board
    again = evaluate(inputs_from_run(runs / "static", default_bench.root),
                     tmp_path / "static", ["fvd16"], n_boot=20, progress=False)
    assert fvd_row(again)["value"] == static_row["value"]
    assert sorted(cache.rglob("*.npy")) == entries  # nothing new was computed
    assert again["bootstrap"]["methods"] == {"fvd16": "centred"}
    others = evaluate(inputs_from_run(runs / "static", default_bench.root),
                      tmp_path / "static", ["kvd16", "fvd16_inf", "ad_dis"], n_boot=5,
                      progress=False)
    assert sorted(cache.rglob("*.npy")) == entries  # KVD and FVD∞ reuse FVD's I3D features
    assert others["bootstrap"]["methods"] == {"kvd16": "centred", "fvd16_inf": "centred",
                                              "ad_dis": "percentile"}
    kvd = next(r for r in others["aggregate"] if r["metric"] == "kvd16" and r["split"] == "all")
    assert kvd["ci_low"] <= kvd["value"] <= kvd["ci_high"]  # unbiased: may be below 0


def test_model_metrics_without_weights_are_skipped_with_the_fix(
        small_bench: Benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TTM_BENCH_WEIGHTS_DIR", str(tmp_path / "empty"))
    generate_run(small_bench.root, "static", tmp_path / "static", progress=False)
    results = evaluate(inputs_from_run(tmp_path / "static", small_bench.root), tmp_path / "out",
                       None, n_boot=10, progress=False)
    skipped = results["skipped_metrics"]
    for name in ("fvd16", "clipframe", "viclip_t", "viclip_v", "ad_raft"):
        assert "ttm-bench weights fetch" in skipped[name]
    assert "ad_dis" in results["presets"]
