"""The generation runner: seeds, shards, sidecars, failures, resume, and the reference floors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from baselines.floors import KenBurnsModel
from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.generation.model import GenerationRequest, VideoModel
from ttm_bench.generation.registry import register_model, resolve_model
from ttm_bench.generation.run import RunDir
from ttm_bench.generation.runner import generate_run, parse_shard, shard_samples
from ttm_bench.generation.seeds import derive_seed
from ttm_bench.video import read_video


@register_model("test-flaky")
class FlakyModel(VideoModel):
    """Noisy copies of the input; `<marker_dir>/<id>.fail` makes a sample raise and
    `<marker_dir>/<id>.short` makes it return one frame too few."""

    name = "test-flaky"
    version = "1"
    default_config: Mapping[str, Any] = {"marker_dir": "", "sleep": 0.0}

    def load(self, config: Mapping[str, Any], device: str) -> None:
        self.config = config

    def generate(self, request: GenerationRequest) -> np.ndarray:
        time.sleep(self.config["sleep"])
        markers = Path(self.config["marker_dir"] or "/nonexistent")
        if (markers / f"{request.sample_id}.fail").exists():
            raise RuntimeError("out of memory (simulated)")
        frames = request.num_frames - (markers / f"{request.sample_id}.short").exists()
        rng = np.random.default_rng(request.seed)
        noise = rng.integers(0, 20, (frames, request.height, request.width, 3), dtype=np.uint8)
        return np.clip(request.image[None].astype(int) + noise, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def test_seeds_are_stable_and_distinct() -> None:
    assert derive_seed("synthetic", "a", 0) == derive_seed("synthetic", "a", 0)
    seeds = {derive_seed("synthetic", s, r) for s in "abc" for r in range(3)}
    assert len(seeds) == 9 and all(0 <= s < 2**31 for s in seeds)
    # pinned value: changing the seed policy silently would change every run
    assert derive_seed("synthetic", "syn-000", 0) == int.from_bytes(
        __import__("hashlib").sha256(b"synthetic/syn-000/0").digest()[:8], "big") % 2**31


def test_shards_partition_the_samples() -> None:
    ids = [f"s{i}" for i in range(10)]
    shards = [shard_samples(ids, i, 3) for i in range(3)]
    assert sorted(s for shard in shards for s in shard) == sorted(ids)
    assert shards[0] == ["s0", "s3", "s6", "s9"]
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "a/b", "1", "-1/2"):
        with pytest.raises(TTMBenchError):
            parse_shard(bad)


def test_unknown_model_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'static'"):
        resolve_model("statc")
    assert resolve_model("baselines.floors:StaticModel").name == "static"


def test_run_with_failures_then_resume(small_bench: Benchmark, tmp_path: Path) -> None:
    ids = [s.id for s in small_bench.samples]
    out = tmp_path / "run"
    (tmp_path / f"{ids[1]}.fail").touch()
    (tmp_path / f"{ids[2]}.short").touch()
    config = {"marker_dir": str(tmp_path)}
    summary = generate_run(small_bench.root, "test-flaky", out, progress=False, overrides=config)
    assert summary.ok == 2 and set(summary.failed) == {ids[1], ids[2]}
    run = RunDir(out)
    bad = run.read_record(ids[1])
    assert bad.status == "failed" and "out of memory" in bad.error
    assert "expected uint8 [8, 64, 64, 3]" in run.read_record(ids[2]).error
    assert not run.video_path(ids[1]).exists() and not run.video_path(ids[2]).exists()
    good = run.read_record(ids[0])
    assert good.ok and good.seed == derive_seed("synthetic", ids[0]) and good.seconds > 0
    assert json.loads(run.info_path.read_text())["finished"] is None
    before = run.video_path(ids[0]).stat().st_mtime_ns
    # rerun with the causes fixed: exactly the two failed samples are generated again
    (tmp_path / f"{ids[1]}.fail").unlink()
    (tmp_path / f"{ids[2]}.short").unlink()
    summary = generate_run(small_bench.root, "test-flaky", out, progress=False, overrides=config)
    assert (summary.skipped, summary.ok, summary.failed) == (2, 2, {})
    assert run.video_path(ids[0]).stat().st_mtime_ns == before  # nothing overwritten
    assert run.read_info().finished is not None
    with pytest.raises(TTMBenchError, match="config"):
        generate_run(small_bench.root, "test-flaky", out, progress=False)


def test_sharded_runs_fill_one_directory(small_bench: Benchmark, tmp_path: Path) -> None:
    out = tmp_path / "run"
    for i in range(2):
        generate_run(small_bench.root, "static", out, shard=(i, 2), progress=False)
    run = RunDir(out)
    assert all(run.is_finished(s.id) for s in small_bench.samples)
    assert run.read_info().finished is not None


def test_run_json_mismatch_is_refused(small_bench: Benchmark, tmp_path: Path) -> None:
    out = tmp_path / "run"
    generate_run(small_bench.root, "static", out, progress=False)
    with pytest.raises(TTMBenchError, match="model"):
        generate_run(small_bench.root, "ken-burns", out, progress=False)


def test_floors(small_bench: Benchmark, tmp_path: Path) -> None:
    for model in ("static", "ground-truth", "ken-burns"):
        assert main(["generate", "--bench", str(small_bench.root), "--model", model, "--out",
                     str(tmp_path / model), "--quiet"]) == 0
    sample = small_bench.samples[0]
    image = small_bench.image(sample)
    static = read_video(tmp_path / "static" / "videos" / f"{sample.id}.mp4")
    gt = read_video(tmp_path / "ground-truth" / "videos" / f"{sample.id}.mp4")
    assert static.shape == gt.shape == (8, 64, 64, 3)
    # lossy H.264 (crf 18, 4:2:0): close to, not exactly, the source frames
    assert psnr(static, np.repeat(image[None], 8, axis=0)) > 30
    assert psnr(gt, small_bench.video(sample)) > 30


def test_ken_burns_is_seeded_and_moves(small_bench: Benchmark) -> None:
    model = KenBurnsModel()
    model.load(KenBurnsModel.default_config, "cpu")
    image = small_bench.image(small_bench.samples[0])
    request = GenerationRequest("x", image, "c", num_frames=8, fps=8, height=64, width=64, seed=3)
    a, b = model.generate(request), model.generate(request)
    np.testing.assert_array_equal(a, b)
    c = model.generate(GenerationRequest("x", image, "c", 8, 8, 64, 64, seed=4))
    assert not np.array_equal(a, c)
    np.testing.assert_allclose(a[0], image, atol=1)  # starts at the input image
    assert np.abs(a[-1].astype(int) - image).mean() > 2  # and moves away from it


def test_unknown_config_key(small_bench: Benchmark, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", "--bench", str(small_bench.root), "--model", "ken-burns", "--out",
                 str(tmp_path / "r"), "--set", "zoom=2"])
    assert code == 2
    assert "no config key(s) ['zoom']" in capsys.readouterr().err


KILL_SCRIPT = """
import sys
from tests.test_generation import FlakyModel  # registers test-flaky
from ttm_bench.generation.runner import generate_run
generate_run(sys.argv[1], "test-flaky", sys.argv[2], overrides={"sleep": 0.4}, progress=False)
"""


def test_resume_after_killed_run(small_bench: Benchmark, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(small_bench.root), str(out)],
                            env=env)
    run = RunDir(out)
    deadline = time.time() + 60
    while time.time() < deadline and not any(run.is_finished(s.id) for s in small_bench.samples):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [s.id for s in small_bench.samples if run.is_finished(s.id)]
    assert 1 <= len(done) < len(small_bench)
    # no half-written video is ever visible under its final name
    for mp4 in run.videos.glob("*.mp4"):
        if not mp4.name.startswith("."):
            assert read_video(mp4).shape[0] == 8
    summary = generate_run(small_bench.root, "test-flaky", out, overrides={"sleep": 0.4},
                           progress=False)
    assert summary.skipped == len(done)
    assert summary.ok == len(small_bench) - len(done)
    assert not list(run.videos.glob(".*"))  # stale temporaries cleaned up
    assert run.read_info().finished is not None
