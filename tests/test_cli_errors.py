"""Bad input and a hostile environment get one message naming the thing and the fix (exit 2),
never a traceback; a bad video is flagged, never stops an evaluation."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.runner import RunSummary, generate_run
from ttm_bench.overrides import check_overrides
from ttm_bench.video import write_video


@pytest.fixture(scope="module")
def run(small_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "static"
    generate_run(small_bench.root, "static", out, progress=False)
    return out


def _evaluate(bench: Path, run: Path, out: Path, *extra: str) -> int:
    return main(["evaluate", "--bench", str(bench), "--run", str(run), "--metrics", "ad",
                 "--out", str(out), "--quiet", *extra])


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("ttm-bench: error:") == 1
    return err


def test_a_file_given_as_a_directory(small_bench: Benchmark, run: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    assert _evaluate(small_bench.root, run, file) == 2
    assert f"results directory {file} is a file" in _error(capsys)
    assert _evaluate(small_bench.root, file, tmp_path / "res") == 2
    assert f"run directory {file} is a file" in _error(capsys)
    assert main(["generate", "--bench", str(small_bench.root), "--model", "static", "--out",
                 str(file), "--quiet"]) == 2
    assert f"run directory {file} is a file; choose a directory" in _error(capsys)


def test_run_json_with_a_null_benchmark(small_bench: Benchmark, run: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    damaged = tmp_path / "run"
    shutil.copytree(run, damaged)
    info = json.loads((damaged / "run.json").read_text())
    (damaged / "run.json").write_text(json.dumps({**info, "benchmark": None, "repetition": "0"}))
    assert _evaluate(small_bench.root, damaged, tmp_path / "res") == 2
    err = _error(capsys)
    assert "run.json [benchmark]: missing required field" in err
    assert "run.json [repetition]: expected integer >= 0" in err


def test_evaluate_run_dot_is_named_from_the_resolved_path(
        small_bench: Benchmark, run: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(run)
    assert _evaluate(small_bench.root, Path("."), tmp_path / "res") == 0
    assert json.loads((tmp_path / "res" / "results.json").read_text())["run"] == run.name


def test_mistyped_set_is_refused_before_run_json_is_written(
        small_bench: Benchmark, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kb"
    args = ["generate", "--bench", str(small_bench.root), "--model", "ken-burns", "--out",
            str(out), "--quiet"]
    assert main([*args, "--set", "min_zoom=abc"]) == 2
    assert ("--set min_zoom=abc: model 'ken-burns' expects a number for 'min_zoom' (its "
            "default is 0.05), got str 'abc'") in _error(capsys)
    assert not (out / "run.json").exists()
    assert main([*args, "--set", "min_zoom=0.1"]) == 0  # the corrected command is not refused


def test_set_values_that_break_the_model_are_named(
        small_bench: Benchmark, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--bench", str(small_bench.root), "--model", "ken-burns", "--out",
                 str(tmp_path / "kb"), "--quiet", "--set", "min_zoom=0.3"]) == 2
    assert "failed to load with --set min_zoom=0.3: ken-burns: need" in _error(capsys)
    summary = RunSummary(tmp_path, 2, 0, 0, {"a": "ValueError: steps"}, "--set steps=-1")
    assert "this run sets --set steps=-1" in summary.describe()


def test_bootstrap_settings_are_checked_before_the_work(
        small_bench: Benchmark, run: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    for option in (["--seed", "-1"], ["--n-boot", "0"]):
        assert _evaluate(small_bench.root, run, tmp_path / "res", *option) == 2
        assert "need at least 1 bootstrap resample and a seed >= 0" in _error(capsys)
    assert not (tmp_path / "res").exists()


def test_mistyped_metric_option(small_bench: Benchmark, run: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    code = _evaluate(small_bench.root, run, tmp_path / "res", "--metric-option",
                     "ad_dis.eval_short_side=abc")
    assert code == 2
    assert "expects an integer for 'eval_short_side' (its default is 256)" in _error(capsys)


def test_overrides_take_the_type_of_their_default() -> None:
    defaults = {"zoom": 0.1, "steps": 25, "name": "x", "fast": False, "anything": None}
    checked = check_overrides(defaults, {"zoom": 1, "steps": 3, "anything": [1]}, "model m",
                              "--set ")
    assert checked == {"zoom": 1.0, "steps": 3, "anything": [1]}
    assert isinstance(checked["zoom"], float)
    for key, value in (("steps", True), ("steps", 2.5), ("fast", 1), ("name", 12)):
        with pytest.raises(TTMBenchError, match=f"--set {key}="):
            check_overrides(defaults, {key: value}, "model m", "--set ")
    with pytest.raises(TTMBenchError, match="quote it to pass text"):
        check_overrides(defaults, {"name": 12}, "model m", "--set ")


def test_names_that_name_nothing(small_bench: Benchmark, run: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--bench", str(small_bench.root), "--run", str(run), "--metrics",
                 ",,,", "--out", str(tmp_path / "res")]) == 2
    assert "--metrics ',,,' names nothing" in _error(capsys)
    assert _evaluate(small_bench.root, run, tmp_path / "res") == 0
    capsys.readouterr()
    assert main(["leaderboard", str(tmp_path / "res"), "--splits", " , "]) == 2
    assert "--splits ' , ' names nothing" in _error(capsys)
    (tmp_path / "dir").mkdir()
    assert main(["leaderboard", str(tmp_path / "res"), "--out", str(tmp_path / "dir")]) == 2
    assert "is a directory; give a file path" in _error(capsys)


def test_a_one_frame_video_is_flagged_not_fatal(run: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    shutil.copytree(run / "videos", videos)
    write_video(videos / "one.mp4", np.zeros((1, 64, 64, 3), np.uint8), fps=8)
    assert main(["evaluate", "--videos", str(videos), "--name", "v", "--metrics", "ad",
                 "--out", str(tmp_path / "res"), "--quiet"]) == 0
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    assert "AD needs at least 2 frames" in results["invalid_samples"]["one"]
    assert results["aggregate"][0]["n"] == 4 and results["complete"] is False


def test_ffmpeg_logs_nothing_of_its_own(run: Path, tmp_path: Path) -> None:
    """Damaged and truncated files: only our lines on stderr (FFmpeg writes to fd 2 itself)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    data = bytearray(next((run / "videos").glob("*.mp4")).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 200] = bytes(b ^ 0xFF for b in data[middle:middle + 200])
    (videos / "flipped.mp4").write_bytes(bytes(data[:-100]))
    (videos / "garbage.mp4").write_bytes(b"garbage" * 10)
    done = subprocess.run([sys.executable, "-m", "ttm_bench.cli", "evaluate", "--videos",
                           str(videos), "--name", "v", "--metrics", "ad", "--out",
                           str(tmp_path / "res"), "--quiet"], capture_output=True, text=True,
                          check=False, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert "@ 0x" not in done.stderr and "[h264" not in done.stderr, done.stderr
    assert "invalid garbage: cannot read video" in done.stdout


def _raise(code: int):
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), "/full/disk/file")
    return fail


@pytest.mark.parametrize("code, fix", [(errno.ENOSPC, "the disk is full"),
                                       (errno.EROFS, "the filesystem is read-only")])
def test_a_full_or_read_only_disk(small_bench: Benchmark, run: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], code: int,
                                  fix: str) -> None:
    """generate, evaluate and leaderboard: one message; the old results stay whole."""
    import pandas as pd

    from ttm_bench.generation import run as run_module
    from ttm_bench.report.results import load_results

    res = tmp_path / "res"
    assert _evaluate(small_bench.root, run, res) == 0
    with monkeypatch.context() as patch:
        patch.setattr(pd.DataFrame, "to_parquet", _raise(code))
        assert _evaluate(small_bench.root, run, res) == 2
        assert f"cannot write /full/disk/file: {os.strerror(code)}; {fix}" in _error(capsys)
    load_results(res)
    assert not list(res.glob(".staging-*"))
    with monkeypatch.context() as patch:
        patch.setattr(run_module, "write_json", _raise(code))
        assert main(["generate", "--bench", str(small_bench.root), "--model", "static",
                     "--out", str(tmp_path / "new"), "--quiet"]) == 2
        assert fix in _error(capsys)
    with monkeypatch.context() as patch:
        patch.setattr("ttm_bench.commands.leaderboard.write_text", _raise(code))
        assert main(["leaderboard", str(res), "--out", str(tmp_path / "board.md")]) == 2
        assert fix in _error(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_directory(small_bench: Benchmark, run: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert _evaluate(small_bench.root, run, locked / "res") == 2
        assert "permission denied" in _error(capsys)
        assert main(["generate", "--bench", str(small_bench.root), "--model", "static",
                     "--out", str(locked / "run"), "--quiet"]) == 2
        assert "permission denied" in _error(capsys)
    finally:
        locked.chmod(0o755)
