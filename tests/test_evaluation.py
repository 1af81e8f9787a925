"""Evaluation end to end: AD against exact ground truth, results files, incomplete runs, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ttm_bench.cli import main
from ttm_bench.commands.evaluate import summarise
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.evaluation import evaluate, inputs_from_folder, inputs_from_run
from ttm_bench.generation.runner import generate_run
from ttm_bench.hashing import file_sha256
from ttm_bench.video import write_video


@pytest.fixture(scope="module")
def default_runs(default_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for model in ("ground-truth", "static"):
        generate_run(default_bench.root, model, root / model, progress=False)
    return root


@pytest.fixture(scope="module")
def small_run(small_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small") / "static"
    generate_run(small_bench.root, "static", out, progress=False)
    return out


def _relative_ad_errors(bench: Benchmark, results_dir: Path) -> np.ndarray:
    per_sample = pd.read_parquet(results_dir / "per_sample.parquet").set_index("sample_id")
    scale = 256 / bench.info.height  # AD is measured at shorter side 256
    truth = np.array([s.meta["true_mean_flow_px"] * scale for s in bench.samples])
    measured = np.array([per_sample.loc[s.id, "value"] for s in bench.samples])
    return np.abs(measured - truth) / truth


def test_ad_of_benchmark_clips_matches_true_motion(default_bench: Benchmark,
                                                   tmp_path: Path) -> None:
    """The lossless clips: every sample's DIS AD within 10% of the exact mean flow."""
    evaluate(inputs_from_folder(default_bench.root / "videos", "clips"), tmp_path / "clips",
             ["ad"], progress=False)
    errors = _relative_ad_errors(default_bench, tmp_path / "clips")
    assert errors.max() < 0.10, f"relative AD errors {np.round(errors, 3)}"


def test_ad_of_ground_truth_run_matches_true_motion(default_bench: Benchmark, default_runs: Path,
                                                    tmp_path: Path) -> None:
    """The ground-truth run went through the runs' lossy H.264: the run's AD is within 10% of
    the truth, each sample within 15% (the codec adds a little texture noise to the flow)."""
    results = evaluate(inputs_from_run(default_runs / "ground-truth", default_bench.root),
                       tmp_path / "gt", ["ad"], progress=False)
    errors = _relative_ad_errors(default_bench, tmp_path / "gt")
    assert errors.max() < 0.15, f"relative AD errors {np.round(errors, 3)}"
    overall = next(r for r in results["aggregate"] if r["split"] == "all")
    scale = 256 / default_bench.info.height
    truth_mean = np.mean([s.meta["true_mean_flow_px"] * scale for s in default_bench.samples])
    assert overall["value"] == pytest.approx(truth_mean, rel=0.10)
    assert overall["ci_low"] <= overall["value"] <= overall["ci_high"]


def test_ad_of_static_is_zero(default_bench: Benchmark, default_runs: Path,
                              tmp_path: Path) -> None:
    results = evaluate(inputs_from_run(default_runs / "static", default_bench.root),
                       tmp_path / "static", ["ad"], progress=False)
    for row in results["aggregate"]:
        assert row["value"] < 0.05


def test_results_files(small_bench: Benchmark, small_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    results = evaluate(inputs_from_run(small_run, small_bench.root), out, ["ad"], n_boot=200,
                       progress=False)
    per_sample = pd.read_parquet(out / "per_sample.parquet")
    assert list(per_sample.columns) == ["sample_id", "split", "metric", "value"]
    assert len(per_sample) == 4 and set(per_sample.metric) == {"ad_dis"}
    aggregate = pd.read_parquet(out / "aggregate.parquet")
    assert list(aggregate.columns) == ["run", "benchmark", "split", "metric", "value", "ci_low",
                                       "ci_high", "n", "n_undefined", "n_expected", "preset_hash"]
    assert sorted(aggregate.split) == ["all", "multi", "single"]
    assert (aggregate.n_undefined == 0).all()  # AD is defined on every video
    single = aggregate.set_index("split").loc["single"]
    expected = per_sample[per_sample.split == "single"].value.mean()
    assert single.value == pytest.approx(expected)
    assert (single.n, single.n_expected) == (2, 2)
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["complete"] is True and on_disk["benchmark"]["sha256"] == small_bench.info.sha256
    preset = on_disk["presets"]["ad_dis"]
    assert preset["hash"] == single.preset_hash and preset["params"]["eval_short_side"] == 256
    assert results["aggregate"][0]["preset_hash"] == preset["hash"]
    # same preset on the same videos: the same numbers
    again = evaluate(inputs_from_run(small_run, small_bench.root), out, ["ad"], n_boot=200,
                     progress=False)
    assert again["aggregate"] == results["aggregate"]


def test_incomplete_and_invalid_runs_are_flagged(small_bench: Benchmark, small_run: Path,
                                                 tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    ids = [s.id for s in small_bench.samples]
    (run / "videos" / f"{ids[0]}.mp4").unlink()
    write_video(run / "videos" / f"{ids[3]}.mp4", np.zeros((5, 64, 64, 3), np.uint8), fps=8)
    truncated = run / "videos" / f"{ids[1]}.mp4"
    truncated.write_bytes(truncated.read_bytes()[:300])
    for sid in (ids[1], ids[3]):  # as if generated so: the decoder and the size check see them
        _rewrite_sidecar(run, sid, video_sha256=file_sha256(run / "videos" / f"{sid}.mp4"))
    results = evaluate(inputs_from_run(run, small_bench.root), tmp_path / "res", ["ad"],
                       progress=False)
    assert results["complete"] is False
    assert results["missing_samples"] == [ids[0], ids[1], ids[3]]
    assert "[5, 64, 64, 3]" in results["invalid_samples"][ids[3]]
    assert str(truncated) in results["invalid_samples"][ids[1]]
    rows = {r["split"]: r for r in results["aggregate"]}
    assert (rows["all"]["n"], rows["all"]["n_expected"]) == (1, 4)
    assert (rows["single"]["n"], rows["multi"]["n"]) == (0, 1)


def test_run_from_another_benchmark_is_refused(small_run: Path, default_bench: Benchmark,
                                               tmp_path: Path) -> None:
    with pytest.raises(TTMBenchError, match="evaluate against the benchmark the run was made"):
        inputs_from_run(small_run, default_bench.root)


def test_results_dir_of_another_run_is_not_overwritten(small_bench: Benchmark, small_run: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "res"
    evaluate(inputs_from_run(small_run, small_bench.root), out, ["ad"], progress=False)
    before = (out / "results.json").read_text()
    with pytest.raises(TTMBenchError, match="Choose another --out, or pass --overwrite"):
        evaluate(inputs_from_run(small_run, small_bench.root, name="other"), out, ["ad"],
                 progress=False)
    assert (out / "results.json").read_text() == before


def test_results_of_another_run_with_the_same_folder_name_are_refused(
        small_bench: Benchmark, small_run: Path, tmp_path: Path) -> None:
    """Identity is the run.json content, not the folder name: run B named like run A is refused
    (unless --overwrite), while a resumed run A (run.json now `finished`) is the same run."""
    out = tmp_path / "res"
    evaluate(inputs_from_run(small_run, small_bench.root), out, ["ad"], progress=False)
    other = tmp_path / "b" / small_run.name
    shutil.copytree(small_run, other)
    info = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps({**info, "started": "2030-01-01T00:00:00+00:00"}))
    with pytest.raises(TTMBenchError, match=r"run\.json sha256"):
        evaluate(inputs_from_run(other, small_bench.root), out, ["ad"], progress=False)
    assert main(["evaluate", "--bench", str(small_bench.root), "--run", str(other), "--metrics",
                 "ad", "--out", str(out), "--quiet", "--overwrite"]) == 0
    ours = json.loads((out / "results.json").read_text())["run_sha256"]
    assert ours == inputs_from_run(other, small_bench.root).run_sha256
    (other / "run.json").write_text(json.dumps({**info, "started": "2030-01-01T00:00:00+00:00",
                                                 "finished": "2030-01-02T00:00:00+00:00"}))
    evaluate(inputs_from_run(other, small_bench.root), out, ["ad"], progress=False)


def test_a_locked_results_directory_is_refused(small_bench: Benchmark, small_run: Path,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A second evaluation into the same --out while one runs: exit 2 naming the pid."""
    import subprocess
    import sys
    import textwrap

    out = tmp_path / "res"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from ttm_bench.results_dir import ResultsWriter
        with ResultsWriter({str(out)!r}):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code = main(["evaluate", "--bench", str(small_bench.root), "--run", str(small_run),
                     "--metrics", "ad", "--out", str(out), "--quiet"])
        assert code == 2
        assert f"locked by pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    evaluate(inputs_from_run(small_run, small_bench.root), out, ["ad"], progress=False)


def test_folder_of_videos(small_run: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    videos = small_run / "videos"
    code = main(["evaluate", "--videos", str(videos), "--name", "mine", "--metrics", "ad",
                 "--out", str(tmp_path / "res"), "--quiet"])
    assert code == 0
    assert "preset" in capsys.readouterr().out
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    assert [r["split"] for r in results["aggregate"]] == ["all"]
    assert results["aggregate"][0]["n"] == 4 and results["benchmark"] is None
    with pytest.raises(TTMBenchError, match=r"no \.mp4"):
        inputs_from_folder(tmp_path, "x")


def test_unknown_metric(small_bench: Benchmark, small_run: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean"):
        evaluate(inputs_from_run(small_run, small_bench.root), tmp_path / "r", ["ad_diss"],
                 progress=False)
    code = main(["evaluate", "--bench", str(small_bench.root), "--run", str(small_run),
                 "--metrics", "nope", "--out", str(tmp_path / "r")])
    assert code == 2


def test_metric_options_reach_the_metric_and_its_preset(small_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    videos = str(small_run / "videos")
    args = ["evaluate", "--videos", videos, "--name", "m", "--metrics", "ad", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"),
                 "--metric-option", "ad.eval_short_side=128"]) == 0
    a, b = (json.loads((tmp_path / d / "results.json").read_text())["presets"]["ad_dis"]
            for d in "ab")
    assert (a["params"]["eval_short_side"], b["params"]["eval_short_side"]) == (256, 128)
    assert a["hash"] != b["hash"]  # a changed convention is a different preset
    assert main([*args, "--out", str(tmp_path / "c"), "--metric-option", "eval=1"]) == 2
    assert "expected METRIC.KEY=VALUE" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "d"), "--metric-option", "ad.bogus=1"]) == 2
    assert "no parameter(s) ['bogus']" in capsys.readouterr().err


def _copy_run(small_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    return run


def _rewrite_sidecar(run: Path, sample_id: str, **changes: object) -> None:
    path = run / "videos" / f"{sample_id}.json"
    record = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    path.write_text(json.dumps(record))


def test_damaged_video_is_invalid_not_scored(small_bench: Benchmark, small_run: Path,
                                             tmp_path: Path) -> None:
    """Bytes flipped mid-file still decode (FFmpeg conceals them): the sidecar's sha256 catches
    it, and the sample is flagged with the file and the reason, never scored."""
    run = _copy_run(small_run, tmp_path)
    ids = [s.id for s in small_bench.samples]
    video = run / "videos" / f"{ids[2]}.mp4"
    recorded = json.loads((run / "videos" / f"{ids[2]}.json").read_text())["video_sha256"]
    assert recorded == file_sha256(video)
    data = bytearray(video.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    video.write_bytes(bytes(data))
    results = evaluate(inputs_from_run(run, small_bench.root), tmp_path / "res", ["ad"],
                       progress=False)
    reason = results["invalid_samples"][ids[2]]
    assert str(video) in reason and "sidecar recorded" in reason
    assert results["complete"] is False and results["unverified_videos"] == []
    per_sample = pd.read_parquet(tmp_path / "res" / "per_sample.parquet")
    assert ids[2] not in set(per_sample.sample_id)


def test_sidecar_without_hash_is_evaluated_unverified(small_bench: Benchmark, small_run: Path,
                                                      tmp_path: Path) -> None:
    """Runs generated before sidecars recorded the sha256: evaluated, and listed as such."""
    run = _copy_run(small_run, tmp_path)
    ids = [s.id for s in small_bench.samples]
    _rewrite_sidecar(run, ids[0], video_sha256=None)
    results = evaluate(inputs_from_run(run, small_bench.root), tmp_path / "res", ["ad"],
                       progress=False)
    assert results["complete"] is True and results["unverified_videos"] == [ids[0]]
    assert "unverified: 1 video(s) whose sidecar has no sha256" in summarise(results)


def test_video_at_another_fps_is_invalid(small_bench: Benchmark, small_run: Path,
                                         tmp_path: Path) -> None:
    from ttm_bench.video import read_video

    run = _copy_run(small_run, tmp_path)
    sid = small_bench.samples[0].id
    video = run / "videos" / f"{sid}.mp4"
    write_video(video, read_video(video), fps=small_bench.info.fps * 2)
    _rewrite_sidecar(run, sid, video_sha256=file_sha256(video))
    results = evaluate(inputs_from_run(run, small_bench.root), tmp_path / "res", ["ad"],
                       progress=False)
    assert "plays at 16 fps, the benchmark's clips at 8 fps" in results["invalid_samples"][sid]
