"""Object-level motion metrics: pure reductions, flow propagation, known answers on synthetic
scenes (exact masks and flow), and the evaluation path with masks and masklets."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ttm_bench.data.benchmark import Benchmark, SampleError
from ttm_bench.data.synthetic import SyntheticConfig, build_synthetic, sample_plan
from ttm_bench.data.synthetic_edits import (
    erase_object,
    exact_object_displacement,
    hidden_in_first_frame,
)
from ttm_bench.data.synthetic_scene import SceneRender, SceneSpec, render_scene
from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.generation.runner import generate_run
from ttm_bench.metrics import EvalItem, create_metric
from ttm_bench.metrics.objects import tracks as reductions
from ttm_bench.metrics.registry import GROUPS, expand_names
from ttm_bench.report.leaderboard import build_leaderboard, render_html, render_markdown
from ttm_bench.report.results import load_results

SCALE = 2.0  # the synthetic scenes are 128 px; the metrics evaluate at short side 256


@cache
def scene(index: int) -> tuple[SceneSpec, SceneRender]:
    """Sample `index` of the default synthetic benchmark: 0-7 single-object, 8-15 multi."""
    _, _, spec = sample_plan(SyntheticConfig())[index]
    return spec, render_scene(spec)


def score(name: str, video: np.ndarray, masks: np.ndarray, masklets: np.ndarray | None = None,
          **params: object) -> float:
    item = EvalItem("s", "all", video, 8.0, masks=masks, masklets=masklets)
    return create_metric(name, **params).score(item)


def exact_ad_object(render: SceneRender) -> float:
    """ad_object from the exact flow and visible masks, at the evaluation size."""
    return SCALE * float(np.mean(np.nanmean(exact_object_displacement(render), axis=1)))


# --- pure reductions ---------------------------------------------------------------------

def test_tracks_from_flow_weighs_pixels_by_their_mask() -> None:
    masks = np.zeros((2, 2, 4, 4), np.float32)
    masks[:, 0, :2, :2] = 1.0  # object 0: top-left 2x2
    masks[:, 1, 2:, 2:] = 0.5  # object 1: half-members bottom-right
    flow = np.zeros((1, 4, 4, 2), np.float32)
    flow[0, :2, :2] = (3.0, 4.0)  # object 0 moves 5 px
    flow[0, 2:, 2:, 0] = 2.0  # object 1 moves 2 px
    flow[0, 0, 3, 1] = 1.0  # one background pixel moves 1 px
    tracks = reductions.tracks_from_flow(masks, np.linalg.norm(flow, axis=-1))
    np.testing.assert_allclose(tracks.object_displacement, [[5.0], [2.0]])
    # background weights: 8 pixels at 1, the 4 half-members at 0.5 (of 2 px each)
    np.testing.assert_allclose(tracks.background_displacement, [(1.0 + 0.5 * 4 * 2) / 10])
    np.testing.assert_allclose(tracks.frame_displacement, [(4 * 5 + 4 * 2 + 1) / 16])
    np.testing.assert_allclose(tracks.object_motion, [(4 * 5 + 0.5 * 4 * 2) / 16])


def test_tracks_from_points_counts_steps_visible_at_both_ends() -> None:
    points = np.array([[[0, 0], [10, 10], [20, 20]],
                       [[3, 4], [11, 10], [20, 20]],
                       [[6, 8], [12, 10], [20, 23]]], dtype=float)
    visible = np.array([[True, True, True], [True, True, True], [True, False, True]])
    tracks = reductions.tracks_from_points(points, visible, np.array([0, 1, -1]), 2)
    np.testing.assert_allclose(tracks.object_displacement, [[5, 5], [1, np.nan]])
    np.testing.assert_allclose(tracks.background_displacement, [0, 3])
    np.testing.assert_allclose(tracks.frame_displacement, [2, 4])
    np.testing.assert_allclose(tracks.object_motion, [2, 2.5])
    assert tracks.masks is None
    assert reductions.mean_object_displacement(tracks) == pytest.approx(3.0)


def test_locality_persistence_and_iou_closed_forms() -> None:
    tracks = reductions.ObjectTracks(None, np.ones((1, 2)), np.ones(2), np.array([2.0, 2.0]),
                                     np.array([1.0, 0.5]))
    assert reductions.motion_locality(tracks, static_px=0.1) == pytest.approx(1.5 / 4)
    assert np.isnan(reductions.motion_locality(tracks, static_px=2.5))
    masks = np.zeros((3, 2, 10, 10), np.float32)
    masks[:, 0, :4, :4] = 1  # object 0: 16 px throughout
    masks[0, 1, :2, :] = 1  # object 1: 20 px, then 9 (ratio 0.45, outside), then 40 (2.0, in)
    masks[1, 1, 5:8, 5:8] = 1
    masks[2, 1, 6:, :] = 1
    assert reductions.persistence(masks, (0.5, 2.0)) == pytest.approx(3 / 4)
    targets = masks >= 0.5
    assert reductions.mean_iou(masks, targets) == pytest.approx(1.0)
    shifted = targets.copy()
    shifted[1:, 0] = False
    shifted[1:, 0, :4, 2:6] = True  # 8 of 24 px shared
    assert reductions.mean_iou(masks, shifted) == pytest.approx((1 / 3 + 1 / 3 + 1 + 1) / 4)
    assert np.isnan(reductions.mean_iou(np.zeros((2, 1, 3, 3)), np.zeros((2, 1, 3, 3), bool)))


# --- known answers on synthetic scenes ------------------------------------------------------

@pytest.mark.parametrize("index", [0, 1, 2, 3, *range(8, 16)])
def test_ground_truth_ad_object_within_10_percent_of_exact(index: int) -> None:
    _, render = scene(index)
    value = score("ad_object", render.frames, render.masks[0])
    assert value == pytest.approx(exact_ad_object(render), rel=0.10)
    assert score("ad_background", render.frames, render.masks[0]) < 0.15 * value


def test_ground_truth_trajectory_miou_single_object() -> None:
    values = [score("trajectory_miou", r.frames, r.masks[0], r.masks, target="masklets")
              for r in (scene(i)[1] for i in range(4))]
    assert np.mean(values) >= 0.95, values


def test_ground_truth_trajectory_miou_multi_object_with_occlusion() -> None:
    """Scenes 8-15 (the demo's multi-object split) have occlusions, and parts of objects that
    frame 0 does not show (10% of the masklets' pixels): counted or void, the tracks match."""
    full, void, persistent = [], [], []
    for index in range(8, 16):
        spec, render = scene(index)
        metric = create_metric("trajectory_miou")
        tracks = metric.tracks(EvalItem("s", "all", render.frames, 8.0, masks=render.masks[0]))
        size = tracks.masks.shape[2:]
        targets = reductions.resize_masks(render.masks, size) >= 0.5
        hidden = reductions.resize_masks(hidden_in_first_frame(spec, render), size) >= 0.5
        full.append(reductions.mean_iou(tracks.masks, targets))
        void.append(reductions.mean_iou(tracks.masks, targets, hidden))
        persistent.append(reductions.persistence(tracks.presence, (0.5, 2.0)))
    assert np.mean(full) >= 0.9, full
    assert np.mean(void) >= 0.9, void
    assert np.mean(persistent) >= 0.9, persistent


def test_static_video_has_no_motion_and_full_persistence() -> None:
    _, render = scene(8)
    video = np.repeat(render.frames[:1], 8, axis=0)
    masks = render.masks[0]
    assert score("ad_object", video, masks) == 0.0
    assert score("ad_background", video, masks) == 0.0
    assert score("object_persistence", video, masks) == 1.0
    assert np.isnan(score("motion_locality", video, masks))


def test_pan_gives_motion_locality_equal_to_area_share() -> None:
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 256, (16, 16, 3), np.uint8).repeat(8, 0).repeat(8, 1)  # 128 px
    video = np.stack([np.roll(texture, t, axis=1) for t in range(6)])
    masks = np.zeros((2, 128, 128), bool)
    masks[0, 20:60, 20:50] = True
    masks[1, 80:110, 70:120] = True
    value = score("motion_locality", video, masks)
    assert value == pytest.approx(masks.any(axis=0).mean(), abs=0.03)


def test_ken_burns_motion_locality_near_area_share() -> None:
    from baselines.floors import KenBurnsModel
    from ttm_bench.generation.model import GenerationRequest

    model = KenBurnsModel()
    model.load(model.default_config, "cpu")
    _, render = scene(9)
    video = model.generate(GenerationRequest("s", render.frames[0], "", 16, 8.0, 128, 128, 0))
    share = render.masks[0].any(axis=0).mean()
    assert score("motion_locality", video, render.masks[0]) == pytest.approx(share, abs=0.1)
    assert score("object_persistence", video, render.masks[0]) == 1.0


def test_object_erased_halfway_lowers_persistence_by_its_share() -> None:
    spec, render = scene(8)  # two objects that never occlude each other
    video, masks = erase_object(spec, 0, from_frame=8)
    # object 0 is present in frames 1-7 of 15 predicted frames, object 1 in all 15
    assert reductions.persistence(masks, (0.5, 2.0)) == pytest.approx((7 + 15) / 30)
    assert score("object_persistence", video, render.masks[0]) == pytest.approx((7 + 15) / 30)
    assert score("object_persistence", render.frames, render.masks[0]) == 1.0


@pytest.mark.parametrize("index", [0, 1])
def test_ad_object_separates_the_moving_object_from_the_still_one(index: int) -> None:
    _, _, spec = sample_plan(SyntheticConfig(samples=0, one_moves=2))[index]  # split one-moves
    render = render_scene(spec)
    tracks = create_metric("ad_object").tracks(
        EvalItem("one", "one-moves", render.frames, 8.0, masks=render.masks[0]))
    moving, still = np.nanmean(tracks.object_displacement, axis=1)
    exact_moving, exact_still = SCALE * np.nanmean(exact_object_displacement(render), axis=1)
    assert exact_still < 1e-9 and still < 0.3
    assert moving == pytest.approx(exact_moving, rel=0.15)
    # ad_object averages over objects: half the moving object's displacement
    assert score("ad_object", render.frames, render.masks[0]) == pytest.approx(
        0.5 * exact_moving, rel=0.15)


def test_evaluation_of_the_one_moves_split(tmp_path: Path) -> None:
    config = SyntheticConfig(samples=1, seed=3, frames=8, height=64, width=64, one_moves=2)
    bench = build_synthetic(tmp_path / "bench", config, progress=False)
    generate_run(bench.root, "ground-truth", tmp_path / "run", progress=False)
    evaluate(inputs_from_run(tmp_path / "run", bench.root), tmp_path / "out",
             ["ad_object", "ad_background"], n_boot=10, progress=False)
    per_sample = pd.read_parquet(tmp_path / "out" / "per_sample.parquet")
    values = per_sample.pivot(index="sample_id", columns="metric", values="value")
    scale = 256 / 64
    one_moves = [(sid, spec) for sid, split, spec in sample_plan(config) if split == "one-moves"]
    assert len(one_moves) == 2
    for sample_id, spec in one_moves:
        exact = scale * np.nanmean(exact_object_displacement(render_scene(spec)), axis=1)
        assert values.loc[sample_id, "ad_object"] == pytest.approx(0.5 * exact[0], rel=0.15)
        assert values.loc[sample_id, "ad_background"] < 0.1 * exact[0]
    board = build_leaderboard([load_results(tmp_path / "out")], metrics=["ad_object"])
    assert board.splits == ("single", "one-moves")
    assert "| single-object | one of two moving |" in render_markdown(board)


# --- registry, inputs and the evaluation ------------------------------------------------------

def test_objects_group_expands_and_unknown_names_list_it() -> None:
    assert expand_names(["ad", "objects", "ad_object"]) == ["ad_dis", *GROUPS["objects"]]
    with pytest.raises(UnknownNameError, match="objects"):
        expand_names(["objectz"])


def test_object_metrics_refuse_videos_without_masks_or_mismatched_sizes() -> None:
    _, render = scene(0)
    with pytest.raises(TTMBenchError, match="no first-frame object masks"):
        score("ad_object", render.frames, np.zeros((0, 128, 128), bool))
    with pytest.raises(TTMBenchError, match="regenerate the video"):
        score("ad_object", render.frames[:, :64], render.masks[0])
    with pytest.raises(TTMBenchError, match="masklets must have one mask per object"):
        score("trajectory_miou", render.frames, render.masks[0], render.masks[:4],
              target="masklets")
    with pytest.raises(TTMBenchError, match="tracker 'optical' unknown"):
        create_metric("ad_object", tracker="optical")


def test_evaluation_feeds_masks_and_masklets(small_bench: Benchmark, tmp_path: Path) -> None:
    for model in ("static", "ground-truth"):
        generate_run(small_bench.root, model, tmp_path / model, progress=False)
    static = evaluate(inputs_from_run(tmp_path / "static", small_bench.root),
                      tmp_path / "out-static", ["objects"], n_boot=10, progress=False)
    assert list(static["presets"]) == list(GROUPS["objects"])
    assert "undefined for 4 of the run's 4 sample(s)" in static["warnings"]["motion_locality"][0]
    rows = {(r["split"], r["metric"]): r for r in static["aggregate"]}
    assert np.isnan(rows["all", "motion_locality"]["value"])
    assert rows["all", "object_persistence"]["value"] == 1.0
    truth = evaluate(inputs_from_run(tmp_path / "ground-truth", small_bench.root),
                     tmp_path / "out-gt", ["objects"], n_boot=10, progress=False)
    rows = {(r["split"], r["metric"]): r for r in truth["aggregate"]}
    assert rows["single", "trajectory_miou"]["value"] > 0.8
    assert rows["all", "ad_object"]["value"] > 5 * rows["all", "ad_background"]["value"]
    per_sample = pd.read_parquet(tmp_path / "out-gt" / "per_sample.parquet")
    assert len(per_sample) == 4 * len(GROUPS["objects"])
    board = build_leaderboard([load_results(tmp_path / "out-static"),
                               load_results(tmp_path / "out-gt")])
    assert all(c.metric not in GROUPS["objects"] for c in board.columns)
    assert [p.metric for p in board.objects.presets] == list(GROUPS["objects"])
    markdown, page = render_markdown(board), render_html(board)
    assert "## Object-level motion" in markdown and "Trajectory mIoU (masklets)↑" in markdown
    assert "static video" in markdown  # why static has no motion locality
    assert 'id="objects-note-1"' in page and 'href="#objects-note-1"' in page
    only = build_leaderboard([load_results(tmp_path / "out-gt")], metrics=["objects"])
    assert [c.metric for c in only.columns if c.split == "single"] == list(GROUPS["objects"])
    assert only.objects is None


def test_masklets_errors_name_the_file_and_fix(bench_copy: Path) -> None:
    bench = Benchmark.load(bench_copy)
    sample = bench.samples[0]
    masklets = bench.masklets(sample)
    assert masklets.shape == (bench.info.num_frames, len(sample.objects), 64, 64)
    np.testing.assert_array_equal(masklets[0], bench.masks(sample))
    outside = dataclasses.replace(sample, meta={**sample.meta, "masklets": "../x.json"})
    with pytest.raises(SampleError, match=r"meta\.masklets.*path"):
        bench.masklets(outside)
    path = bench_copy / sample.meta["masklets"]
    path.write_text("{", encoding="utf-8")
    with pytest.raises(SampleError, match="unreadable masklets"):
        bench.masklets(sample)
    path.write_text(json.dumps({"objects": [9], "frames": []}), encoding="utf-8")
    with pytest.raises(SampleError, match="one RLE per object"):
        bench.masklets(sample)
    rle = {"size": [32, 32], "counts": "0"}
    path.write_text(json.dumps({"objects": [o.id for o in sample.objects],
                                "frames": [[rle] * len(sample.objects)]}), encoding="utf-8")
    with pytest.raises(SampleError, match=r"size \[\(32, 32\)\], the benchmark is \[64, 64\]"):
        bench.masklets(sample)
