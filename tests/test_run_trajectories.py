"""A model's trajectory through a run: normalised with its video, saved with its sha256,
resumed and sharded, hash-checked by the evaluation, and the target of `trajectory_miou`."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.trajectory_models import shift_right
from ttm_bench.data.benchmark import Benchmark, write_benchmark
from ttm_bench.data.masklets import masklets_to_json, parse_masklets
from ttm_bench.errors import TTMBenchError
from ttm_bench.evaluation import evaluate, inputs_from_run, select_metrics
from ttm_bench.generation.model import GeneratedVideo, GenerationRequest
from ttm_bench.generation.normalize import normalize_trajectory, normalize_video
from ttm_bench.generation.run import RunDir
from ttm_bench.generation.runner import generate_run
from ttm_bench.hashing import file_sha256
from ttm_bench.metrics import EvalItem, create_metric
from ttm_bench.metrics.objects import tracks as reductions
from ttm_bench.metrics.objects.tracks import resize_masks
from ttm_bench.video import read_video

MODEL = "tests.trajectory_models:OracleWithTrajectory"


def trajectory(run: Path, bench: Benchmark, sample_id: str) -> np.ndarray:
    sample = bench.sample(sample_id)
    path = RunDir(run).trajectory_path(sample_id)
    return parse_masklets(json.loads(path.read_text()), str(path),
                          [o.id for o in sample.objects], (64, 64), "-", num_frames=8)


def sidecar(run: Path, sample_id: str) -> dict:
    return json.loads(RunDir(run).sidecar_path(sample_id).read_text())


def per_sample(results_dir: Path) -> dict[str, float]:
    frame = pd.read_parquet(results_dir / "per_sample.parquet")
    return dict(zip(frame.sample_id, frame.value, strict=True))


def miou(run: Path, bench: Benchmark, out: Path, target: str) -> dict:
    return evaluate(inputs_from_run(run, bench.root), out, ["trajectory_miou"],
                    metric_options={"trajectory_miou": {"target": target}}, n_boot=10,
                    progress=False)


@pytest.fixture(scope="module")
def oracle_run(small_bench: Benchmark, tmp_path_factory) -> Path:
    """The oracle at twice the benchmark's format, exact trajectories (read-only)."""
    run = tmp_path_factory.mktemp("runs") / "oracle"
    assert generate_run(small_bench.root, MODEL, run, progress=False).ok == 4
    return run


# --- normalisation and the run directory ----------------------------------------------------

def test_normalize_trajectory_takes_the_videos_frames_and_nearest_pixels() -> None:
    request = GenerationRequest("s", np.zeros((4, 6, 3), np.uint8), "", 3, 8.0, 4, 6, 0,
                                masks=np.zeros((2, 4, 6), bool))
    rng = np.random.default_rng(0)
    small = rng.random((3, 2, 4, 6)) > 0.5
    native = small.repeat(2, 0)[:5].repeat(3, 2).repeat(2, 3)  # 5 frames of 12×12
    frames = np.zeros((5, 12, 12, 3), np.uint8)
    _, record = normalize_video(GeneratedVideo(frames, 8.0), request)
    assert record.frame_indices == (0, 2, 4)  # frames 0, 2, 4 repeat small frames 0, 1, 2
    np.testing.assert_array_equal(normalize_trajectory(native, record, 2), small)
    with pytest.raises(TTMBenchError, match=r"GeneratedVideo.trajectory is bool \[5, 1, 12, 12\]"
                                            r", expected bool \[5, 2, 12, 12\].*request.masks"):
        normalize_trajectory(native[:, :1], record, 2)
    with pytest.raises(TTMBenchError, match="is uint8"):
        normalize_trajectory(native.astype(np.uint8), record, 2)


def test_the_run_saves_the_normalised_trajectory_with_its_sha256(
        oracle_run: Path, small_bench: Benchmark) -> None:
    for sample in small_bench.samples:
        path = RunDir(oracle_run).trajectory_path(sample.id)
        assert sidecar(oracle_run, sample.id)["trajectory_sha256"] == file_sha256(path)
        np.testing.assert_array_equal(trajectory(oracle_run, small_bench, sample.id),
                                      small_bench.masklets(sample))  # 2× native mapped back
    assert not list((oracle_run / "trajectories").glob(".*"))


def test_models_without_a_trajectory_record_none(small_bench: Benchmark, tmp_path: Path) -> None:
    run = tmp_path / "run"
    generate_run(small_bench.root, MODEL, run, overrides={"trajectory": False}, progress=False)
    sample = small_bench.samples[0].id
    assert sidecar(run, sample)["trajectory_sha256"] is None
    assert not RunDir(run).trajectory_path(sample).exists()


def test_a_trajectory_of_the_wrong_shape_fails_its_sample_naming_the_fix(
        small_bench: Benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import trajectory_models

    monkeypatch.setattr(trajectory_models, "shift_right", lambda masks, _: masks[:, :, :-1])
    run = tmp_path / "run"
    summary = generate_run(small_bench.root, MODEL, run, overrides={"scale": 1}, progress=False)
    assert summary.ok == 0
    error = sidecar(run, small_bench.samples[0].id)["error"]
    assert "GeneratedVideo.trajectory is bool [8, 1, 63, 64], expected bool [8, 1, 64, 64]" in error
    assert not list(run.glob("*/*.mp4")) and not list(run.glob("trajectories/*"))


def test_resume_and_shards_keep_trajectories(small_bench: Benchmark, tmp_path: Path) -> None:
    run = tmp_path / "run"
    ids = [s.id for s in small_bench.samples]
    for shard in ((0, 2), (1, 2)):
        generate_run(small_bench.root, MODEL, run, shard=shard, progress=False)
    shas = {s: sidecar(run, s)["trajectory_sha256"] for s in ids}
    assert all(shas.values())
    paths = RunDir(run)
    paths.trajectory_path(ids[1]).unlink()  # lost: the sample is generated again
    stale = paths.trajectories / f".{ids[1]}.tmp-abc.json"  # left by a killed writer
    stale.write_text("{")
    summary = generate_run(small_bench.root, MODEL, run, progress=False)
    assert (summary.ok, summary.skipped) == (1, 3)
    assert not stale.exists()
    assert {s: sidecar(run, s)["trajectory_sha256"] for s in ids} == shas
    assert json.loads(paths.info_path.read_text())["finished"]


# --- evaluation ---------------------------------------------------------------------------

def test_miou_against_an_exact_trajectory_equals_the_masklets_value(
        oracle_run: Path, small_bench: Benchmark, tmp_path: Path) -> None:
    own = miou(oracle_run, small_bench, tmp_path / "own", "trajectory")
    assert own["presets"]["trajectory_miou"]["params"]["target"] == "trajectory"
    assert own["metrics"]["trajectory_miou"]["label"] == "Trajectory mIoU (own trajectory)"
    auto = miou(oracle_run, small_bench, tmp_path / "auto", "auto")
    assert auto["presets"]["trajectory_miou"]["params"]["target"] == "masklets"
    assert auto["metrics"]["trajectory_miou"]["label"] == "Trajectory mIoU (masklets)"
    values = per_sample(tmp_path / "own")
    assert values == pytest.approx(per_sample(tmp_path / "auto"), abs=1e-12)
    assert min(values.values()) > 0.5  # small 64-px scenes; issue 12 checks 128 px


def test_miou_against_a_shifted_trajectory_is_the_iou_with_the_shifted_masks(
        small_bench: Benchmark, tmp_path: Path) -> None:
    run = tmp_path / "run"
    generate_run(small_bench.root, MODEL, run, overrides={"shift_px": 6, "scale": 1},
                 progress=False)
    miou(run, small_bench, tmp_path / "out", "trajectory")
    values = per_sample(tmp_path / "out")
    for sample in small_bench.samples[:2]:
        metric = create_metric("trajectory_miou", target="masklets")
        video = read_video(RunDir(run).video_path(sample.id))
        masklets = small_bench.masklets(sample)
        tracks = metric.tracks(EvalItem(sample.id, "all", video, 8.0,
                                        masks=small_bench.masks(sample)))
        size = tracks.masks.shape[2:]
        exact = reductions.mean_iou(tracks.masks, resize_masks(masklets, size) >= 0.5)
        shifted = reductions.mean_iou(tracks.masks,
                                      resize_masks(shift_right(masklets, 6), size) >= 0.5)
        assert values[sample.id] == pytest.approx(shifted, abs=1e-12)
        assert values[sample.id] < exact - 0.1


def test_tampered_or_malformed_trajectories_are_invalid_samples_with_reasons(
        oracle_run: Path, small_bench: Benchmark, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(oracle_run, run)
    paths = RunDir(run)
    ids = [s.id for s in small_bench.samples]
    tampered = paths.trajectory_path(ids[0])
    tampered.write_text(tampered.read_text().replace('"frames"', '"frames" '))

    def rewrite(sample_id: str, text: str) -> Path:
        path = paths.trajectory_path(sample_id)
        path.write_text(text)
        record = sidecar(run, sample_id)
        record["trajectory_sha256"] = file_sha256(path)  # a consistent but malformed file
        paths.sidecar_path(sample_id).write_text(json.dumps(record))
        return path

    masks = small_bench.masklets(small_bench.sample(ids[1]))
    short = rewrite(ids[1], json.dumps(masklets_to_json(masks[:5], [1])))
    garbage = rewrite(ids[2], "not json")
    record = sidecar(run, ids[3])
    paths.sidecar_path(ids[3]).write_text(json.dumps({**record, "trajectory_sha256": 7}))
    results = miou(run, small_bench, tmp_path / "out", "trajectory")
    invalid = results["invalid_samples"]
    assert set(invalid) == set(ids) and not results["complete"]
    assert "sidecar recorded" in invalid[ids[0]] and str(tampered) in invalid[ids[0]]
    assert f"{short} [frames]: has 5 frames, the benchmark's clips 8" in invalid[ids[1]]
    assert "rerun `ttm-bench generate`" in invalid[ids[1]]
    assert str(garbage) in invalid[ids[2]] and "not valid JSON" in invalid[ids[2]]
    assert "its sidecar recorded 7…" in invalid[ids[3]]  # an edited sidecar, no traceback
    row = next(r for r in results["aggregate"] if r["split"] == "all")
    assert (row["n"], row["n_expected"]) == (0, 4)


def test_targets_a_run_or_benchmark_cannot_provide_are_clear_errors(
        small_bench: Benchmark, oracle_run: Path, tmp_path: Path) -> None:
    none = tmp_path / "none"
    generate_run(small_bench.root, MODEL, none, overrides={"trajectory": False}, progress=False)
    inputs = inputs_from_run(none, small_bench.root)
    with pytest.raises(TTMBenchError, match=r"needs the model's trajectory.*returned none"):
        select_metrics(inputs, ["trajectory_miou"], "cpu",
                       {"trajectory_miou": {"target": "trajectory"}})
    with pytest.raises(TTMBenchError, match="target 'somewhere' unknown"):
        create_metric("trajectory_miou", target="somewhere")
    with pytest.raises(TTMBenchError, match="target 'auto' is settled by the evaluation"):
        create_metric("trajectory_miou").score(EvalItem("s", "all", np.zeros((2, 4, 4, 3),
                                                                            np.uint8), 8.0))
    # a benchmark without masklets: the run's own trajectory, or the error it always gave
    bench = Benchmark.load(shutil.copytree(small_bench.root, tmp_path / "bench"))
    samples = [dataclasses.replace(s, meta={k: v for k, v in s.meta.items() if k != "masklets"})
               for s in bench.samples]
    bench = write_benchmark(bench.root, bench.info, samples)
    with_trajectory = tmp_path / "with"
    generate_run(bench.root, MODEL, with_trajectory, progress=False)
    metrics, _ = select_metrics(inputs_from_run(with_trajectory, bench.root),
                                ["trajectory_miou"], "cpu")
    assert metrics[0].params["target"] == "trajectory"
    without = tmp_path / "without"
    generate_run(bench.root, MODEL, without, overrides={"trajectory": False}, progress=False)
    with pytest.raises(TTMBenchError, match="needs masklets, which this benchmark does not"):
        select_metrics(inputs_from_run(without, bench.root), ["trajectory_miou"], "cpu")
