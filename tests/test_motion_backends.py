"""AD backends with weights: RAFT-large (torchvision) and CoTracker3 tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ttm_bench.metrics.base import MissingWeightsError
from ttm_bench.metrics.raft_flow import load_raft, raft_flow, raft_input
from ttm_bench.metrics.track_motion import mean_visible_displacement


@pytest.fixture(scope="module")
def raft_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from torchvision.models.optical_flow import raft_large

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_large.pth"
    torch.save(raft_large(weights=None).state_dict(), path)
    return path


def test_raft_input_scales_and_pads_by_replication() -> None:
    video = np.zeros((2, 10, 13, 3), np.uint8)
    video[:, -1, :, 0] = 255  # last row red
    frames = raft_input(video)
    assert frames.shape == (2, 3, 16, 16)
    assert frames.min() == -1.0 and frames.max() == 1.0
    assert torch.all(frames[:, 0, 10:, :13] == 1.0)  # padded rows repeat the red row
    assert torch.all(frames[:, :, :10, 13:] == frames[:, :, :10, 12:13])


def test_raft_flow_shape_crop_and_strict_loading(raft_file: Path, tmp_path: Path) -> None:
    model = load_raft(raft_file)
    video = np.random.default_rng(0).integers(0, 256, (2, 130, 137, 3), dtype=np.uint8)
    flow = raft_flow(model, video, num_flow_updates=1)
    assert flow.shape == (1, 130, 137, 2) and flow.dtype == np.float32
    assert np.all(np.isfinite(flow))
    state = torch.load(raft_file, weights_only=True)
    state.pop(next(iter(state)))
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(MissingWeightsError, match=r"broken\.pth does not match"):
        load_raft(broken)
    with pytest.raises(ValueError, match="at least 128"):
        raft_flow(model, video[:, :100], num_flow_updates=1)


@pytest.mark.slow
def test_raft_flow_does_not_depend_on_batching(raft_file: Path) -> None:
    model = load_raft(raft_file)
    video = np.random.default_rng(1).integers(0, 256, (3, 128, 136, 3), dtype=np.uint8)
    one = raft_flow(model, video, num_flow_updates=2, batch_size=1)
    two = raft_flow(model, video, num_flow_updates=2, batch_size=2)
    np.testing.assert_allclose(one, two, atol=1e-4)


def test_mean_visible_displacement_known_answers() -> None:
    # point 0 moves 3-4-5 triangles (5 px/step); point 1 moves 1 px/step but hides at t=2
    tracks = np.array([[[0, 0], [10, 10]],
                       [[3, 4], [11, 10]],
                       [[6, 8], [12, 10]]], dtype=float)
    visible = np.array([[True, True], [True, True], [True, False]])
    assert mean_visible_displacement(tracks, visible) == pytest.approx((5 + 5 + 1) / 3)
    assert mean_visible_displacement(tracks, np.ones((3, 2), bool)) == pytest.approx(3.0)
    assert np.isnan(mean_visible_displacement(tracks, np.zeros((3, 2), bool)))


def test_cotracker_tracks_start_at_the_grid_and_load_strictly(tmp_path: Path) -> None:
    import cotracker.predictor as predictor_module  # installed by `make test` (see Makefile)

    from ttm_bench.metrics.track_motion import load_cotracker

    torch.manual_seed(0)
    untrained = predictor_module.CoTrackerPredictor(checkpoint=None, offline=True, window_len=60)
    path = tmp_path / "scaled_offline.pth"
    torch.save({"model": untrained.model.state_dict()}, path)
    predictor = load_cotracker(path)
    video = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (4, 64, 80, 3),
                                                               dtype=np.uint8))
    frames = video.permute(0, 3, 1, 2).float()[None]
    with torch.inference_mode():
        tracks, visible = predictor(frames, grid_size=3)
    assert tracks.shape == (1, 4, 9, 2) and visible.shape == (1, 4, 9)
    xs, ys = tracks[0, 0, :, 0], tracks[0, 0, :, 1]
    assert float(xs.min()) >= 0 and float(xs.max()) <= 79
    assert float(ys.min()) >= 0 and float(ys.max()) <= 63
    assert len(set(np.round(xs.numpy(), 3))) == 3 and len(set(np.round(ys.numpy(), 3))) == 3


def translating_texture(shift_px: int, frames: int = 4, size: int = 256) -> np.ndarray:
    """A smooth random texture moving right by `shift_px` pixels per frame: uint8 [T, S, S, 3]."""
    import cv2

    rng = np.random.default_rng(7)
    canvas = cv2.GaussianBlur(rng.uniform(0, 255, (size, size + shift_px * frames, 3)),
                              (0, 0), 3)
    canvas = cv2.normalize(canvas, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    start = shift_px * frames
    return np.stack([canvas[:, start - t * shift_px:start - t * shift_px + size]
                     for t in range(frames)])


def installed(checkpoint: str) -> bool:
    from ttm_bench import weights

    try:
        weights.locate(checkpoint)
    except MissingWeightsError:
        return False
    return True


@pytest.mark.parametrize("name, checkpoint", [
    ("ad_dis", None),
    pytest.param("ad_raft", "raft_large", marks=[pytest.mark.slow, pytest.mark.skipif(
        not installed("raft_large"), reason="RAFT-large weights not installed")]),
    pytest.param("ad_cotracker", "cotracker3_offline", marks=[pytest.mark.slow, pytest.mark.skipif(
        not installed("cotracker3_offline"), reason="CoTracker3 weights not installed")]),
])
def test_ad_backends_recover_a_known_translation(name: str, checkpoint: str | None) -> None:
    from ttm_bench.metrics.base import EvalItem
    from ttm_bench.metrics.registry import create_metric

    metric = create_metric(name)
    metric.setup("cpu")
    metric.update(EvalItem("shift3", "single", translating_texture(3), 8.0))
    assert metric.compute() == pytest.approx(3.0, rel=0.10)


def test_ad_raft_runs_through_the_registry_with_explicit_weights(
        raft_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dataclasses import replace

    from ttm_bench import weights
    from ttm_bench.errors import TTMBenchError
    from ttm_bench.metrics.base import EvalItem
    from ttm_bench.metrics.registry import create_metric

    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TTM_BENCH_WEIGHTS_DIR", raising=False)
    with pytest.raises(MissingWeightsError, match=r"raft_large_C_T_SKHT_V2-ff5fadd5\.pth"):
        create_metric("ad_raft").setup("cpu")
    with pytest.raises(MissingWeightsError, match="corrupt"):  # not the released file
        create_metric("ad_raft", checkpoint=raft_file).setup("cpu")
    registered = weights.CHECKPOINTS["raft_large"]
    monkeypatch.setitem(weights.CHECKPOINTS, "raft_large",
                        replace(registered, sha256=weights.file_sha256(raft_file)))
    metric = create_metric("ad_raft", checkpoint=raft_file, eval_short_side=128,
                           raft_iterations=1)
    assert metric.preset.params["raft_iterations"] == 1 and "grid_size" not in metric.params
    metric.setup("cpu")
    metric.update(EvalItem("a", "single", translating_texture(2, frames=2, size=128), 8.0))
    assert np.isfinite(metric.compute()) and metric.compute() >= 0
    with pytest.raises(TTMBenchError, match="no parameter"):
        create_metric("ad_dis", grid_size=10)
    with pytest.raises(TTMBenchError, match="AD backend 'farneback' unknown"):
        create_metric("ad_dis", backend="farneback")
