"""A paper baseline through `ttm-bench generate`, locally and on Ray: one runner, one policy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.external_standins import install_standin
from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.generation.normalize import POLICY, prepare_image
from ttm_bench.video import read_video, resize_video

TARGET = "baselines.external:VideoCrafter1I2V"


def generate(bench: Benchmark, repo: Path, out: Path, *extra: str) -> int:
    return main(["generate", "--bench", str(bench.root), "--model", TARGET, "--out", str(out),
                 "--set", f"repo={repo}", "--set", f"python={sys.executable}", "--quiet",
                 *extra])


def check_run(bench: Benchmark, out: Path, invocations: int) -> None:
    commands = set()
    for sample in bench.samples:
        record = json.loads((out / "videos" / f"{sample.id}.json").read_text())
        assert record["status"] == "ok", record["error"]
        norm = record["extra"]["normalization"]
        assert norm["policy"] == POLICY
        assert (norm["source_frames"], norm["source_height"], norm["source_width"]) == (
            16, 320, 512)
        assert (norm["target_frames"], norm["target_height"]) == (8, 64)
        assert norm["frame_indices"] == [0, 2, 4, 6, 9, 11, 13, 15]
        commands.add(record["extra"]["external"]["command"])
        # the stand-in's frame t is the native-size input brightened by 4·t; the policy takes
        # frames `frame_indices` and shrinks them back. H.264 on disk is lossy (~1-2 levels on
        # these tiny frames), so compare frame mean brightness, whose steps between frames are
        # 8 or 12 levels here (a wrong source frame is off by >= 4), and the pixels loosely
        native = prepare_image(bench.image(sample), 320, 512).astype(int)
        clip = np.stack([np.clip(native + 4 * t, 0, 255) for t in norm["frame_indices"]])
        expected = resize_video(clip.astype(np.uint8), (64, 64), "area").astype(float)
        video = read_video(out / "videos" / f"{sample.id}.mp4")
        assert video.shape == (8, 64, 64, 3)
        means, expected_means = video.mean(axis=(1, 2, 3)), expected.mean(axis=(1, 2, 3))
        np.testing.assert_allclose(np.diff(means), np.diff(expected_means), atol=2.0)
        np.testing.assert_allclose(means, expected_means, atol=3.5)
        assert np.abs(video - expected).mean() < 6.0
    assert len(commands) == invocations


def test_baseline_generate_locally(small_bench, tmp_path):
    repo = install_standin("videocrafter1-i2v", tmp_path)
    assert generate(small_bench, repo, tmp_path / "run") == 0
    check_run(small_bench, tmp_path / "run", invocations=4)  # the local executor: one per clip


@pytest.mark.slow  # starts a Ray instance (~15 s)
def test_baseline_generate_on_ray_batches_one_invocation(small_bench, tmp_path):
    ray = pytest.importorskip("ray")
    repo = install_standin("videocrafter1-i2v", tmp_path)
    try:
        code = generate(small_bench, repo, tmp_path / "run", "--executor", "ray", "--workers", "1")
    finally:
        ray.shutdown()
    assert code == 0
    check_run(small_bench, tmp_path / "run", invocations=1)  # all four in one batch
