"""The shipped synthetic benchmark: deterministic, valid, with consistent ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SMALL
from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.masks import PALETTE, decode_rle
from ttm_bench.data.synthetic import SyntheticConfig, build_synthetic
from ttm_bench.errors import TTMBenchError
from ttm_bench.video import read_video


def test_same_config_same_hash(small_bench: Benchmark, tmp_path: Path) -> None:
    again = build_synthetic(tmp_path / "again", SMALL, progress=False)
    assert again.info.sha256 == small_bench.info.sha256
    other = build_synthetic(tmp_path / "other", SyntheticConfig(**{**SMALL.__dict__, "seed": 8}),
                            progress=False)
    assert other.info.sha256 != small_bench.info.sha256


def test_info_and_splits(small_bench: Benchmark) -> None:
    info = small_bench.info
    assert (info.name, info.num_frames, info.height, info.width, info.fps) == (
        "synthetic", 8, 64, 64, 8.0)
    assert info.splits == ("single", "multi")
    for s in small_bench.samples:
        assert (len(s.objects) == 1) == (s.split == "single")
        assert 1 <= len(s.objects) <= 3
        assert s.caption and s.motion_prompt
        assert all(o.local_prompt and o.label for o in s.objects)
        assert s.meta["true_mean_flow_px"] > 0


def test_masklets_match_first_frame_masks(small_bench: Benchmark) -> None:
    for s in small_bench.samples:
        masklets = json.loads((small_bench.root / s.meta["masklets"]).read_text())
        frames = masklets["frames"]
        assert len(frames) == small_bench.info.num_frames
        for k, obj in enumerate(s.objects):
            from ttm_bench.data.sample import RLE

            first = decode_rle(RLE(tuple(frames[0][k]["size"]), frames[0][k]["counts"]))
            np.testing.assert_array_equal(first, decode_rle(obj.mask))
        # visible masks of different objects never overlap (occlusion resolved)
        stacked = np.stack([[decode_rle(RLE(tuple(r["size"]), r["counts"])) for r in f]
                            for f in frames])
        assert stacked.sum(axis=1).max() <= 1


def test_trajectory_video_uses_palette(small_bench: Benchmark) -> None:
    s = small_bench.samples[-1]
    video = read_video(small_bench.root / s.meta["trajectory_video"])
    colours = {tuple(c) for c in video.reshape(-1, 3)}
    allowed = {(0, 0, 0)} | {tuple(PALETTE[k]) for k in range(len(s.objects))}
    assert colours <= allowed  # lossless: exactly the palette, no codec drift
    assert len(colours) == len(s.objects) + 1


def test_refuses_non_empty_out(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(TTMBenchError, match="not empty"):
        build_synthetic(tmp_path / "x", SMALL, progress=False)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_build_cli(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    code = main(["bench", "build", "synthetic", "--out", str(out), "--samples", "2",
                 "--frames", "4", "--size", "32", "48", "--quiet"])
    assert code == 0
    bench = Benchmark.load(out)
    assert (len(bench), bench.info.height, bench.info.width) == (2, 32, 48)
    assert main(["bench", "build", "synthetic", "--out", str(tmp_path / "bad"), "--size",
                 "33", "32"]) == 2
