"""DIS optical flow and AD reductions: known shifts, static video, exact synthetic ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ttm_bench.data.synthetic_scene import render_scene, sample_scene_spec
from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.metrics.optical_flow import (
    DIS_PRESETS,
    dis_flow,
    flow_magnitude_mean,
    per_pair_magnitude,
)


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random RGB texture uint8 [H, W, 3]."""
    noise = np.random.default_rng(seed).uniform(0, 255, (height // 4, width // 4, 3))
    return cv2.resize(noise.astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)


def _upscale_short_side_256(video: np.ndarray) -> np.ndarray:
    height, width = video.shape[1:3]
    factor = 256 / min(height, width)
    size = (round(width * factor), round(height * factor))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in video])


@pytest.mark.parametrize("preset", sorted(DIS_PRESETS))
def test_global_translation_gives_the_shift(preset: str):
    big = _texture(160, 160)
    dx, dy = 3, -2
    # Frame 1 at p shows frame 0's content at p - (dx, dy): the content moves by (dx, dy).
    video = np.stack([big[20:148, 20:148], big[20 - dy : 148 - dy, 20 - dx : 148 - dx]])
    flow = dis_flow(video, preset)
    assert flow.shape == (1, 128, 128, 2) and flow.dtype == np.float32
    inner = flow[0, 16:-16, 16:-16].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), (dx, dy), atol=0.05)


def test_static_video_has_near_zero_flow_and_is_deterministic():
    scene = render_scene(sample_scene_spec(np.random.default_rng(3), 2, 128, 128, 2))
    video = np.repeat(scene.frames[:1], 4, axis=0)  # the first frame, repeated
    flow = dis_flow(_upscale_short_side_256(video))
    assert flow_magnitude_mean(flow) < 0.05
    moving = np.stack([_texture(96, 96, seed=s) for s in range(3)])
    np.testing.assert_array_equal(dis_flow(moving), dis_flow(moving))


def test_magnitude_reductions_known_answer():
    flow = np.zeros((2, 4, 5, 2), np.float32)
    flow[0] = (3.0, 4.0)
    flow[1, :2] = (0.0, -2.0)
    np.testing.assert_allclose(per_pair_magnitude(flow), [5.0, 1.0])
    assert flow_magnitude_mean(flow) == pytest.approx(3.0)


@pytest.mark.slow  # the default suite checks the same on the benchmark (test_evaluation)
def test_dis_ad_matches_exact_mean_flow_of_synthetic_scenes():
    """AD at short side 256 equals twice the exact mean |flow| at 128 px within 10%."""
    rng = np.random.default_rng(2026)
    errors = []
    for k in range(16):
        render = render_scene(sample_scene_spec(rng, 1 + k % 3, 128, 128, 16))
        estimate = flow_magnitude_mean(dis_flow(_upscale_short_side_256(render.frames)))
        errors.append(estimate / (2.0 * render.mean_flow_magnitude) - 1.0)
    assert max(abs(e) for e in errors) < 0.10, errors


def test_bad_input_and_unknown_preset_raise():
    with pytest.raises(TTMBenchError, match="uint8"):
        dis_flow(np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(TTMBenchError, match="T >= 2"):
        dis_flow(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(UnknownNameError, match="ultra"):
        dis_flow(np.zeros((2, 32, 32, 3), np.uint8), preset="ultra")
