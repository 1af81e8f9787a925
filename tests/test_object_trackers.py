"""The model-backed object trackers (`sam2`, `cotracker`) on random weights, loaded strictly
from checkpoint files the tests write, and the point sampling of the `cotracker` tracker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics import EvalItem, MissingWeightsError, create_metric
from ttm_bench.metrics.objects.cotracker_tracker import lattice, query_points
from ttm_bench.metrics.objects.sam2_tracker import SAM2_MODELS, build_predictor, load_sam2

TEST_IMAGE_SIZE = 128  # SAM2 works on square inputs; the released models use 1024


def moving_square(frames: int = 3, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A textured square moving 2 px/frame right on a textured background, and its s(0)."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (size, size + 2 * frames, 3), np.uint8)
    square = rng.integers(0, 256, (16, 16, 3), np.uint8)
    video = []
    for t in range(frames):
        frame = background[:, t:t + size].copy()
        frame[20:36, 20 + 2 * t:36 + 2 * t] = square
        video.append(frame)
    mask = np.zeros((1, size, size), bool)
    mask[0, 20:36, 20:36] = True
    return np.stack(video), mask


def test_lattice_and_query_points_weigh_groups_by_area() -> None:
    mask = np.zeros((8, 8), bool)
    mask[:4, :4] = True
    np.testing.assert_allclose(lattice(mask, 2.0), [[1, 1], [3, 1], [1, 3], [3, 3]])
    first = mask[None].astype(np.float32)
    points, owner, weights = query_points(first, points_per_object=4, background_grid=4)
    np.testing.assert_allclose(points[owner == 0], lattice(mask, 2.0))
    assert (owner == 0).sum() == 4 and (owner == -1).sum() == 12
    np.testing.assert_allclose(weights[owner == 0], 16 / 4)
    np.testing.assert_allclose(weights[owner == -1], 48 / 12)
    assert weights.sum() == pytest.approx(64)


@pytest.fixture(scope="module")
def sam2_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    predictor = build_predictor(SAM2_MODELS["sam2.1_hiera_tiny"][0], TEST_IMAGE_SIZE)
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny.pt"
    torch.save({"model": predictor.state_dict()}, path)
    return path


def test_sam2_tracker_loads_strictly_and_keeps_the_prompt_on_frame_0(
        sam2_file: Path, tmp_path: Path) -> None:
    config = SAM2_MODELS["sam2.1_hiera_tiny"][0]
    state = torch.load(sam2_file, weights_only=True)["model"]
    state.pop(next(iter(state)))
    broken = tmp_path / "broken.pt"
    torch.save({"model": state}, broken)
    with pytest.raises(MissingWeightsError, match=r"broken\.pt does not match"):
        load_sam2(config, broken, TEST_IMAGE_SIZE)
    video, mask = moving_square()
    metric = create_metric("object_persistence", tracker="sam2", checkpoint=sam2_file,
                           sam2_image_size=TEST_IMAGE_SIZE)
    metric.setup("cpu")
    tracks = metric.tracks(EvalItem("square", "all", video, 8.0, masks=mask))
    masks = tracks.masks
    assert masks.shape == (3, 1, 256, 256) and masks.min() >= 0 and masks.max() <= 1
    prompt = np.kron(mask[0], np.ones((4, 4), bool))  # the mask at the evaluation size
    frame0 = masks[0, 0] >= 0.5
    assert (frame0 & prompt).sum() / (frame0 | prompt).sum() > 0.9
    assert np.all(np.isfinite(tracks.frame_displacement))
    assert metric.preset.params["sam2_model"] == "sam2.1_hiera_tiny"


def test_cotracker_tracker_loads_strictly_and_tracks_each_objects_points(
        tmp_path: Path) -> None:
    from cotracker.predictor import CoTrackerPredictor

    from ttm_bench.metrics.objects.cotracker_tracker import CoTrackerTracker
    from ttm_bench.metrics.track_motion import load_cotracker

    torch.manual_seed(0)
    untrained = CoTrackerPredictor(checkpoint=None, offline=True, window_len=60)
    path = tmp_path / "scaled_offline.pth"
    torch.save({"model": untrained.model.state_dict()}, path)
    tracker = CoTrackerTracker(load_cotracker(path), points_per_object=4, background_grid=4)
    video, mask = moving_square(frames=2)
    tracks = tracker.track(video, mask.astype(np.float32))
    assert tracks.masks is None
    assert tracks.object_displacement.shape == (1, 1)
    assert tracks.frame_displacement.shape == (1,)  # NaN where random weights hide points
    for name in ("object_persistence", "trajectory_miou"):
        with pytest.raises(TTMBenchError, match="gives points only"):
            create_metric(name, tracker="cotracker")
