"""The shipped synthetic benchmark: deterministic, valid, with consistent ground truth."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SMALL
from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.masks import PALETTE, decode_rle
from ttm_bench.data.synthetic import SyntheticConfig, build_synthetic, sample_plan
from ttm_bench.data.synthetic_scene import render_scene
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


# --- the opt-in split one-moves ---------------------------------------------------------------

ONE_MOVES = dataclasses.replace(SMALL, samples=2, one_moves=2)


def test_one_moves_split_is_opt_in_and_leaves_the_other_samples_alone(
        small_bench: Benchmark) -> None:
    assert SyntheticConfig().one_moves == 0
    assert "one_moves" not in small_bench.info.description  # builds without it keep their bytes
    plan = sample_plan(ONE_MOVES)
    assert plan[:2] == sample_plan(dataclasses.replace(ONE_MOVES, one_moves=0))
    assert [(sid, split) for sid, split, _ in plan[2:]] == [
        ("syn-one-moves-000", "one-moves"), ("syn-one-moves-001", "one-moves")]
    # its scenes are not the default samples' (numpy pads a short seed with zeros)
    default = sample_plan(dataclasses.replace(SMALL, samples=4))
    assert {s.background_seed for *_, s in plan[2:]}.isdisjoint(
        s.background_seed for *_, s in default)


def test_one_moves_build_is_deterministic_with_exact_meta(tmp_path: Path) -> None:
    bench = build_synthetic(tmp_path / "a", ONE_MOVES, progress=False)
    assert build_synthetic(tmp_path / "b", ONE_MOVES, progress=False).info.sha256 == (
        bench.info.sha256)
    assert bench.info.splits == ("single", "multi", "one-moves")
    assert "'one_moves': 2" in bench.info.description
    renders = {sid: render_scene(spec) for sid, _, spec in sample_plan(ONE_MOVES)}
    ones = [s for s in bench.samples if s.split == "one-moves"]
    assert len(ones) == 2
    for sample in ones:
        render = renders[sample.id]
        moving, still = sample.meta["scene"]["objects"]
        assert (still["velocity"], still["angular_velocity"], still["scale_rate"]) == (
            [0.0, 0.0], 0.0, 0.0)
        assert np.hypot(*moving["velocity"]) > 0
        displacement = np.asarray(sample.meta["object_displacement_px"])
        assert displacement.shape == (2, 7) and (displacement[1] == 0).all()
        np.testing.assert_allclose(displacement[0], np.hypot(*moving["velocity"]), atol=1e-6)
        assert sample.meta["true_mean_flow_px"] == render.mean_flow_magnitude > 0
        assert sample.caption.endswith(f"{still['label']} stays still, over a mottled background.")
        assert sample.motion_prompt.endswith(f"{still['label']} stays still.")
        np.testing.assert_array_equal(bench.masklets(sample), render.masks)
        np.testing.assert_array_equal(bench.masks(sample), render.masks[0])


def test_one_moves_alone_and_cli(tmp_path: Path) -> None:
    out = tmp_path / "alone"
    assert main(["bench", "build", "synthetic", "--out", str(out), "--samples", "0",
                 "--one-moves", "1", "--frames", "4", "--size", "32", "32", "--quiet"]) == 0
    bench = Benchmark.load(out)
    assert bench.info.splits == ("one-moves",)
    assert [s.id for s in bench.samples] == ["syn-one-moves-000"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--one-moves", "-1"], "--one-moves -1 is negative"),
    (["--samples", "-2"], "--samples -2 is negative"),
    (["--samples", "0"], "--samples must be at least 1 (or --one-moves"),
])
def test_bad_counts_exit_2_naming_the_flag(flags: list[str], message: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "build", "synthetic", "--out", str(tmp_path / "x"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
